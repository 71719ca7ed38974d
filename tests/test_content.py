"""The view definitions (icans_core.content): every page's figures, tables and captions, defined once.

Checked here: what each view holds on the sample and on tiny cohorts, that nothing shows "None", that
charts receive bounded data, and the number formats of figure CSVs."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import pytest

from icans_core import content, store
from icans_core.content import cytokines, expansion, resolution, swimlanes, treatments
from icans_core.content.sections import Figure, Table, csv_text, display_frame, format_cell, plural
from icans_core.filters import CohortFilter
from icans_core.ingest import load_paths, load_sources
from icans_core.options import AnalysisOptions
from tests.cohorts import sources

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MAX_ROWS = 5000  # Altair's limit per dataset


@pytest.fixture(scope="module")
def sample_con():
    result = load_paths([SAMPLE], label="Sample cohort (synthetic)")
    assert result.ok
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


@pytest.fixture(scope="module")
def sample_views(sample_con):
    return {view.name: view for view in content.build_all(sample_con, AnalysisOptions())}


def connect(tables: dict, label: str = "tiny"):
    result = load_sources(sources(tables), label=label)
    assert result.ok, [p.problem for p in result.errors]
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


def dataset_rows(chart: alt.TopLevelMixin) -> list[int]:
    return [len(rows) for rows in chart.to_dict().get("datasets", {}).values()]


# --- on the sample -------------------------------------------------------------------------------------

def test_every_view_has_its_figures_and_tables(sample_views):
    stems = {name: [f.stem for f in view.figures()] for name, view in sample_views.items()}
    assert stems == {
        "overview": ["max-grade-per-group"],
        "swimlanes": ["toxicity-swimlanes", "icans-grade-after-IVIG"],
        "cytokines": ["cytokine-kinetics-IL-6", "cytokine-kinetics-IFN-gamma", "cytokine-kinetics-IL-10"],
        "resolution": ["resolution-kaplan-meier", "resolution-cumulative-incidence"],
        # the timing and Cmax charts were missing from the report before: now they are part of the view
        "treatments": ["steroid-cumulative_dex_mg", "intervention-timing"],
        "expansion": ["expansion-CAR-T cells", "expansion-cmax-CAR-T cells"],
    }
    tables = {name: [t.stem for t in view.tables()] for name, view in sample_views.items()}
    assert "table-1" in tables["overview"] and "resolution-medians" in tables["resolution"]
    assert "interventions-per-class" in tables["treatments"] and "expansion-per-group" in tables["expansion"]


def test_keys_and_file_stems_are_unique(sample_views):
    sections = [s for view in sample_views.values() for s in view.sections if isinstance(s, (Figure, Table))]
    keys = [s.key for s in sections]
    assert len(keys) == len(set(keys))
    stems = [s.stem for s in sections]
    assert len(stems) == len(set(stems))


def test_every_chart_gets_bounded_data(sample_views):
    for view in sample_views.values():
        for figure in view.figures():
            assert all(rows <= MAX_ROWS for rows in dataset_rows(figure.chart)), figure.stem
            assert isinstance(figure.data, pd.DataFrame) and len(figure.data)


def test_no_table_shows_none_or_nan(sample_views):
    for view in sample_views.values():
        for table in view.tables():
            shown = display_frame(table)
            cells = set(shown.to_numpy().ravel().tolist())
            assert not cells & {"None", "nan", "NaN", "<NA>", "NaT"}, table.stem


def test_the_log_rank_p_is_on_the_kaplan_meier_figure(sample_views):
    table = next(t for t in sample_views["resolution"].tables() if t.stem == "resolution-log-rank")
    p = table.frame["p_value"].iloc[0]
    spec = str(sample_views["resolution"].figures()[0].chart.to_dict())
    assert resolution.logrank_text(table.frame) in spec
    assert resolution.logrank_text(table.frame) == (f"Log-rank p = {p:.3g}" if p >= 0.001 else "Log-rank p < 0.001")


def test_lanes_page_through_a_cohort_and_keep_every_id_readable(sample_con):
    analysis = AnalysisOptions()
    data = swimlanes.read(sample_con, analysis)
    everyone = len(data.patients)
    pages = [swimlanes.lanes(data, analysis, swimlanes.LaneOptions(only_severe=False, per_page=70, page=p))
             for p in (1, 2, 5, 99)]
    orders = [view.context["order"] for view in pages]
    assert [len(o) for o in orders[:2]] == [70, 70] and len(orders[2]) == everyone - 4 * 70
    assert not set(orders[0]) & set(orders[1])
    assert orders[3] == orders[2]  # past the last page: the last page
    assert pages[0].context["pages"] == 5
    lanes_spec = pages[0].figures()[0].chart.to_dict()
    assert lanes_spec["hconcat"][0]["encoding"]["y"]["axis"]["labels"] is True


def test_one_symbol_per_agent_and_legends_list_only_what_is_drawn(sample_con):
    analysis = AnalysisOptions()
    data = swimlanes.read(sample_con, analysis)
    by_agent = swimlanes.lanes(data, analysis, swimlanes.LaneOptions(symbol_by="agent")).figures()[0]
    layers = by_agent.chart.to_dict()["hconcat"][1]["layer"]
    shape = next(l["encoding"]["shape"] for l in layers if l["encoding"].get("shape", {}).get("field") == "agent")
    shapes = dict(zip(shape["scale"]["domain"], shape["scale"]["range"]))
    marks = swimlanes.swimlanes.build_swimlanes(data.toxicity, data.interventions, data.patients, data.episodes,
                                                swimlanes.swimlanes.SwimlaneOptions())
    assert set(shapes) == set(marks.marks["agent"])
    assert shapes["dexamethasone"] != shapes["methylprednisolone"]
    assert len(set(shapes.values())) == len(shapes)
    by_class = swimlanes.lanes(data, analysis, swimlanes.LaneOptions(classes=("IVIG",))).figures()[0]
    layers = by_class.chart.to_dict()["hconcat"][1]["layer"]
    colour = next(l["encoding"]["color"] for l in layers if l["encoding"].get("shape", {}).get("field") == "agent_class")
    assert colour["scale"]["domain"] == ["IVIG"]  # the legend lists only the class drawn


def test_grade_change_lines_are_a_bounded_disclosed_sample(sample_con, monkeypatch):
    monkeypatch.setattr(swimlanes, "MAX_PATIENT_LINES", 5)
    analysis = AnalysisOptions()
    data = swimlanes.read(sample_con, analysis)
    view = swimlanes.change(data, analysis, swimlanes.ChangeOptions(agent_class="corticosteroid"))
    figure = view.figures()[0]
    spec = figure.chart.to_dict()
    patients = figure.data["patient_id"].nunique()
    assert patients > 5
    assert f"thin: 5 of {patients} patients, a random sample (fixed seed)" in " ".join(spec["title"]["subtitle"])
    lines = [d for d in spec["datasets"].values() if d and "patient_id" in d[0]]
    assert len(lines) == 1 and len({r["patient_id"] for r in lines[0]}) == 5
    # the CSV keeps every patient-day
    assert len(figure.data) > len(lines[0])


def test_many_patients_make_distributions_not_strips(sample_con, monkeypatch):
    monkeypatch.setattr(treatments, "MAX_POINTS", 3)
    monkeypatch.setattr(expansion, "MAX_POINTS", 3)
    analysis = AnalysisOptions()
    steroid = treatments.build(sample_con, analysis).figures()[0]
    strip = expansion.build(sample_con, analysis).figures()[1]
    for figure in (steroid, strip):
        spec = figure.chart.to_dict()
        assert "per group" in spec["title"]["text"] or "distribution" in spec["title"]["text"]
        assert all("patient_id" not in rows[0] for rows in spec["datasets"].values() if rows)
        assert "CSV" in figure.caption or "table" in figure.caption


def test_cytokines_as_one_small_multiples_figure_with_the_study_marks(sample_con):
    options = cytokines.CytokineOptions(analytes=("IL-6", "IFN-gamma", "IL-10"), layout="panels", mark_style="study")
    view = cytokines.build(sample_con, AnalysisOptions(), options)
    assert [f.stem for f in view.figures()] == ["cytokine-kinetics-IL-6-IFN-gamma-IL-10"]
    spec = view.figures()[0].chart.to_dict()
    assert [p["title"]["text"] for p in spec["concat"]] == ["IL-6", "IFN-gamma", "IL-10"]
    assert "** p < 0.05, * p < 0.1" in " ".join(spec["title"]["subtitle"])
    symbols = {r["symbol"] for d in spec["datasets"].values() for r in d if "symbol" in r}
    assert symbols <= {"*", "**"} and "**" in symbols
    # the intervention lines of each group have their own dash pattern
    dash = [l["encoding"]["strokeDash"] for p in spec["concat"] for l in p["layer"] if "strokeDash" in l.get("encoding", {})]
    assert dash and dash[0]["field"] == "group" and len(set(map(str, dash[0]["scale"]["range"]))) == len(dash[0]["scale"]["range"])


def test_an_empty_selection_says_so_on_every_view(sample_con):
    assert store.select_patients(sample_con, CohortFilter(products=("no such product",))) == 0
    try:
        for view in content.build_all(sample_con, AnalysisOptions()):
            texts = " ".join(getattr(s, "text", "") for s in view.sections)
            assert "No patients are selected" in texts, view.name
            assert "no cytokine" not in texts.lower() and "add a labs table" not in texts.lower()
            assert not view.figures()
    finally:
        store.select_patients(sample_con, CohortFilter())


# --- tiny cohorts ---------------------------------------------------------------------------------------

NOT_RESOLVING = {
    "patients": [["patient_id", "product", "group", "disease", "age_years", "sex", "ecog", "last_followup_day",
                  "death_day", "death_cause"],
                 ["P1", "axi-cel", "A", "DLBCL", "61", "F", "1", "100", "", ""],
                 ["P2", "axi-cel", "B", "DLBCL", "70", "M", "0", "100", "", ""]],
    "toxicity": [["patient_id", "day", "crs_grade", "icans_grade", "ice_score"],
                 ["P1", "2", "1", "3", "2"], ["P1", "6", "0", "1", "8"],
                 ["P2", "2", "1", "3", "2"], ["P2", "6", "0", "3", "2"]],
}


def test_a_median_never_reached_reads_not_reached():
    view = resolution.build(connect(NOT_RESOLVING), AnalysisOptions())
    medians = next(t for t in view.tables() if t.stem == "resolution-medians")
    shown = display_frame(medians).set_index("group")
    assert shown.loc["B", "median_days"] == "not reached"
    assert shown.loc["A", "median_days"] == "4.0"
    assert "not reached" in medians.caption


def test_format_cell_never_writes_none():
    assert format_cell(None) == "" and format_cell(float("nan")) == "" and format_cell(pd.NA) == ""
    assert format_cell(float("nan"), missing="N/R") == "N/R"
    assert format_cell(0.0004, "p") == "< 0.001" and format_cell(0.04567, "p") == "0.0457"
    assert format_cell(0.5, "percent") == "50%" and format_cell(12345.6) == "12,346"
    assert format_cell(3.0) == "3" and format_cell(True) == "yes"


def test_figure_csvs_keep_every_input_digit_and_no_binary_noise():
    frame = pd.DataFrame({"a": [0.1 + 0.2, 12.345678901234, 1 / 3, 1e-20, 123456789012345.0, float("nan")],
                          "b": ["=cmd", "x", "y", "z", "w", None]})
    lines = csv_text(frame).splitlines()
    # one writer for every CSV (spreadsheet_safe.spreadsheet_csv): 15 significant digits, shortest text
    assert lines[1].startswith("0.3,")  # not 0.30000000000000004
    assert lines[2].startswith("12.345678901234,")  # every digit given
    assert lines[3].startswith("0.333333333333333,")
    assert lines[4].startswith("1e-20,") and lines[5].startswith("123456789012345,")
    assert lines[6] == ","
    assert "'=cmd" in lines[1]  # formula-safe


def test_one_patient_is_singular():
    assert plural(1, "patient") == "1 patient" and plural(2, "patient") == "2 patients"
    assert plural(1000, "patient") == "1,000 patients"

"""Every validation rule of the contract: a minimal bad cohort, the message's place, nothing loaded."""

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icans_core.ingest import load_sources
from icans_core.readers import Source
from tests.cohorts import VALID, copy_tables, csv_text, sources, with_cell


def only_problem(result, severity="error"):
    found = [p for p in result.problems if p.severity == severity]
    assert len(found) == 1, [f"{p.source} r{p.row} {p.column}: {p.problem}" for p in found]
    return found[0]


def test_the_valid_cohort_loads_without_problems():
    result = load_sources(sources())
    assert result.ok, result.report
    assert result.problems == []
    assert set(result.cohort.tables) == {"patients", "toxicity", "interventions", "labs"}


# (table, spreadsheet row, column, bad value, words the problem must contain)
CELL_RULES = [
    ("toxicity", 3, "day", "abc", "Not a number"),
    ("toxicity", 3, "day", "2024-03-01", "days since CAR-T infusion"),
    ("patients", 2, "last_followup_day", "03/01/2024", "days since CAR-T infusion"),
    ("interventions", 2, "start_day", "1-Mar-2024", "days since CAR-T infusion"),
    ("toxicity", 3, "day", "-31", "-30 or more"),
    ("labs", 4, "day", "-30.5", "-30 or more"),
    ("toxicity", 3, "crs_grade", "6", "5 or less"),
    ("toxicity", 3, "icans_grade", "-1", "0 or more"),
    ("toxicity", 3, "icans_grade", "2.5", "whole number"),
    ("toxicity", 3, "ice_score", "11", "10 or less"),
    ("patients", 2, "ecog", "5", "4 or less"),
    ("patients", 2, "ecog", "1.5", "whole number"),
    ("patients", 2, "age_years", "95", "recorded as 90"),
    ("patients", 2, "sex", "X", "F, M, other"),
    ("patients", 2, "product", "", "Required"),
    ("toxicity", 5, "patient_id", "P9", "not in the patients table"),
    ("interventions", 2, "end_day", "4", "end_day is before start_day"),
    ("interventions", 2, "daily_dose", "-40", "0 or more"),
    ("labs", 2, "value", "high", "Not a number"),
    ("labs", 2, "below_lloq", "maybe", "true or false"),
    ("labs", 2, "unit", "IU/mL", "one unit per analyte"),
]


@pytest.mark.parametrize("table,row,column,value,words", CELL_RULES,
                         ids=[f"{t}-{c}-{v or 'blank'}" for t, _, c, v, _ in CELL_RULES])
def test_each_cell_rule_names_file_row_and_column(table, row, column, value, words):
    result = load_sources(sources(with_cell(table, row, column, value)))
    assert result.cohort is None  # nothing loaded
    problem = only_problem(result)
    assert (problem.source, problem.row, problem.column) == (f"{table}.csv", row, column)
    assert words in problem.problem
    assert problem.value == (value or None)


def test_duplicate_patient_ids_point_at_every_copy():
    tables = copy_tables()
    tables["patients"].append(["P1", "axi-cel", "", "", "", "", "", "30", "", ""])
    result = load_sources(sources(tables))
    assert result.cohort is None
    assert [(p.row, p.column, p.value) for p in result.errors] == [(2, "patient_id", "P1"), (4, "patient_id", "P1")]
    assert all("Duplicate patient_id" in p.problem for p in result.errors)


def test_a_unit_tie_points_at_every_row_of_the_analyte():
    tables = with_cell("labs", 4, "unit", "IU/mL")
    tables["labs"].pop()  # now IL-6 has one row in pg/mL and one in IU/mL
    result = load_sources(sources(tables))
    assert sorted(p.row for p in result.errors) == [2, 4]


def test_an_analyte_without_any_unit_is_refused_for_the_blanks_alone():
    # Every CRP row without its unit: "Required" on that row, and not also "another unit elsewhere"
    # (with no unit at all there is no usual one: the old count raised inside pandera, which
    # reported that as a unit conflict with no row).
    result = load_sources(sources(with_cell("labs", 3, "unit", "")))
    assert [(p.row, p.column, p.problem) for p in result.errors] == [(3, "unit", "Required: this cell is empty.")]


def test_the_usual_unit_is_the_most_common_one_and_the_others_are_pointed_at():
    tables = copy_tables()
    tables["labs"] += [["P1", "3", "IL-6", "7", "pg/mL", ""], ["P1", "4", "IL-6", "2", "IU/mL", ""],
                       ["P2", "3", "CRP", "4", "", ""]]
    result = load_sources(sources(tables))
    found = sorted((p.row, p.column, p.problem) for p in result.errors)
    assert found == [(7, "unit", "This analyte has another unit elsewhere in the table; use one unit per analyte."),
                     (8, "unit", "Required: this cell is empty.")], found


def test_a_toxicity_row_needs_a_grade():
    result = load_sources(sources(with_cell("toxicity", 5, "crs_grade", "")))
    problem = only_problem(result)
    assert (problem.source, problem.row) == ("toxicity.csv", 5)
    assert "at least one of crs_grade or icans_grade" in problem.problem


def test_a_missing_required_table_is_named():
    tables = copy_tables()
    del tables["toxicity"]
    result = load_sources(sources(tables))
    assert result.cohort is None
    assert "required table 'toxicity' is missing" in only_problem(result).problem


def test_optional_tables_may_be_absent():
    tables = copy_tables()
    del tables["labs"], tables["interventions"]
    result = load_sources(sources(tables))
    assert result.ok
    assert set(result.cohort.tables) == {"patients", "toxicity"}


def test_a_missing_required_column_is_named_with_a_hint():
    tables = copy_tables()
    tables["patients"][0][1] = "product name"
    result = load_sources(sources(tables))
    problem = only_problem(result)
    assert (problem.source, problem.row, problem.column) == ("patients.csv", 1, "product")
    assert "missing" in problem.problem and "'product name'" in problem.problem


def test_a_repeated_header_is_an_error():
    tables = copy_tables()
    tables["toxicity"][0][4] = "day"
    result = load_sources(sources(tables))
    assert result.cohort is None
    problem = only_problem(result)
    assert (problem.row, problem.column) == (1, "day") and "more than once" in problem.problem


def test_every_error_is_reported_at_once():
    tables = with_cell("toxicity", 2, "crs_grade", "7")
    tables = with_cell("toxicity", 4, "day", "2024-01-05", tables)
    tables = with_cell("labs", 3, "patient_id", "P42", tables)
    tables = with_cell("patients", 3, "age_years", "120", tables)
    result = load_sources(sources(tables))
    assert result.cohort is None
    places = {(p.source, p.row, p.column) for p in result.errors}
    assert places == {("toxicity.csv", 2, "crs_grade"), ("toxicity.csv", 4, "day"),
                      ("labs.csv", 3, "patient_id"), ("patients.csv", 3, "age_years")}
    report = result.report
    assert list(report.columns) == ["severity", "source", "row", "column", "value", "problem"]
    assert len(report) == 4


def test_blank_lines_do_not_shift_row_numbers():
    text = csv_text(VALID["toxicity"]).replace("\nP1,5,", "\n\nP1,5,")  # blank line before row 3
    data = [s for s in sources() if s.name != "toxicity.csv"]
    bad = text.replace("P1,9,0,1,8", "P1,9,9,1,8")
    result = load_sources(data + [Source("toxicity.csv", bad.encode())])
    problem = only_problem(result)
    assert problem.row == 5 and problem.column == "crs_grade"


# --- normalisation and warnings ---------------------------------------------------------------

def test_vocabularies_normalise_and_keep_the_original():
    tables = with_cell("patients", 2, "product", "Yescarta")
    tables = with_cell("patients", 3, "product", "tisagenlecleucel", tables)
    tables = with_cell("patients", 2, "sex", "female", tables)
    tables = with_cell("interventions", 2, "agent", "Solu-Medrol", tables)
    tables = with_cell("interventions", 3, "agent", "intravenous immunoglobulin", tables)
    tables = with_cell("labs", 2, "analyte", "il6", tables)
    tables = with_cell("labs", 4, "analyte", "IL 6", tables)
    result = load_sources(sources(tables))
    assert result.ok, result.report
    patients = result.cohort.tables["patients"]
    assert list(patients["product"]) == ["axi-cel", "tisa-cel"]
    assert list(patients["product_as_given"]) == ["Yescarta", "tisagenlecleucel"]
    assert list(patients["costimulatory_domain"]) == ["CD28", "4-1BB"]
    assert list(patients["sex"]) == ["F", "M"]
    interventions = result.cohort.tables["interventions"]
    assert list(interventions["agent"]) == ["methylprednisolone", "IVIG"]
    assert list(interventions["agent_class"]) == ["corticosteroid", "IVIG"]
    assert list(result.cohort.tables["labs"]["analyte"]) == ["IL-6", "CRP", "IL-6", "IL-6"]


@pytest.mark.parametrize("given,canonical", [
    ("IFNg", "IFN-gamma"), ("IFN-γ", "IFN-gamma"), ("TNFa", "TNF-alpha"), ("gm-csf", "GM-CSF"),
    ("CAR T cells", "CAR-T cells"), ("cd8+ car-t cells", "CD8+ CAR-T cells"), ("Il-1ra", "IL-1RA"),
    ("Troponin", "Troponin"),
])
def test_analyte_names_normalise(given, canonical):
    result = load_sources(sources(with_cell("labs", 3, "analyte", given)))
    assert result.cohort.tables["labs"]["analyte"].iloc[1] == canonical


@pytest.mark.parametrize("given,canonical", [
    ("dex", "dexamethasone"), ("Decadron", "dexamethasone"), ("MP", "methylprednisolone"),
    ("solumedrol", "methylprednisolone"), ("HC", "hydrocortisone"), ("Solu-Cortef", "hydrocortisone"),
    ("Actemra", "tocilizumab"), ("Kineret", "anakinra"), ("Ara-C", "cytarabine"), ("MTX", "methotrexate"),
    ("ruxolitinib", "ruxolitinib"),
])
def test_agent_synonyms_normalise(given, canonical):
    result = load_sources(sources(with_cell("interventions", 2, "agent", given)))
    assert result.cohort.tables["interventions"]["agent"].iloc[0] == canonical


def test_crp_in_mg_per_dl_converts_to_mg_per_l():
    labs = load_sources(sources()).cohort.tables["labs"]
    crp = labs[labs["analyte"] == "CRP"].iloc[0]
    assert (crp["value"], crp["unit"], crp["value_as_given"], crp["unit_as_given"]) == (50.0, "mg/L", 5.0, "mg/dL")


def test_intrathecal_route_makes_any_agent_intrathecal_therapy():
    tables = with_cell("interventions", 2, "route", "intrathecal")
    tables = with_cell("interventions", 2, "agent", "hydrocortisone", tables)
    interventions = load_sources(sources(tables)).cohort.tables["interventions"]
    assert interventions["route"].iloc[0] == "IT"
    assert interventions["agent_class"].iloc[0] == "intrathecal therapy"


def test_blank_end_day_means_start_day():
    interventions = load_sources(sources(with_cell("interventions", 2, "end_day", ""))).cohort.tables[
        "interventions"]
    assert interventions["end_day"].iloc[0] == 5.0


@pytest.mark.parametrize("table,row,column,value,words", [
    ("patients", 2, "product", "foo-cel", "Unknown product"),
    ("interventions", 2, "dose_unit", "g", "cannot enter the cumulative steroid total"),
    ("interventions", 3, "dose_unit", "vials", "Unknown dose unit"),
    ("interventions", 2, "route", "IM", "Unknown route"),
    ("patients", 2, "death_day", "50", "before last_followup_day"),
])
def test_warnings_load_and_are_reported(table, row, column, value, words):
    result = load_sources(sources(with_cell(table, row, column, value)))
    assert result.ok
    problem = only_problem(result, "warning")
    assert (problem.source, problem.row, problem.column) == (f"{table}.csv", row, column)
    assert words in problem.problem
    assert result.cohort.warnings == [problem]


def test_unknown_columns_are_ignored_with_a_warning():
    tables = copy_tables()
    for i, row in enumerate(tables["patients"]):
        row.append("note" if i == 0 else "x")
    result = load_sources(sources(tables))
    assert result.ok
    problem = only_problem(result, "warning")
    assert (problem.row, problem.column) == (1, "note")
    assert "note" not in result.cohort.tables["patients"].columns


def test_names_match_case_insensitively_after_trimming():
    tables = copy_tables()
    tables["patients"][0] = [f"  {c.upper()} " for c in tables["patients"][0]]
    upload = [Source("PATIENTS.CSV" if s.name == "patients.csv" else s.name, s.data) for s in sources(tables)]
    result = load_sources(upload)
    assert result.ok, result.report
    assert list(result.cohort.tables["patients"]["patient_id"]) == ["P1", "P2"]


def test_semicolon_csv_with_decimal_commas_and_a_bom():
    tables = with_cell("toxicity", 3, "day", "5,25")
    upload = [s for s in sources(tables) if s.name != "toxicity.csv"]
    upload.append(Source("toxicity.csv", ("\ufeff" + csv_text(tables["toxicity"], ";")).encode()))
    result = load_sources(upload)
    assert result.ok, result.report
    assert result.cohort.tables["toxicity"]["day"].tolist() == [1.0, 5.25, 9.0, 2.0]


def test_typed_tables_have_the_contract_columns_and_types():
    tables = load_sources(sources()).cohort.tables
    toxicity = tables["toxicity"]
    assert list(toxicity.columns) == ["source_row", "patient_id", "day", "crs_grade", "icans_grade", "ice_score",
                                      "crs_grade_source", "icans_grade_source"]
    assert str(toxicity["icans_grade"].dtype) == "Int64"
    assert pd.isna(toxicity["icans_grade"].iloc[3])  # blank = not assessed, not 0
    assert tables["labs"]["below_lloq"].tolist() == [False, False, True, False]  # blank = not below


# --- rules across rows (issue 10): many alike problems are listed up to 100, then counted ---------------

def test_a_rule_firing_on_many_rows_lists_100_then_counts_the_rest():
    tables = copy_tables()
    tables["labs"] += [list(tables["labs"][1]) for _ in range(250)]  # 250 copies of row 2
    result = load_sources(sources(tables))
    assert result.ok
    duplicates = [p for p in result.problems if "Duplicate row" in p.problem]
    assert len(duplicates) == 101
    assert [p.row for p in duplicates[:3]] == [6, 7, 8]
    assert duplicates[-1].problem.startswith("...and 150 more like the above (rows 106 to 255): Duplicate row")


def test_a_float32_parquet_value_loads_as_its_writer_shows_it(tmp_path):
    import io

    import numpy as np

    labs = pd.DataFrame({"patient_id": ["P1"], "day": np.array([1.1], dtype=np.float32), "analyte": ["IL-6"],
                         "value": np.array([0.1], dtype=np.float32), "unit": ["pg/mL"]})
    buffer = io.BytesIO()
    labs.to_parquet(buffer)
    upload = [s for s in sources() if s.name != "labs.csv"] + [Source("labs.parquet", buffer.getvalue())]
    result = load_sources(upload)
    assert result.ok, result.report
    assert result.cohort.tables["labs"][["day", "value"]].values.tolist() == [[1.1, 0.1]]  # not 0.10000000149011612


def test_a_grade_5_after_death_gets_one_warning_on_its_row_the_grade_5_one():
    # P1 dies on day 8; row 4 (day 9) says ICANS grade 5: the grade-5 warning names the death_day already, so the
    # generic "After death" on the same row would only repeat it. P1's IVIG ending on day 9 is still after death.
    tables = with_cell("toxicity", 4, "icans_grade", "5",
                       with_cell("patients", 2, "death_day", "8", with_cell("patients", 2, "last_followup_day", "8")))
    result = load_sources(sources(tables))
    assert result.ok, result.report.to_string()
    row_4 = [p for p in result.problems if (p.source, p.row) == ("toxicity.csv", 4)]
    assert [(p.column, p.problem.split(" on day")[0]) for p in row_4] == [("icans_grade", "Grade 5 ICANS (death from ICANS)")]
    assert [(p.source, p.row, p.column) for p in result.problems if p.problem.startswith("After death")] == [
        ("interventions.csv", 3, "end_day")]


@pytest.mark.parametrize("table,row,column,given,shown,words", [
    # P1 (row 2) is axi-cel, so a Cyrillic а in P2's axi-cel is an unknown product, a look-alike and a variant spelling
    ("patients", 3, "product", "\u0430xi-cel", "\\u0430xi-cel",
     ["Unknown product", "looks like the product 'axi-cel'", "U+0430 CYRILLIC SMALL LETTER A, which looks like Latin 'a'",
      "another group where the product is the group", "Retype it as 'axi-cel'"]),
    # row 2 is dexamethasone, so a Cyrillic а in row 3 is an unknown agent, a look-alike and a variant spelling
    ("interventions", 3, "agent", "dex\u0430methasone", "dex\\u0430methasone",
     ["is not a known agent", "counted as class 'other'", "It looks like 'dexamethasone' (corticosteroid)",
      "U+0430 CYRILLIC SMALL LETTER A, which looks like Latin 'a'", "Retype it as 'dexamethasone'"]),
])
def test_a_lookalike_value_gets_one_warning_saying_all(table, row, column, given, shown, words):
    result = load_sources(sources(with_cell(table, row, column, given)))
    assert result.ok, result.report.to_string()
    [problem] = [p for p in result.problems if (p.row, p.column) == (row, column)]
    assert (problem.source, problem.value) == (f"{table}.csv", shown)
    for word in words:
        assert word in problem.problem, problem.problem


def test_a_control_character_inside_a_unit_or_analyte_loads_as_given_not_a_crash():
    """Found by an adversarial pass: the unit conversions once keyed each row on analyte + U+001F + unit and
    split that key again, so a cell holding U+001F raised a TypeError instead of loading or being refused."""
    unit = load_sources(sources(with_cell("labs", 3, "unit", "mg\x1fdL")))
    assert unit.ok and unit.cohort.tables["labs"]["unit"].iloc[1] == "mg\x1fdL"  # kept, not converted
    warned = only_problem(unit, "warning")
    assert (warned.row, warned.column, warned.value) == (3, "unit", r"mg\x1fdL")  # shown, not invisible
    assert "Unit not recognised" in warned.problem
    analyte = load_sources(sources(with_cell("labs", 3, "analyte", "CRP\x1fx")))
    assert analyte.ok and analyte.cohort.tables["labs"]["analyte"].iloc[1] == "CRP\x1fx"


# --- numbers with more digits than the results keep: only cells of more than 15 characters are looked at ----

@pytest.mark.parametrize("value, warned", [("150.0000000000001", True), ("0.30000000000000004", True),
                                           ("123456.789012345", False), ("1.23456789012e-5", False)])
def test_more_significant_digits_than_kept_are_warned_at_any_length(value, warned):
    result = load_sources(sources(with_cell("labs", 2, "value", value)))
    assert result.ok, result.report
    found = [p for p in result.problems if p.problem.startswith("More significant digits")]
    assert [(p.row, p.column, p.value) for p in found] == ([(2, "value", value)] if warned else [])


@settings(max_examples=3000, deadline=None)
@given(st.from_regex(r"-?[0-9]{1,15}(\.[0-9]{1,14})?([eE]-?[0-9]{1,3})?", fullmatch=True)
       .filter(lambda text: len(text) <= 15))
def test_a_number_of_at_most_15_characters_keeps_its_value_at_15_significant_digits(text):
    # why validation looks only at longer cells: a decimal of at most 15 digits, parsed to the nearest double,
    # is given back by 15 significant digits (C's DBL_DIG), unless it is out of a double's normal range
    x = float(text)
    if x == 0 or not math.isfinite(x) or abs(x) < 2.2250738585072014e-308:
        return
    assert float(f"{x:.15g}") == x

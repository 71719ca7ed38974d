"""The de-identification guard: identifier columns and values are refused, named by file, row and column."""

import pytest

from icans_core.deidentify import identifier_column, identifier_value
from icans_core.ingest import load_paths, load_sources
from tests.cohorts import copy_tables, sources, with_cell


@pytest.mark.parametrize("column,what", [
    ("name", "name"), ("Patient Name", "name"), ("last_name", "name"), ("first name", "name"), ("MRN", "medical record"),
    ("medical_record_number", "medical record"), ("SSN", "social security"), ("DOB", "birth"),
    ("date of birth", "birth"), ("birth_date", "birth"), ("Address", "address"), ("zip", "address"),
    ("phone", "phone"), ("Telephone number", "phone"), ("e-mail", "email"), ("email", "email"),
])
def test_identifier_column_names(column, what):
    assert what in identifier_column(column)


@pytest.mark.parametrize("column", ["patient_id", "product", "group", "disease", "age_years", "death_cause",
                                    "agent", "dose_unit", "analyte", "unit", "below_lloq", "last_followup_day",
                                    "ice_score", "route", "notes", "product name", "drug_name", "analyte name"])
def test_contract_and_harmless_columns_pass(column):
    assert identifier_column(column) is None


@pytest.mark.parametrize("value,what", [
    ("jane.doe@example.org", "email"), ("123-45-6789", "social security"), ("2024-03-01", "date"),
    ("01/03/2024", "date"), ("1 Mar 2024", "date"), ("+44 20 7946 0958", "phone"), ("(617) 555-0123", "phone"),
    ("00123456", "long number"), ("MRN 12345678", "long number"),
])
def test_identifier_values(value, what):
    assert what in identifier_value(value)


@pytest.mark.parametrize("value", ["P0001", "axi-cel", "Steroids + IVIG", "DLBCL", "B-ALL", "IL-6", "pg/mL",
                                   "cells/uL", "progression", "ICANS grade 4", "4-1BB", "F", "IV", "mg/kg"])
def test_ordinary_values_pass(value):
    assert identifier_value(value) is None


@pytest.mark.parametrize("table,row,column,value,words", [
    ("patients", 2, "patient_id", "123-45-6789", "social security"),
    ("patients", 3, "death_cause", "seen by Dr X, call +1 617 555 0123", "phone"),
    ("patients", 2, "group", "jane.doe@example.org", "email"),
    ("patients", 2, "patient_id", "00912345", "long number"),
    ("toxicity", 3, "patient_id", "2023-05-02", "date"),
])
def test_an_identifier_value_stops_the_upload(table, row, column, value, words):
    tables = with_cell(table, row, column, value)
    if table == "patients" and column == "patient_id":  # keep the other tables pointing at it
        for name in ("toxicity", "interventions", "labs"):
            for r in tables[name][1:]:
                if r[0] == "P1":
                    r[0] = value
    result = load_sources(sources(tables))
    assert result.cohort is None
    found = [p for p in result.errors if words in p.problem]
    assert found and (found[0].source, found[0].row, found[0].column) == (f"{table}.csv", row, column)


def test_an_identifier_column_stops_the_upload_even_if_empty():
    tables = copy_tables()
    for i, row in enumerate(tables["patients"]):
        row.append("MRN" if i == 0 else "")
    result = load_sources(sources(tables))
    assert result.cohort is None
    [problem] = [p for p in result.errors if "medical record" in p.problem]
    assert (problem.source, problem.row, problem.column) == ("patients.csv", 1, "mrn")


def test_the_sample_and_the_template_pass_the_guard():
    assert load_paths(["data/sample"]).ok
    assert load_paths(["data/template.xlsx"]).ok

"""The Cohort page shows issue 10's silent-change rules to the user: a warned upload loads and lists each
warning (file, row, column, value); a date serial is refused with its message. AppTest, as a user uploads."""

from __future__ import annotations

from tests.test_page_cohort import (PATIENTS_CSV, TOXICITY_CSV, app, csv_file, errors, metric,  # noqa: F401
                                    report_frames, upload)

INTERVENTIONS_CSV = (
    "patient_id,agent,start_day,end_day,daily_dose,dose_unit,route\n"
    "P1,dexamethasone,5,7,10,mg,IV\n"
    "P1,dexamethasone,5,7,10,mg,IV\n"  # a copy: it would double the steroid total without a word
)


def test_a_group_named_none_and_a_duplicate_dose_load_with_named_warnings(app):  # noqa: F811
    patients = PATIENTS_CSV.replace("Steroids + IVIG", "None")
    upload(app, csv_file("patients.csv", patients), csv_file("toxicity.csv", TOXICITY_CSV),
           csv_file("interventions.csv", INTERVENTIONS_CSV))
    assert errors(app) == []
    assert metric(app, "Patients") == "2"
    [report] = report_frames(app)
    found = {(r.severity, r.source, int(r.row), r.column, r.value): r.problem for r in report.itertuples(index=False)}
    assert "Kept as the text 'None'" in found[("warning", "patients.csv", 2, "group", "None")]
    assert "Duplicate row: the same as row 2" in found[
        ("warning", "interventions.csv", 3, "(every column)", "P1, dexamethasone, 5, 7, 10, mg, IV")]


def test_an_excel_date_serial_is_refused_with_its_date(app):  # noqa: F811
    upload(app, csv_file("patients.csv", PATIENTS_CSV),
           csv_file("toxicity.csv", TOXICITY_CSV.replace("P1,5,1,3,2", "P1,45353,1,3,2")))
    [shown] = errors(app)
    assert "Not loaded" in shown
    [report] = report_frames(app)
    [row] = [r for r in report.itertuples(index=False) if r.column == "day"]
    assert (row.severity, row.source, int(row.row), row.value) == ("error", "toxicity.csv", 3, "45353")
    assert "Excel date serial number (45353 = 2024-03-02" in row.problem

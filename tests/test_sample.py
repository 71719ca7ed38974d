"""Tests of the synthetic cohort generator: contract shape, clinical plausibility, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from icans_core import sample
from icans_core.sample import generate_cohort, write_cohort

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"
CONTRACT_COLUMNS = {
    "patients": ["patient_id", "product", "group", "disease", "age_years", "sex", "ecog",
                 "last_followup_day", "death_day", "death_cause"],
    "toxicity": ["patient_id", "day", "crs_grade", "icans_grade", "ice_score"],
    "interventions": ["patient_id", "agent", "start_day", "end_day", "daily_dose", "dose_unit",
                      "route"],
    "labs": ["patient_id", "day", "analyte", "value", "unit", "below_lloq"],
    "observations": ["patient_id", "day", "temperature_c", "hypotension", "vasopressors", "oxygen", "oxygen_l_min",
                     "ice_score", "capd_score", "consciousness", "sedated", "seizure", "seizure_minutes",
                     "motor_findings", "raised_icp", "organ_toxicity_grade"],
}
PRODUCT_DISEASES = {
    "axi-cel": {"LBCL", "DLBCL", "PMBCL", "FL"},
    "tisa-cel": {"LBCL", "DLBCL", "PMBCL", "FL"},
    "liso-cel": {"LBCL", "DLBCL", "PMBCL", "FL"},
    "brexu-cel": {"MCL", "B-ALL"},
    "obe-cel": {"B-ALL"},
    "ide-cel": {"MM"},
    "cilta-cel": {"MM"},
}
ARMS = ["Steroids alone", "Steroids + IVIG", "Steroids + anakinra", "Steroids + intrathecal"]
UNITS = {
    **{a: "pg/mL" for a in ("IL-6", "IL-2", "IL-10", "IL-15", "IFN-gamma", "GM-CSF", "TNF-alpha",
                            "IL-1RA", "MCP-1")},
    "CRP": "mg/L", "ferritin": "ng/mL",
    "CAR-T cells": "cells/uL", "CD4+ CAR-T cells": "cells/uL", "CD8+ CAR-T cells": "cells/uL",
}
AGENTS = {"tocilizumab", "siltuximab", "dexamethasone", "methylprednisolone", "prednisone", "IVIG",
          "anakinra", "methotrexate", "cytarabine", "hydrocortisone"}
# ASTCT: ICE score range allowed for each ICANS grade.
ICE_BY_GRADE = {0: (10, 10), 1: (7, 9), 2: (3, 6), 3: (0, 2), 4: (0, 0)}


@pytest.fixture(scope="module")
def cohort() -> dict[str, pd.DataFrame]:
    return generate_cohort(300, 7)


@pytest.fixture(scope="module")
def onsets(cohort) -> pd.DataFrame:
    """First day with CRS >= 1, ICANS >= 1 and ICANS >= 3 per patient (NaN if none)."""
    tox = cohort["toxicity"]
    return pd.DataFrame({
        "crs": tox[tox["crs_grade"] >= 1].groupby("patient_id")["day"].min(),
        "icans": tox[tox["icans_grade"] >= 1].groupby("patient_id")["day"].min(),
        "severe": tox[tox["icans_grade"] >= 3].groupby("patient_id")["day"].min(),
    }).reindex(cohort["patients"]["patient_id"])


def test_same_seed_gives_identical_tables(cohort):
    again = generate_cohort(300, 7)
    for name, frame in cohort.items():
        pd.testing.assert_frame_equal(frame, again[name], check_exact=True)


def test_different_seed_gives_different_tables(cohort):
    other = generate_cohort(300, 8)
    for name, frame in cohort.items():
        assert not frame.equals(other[name]), name


def test_tables_have_exactly_the_contract_columns(cohort):
    assert list(cohort) == list(CONTRACT_COLUMNS)
    for name, columns in CONTRACT_COLUMNS.items():
        assert list(cohort[name].columns) == columns, name


def test_patient_ids_are_unique_pseudonyms_and_every_reference_is_known(cohort):
    ids = cohort["patients"]["patient_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"P\d{4}").all()
    for name in ("toxicity", "interventions", "labs"):
        assert cohort[name]["patient_id"].isin(ids).all(), name


def test_wide_cohorts_get_wider_pseudonyms():
    assert list(sample.name_patients(10_000)[[0, -1]]) == ["P00001", "P10000"]


def test_products_diseases_and_demographics_are_plausible(cohort):
    patients = cohort["patients"]
    counts = patients["product"].value_counts()
    assert set(counts.index) <= set(PRODUCT_DISEASES)
    assert set(counts.index[:2]) == {"axi-cel", "tisa-cel"}
    for product, disease in zip(patients["product"], patients["disease"]):
        assert disease in PRODUCT_DISEASES[product], (product, disease)
    assert patients["age_years"].between(18, 90).all()
    assert set(patients["sex"]) == {"F", "M"}
    assert patients["ecog"].between(0, 4).all()
    assert (patients["ecog"] <= 1).mean() > 0.8


def test_every_toxicity_row_has_a_grade(cohort):
    tox = cohort["toxicity"]
    assert (tox["crs_grade"].notna() | tox["icans_grade"].notna()).all()
    # Blanks do occur: "not assessed" is exercised.
    assert tox["crs_grade"].isna().any() and tox["icans_grade"].isna().any()


def test_values_are_within_contract_ranges(cohort):
    tox, iv, labs = cohort["toxicity"], cohort["interventions"], cohort["labs"]
    for column in ("crs_grade", "icans_grade"):
        assert tox[column].dropna().between(0, 5).all()
    assert tox["ice_score"].dropna().between(0, 10).all()
    for frame, column in ((tox, "day"), (iv, "start_day"), (iv, "end_day"), (labs, "day")):
        assert (frame[column].dropna() >= -30).all(), column
    assert (iv["end_day"].dropna() >= iv.loc[iv["end_day"].notna(), "start_day"]).all()
    assert (iv["daily_dose"] > 0).all()
    assert (labs["value"] >= 0).all()
    assert set(iv["dose_unit"]) <= {"mg", "g", "mg/kg", "g/kg"}
    assert set(iv["route"]) <= {"IV", "PO", "SC", "IT"}
    assert set(iv["agent"]) == AGENTS


def test_ice_score_matches_icans_grade(cohort):
    tox = cohort["toxicity"].dropna(subset=["ice_score"])
    assert tox["icans_grade"].notna().all()
    for grade, (low, high) in ICE_BY_GRADE.items():
        scores = tox.loc[tox["icans_grade"] == grade, "ice_score"]
        assert scores.between(low, high).all(), grade
    assert not (tox["icans_grade"] == 5).any()


def test_one_unit_per_analyte(cohort):
    units = cohort["labs"].groupby("analyte")["unit"].unique()
    assert {analyte: list(u) for analyte, u in units.items()} == {a: [u] for a, u in UNITS.items()}


def test_values_below_lloq_are_written_as_the_lloq(cohort):
    labs = cohort["labs"]
    lloq = labs["analyte"].map(sample.LLOQ)
    below = labs["below_lloq"]
    assert labs["below_lloq"].dtype == bool
    assert below.any()
    assert sample.LLOQ["IL-6"] == 1.5  # pg/mL, a typical multiplex assay
    floor_values = labs[below].groupby("analyte")["value"].unique()
    assert floor_values.map(len).eq(1).all()  # one LLOQ per analyte
    assert (labs.loc[below, "value"] == lloq[below]).all()
    assert (labs.loc[~below, "value"] >= lloq[~below]).all()


def test_crs_usually_precedes_icans(onsets):
    both = onsets.dropna(subset=["crs", "icans"])
    assert len(both) > 30
    assert (both["crs"] < both["icans"]).mean() > 0.8
    assert onsets["crs"].dropna().median() <= 4
    assert 4 <= onsets["icans"].dropna().median() <= 8


def test_severe_icans_more_frequent_after_axi_cel_than_tisa_cel(cohort, onsets):
    severe = onsets["severe"].notna().to_numpy()
    product = cohort["patients"]["product"].to_numpy()
    assert severe[product == "axi-cel"].mean() > 2 * severe[product == "tisa-cel"].mean()


def test_groups_are_the_severe_icans_arms(cohort, onsets):
    group = cohort["patients"].set_index("patient_id")["group"]
    severe = onsets["severe"].notna()
    assert (group[~severe] == "No severe ICANS").all()
    assert set(group[severe]) == set(ARMS)
    assert (group[severe].value_counts() >= 5).all()


def test_each_arm_received_its_treatment(cohort, onsets):
    group = cohort["patients"].set_index("patient_id")["group"]
    iv = cohort["interventions"]
    for patient in group[onsets["severe"].notna()].index:
        given = iv[iv["patient_id"] == patient]
        agents = set(given["agent"])
        onset = onsets.at[patient, "severe"]
        systemic = given[given["agent"].isin(["dexamethasone", "methylprednisolone"])
                         & (given["route"] != "IT")]
        # Steroids start around severe onset (from the grade 2 day before, at the earliest).
        assert ((systemic["start_day"] >= onset - 1) & (systemic["start_day"] < onset + 1)).any()
        arm = group[patient]
        assert ("IVIG" in agents) == (arm == "Steroids + IVIG"), patient
        assert ("anakinra" in agents) == (arm == "Steroids + anakinra"), patient
        assert (given["route"] == "IT").any() == (arm == "Steroids + intrathecal"), patient


def test_arms_differ_plausibly(cohort, onsets):
    tox = cohort["toxicity"].merge(onsets["severe"].rename("onset"), left_on="patient_id",
                                   right_index=True)
    peaks = tox[tox["day"] >= tox["onset"]].groupby("patient_id")["icans_grade"].max()
    group = cohort["patients"].set_index("patient_id")["group"]
    mean_peak = peaks.groupby(group).mean()
    assert mean_peak["Steroids + IVIG"] > mean_peak["Steroids alone"]
    resolution = {}
    for patient, rows in tox[tox["day"] > tox["onset"]].groupby("patient_id"):
        settled = rows.loc[rows["icans_grade"] <= 1, "day"]
        if len(settled):
            resolution[patient] = settled.min() - rows["onset"].iloc[0]
    median_days = pd.Series(resolution).groupby(group).median()
    assert median_days["Steroids + intrathecal"] < median_days["Steroids alone"]


def test_deaths_and_follow_up_are_consistent(cohort):
    patients, tox = cohort["patients"], cohort["toxicity"]
    died = patients["death_day"].notna()
    assert (patients["death_cause"].notna() == died).all()
    assert (patients.loc[died, "last_followup_day"] == patients.loc[died, "death_day"]).all()
    assert {"progression", "infection"} <= set(patients["death_cause"].dropna())
    alive = patients[~died]
    censored_early = alive[alive["last_followup_day"] < 30]
    assert alive["last_followup_day"].between(30, 730).mean() > 0.9
    assert len(censored_early) >= 1  # lost to follow-up / transferred during severe ICANS
    assert (censored_early["group"] != "No severe ICANS").all()
    last = patients.set_index("patient_id")["last_followup_day"]
    for name, column in (("toxicity", "day"), ("labs", "day"), ("interventions", "start_day"),
                         ("interventions", "end_day")):
        frame = cohort[name].dropna(subset=[column])
        assert (frame[column] <= frame["patient_id"].map(last)).all(), (name, column)
    fatal = tox[(tox["crs_grade"] == 5) | (tox["icans_grade"] == 5)]
    assert len(fatal) >= 1
    death = patients.set_index("patient_id")["death_day"]
    assert (fatal["day"] == fatal["patient_id"].map(death)).all()


def test_assessments_are_daily_early_then_sparser(cohort):
    days = set(cohort["toxicity"]["day"])
    assert set(range(0, 15)) | {21, 28, 60, 90} <= days
    assert all(d == int(d) for d in days)


def test_expansion_peaks_between_day_7_and_14(cohort):
    cells = cohort["labs"][cohort["labs"]["analyte"] == "CAR-T cells"]
    peaks = cells.loc[cells.groupby("patient_id")["value"].idxmax()]
    assert peaks["day"].between(7, 14).mean() > 0.9
    assert 10 <= peaks["value"].median() <= 300
    wide = cohort["labs"].pivot_table(index=["patient_id", "day"], columns="analyte", values="value")
    wide = wide[wide["CAR-T cells"] > 1]
    ratio = (wide["CD4+ CAR-T cells"] + wide["CD8+ CAR-T cells"]) / wide["CAR-T cells"]
    assert ratio.median() == pytest.approx(1.0, abs=0.1)


def test_il6_tracks_crs(cohort):
    labs, tox = cohort["labs"], cohort["toxicity"]
    peak = labs[(labs["analyte"] == "IL-6") & (labs["day"] >= 0)].groupby("patient_id")["value"].max()
    crs = tox.groupby("patient_id")["crs_grade"].max().reindex(peak.index)
    baseline = labs[(labs["analyte"] == "IL-6") & (labs["day"] == -5)]["value"].median()
    assert 2 <= baseline <= 10
    assert peak[crs >= 3].median() > 10 * peak[crs == 0].median()
    assert peak[crs >= 3].median() >= 100


def test_not_every_patient_has_every_sample(cohort):
    labs = cohort["labs"]
    per_patient = labs.groupby("patient_id").size()
    assert per_patient.nunique() > 10
    assert len(per_patient) < len(cohort["patients"])


def test_written_integers_have_no_decimal_point(cohort, tmp_path):
    write_cohort(cohort, tmp_path)
    tox = pd.read_csv(tmp_path / "toxicity.csv", dtype=str, keep_default_na=False)
    patients = pd.read_csv(tmp_path / "patients.csv", dtype=str, keep_default_na=False)
    for frame, column in ((tox, "crs_grade"), (tox, "icans_grade"), (tox, "ice_score"),
                          (patients, "ecog"), (patients, "age_years"), (patients, "last_followup_day")):
        assert frame[column].str.fullmatch(r"\d*").all(), column
    assert (tox["crs_grade"] == "").any()  # missing values are blank fields


def test_write_cohort_returns_every_table_file(cohort, tmp_path):
    paths = write_cohort(cohort, tmp_path / "out")
    assert [p.name for p in paths] == [f"{name}.csv" for name in CONTRACT_COLUMNS]
    text = paths[0].read_bytes()
    assert text.startswith(b"patient_id,product,group,") and b"\r\n" not in text


def test_committed_sample_is_exactly_the_generator_output(cohort, tmp_path):
    # data/sample/ is generated, never hand-edited: regenerate with
    # write_cohort(generate_cohort(300, 7), "data/sample").
    paths = write_cohort(cohort, tmp_path)
    assert sorted(p.name for p in SAMPLE_DIR.glob("*.csv")) == sorted(p.name for p in paths)
    for path in paths:
        assert (SAMPLE_DIR / path.name).read_bytes() == path.read_bytes(), path.name


def test_rewriting_the_read_back_sample_gives_the_same_bytes(tmp_path):
    # Read as any user would (grades come back as floats with NaN): still written as integers.
    tables = {name: pd.read_csv(SAMPLE_DIR / f"{name}.csv") for name in CONTRACT_COLUMNS}
    for path in write_cohort(tables, tmp_path):
        assert path.read_bytes() == (SAMPLE_DIR / path.name).read_bytes(), path.name


def test_a_small_cohort_generates():
    small = generate_cohort(20, 3)
    assert len(small["patients"]) == 20
    assert small["toxicity"]["patient_id"].nunique() == 20
    assert len(small["labs"]) > 0


def test_a_single_patient_generates_and_zero_is_refused():
    assert len(generate_cohort(1, 1)["patients"]) == 1
    with pytest.raises(ValueError):
        generate_cohort(0)


def test_the_generator_never_imports_streamlit():
    source = Path(sample.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+streamlit", source, re.MULTILINE)
    assert "np.random.seed" not in source and "import random" not in source

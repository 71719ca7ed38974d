"""Cohort filters on a hand-made cohort: each restriction selects exactly the patients it should."""

import pytest

from icans_core import store
from icans_core.filters import CohortFilter, InterventionFilter, describe
from icans_core.ingest import load_sources
from tests.cohorts import copy_tables, sources


def cohort_connection():
    """P1 axi-cel (CD28), IVIG on day 7, 2 days after severe-ICANS onset (day 5), max CRS 2;
    P2 tisa-cel, no ICANS, max CRS 1, no treatment; P3 liso-cel, severe onset day 10, IVIG on
    day 20 and dexamethasone on day 10, max CRS 0; P4 ide-cel, no age, no assessment of CRS."""
    tables = copy_tables()
    tables["patients"] += [["P3", "Breyanzi", "", "LBCL", "45", "F", "2", "60", "", ""],
                           ["P4", "ide-cel", "", "MM", "", "M", "", "40", "", ""]]
    tables["toxicity"] += [["P3", "1", "0", "0", ""], ["P3", "10", "", "4", ""], ["P3", "25", "", "1", ""],
                           ["P4", "3", "", "2", ""]]
    tables["interventions"] += [["P3", "IVIG", "20", "", "0.4", "g/kg", "IV"],
                                ["P3", "dex", "10", "", "20", "mg", "IV"]]
    result = load_sources(sources(tables))
    assert result.ok, result.report
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


@pytest.fixture(scope="module")
def con():
    return cohort_connection()


def selected(con, cohort_filter) -> set[str]:
    size = store.select_patients(con, cohort_filter)
    ids = set(store.patients_frame(con)["patient_id"])
    assert size == len(ids)
    return ids


@pytest.mark.parametrize("cohort_filter,expected", [
    (CohortFilter(), {"P1", "P2", "P3", "P4"}),
    (CohortFilter(products=("axi-cel", "liso-cel")), {"P1", "P3"}),
    (CohortFilter(costimulatory_domains=("CD28",)), {"P1"}),
    (CohortFilter(costimulatory_domains=("4-1BB",)), {"P2", "P3", "P4"}),
    (CohortFilter(targets=("BCMA",)), {"P4"}),
    (CohortFilter(diseases=("FL", "MM")), {"P2", "P4"}),
    (CohortFilter(groups=("Steroids + IVIG",)), {"P1"}),
    (CohortFilter(sexes=("F",)), {"P1", "P3"}),
    (CohortFilter(ecog=(0, 2)), {"P2", "P3"}),
    (CohortFilter(age_range=(50, 70)), {"P1", "P2"}),  # P4 has no age: out of any age range
    (CohortFilter(max_crs_grades=(2,)), {"P1"}),
    (CohortFilter(max_icans_grades=(3, 4)), {"P1", "P3"}),
    (CohortFilter(products=("axi-cel", "tisa-cel"), sexes=("M",)), {"P2"}),  # fields combine with AND
])
def test_each_restriction(con, cohort_filter, expected):
    assert selected(con, cohort_filter) == expected


@pytest.mark.parametrize("rx,expected", [
    (InterventionFilter(("IVIG",), "any"), {"P1", "P3"}),
    (InterventionFilter(("IVIG", "corticosteroid"), "all"), {"P1", "P3"}),
    (InterventionFilter(("IVIG", "tocilizumab"), "all"), set()),
    (InterventionFilter(("IVIG",), "none"), {"P2", "P4"}),
    (InterventionFilter(("dexamethasone",), "any"), {"P1", "P3"}),  # an agent name (P3's "dex")
    # "IVIG within 3 days of severe-ICANS onset": P1 (day 7, onset 5) yes; P3 (day 20, onset 10) no
    (InterventionFilter(("IVIG",), "any", within_days_of_onset=3), {"P1"}),
    (InterventionFilter(("IVIG",), "none", within_days_of_onset=3), {"P2", "P3", "P4"}),
    (InterventionFilter(("IVIG",), "any", within_days_of_onset=3, severe_grade=4), set()),  # P1's peak is 3
])
def test_intervention_filters(con, rx, expected):
    assert selected(con, CohortFilter(intervention=rx)) == expected


def test_every_analysis_sees_only_the_selection(con):
    store.select_patients(con, CohortFilter(products=("axi-cel",)))
    assert set(store.toxicity_frame(con)["patient_id"]) == {"P1"}
    assert set(store.interventions_frame(con)["patient_id"]) == {"P1"}
    assert set(store.lab_values(con, ["IL-6", "CRP"])["patient_id"]) == {"P1"}
    counts = store.selection_counts(con).set_index("group")
    assert counts.loc["Steroids + IVIG", "selected"] == 1 and counts.loc["Steroids alone", "selected"] == 0
    store.select_patients(con, CohortFilter())


def test_an_empty_selection_is_not_an_error(con):
    assert selected(con, CohortFilter(products=("cilta-cel",))) == set()
    assert store.toxicity_frame(con).empty
    store.select_patients(con, CohortFilter())


def test_hostile_values_are_only_values(con):
    hostile = "axi-cel') OR 1=1; DROP TABLE patients; --"
    assert selected(con, CohortFilter(products=(hostile,), intervention=InterventionFilter((hostile,)))) == set()
    assert selected(con, CohortFilter()) == {"P1", "P2", "P3", "P4"}


def test_choices_come_from_the_whole_cohort(con):
    store.select_patients(con, CohortFilter(products=("axi-cel",)))
    choices = store.filter_choices(con)
    assert choices["products"] == ["axi-cel", "ide-cel", "liso-cel", "tisa-cel"]
    assert choices["age_range"] == (45.0, 70.0)
    assert choices["agents"] == ["IVIG", "dexamethasone"]
    # colours are assigned over every group of the cohort, so a filter never shifts them
    assert store.group_names(con) == ["Steroids + IVIG", "Steroids alone", "ide-cel", "liso-cel"]
    store.select_patients(con, CohortFilter())


def test_the_filter_reads_back_in_words():
    cohort_filter = CohortFilter(products=("axi-cel",), age_range=(18, 65),
                                 intervention=InterventionFilter(("IVIG",), "any", 3))
    assert describe(cohort_filter) == ["product: axi-cel", "age: 18 to 65 years",
                                       "received any of: IVIG, started within 3 days after severe-ICANS onset "
                                       "(grade 3+)"]
    assert describe(CohortFilter()) == [] and CohortFilter().is_empty


@pytest.mark.parametrize("bad", [dict(age_range=(70, 50)), dict(max_crs_grades=(6,))])
def test_impossible_filters_are_refused(bad):
    with pytest.raises(ValueError):
        CohortFilter(**bad)


def test_an_intervention_mode_or_window_without_an_intervention_restricts_nothing():
    # store.select_patients applies the intervention filter only when an intervention is chosen
    for idle in (InterventionFilter((), "none"), InterventionFilter((), "any", 7.0), InterventionFilter((), "all", None, 2)):
        assert CohortFilter(intervention=idle).is_empty and describe(CohortFilter(intervention=idle)) == []
    assert not CohortFilter(intervention=InterventionFilter(("IVIG",), "none")).is_empty

"""icans_core/charts/compose.py: compound charts built without Altair's copies give the very same specs.

Every figure of every view is built twice, with Altair's own functions and with the wrapped ones, on the
sample (whole and filtered) under several analysis and page options, and the specs compared as JSON; the
Swimlanes chart with the page's click selection (a parameter: Altair's own path) too.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import altair as alt
import pytest
from altair.vegalite.v6 import api

from icans_core import store
from icans_core.charts import compose
from icans_core.charts.serialise import vega_lite
from icans_core.content import cytokines, expansion, overview, resolution, swimlanes, treatments
from icans_core.content.sections import Figure
from icans_core.episodes import EpisodeOptions
from icans_core.filters import CohortFilter
from icans_core.ingest import load_paths
from icans_core.options import AnalysisOptions

ROOT = Path(__file__).resolve().parent.parent

BUILDS = [
    (overview.build, ()),
    (swimlanes.build, ()),
    (swimlanes.build, (swimlanes.SwimlaneViewOptions(
        lanes=swimlanes.LaneOptions(by="patient", only_severe=False, per_page=150, page=2, symbol_by="agent")),)),
    (cytokines.build, ()),
    (cytokines.build, (cytokines.CytokineOptions(layout="panels", alignment="onset", log_scale=False,
                                                 mark_style="study"),)),
    (resolution.build, ()),
    (resolution.build, (resolution.ResolutionOptions(orientation="still severe", cox_covariates=("age_years",)),)),
    (treatments.build, ()),
    (treatments.build, (treatments.TreatmentOptions(measure="steroid_days", log=True, severe_only=True),)),
    (expansion.build, ()),
    (expansion.build, (expansion.ExpansionOptions(log_scale=False, metric="auc_0_28"),)),
]
ANALYSES = [AnalysisOptions(), AnalysisOptions(group_by="product", episodes=EpisodeOptions(severe_grade=2))]


@pytest.fixture(scope="module")
def con():
    connection = store.connect()
    store.load_cohort(connection, load_paths([ROOT / "data" / "sample"]).cohort)
    return connection


def specs(con) -> list[str]:
    found = []
    # the whole sample with the default options, and a filtered one with others
    for cohort_filter, analysis in zip((CohortFilter(), CohortFilter(products=("axi-cel", "liso-cel"))), ANALYSES):
        store.select_patients(con, cohort_filter)
        for build, options in BUILDS:
            for section in build(con, analysis, *options).sections:
                if isinstance(section, Figure):
                    found.append(json.dumps(vega_lite(section.chart), sort_keys=True))
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        clicked = section.chart.add_params(alt.selection_point(
                            name="click", fields=["patient_id"], on="click", clear=False))
                    found.append(json.dumps(vega_lite(clicked), sort_keys=True))
    return found


def test_every_figure_is_the_same_spec_with_and_without_altairs_copies(con):
    assert api._combine_subchart_params is compose._combine_subchart_params  # installed by icans_core.charts
    wrapped = specs(con)
    compose.uninstall()
    try:
        altairs = specs(con)
    finally:
        compose.install()
    assert len(wrapped) == len(altairs) >= 50
    for i, (ours, theirs) in enumerate(zip(wrapped, altairs)):
        assert ours == theirs, f"figure {i}"


def test_another_altair_version_keeps_altairs_own_functions(monkeypatch):
    try:
        monkeypatch.setattr(alt, "__version__", "6.4.0")
        compose.uninstall()
        assert compose.install() is False
        assert api._combine_subchart_params is compose._ORIGINAL["_combine_subchart_params"]
        assert api._remove_duplicate_params is compose._ORIGINAL["_remove_duplicate_params"]
    finally:
        monkeypatch.undo()
        assert compose.install() is True


def test_a_chart_with_a_parameter_inside_is_left_to_altair():
    base = alt.Chart({"values": [{"x": 1}]}).mark_point().encode(x="x:Q")
    selected = base.add_params(alt.selection_point(name="pick"))
    assert compose._plain(base) and compose._plain(alt.layer(base, base))
    assert not compose._plain(selected) and not compose._plain(alt.hconcat(base, alt.layer(base, selected)))

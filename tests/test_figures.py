"""Figures download as PNG and SVG rendered offline (vl-convert), and pages show the export's numbers."""

import pandas as pd
import streamlit as st
import vl_convert as vlc
from streamlit.testing.v1 import AppTest

from pathlib import Path

from icans_core import store, survival
from icans_core.charts.survival import km_figure
from icans_core.episodes import compute_episodes
from icans_core.filters import CohortFilter
from icans_core.ingest import load_paths
from icans_core.options import AnalysisOptions
from icans_core.results import compute_results

ROOT = Path(__file__).resolve().parent.parent

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sample_connection():
    con = store.connect()
    store.load_cohort(con, load_paths([ROOT / "data" / "sample"]).cohort)
    return con


def test_a_compound_figure_renders_offline_to_png_and_svg():
    con = sample_connection()
    episodes = compute_episodes(store.toxicity_frame(con), store.patients_frame(con), store.interventions_frame(con))
    km = survival.kaplan_meier(episodes)
    medians = survival.median_times(episodes, km=km)
    figure = km_figure(km, medians, survival.number_at_risk(km), "severe-ICANS onset", "log", "resolved",
                       sorted(episodes["group"].unique()))
    spec = figure.to_json()
    png = vlc.vegalite_to_png(spec, scale=1)
    svg = vlc.vegalite_to_svg(spec)
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    assert svg.lstrip().startswith("<svg") and "Time to resolution" in svg


def test_the_resolution_page_shows_the_exports_medians():
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "views" / "resolution.py"), default_timeout=60)
    app.run()
    assert not app.exception
    shown = next(d.value for d in app.dataframe if "median_days" in d.value.columns)
    exported = compute_results(sample_connection(), AnalysisOptions())["resolution_summary"]
    # a column with blanks arrives as the text the reports show ("not reached", one decimal)
    for column in ("median_days", "median_ci_lower", "median_ci_upper"):
        shown[column] = pd.to_numeric(shown[column].replace("not reached", float("nan")))
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), exported.reset_index(drop=True),
                                  check_dtype=False, atol=0.05)


def test_the_cytokines_page_shows_the_exports_p_and_q_values():
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "views" / "cytokines.py"), default_timeout=60)
    app.run()
    assert not app.exception
    shown = next(d.value for d in app.dataframe if "q_value" in d.value.columns)
    exported = compute_results(sample_connection(), AnalysisOptions())["cytokine_medians"]
    keys = ["group", "analyte", "day"]
    both = shown.merge(exported, on=keys, suffixes=("_page", "_export"))
    assert len(both) == len(shown) > 50
    for column in ("n", "median", "q1", "q3", "p_value", "q_value"):
        pd.testing.assert_series_equal(both[f"{column}_page"], both[f"{column}_export"], check_names=False,
                                       check_dtype=False)


def every_figure(con):
    """(key, chart) of every figure of every view with its default options, as the pages show them."""
    from icans_core import content
    from icans_core.content.sections import Figure

    return [(s.key, s.chart) for view in content.build_all(con, AnalysisOptions()) for s in view.sections
            if isinstance(s, Figure)]


def test_every_figure_reaches_the_browser_as_st_altair_chart_would_send_it_and_is_valid_vega_lite():
    # ui/figures.browser_spec skips Altair's JSON-schema validation on the pages; here every figure is
    # checked against it, and against Streamlit's own conversion (same spec, same Arrow datasets)
    from streamlit.elements import vega_charts

    from ui.figures import browser_spec

    con = sample_connection()
    store.select_patients(con, CohortFilter(products=("axi-cel", "tisa-cel")))
    figures = every_figure(con)
    assert len(figures) >= 10
    for key, chart in figures:
        chart.to_dict(validate=True)  # raises on a spec Vega-Lite's schema refuses
        ours, streamlits = browser_spec(chart), vega_charts._convert_altair_to_vega_lite_spec(chart)
        assert ours == streamlits, key
        assert ours["datasets"] and all(isinstance(v, bytes) for v in ours["datasets"].values()), key

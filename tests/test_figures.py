"""Figures download as PNG and SVG rendered offline (vl-convert), and pages show the export's numbers."""

import pandas as pd
import pytest
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


def test_chart_objects_are_not_validated_as_they_are_built():
    # icans_core.charts turns Altair's debug mode off (the test above validates each whole spec instead): with
    # it on, every chart object built on every rerun is checked against the schema
    import altair as alt

    import icans_core.charts  # noqa: F401

    assert alt.utils.schemapi.DEBUG_MODE is False
    alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x=alt.X("x:Q", bin="not a bin"))  # built, not checked
    with pytest.raises(Exception):
        alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x=alt.X("x:Q", bin="not a bin")).to_dict()


# --- long tables: the page shows their first rows, the CSV all of them (ui/figures.rows_to_show) ---------

def _long_table_page(rows: int, report: bool = False):
    import pandas as pd
    import streamlit as st

    from icans_core.content.sections import Table, View
    from ui.figures import show_report
    from ui.render import show_view

    frame = pd.DataFrame({"patient_id": [f"P{i:06d}" for i in range(rows)], "cmax": [i / 7 for i in range(rows)]})
    if report:
        problems = pd.DataFrame({"severity": "warning", "source": "labs.csv", "row": pd.array(range(2, rows + 2), "Int64"),
                                 "column": "value", "value": "x", "problem": "a problem"})
        show_report(problems, "the_report", ("Download the report (CSV)", "report.csv"))
    else:
        show_view(View("test", "Test", [Table(frame, "per-patient", "per_patient", "One row per patient.")]))
    st.write(f"rows={rows}")


def long_table_app(rows: int, report: bool = False) -> AppTest:
    at = AppTest.from_function(_long_table_page, args=(rows, report), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def downloaded_csv(deferred, file_name: str) -> pd.DataFrame:
    import io

    [found] = [d for d in deferred if d["file_name"] == file_name]
    data = found["callable"]()
    return pd.read_csv(io.StringIO(data if isinstance(data, str) else data.decode("utf-8")))


def test_a_long_table_shows_its_first_rows_says_so_and_shows_all_on_request(deferred):
    from ui.figures import PAGE_ROWS

    at = long_table_app(2_500)
    [grid] = at.dataframe
    assert len(grid.value) == PAGE_ROWS == 1_000
    assert list(grid.value["patient_id"][:2]) == ["P000000", "P000001"]  # the table's own order
    assert any("The first 1,000 of 2,500 rows" in c.value and "CSV download holds all 2,500" in c.value
               for c in at.caption)
    assert len(downloaded_csv(deferred, "per-patient.csv")) == 2_500  # the download holds every row
    at.toggle(key="per_patient_all_rows").set_value(True).run()
    assert len(at.dataframe[0].value) == 2_500
    assert not any("The first" in c.value for c in at.caption)


def test_a_table_up_to_the_page_rows_is_shown_whole_without_a_note():
    at = long_table_app(1_000)
    assert len(at.dataframe[0].value) == 1_000
    assert not at.toggle and not any("The first" in c.value for c in at.caption)


def test_a_table_too_long_for_a_page_offers_only_its_download(deferred):
    at = long_table_app(60_000)
    assert len(at.dataframe[0].value) == 1_000 and not at.toggle
    assert any("more than 50,000 rows are not shown" in c.value for c in at.caption)
    assert len(downloaded_csv(deferred, "per-patient.csv")) == 60_000


def test_a_long_problem_report_shows_its_first_rows_and_downloads_every_row(deferred):
    at = long_table_app(1_500, report=True)
    assert len(at.dataframe[0].value) == 1_000
    assert list(at.dataframe[0].value["row"][:2]) == ["2", "3"]  # the first problems, in row order
    assert [b.label for b in at.get("download_button")] == ["Download the report (CSV)"]
    assert len(downloaded_csv(deferred, "report.csv")) == 1_500


def _plain_table_page(rows: int):
    import pandas as pd

    from ui.figures import show_table

    show_table(pd.DataFrame({"patient_id": [f"P{i:06d}" for i in range(rows)]}), "nca", "nca")


def test_a_long_frame_given_to_show_table_directly_is_cut_too(deferred):
    # e.g. the Expansion page's NCA table (ui/stats_sections.py): 9,044 rows at 10,000 patients
    at = AppTest.from_function(_plain_table_page, args=(1_200,), default_timeout=60)
    at.run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1_000 and at.toggle(key="nca_all_rows").label == "Show all 1,200 rows"
    assert len(downloaded_csv(deferred, "nca.csv")) == 1_200

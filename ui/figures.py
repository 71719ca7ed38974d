"""Show a figure with its downloads: PNG and SVG (rendered offline by vl-convert) and its data as CSV; and a
table or a problem report with its CSV, a long one cut to its first rows on the page (rows_to_show).

The CSVs go through `spreadsheet_csv` (exact numbers, no formulas): ids and labels come from uploads, and a cell such as
"=HYPERLINK(...)" would run as a formula in the spreadsheet the user opens the file in.
"""

from __future__ import annotations

import re
from contextlib import nullcontext

import altair as alt
import pandas as pd
import streamlit as st
import vl_convert as vlc
from streamlit.elements import vega_charts

from icans_core.charts.serialise import LOCK, vega_lite_json
from icans_core.spreadsheet_safe import spreadsheet_csv
from ui.downloads import owned

# Streamlit serialises st.altair_chart under its lock of Altair's globals; the app's own specs (sizes,
# downloads, reports) under icans_core.charts.serialise.LOCK. One lock for both: see that module.
vega_charts._altair_globals_lock = LOCK


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "figure"


_COMPOUND = (alt.HConcatChart, alt.VConcatChart, alt.ConcatChart, alt.FacetChart)


def _sized(chart: alt.TopLevelMixin) -> bool:
    # A chart that sets its own width (pixels or a step per category), or a compound one, keeps it:
    # stretching it to the container squashes step-sized charts in the browser. Read off the chart, not
    # its spec: serialising it for this alone cost 0.07 s a chart at 10,000 patients.
    return chart._get("width") is not alt.Undefined or isinstance(chart, _COMPOUND)


def browser_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart's spec as st.altair_chart makes it (Streamlit's transformer: each frame as Arrow bytes
    under its content hash; the theme "none"), without Altair's JSON-schema validation: validating took
    about half of the conversion, 0.1 s for the lanes alone at 10,000 patients, on every rerun.
    tests/test_figures.py checks that every figure of every view is the same spec either way and valid."""
    datasets: dict = {}
    # registered before the switch, as Streamlit does: leaving `enable` restores the registry as it found it
    alt.data_transformers.register("to_arrow_dataset", vega_charts._to_arrow_dataset)
    with LOCK:
        theme = alt.theme.enable("none") if alt.theme.active == "default" else nullcontext()
        with theme, alt.data_transformers.enable("to_arrow_dataset", datasets=datasets):
            spec = chart.to_dict(validate=False)
    kept = spec.get("datasets")
    spec["datasets"] = {**kept, **datasets} if isinstance(kept, dict) else datasets
    return spec


def show_figure(chart: alt.TopLevelMixin, data: pd.DataFrame, name: str, key: str, *,
                on_select="ignore", selection_mode=None):
    """Render the chart, then offer PNG, SVG and the chart's data as CSV.

    The images are made only when a download is clicked (deferred data), so a page
    rerun does not pay for rendering them. `on_select` and `selection_mode` go to
    st.vega_lite_chart (the chart's selection parameters, e.g. a click on a lane); the chart's
    widget key is f"{key}_chart". Returns st.vega_lite_chart's result (the selection event when
    `on_select` is set).
    """
    selection = {"on_select": on_select, "selection_mode": selection_mode}
    if _sized(chart):
        # Streamlit's default autosize "fit" squeezes titles, axes and legends into the declared
        # size, flattening the plot; "pad" keeps the plot at its size and adds room around it.
        chart = chart.properties(autosize=alt.AutoSizeParams(type="pad", contains="padding"))
        event = st.vega_lite_chart(browser_spec(chart), key=f"{key}_chart", width="content", **selection)
    else:
        event = st.vega_lite_chart(browser_spec(chart), key=f"{key}_chart", width="stretch", **selection)
    slug = _slug(name)
    # the spec of the downloads, made when one is clicked (most runs never need it)
    png, svg, csv = st.columns([1, 1, 1])
    png.download_button("PNG", owned(lambda: vlc.vegalite_to_png(vega_lite_json(chart), scale=2), f"the PNG of {name}"),
                        file_name=f"{slug}.png",
                        mime="image/png", icon=":material/image:", key=f"{key}_png", on_click="ignore")
    svg.download_button("SVG", owned(lambda: vlc.vegalite_to_svg(vega_lite_json(chart)), f"the SVG of {name}"),
                        file_name=f"{slug}.svg",
                        mime="image/svg+xml", icon=":material/draw:", key=f"{key}_svg", on_click="ignore")
    csv.download_button("Data (CSV)", owned(lambda: spreadsheet_csv(data), f"the data of {name}"),
                        file_name=f"{slug}.csv",
                        mime="text/csv", icon=":material/table:", key=f"{key}_csv", on_click="ignore")
    return event


# A page's table ships every row it shows to the browser (Arrow) on every run: the 10,000-patient
# registry's derived grades were 173,315 rows, 17 MB, on each visit of the Cohort page, and 100,000
# patients would pass Streamlit's message limit. A table shows its first PAGE_ROWS rows unless the user
# asks for all, up to MOST_ROWS; its CSV download always holds every row.
PAGE_ROWS = 1_000
MOST_ROWS = 50_000


def rows_to_show(total: int, key: str) -> int:
    """How many of a table's `total` rows the page shows; above PAGE_ROWS it says so, with a toggle to
    show them all (up to MOST_ROWS). Call it where the note belongs, above the table."""
    if total <= PAGE_ROWS:
        return total
    shown = PAGE_ROWS
    if total <= MOST_ROWS and st.toggle(f"Show all {total:,} rows", key=f"{key}_all_rows"):
        shown = total
    if shown < total:
        more = ("" if total <= MOST_ROWS else
                f" (more than {MOST_ROWS:,} rows are not shown on a page)")
        st.caption(f"The first {shown:,} of {total:,} rows, in the table's order: sorting a column sorts these "
                   f"rows only. The CSV download holds all {total:,}{more}.")
    return shown


def show_table(frame: pd.DataFrame, name: str, key: str, download: pd.DataFrame | None = None,
               bounded: bool = False, **dataframe_options) -> None:
    """A table with a CSV download of it (`download`: the whole frame behind a styled or shortened one).
    A long frame shows its first rows (rows_to_show), unless `bounded`: the caller chose them already."""
    rows = frame if download is None else download
    if not bounded and isinstance(frame, pd.DataFrame):
        frame = frame.iloc[:rows_to_show(len(frame), key)]
    st.dataframe(frame, hide_index=True, key=f"{key}_table", **dataframe_options)
    st.download_button("Table (CSV)", owned(lambda: spreadsheet_csv(rows), f"the table {name}"),
                       file_name=f"{_slug(name)}.csv", mime="text/csv", icon=":material/table:",
                       key=f"{key}_table_csv", on_click="ignore")


def show_report(report: pd.DataFrame, key: str, download: tuple[str, str] | None = None) -> None:
    """A validation or import report (icans_core.problems.report_frame): blanks, not "None", where a problem
    has no row, column or value; its first rows of a long one (rows_to_show); with `download` = (label,
    file name), a CSV download of every row."""
    rows = rows_to_show(len(report), key)
    shown = report.iloc[:rows].astype(object)
    shown = shown.where(shown.notna(), "")
    if "row" in shown.columns:  # as text: whole numbers and blanks in one column do not make an Arrow column
        shown["row"] = shown["row"].map(str)
    st.dataframe(shown, hide_index=True, key=f"{key}_table",
                 column_config={"problem": st.column_config.TextColumn("problem", width="large"),
                                "row": st.column_config.TextColumn("row", width="small")})
    if download:
        label, file_name = download
        st.download_button(label, owned(lambda: spreadsheet_csv(report), f"the report {file_name}"),
                           file_name=file_name, mime="text/csv", icon=":material/download:", key=f"{key}_csv",
                           on_click="ignore")


def warnings_also_listed(report: pd.DataFrame) -> str:
    """A sentence for a refusal's headline, which counts errors, when its report also lists warnings (so the
    report's rows are not the errors counted)."""
    warned = int((report["severity"] == "warning").sum()) if "severity" in report.columns else 0
    return f" The report below also lists {warned:,} warning(s)." if warned else ""

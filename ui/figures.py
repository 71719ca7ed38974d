"""Show a figure with its downloads: PNG and SVG (rendered offline by vl-convert) and its data as CSV."""

from __future__ import annotations

import re

import altair as alt
import pandas as pd
import streamlit as st
import vl_convert as vlc


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "figure"


def show_figure(chart: alt.TopLevelMixin, data: pd.DataFrame, name: str, key: str) -> None:
    """Render the chart, then offer PNG, SVG and the chart's data as CSV.

    The images are made only when a download is clicked (deferred data), so a page
    rerun does not pay for rendering them.
    """
    st.altair_chart(chart, key=f"{key}_chart")
    slug = _slug(name)
    spec = chart.to_json()
    png, svg, csv = st.columns([1, 1, 1])
    png.download_button("PNG", lambda: vlc.vegalite_to_png(spec, scale=2), file_name=f"{slug}.png",
                        mime="image/png", icon=":material/image:", key=f"{key}_png", on_click="ignore")
    svg.download_button("SVG", lambda: vlc.vegalite_to_svg(spec), file_name=f"{slug}.svg",
                        mime="image/svg+xml", icon=":material/draw:", key=f"{key}_svg", on_click="ignore")
    csv.download_button("Data (CSV)", lambda: data.to_csv(index=False), file_name=f"{slug}.csv",
                        mime="text/csv", icon=":material/table:", key=f"{key}_csv", on_click="ignore")


def show_table(frame: pd.DataFrame, name: str, key: str, **dataframe_options) -> None:
    """A table with a CSV download of exactly what is shown."""
    st.dataframe(frame, hide_index=True, key=f"{key}_table", **dataframe_options)
    st.download_button("Table (CSV)", lambda: frame.to_csv(index=False), file_name=f"{_slug(name)}.csv",
                       mime="text/csv", icon=":material/table:", key=f"{key}_table_csv", on_click="ignore")

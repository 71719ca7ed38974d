"""Render a view definition (icans_core.content) into the Streamlit page: the page draws exactly the
sections the reports draw, in the same order, with the same captions and cell texts.

    view = content.cytokines.build(con, current(), options)
    show_view(view)
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pandas as pd
from pandas.io.formats.style import Styler
import streamlit as st

from icans_core.content.sections import Bullets, Figure, Heading, Note, Numbers, Table, View, format_cell
from ui.figures import rows_to_show, show_figure, show_table
from ui.text import plain

# pandas' Styler costs about 0.2 ms a row (2 s for a registry's 10,000-patient table on every rerun); a
# larger table keeps its numbers and the grid formats them (number_formats), the reports' rule in printf form.
STYLED_CELLS = 20_000


def show_view(view: View, figure_options: dict[str, dict] | None = None, below_heading: bool = False) -> None:
    """Every section of the view, top to bottom. figure_options: figure key -> extra show_figure arguments
    (and "transform": a function of the chart, e.g. adding the page's click selection);
    below_heading: the page drew the view's first heading itself (above its own controls), so skip it."""
    sections = list(view.sections)
    if below_heading and sections and isinstance(sections[0], Heading):
        sections = sections[1:]
    for section in sections:
        show_section(section, figure_options or {})


def show_section(section, figure_options: dict[str, dict] | None = None) -> None:
    """One section: a heading, a note, bullets, key numbers, a figure with its downloads or a table."""
    if isinstance(section, Heading):
        st.subheader(plain(section.text))
    elif isinstance(section, Note):
        show = {"info": st.info, "warning": st.warning, "caption": st.caption}.get(section.kind, st.markdown)
        show(plain(section.text))
    elif isinstance(section, Bullets):
        st.markdown(f"**{plain(section.title)}**\n" + "\n".join(f"- {plain(item)}" for item in section.items))
    elif isinstance(section, Numbers):
        rows = list(section.frame.itertuples())
        for column, row in zip(st.columns(max(len(rows), 1)), rows):
            column.metric(str(row.measure), str(row.value), help=str(row.detail))
    elif isinstance(section, Figure):
        extra = dict((figure_options or {}).get(section.key, {}))
        chart = extra.pop("transform", lambda c: c)(section.chart)  # e.g. a click selection the page reads
        show_figure(chart, section.data, section.stem, key=section.key, **extra)
        if section.caption:
            st.caption(plain(section.caption))
    elif isinstance(section, Table):
        if section.collapsed:
            with st.expander(section.collapsed):
                _table(section)
        else:
            _table(section)
    else:
        raise TypeError(f"not a view section: {type(section).__name__}")


def _table(table: Table) -> None:
    rows = rows_to_show(len(table.frame), table.key)  # the first rows of a long table (ui/figures.py)
    shown = styled(replace(table, frame=table.frame.iloc[:rows]) if rows < len(table.frame) else table)
    options = {} if isinstance(shown, Styler) else {"column_config": number_formats(table, shown)}
    show_table(shown, table.stem, key=table.key, download=table.frame, bounded=True, **options)
    if table.caption:
        st.caption(plain(table.caption))


# A table's formats (content/sections.py format_cell) as the grid's printf formats, for tables too large to
# style cell by cell. format_cell's texts ("< 0.001") have no printf form: those cells show the number.
_PRINTF = {"p": "%.3g", "percent": "percent", "pct": "%.0f%%", "int": "%d", "g": "%g"}
# format_cell's default for fractions (4 significant digits below 10,000, whole numbers above) is not one
# printf format: "%.4g" would show 13,325.2 as 13330. Six significant digits show every number a report
# shows without rounding any of them differently (at most more digits).
_FRACTIONS = "%.6g"


def number_formats(table: Table, frame) -> dict:
    """st.dataframe column_config for the numeric columns of a large table: its format, else whole numbers
    as they are and fractions to six significant digits."""
    config = {}
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            continue
        fmt = table.formats.get(column)
        if fmt is None:
            fmt = "%d" if pd.api.types.is_integer_dtype(frame[column]) else _FRACTIONS
        else:
            fmt = _PRINTF.get(fmt, f"%{fmt}")
        config[column] = st.column_config.NumberColumn(column, format=fmt)
    return config


def styled(table: Table):
    """The frame with each cell shown as the reports show it (blank or 'not reached', never 'None'),
    while the grid keeps the numbers underneath for sorting."""
    frame = table.frame.reset_index(drop=True)
    if frame.empty:
        return frame
    # The grid draws an empty cell as "None" whatever the Styler says: a column with blanks is sent as the
    # text the reports show (it then sorts as text); complete columns stay numbers, formatted by the Styler.
    gaps = [c for c in frame.columns if frame[c].isna().any()]
    if gaps:
        frame = frame.astype({c: object for c in gaps})
        for c in gaps:
            frame[c] = [format_cell(v, table.formats.get(c), table.missing.get(c, "")) for v in frame[c].tolist()]
    if frame.size > STYLED_CELLS:  # the grid formats the numbers (number_formats); true/false as the reports say
        for c in [c for c in frame.columns if pd.api.types.is_bool_dtype(frame[c])]:
            frame[c] = frame[c].map({True: "yes", False: "no"})
        return frame
    formatter = {c: partial(format_cell, fmt=table.formats.get(c), missing=table.missing.get(c, ""))
                 for c in frame.columns if c not in gaps}
    return frame.style.format(formatter)

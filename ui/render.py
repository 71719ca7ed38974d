"""Render a view definition (icans_core.content) into the Streamlit page: the page draws exactly the
sections the reports draw, in the same order, with the same captions and cell texts.

    view = content.cytokines.build(con, current(), options)
    show_view(view)
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from icans_core.content.sections import Bullets, Figure, Heading, Note, Numbers, Table, View, format_cell
from ui.figures import show_figure, show_table
from ui.text import plain

STYLED_CELLS = 200_000  # pandas' Styler renders at most 262,144 cells; larger tables show raw values


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
    show_table(styled(table), table.stem, key=table.key, download=table.frame)
    if table.caption:
        st.caption(plain(table.caption))


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
    if frame.size > STYLED_CELLS:
        return frame
    formatter = {c: partial(format_cell, fmt=table.formats.get(c), missing=table.missing.get(c, ""))
                 for c in frame.columns if c not in gaps}
    return frame.style.format(formatter)

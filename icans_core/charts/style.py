"""Colours, shapes and labels shared by every chart, so a grade or a drug looks the same on every page."""

from __future__ import annotations

import altair as alt

from icans_core import schema as S

# ASTCT grades 0-5: a sequential scale (light = mild, dark = severe, black = grade 5, death).
GRADE_COLOURS = {0: "#d9d9d9", 1: "#fdd49e", 2: "#fc8d59", 3: "#d7301f", 4: "#7f0000", 5: "#000000"}
GRADES = list(GRADE_COLOURS)

# Intervention classes: colour and point shape, distinct in colour and in shape.
CLASS_STYLE = {
    S.CORTICOSTEROID: ("#1f77b4", "triangle-down"),
    S.IL6_BLOCKADE: ("#2ca02c", "circle"),
    S.IL1_BLOCKADE: ("#9467bd", "diamond"),
    S.IVIG_CLASS: ("#17becf", "square"),
    S.INTRATHECAL: ("#8c564b", "cross"),
    S.OTHER: ("#7f7f7f", "triangle-up"),
}

# Comparison groups: a categorical palette that stays readable printed in grey.
GROUP_PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]

DAY_AXIS_TITLE = "Days since CAR-T infusion"


def grade_scale(title: str = "ASTCT grade") -> alt.Scale:
    """The grade colour scale (domain 0-5), identical on every chart."""
    return alt.Scale(domain=GRADES, range=[GRADE_COLOURS[g] for g in GRADES])


def class_colour_scale() -> alt.Scale:
    return alt.Scale(domain=list(CLASS_STYLE), range=[c for c, _ in CLASS_STYLE.values()])


def class_shape_scale() -> alt.Scale:
    return alt.Scale(domain=list(CLASS_STYLE), range=[s for _, s in CLASS_STYLE.values()])


def group_scale(groups: list[str]) -> alt.Scale:
    """Colours for comparison groups, in the given (stable) order."""
    return alt.Scale(domain=list(groups), range=[GROUP_PALETTE[i % len(GROUP_PALETTE)] for i in range(len(groups))])


SUBTITLE_WIDTH = 110  # characters per subtitle line: a long line would widen the figure and shrink the plot


def wrap_lines(lines: str | list[str], width: int = SUBTITLE_WIDTH) -> list[str]:
    """Subtitle lines broken at word boundaries so that none is longer than `width` characters."""
    import textwrap

    out: list[str] = []
    for line in [lines] if isinstance(lines, str) else lines:
        out += textwrap.wrap(str(line), width=width, break_long_words=False, break_on_hyphens=False) or [""]
    return out


def titled(chart: alt.Chart | alt.LayerChart | alt.VConcatChart, title: str, subtitle: str | list[str]) -> alt.Chart:
    """Every figure carries a title and a subtitle that states n and units (long lines wrapped)."""
    return chart.properties(title=alt.TitleParams(title, subtitle=wrap_lines(subtitle), anchor="start"))


def layer(*charts: alt.Chart) -> alt.LayerChart:
    """alt.layer of charts, with the data every one of them draws handed to the layer itself.

    Altair hoists data shared by every layer the same way, but first hashes each layer's spec with
    its frame's text repr (to name the views): 30 ms a layer for a frame of a few thousand rows,
    most of a chart's build. Given to the layer, the same spec comes out without the hashing.
    """
    data = charts[0].data if charts else alt.Undefined
    if data is alt.Undefined or not all(c.data is data for c in charts):
        return alt.layer(*charts)
    bare = []
    for chart in charts:
        chart = chart.copy(deep=False)
        chart.data = alt.Undefined
        bare.append(chart)
    return alt.layer(*bare, data=data)

"""The tumour-board timeline: one patient's grades, treatments, cytokines and CAR-T cells on one day axis.

Draws the frames of icans_core.patient.PatientCourse; computes nothing. Stacked panels share the
x scale so a grade change, a dose and a cytokine peak on the same day line up. Type is large
(axis labels 14 px, titles 16 px) because the chart is read from across a room.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core import schema as S
from icans_core.charts import style
from icans_core.patient import PatientCourse
from icans_core.swimlanes import LANES

WIDTH = 540  # with the row labels on the left and the legends on the right: about 900 px in all
GRADE_ROW_HEIGHT = 34
TREATMENT_ROW_HEIGHT = 40
LAB_HEIGHT = 200
LABEL_SIZE, TITLE_SIZE, TEXT_SIZE = 14, 16, 13
# Stable colours per analyte, so IL-6 is the same colour for every patient on the board.
CYTOKINE_COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
                    "#1b9e77"]
CELL_COLOURS = ["#000000", "#e7298a", "#1f78b4"]
DEATH_COLOUR = "#000000"
# On a shared 1920x1080 screen the whole acute phase (grades, drugs, cytokines, CAR-T cells) must fit
# beside the key numbers without scrolling: thinner rows and panels, same type sizes.
COMPACT_TREATMENT_ROW_HEIGHT, COMPACT_LAB_HEIGHT, COMPACT_SPACING = 22, 105, 8


def _lab_scale(analytes: tuple[str, ...], colours: list[str]) -> alt.Scale:
    return alt.Scale(domain=list(analytes), range=colours[:len(analytes)])


def _x(field: str, days: tuple[float, float], title: str | None) -> alt.X:
    # The same explicit domain on every panel: with the shared scale the panels align to the day.
    return alt.X(f"{field}:Q", scale=alt.Scale(domain=list(days), nice=False, padding=6),
                 axis=alt.Axis(title=title, grid=True, tickMinStep=1))


def _grades_panel(course: PatientCourse, days: tuple[float, float], x_title: str | None) -> alt.LayerChart:
    y = alt.Y("lane:N", sort=list(LANES), scale=alt.Scale(domain=list(LANES), paddingInner=0.25),
              axis=alt.Axis(title=None, labelFontSize=TITLE_SIZE, labelFontWeight="bold"))
    tooltip = [alt.Tooltip("lane:N", title="Syndrome"), alt.Tooltip("grade:O", title="ASTCT grade"),
               alt.Tooltip("start_day:Q", title="From day"), alt.Tooltip("end_day:Q", title="To day")]
    base = alt.Chart(course.intervals)
    colour = alt.Color("grade:O", scale=style.grade_scale(), title="ASTCT grade",
                       legend=alt.Legend(orient="right", direction="vertical"))
    bars = base.mark_bar(clip=True).encode(x=_x("start_day", days, x_title), x2="end_day:Q", y=y, color=colour,
                                           tooltip=tooltip)
    # A lone last assessment has no length; a tick keeps it visible.
    ticks = base.transform_filter("datum.start_day == datum.end_day").mark_tick(
        clip=True, thickness=3, orient="vertical").encode(
        x=_x("start_day", days, x_title), y=y, color=alt.Color("grade:O", scale=style.grade_scale(), legend=None),
        tooltip=tooltip)
    # The grade written in bars long enough to hold it: legible without matching colours.
    numbers = base.transform_filter("datum.end_day - datum.start_day >= 1").transform_calculate(
        middle="(datum.start_day + datum.end_day) / 2").mark_text(
        clip=True, fontSize=TEXT_SIZE, fontWeight="bold").encode(
        x=_x("middle", days, x_title), y=y, text="grade:O",
        color=alt.condition("datum.grade >= 3", alt.value("white"), alt.value("black")), tooltip=tooltip)
    layers = [bars, ticks, numbers]
    if len(course.events):
        events = alt.Chart(course.events)
        event_tooltip = [alt.Tooltip("kind:N", title="Event"), alt.Tooltip("day:Q", title="Day")]
        layers.append(events.mark_rule(clip=True, color=DEATH_COLOUR, strokeWidth=3, strokeDash=[6, 3]).encode(
            x=_x("day", days, x_title), tooltip=event_tooltip))
        # The word sits just above the panel, clear of the dark grade-4 and grade-5 bars.
        layers.append(events.transform_filter(f"datum.day >= {days[0]} && datum.day <= {days[1]}").mark_text(
            align="center", baseline="bottom", dy=-3, fontSize=TEXT_SIZE, fontWeight="bold",
            color=DEATH_COLOUR).encode(x=_x("day", days, x_title), y=alt.value(0), text="kind:N",
                                       tooltip=event_tooltip))
    return style.layer(*layers).properties(width=WIDTH, height=GRADE_ROW_HEIGHT * len(LANES))


def _treatments_panel(course: PatientCourse, days: tuple[float, float], x_title: str | None,
                      row_height: int = TREATMENT_ROW_HEIGHT) -> alt.LayerChart:
    rows = list(dict.fromkeys(course.treatments["row"]))  # first treatment at the top
    y = alt.Y("row:N", sort=rows, scale=alt.Scale(domain=rows, paddingInner=0.3, paddingOuter=0.2),
              axis=alt.Axis(title=None, labelLimit=220))
    tooltip = [alt.Tooltip("agent:N", title="Agent"), alt.Tooltip("agent_class:N", title="Class"),
               alt.Tooltip("daily_dose:Q", title="Daily dose"), alt.Tooltip("dose_unit:N", title="Unit"),
               alt.Tooltip("route:N", title="Route"), alt.Tooltip("start_day:Q", title="From day"),
               alt.Tooltip("end_day:Q", title="To day")]
    given = [c for c in style.CLASS_STYLE if c in set(course.treatments["agent_class"])]
    colour = alt.Color("agent_class:N", scale=style.class_colour_scale(), title="Intervention",
                       legend=alt.Legend(values=given))
    base = alt.Chart(course.treatments)
    shape = alt.Shape("agent_class:N", scale=style.class_shape_scale(), title="Intervention",
                      legend=alt.Legend(values=given))
    # The marker layer comes first: the layer's one legend (colour and shape merged) is taken from it.
    doses = base.mark_point(clip=True, filled=True, size=160, opacity=1).encode(
        x=_x("start_day", days, x_title), y=y, color=colour, shape=shape, tooltip=tooltip)
    courses = base.transform_filter("datum.end_day > datum.start_day").mark_rule(
        clip=True, strokeWidth=5, strokeCap="round").encode(
        x=_x("start_day", days, x_title), x2="end_day:Q", y=y, color=colour, tooltip=tooltip)
    labels = base.transform_filter("datum.label_dose != ''").mark_text(
        clip=True, align="left", baseline="bottom", dx=2, dy=-9, fontSize=TEXT_SIZE).encode(
        x=_x("start_day", days, x_title), y=y, text="label_dose:N", tooltip=tooltip)
    return style.layer(doses, courses, labels).properties(width=WIDTH, height=row_height * len(rows))


def _unit_words(frame: pd.DataFrame) -> tuple[str, bool]:
    units = list(dict.fromkeys(frame["unit"].astype(str)))
    return (units[0], True) if len(units) == 1 else ("unit per analyte, see legend", False)


def _lab_panel(frame: pd.DataFrame, analytes: tuple[str, ...], colours: list[str], what: str,
               days: tuple[float, float], x_title: str | None, height: int = LAB_HEIGHT) -> alt.LayerChart:
    unit, single = _unit_words(frame)
    present = [a for a in analytes if a in set(frame["analyte"])]
    base = alt.Chart(frame).transform_filter("datum.value > 0")  # a log axis has no place for 0
    if not single:
        base = base.transform_calculate(series="datum.analyte + ' (' + datum.unit + ')'")
    y = alt.Y("value:Q", scale=alt.Scale(type="log"), title=f"{what} ({unit})",
              axis=alt.Axis(format="~g", labelFontSize=LABEL_SIZE))
    colour = alt.Color("analyte:N", scale=_lab_scale(analytes, colours),
                       title=f"{what} ({unit})" if single else what,
                       # compact: the legend in columns, so it is no taller than the panel
                       legend=alt.Legend(values=present, symbolType="circle",
                                         columns=3 if height < LAB_HEIGHT and len(present) > 4 else 1))
    tooltip = [alt.Tooltip("analyte:N", title="Analyte"), alt.Tooltip("day:Q", title="Day"),
               alt.Tooltip("value:Q", title="Value", format=",.4~g"), alt.Tooltip("unit:N", title="Unit"),
               alt.Tooltip("below_lloq:N", title="Below LLOQ")]
    line = base.mark_line(clip=True, strokeWidth=2.5).encode(
        x=_x("day", days, x_title), y=y, color=colour, detail="analyte:N")
    # Values below the lower limit of quantification are hollow: their height is the limit, not a value.
    points = base.mark_point(clip=True, size=70, filled=True, strokeWidth=2).encode(
        x=_x("day", days, x_title), y=y, color=colour,
        fillOpacity=alt.condition("datum.below_lloq", alt.value(0), alt.value(1)), tooltip=tooltip)
    return style.layer(line, points).properties(width=WIDTH, height=height)


def _subtitle(course: PatientCourse, days: tuple[float, float], missing: list[str]) -> list[str]:
    key = course.key
    cytokine_unit = _unit_words(course.cytokines)[0] if len(course.cytokines) else S.CYTOKINE_UNIT
    cell_unit = _unit_words(course.cell_counts)[0] if len(course.cell_counts) else S.CELL_COUNT_UNIT
    lines = [f"n = 1 patient ({key.product}, {key.group}); x: days since CAR-T infusion, {days[0]:g} to {days[1]:g}",
             f"{len(course.intervals)} ASTCT grade intervals (0-5), {len(course.treatments)} treatment courses "
             f"(daily dose), {len(course.cytokines) + len(course.cell_counts)} lab values (one per analyte and day)",
             f"Log scales: cytokines in {cytokine_unit}, CAR-T cells in {cell_unit}; hollow points: below LLOQ"
             + ("; dashed line: death" if len(course.events) else "")]
    if missing:
        lines.append("Not recorded for this patient, so not drawn: " + ", ".join(missing))
    return lines


def patient_timeline_chart(course: PatientCourse, days: tuple[float, float] | None = None,
                           title: str | None = None, compact: bool = False) -> alt.VConcatChart:
    """Stacked panels on one shared day axis: grades, interventions, cytokines, CAR-T cells.

    days: the x range (default: the course's whole span); panels without data are left out
    and the subtitle names them. compact: thinner treatment rows and lab panels, so that the
    whole chart fits a 1080-pixel-high screen beside the key numbers (the tumour board).
    """
    row_height = COMPACT_TREATMENT_ROW_HEIGHT if compact else TREATMENT_ROW_HEIGHT
    lab_height = COMPACT_LAB_HEIGHT if compact else LAB_HEIGHT
    days = tuple(days) if days is not None else course.days
    present = {
        "ICANS and CRS grades": len(course.intervals) > 0,
        "interventions": len(course.treatments) > 0,
        "cytokines": len(course.cytokines) > 0,
        "CAR-T cells": len(course.cell_counts) > 0,
    }
    missing = [name for name, shown in present.items() if not shown]
    builders = []
    if present["ICANS and CRS grades"]:
        builders.append(lambda t: _grades_panel(course, days, t))
    if present["interventions"]:
        builders.append(lambda t: _treatments_panel(course, days, t, row_height))
    if present["cytokines"]:
        builders.append(lambda t: _lab_panel(course.cytokines, S.CYTOKINES, CYTOKINE_COLOURS, "Cytokines", days, t,
                                             lab_height))
    if present["CAR-T cells"]:
        builders.append(lambda t: _lab_panel(course.cell_counts, S.CELL_COUNT_ANALYTES, CELL_COLOURS,
                                             "CAR-T cells", days, t, lab_height))
    # Every panel keeps its day labels (read across a room); only the bottom one carries the title.
    panels = [build(style.DAY_AXIS_TITLE if i == len(builders) - 1 else None) for i, build in enumerate(builders)]
    if not panels:
        panels = [alt.Chart(pd.DataFrame({"text": ["Nothing recorded for this patient"]})).mark_text(
            fontSize=TITLE_SIZE).encode(text="text:N").properties(width=WIDTH, height=60)]
    chart = alt.vconcat(*panels, spacing=COMPACT_SPACING if compact else 18).resolve_scale(
        x="shared", color="independent", shape="independent", fillOpacity="independent")
    chart = style.titled(chart, title or f"Patient {course.patient_id}: clinical course",
                         _subtitle(course, days, missing))
    return (chart.configure_axis(labelFontSize=LABEL_SIZE, titleFontSize=TITLE_SIZE)
            .configure_legend(labelFontSize=LABEL_SIZE, titleFontSize=LABEL_SIZE, labelLimit=220)
            .configure_title(fontSize=20, subtitleFontSize=14))

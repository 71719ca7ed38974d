"""Swimlane chart: one row per patient, an ICANS bar above a CRS bar, interventions above both.

Draws the frames of icans_core.swimlanes; computes nothing. Layout follows the IVIG study's
Fig 2 ("a top bar of ICANS grade and a lower bar of CRS grade", a symbol per intervention on
the day given).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core.charts import style
from icans_core.charts.discrepancy import discrepancy_layer

# Sub-rows of a patient's row, top to bottom.
TREATMENT_ROW = "treatment"
SUB_ROWS = [TREATMENT_ROW, "ICANS", "CRS"]
# A death is a black X drawn as a path: the "cross" shape already marks intrathecal therapy.
DEATH_SHAPE = "M-1,-1L1,1M-1,1L1,-1"
EVENT_STYLE = {"death": ("#000000", DEATH_SHAPE), "last follow-up": ("#525252", "triangle-right")}

ROW_STEP = 24  # pixels per patient while they fit
MIN_ROW_STEP = 12  # patient ids stay readable: more lanes than fit go to further pages
MAX_HEIGHT = 2400  # beyond this the rows get thinner instead of the chart taller
LABEL_MIN_STEP = 10  # below this, patient labels would overlap: hover instead
WIDTH = 600  # with the strip, labels and legends this fits a wide page at 1400 px
MAX_LANES_PER_PAGE = int(MAX_HEIGHT // MIN_ROW_STEP)  # 200 lanes: every id readable
STAR = "M0,-1L0.29,-0.4L0.95,-0.31L0.47,0.15L0.59,0.81L0,0.5L-0.59,0.81L-0.47,0.15L-0.95,-0.31L-0.29,-0.4Z"
HEXAGON = "M0,-1L0.87,-0.5L0.87,0.5L0,1L-0.87,0.5L-0.87,-0.5Z"
PLUS = "M-0.25,-1H0.25V-0.25H1V0.25H0.25V1H-0.25V0.25H-1V-0.25H-0.25Z"
BOWTIE = "M-1,-1L1,1V-1L-1,1Z"
SPARE_SHAPES = ["triangle-up", "triangle-left", "triangle-right", "diamond", "square", "circle", "cross", STAR,
                HEXAGON, PLUS, BOWTIE, "wedge", "arrow"]


def row_step(patients: int) -> float:
    """Pixels per patient row: 24 while the chart stays under 2,400 px, then thinner, at least 12."""
    if patients <= 0:
        return ROW_STEP
    return max(MIN_ROW_STEP, min(ROW_STEP, MAX_HEIGHT / patients))


def agent_styles(marks: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """agent -> (colour, shape) for the agents drawn: the class colour, and a shape of its own.

    The most used agent of a class takes the class's shape, further agents of that class (e.g.
    methylprednisolone beside dexamethasone, as the IVIG study's Fig 2 separates them) the next
    shape not yet taken.
    """
    # Within a class the most used agent keeps the class's own shape (tocilizumab before siltuximab).
    pairs = marks.groupby(["agent", "agent_class"]).size().rename("uses").reset_index()
    rank = {c: i for i, c in enumerate(style.CLASS_STYLE)}
    pairs = pairs.assign(r=pairs["agent_class"].map(rank).fillna(len(rank)), minus=-pairs["uses"]).sort_values(
        ["r", "minus", "agent"])
    taken: set[str] = set()
    out: dict[str, tuple[str, str]] = {}
    for agent, agent_class in zip(pairs["agent"], pairs["agent_class"]):
        colour, shape = style.CLASS_STYLE.get(agent_class, style.CLASS_STYLE[style.S.OTHER])
        if agent in out:
            continue
        if shape in taken:
            shape = next((s for s in [*SPARE_SHAPES, *[v for _, v in style.CLASS_STYLE.values()]]
                          if s not in taken), shape)
        taken.add(shape)
        out[str(agent)] = (colour, shape)
    return out


def _n_line(group_sizes: dict[str, int] | None, n: int) -> str:
    word = "patient" if n == 1 else "patients"
    if not group_sizes:
        return f"n = {n} {word}"
    parts = ", ".join(f"{g} {k}" for g, k in group_sizes.items())
    return f"n = {n} {word} ({parts})"


def swimlane_chart(intervals: pd.DataFrame, marks: pd.DataFrame, patient_marks: pd.DataFrame, order: list[str],
                   *, patient_groups: dict[str, str] | None = None, groups: list[str] | None = None,
                   group_sizes: dict[str, int] | None = None,
                   days: tuple[float, float] | None = None,
                   title: str = "Clinical course per patient", symbol_by: str = "class",
                   page_note: str = "", discrepancies: pd.DataFrame | None = None) -> alt.HConcatChart:
    """Swimlanes for the patients in `order` (top first).

    intervals: patient_id, group, lane, start_day, end_day, grade; marks: patient_id, group,
    agent, agent_class, start_day, end_day, daily_dose, dose_unit, route, label; patient_marks:
    patient_id, group, kind, day; patient_groups: patient_id -> group for the group strip;
    groups: colour order. Zero-length intervals (a lone last assessment) are drawn as ticks.
    symbol_by: "class" (one symbol per intervention class) or "agent" (one per drug). Every legend
    lists only what is drawn. discrepancies: swimlanes.discrepancy_marks' frame; where it has rows, an
    outlined "≠" marks each disagreement of a recorded grade with the derived one on its lane, with a
    legend entry (none without disagreements).
    """
    groups = groups or sorted({g for g in (patient_groups or {}).values() if g is not None})
    step = row_step(len(order))
    height = max(round(step * len(order)), 40)
    point_size = max(6.0, min(60.0, 0.1 * step ** 2))
    show_labels = step >= LABEL_MIN_STEP
    x_scale = alt.Scale(domain=list(days), nice=False) if days else alt.Scale(nice=False)
    y = alt.Y("patient_id:N", sort=list(order), scale=alt.Scale(domain=list(order), paddingInner=0.2,
                                                                  paddingOuter=0.1),
              axis=None)
    y_offset = alt.YOffset("lane:N", scale=alt.Scale(domain=SUB_ROWS, paddingInner=0.1))
    x_axis = alt.Axis(title=style.DAY_AXIS_TITLE, grid=True, tickMinStep=1)

    bar_tooltip = [alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group"),
                   alt.Tooltip("lane:N", title="Syndrome"), alt.Tooltip("grade:O", title="ASTCT grade"),
                   alt.Tooltip("start_day:Q", title="From day"), alt.Tooltip("end_day:Q", title="To day")]
    present_grades = sorted({int(g) for g in intervals["grade"].dropna()})
    grade_colour = alt.Color("grade:O", scale=style.grade_scale(), title="ASTCT grade",
                             legend=alt.Legend(orient="right", direction="vertical", values=present_grades))
    lanes = alt.Chart(intervals)
    bars = lanes.mark_bar(clip=True).encode(
        x=alt.X("start_day:Q", scale=x_scale, axis=x_axis), x2="end_day:Q", y=y, yOffset=y_offset,
        color=grade_colour, tooltip=bar_tooltip)
    ticks = lanes.transform_filter("datum.start_day == datum.end_day").mark_tick(
        clip=True, thickness=2, orient="vertical").encode(
        x=alt.X("start_day:Q", scale=x_scale, axis=x_axis), y=y, yOffset=y_offset,
        color=alt.Color("grade:O", scale=style.grade_scale(), legend=None), tooltip=bar_tooltip)

    mark_tooltip = [alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group"),
                    alt.Tooltip("agent:N", title="Agent"), alt.Tooltip("agent_class:N", title="Class"),
                    alt.Tooltip("daily_dose:Q", title="Daily dose"), alt.Tooltip("dose_unit:N", title="Unit"),
                    alt.Tooltip("route:N", title="Route"), alt.Tooltip("start_day:Q", title="From day"),
                    alt.Tooltip("end_day:Q", title="To day"), alt.Tooltip("label:N", title="Course")]
    treatments = alt.Chart(marks).transform_calculate(lane=f"'{TREATMENT_ROW}'")
    courses = treatments.transform_filter("datum.end_day > datum.start_day").mark_rule(
        clip=True, strokeWidth=max(1.0, step / 10)).encode(
        x=alt.X("start_day:Q", scale=x_scale, axis=x_axis), x2="end_day:Q", y=y, yOffset=y_offset,
        color=alt.Color("agent_class:N", scale=style.class_colour_scale(), legend=None), tooltip=mark_tooltip)
    if symbol_by == "agent":
        styles = agent_styles(marks)
        field, legend_title = "agent:N", "Intervention (agent)"
        colour_scale = alt.Scale(domain=list(styles), range=[c for c, _ in styles.values()])
        shape_scale = alt.Scale(domain=list(styles), range=[s for _, s in styles.values()])
    else:
        present = [c for c in style.CLASS_STYLE if c in set(marks["agent_class"])]
        present += sorted(set(marks["agent_class"].dropna()) - set(present))
        field, legend_title = "agent_class:N", "Intervention (class)"
        colour_scale = alt.Scale(domain=present, range=[style.CLASS_STYLE.get(c, style.CLASS_STYLE[style.S.OTHER])[0]
                                                        for c in present])
        shape_scale = alt.Scale(domain=present, range=[style.CLASS_STYLE.get(c, style.CLASS_STYLE[style.S.OTHER])[1]
                                                       for c in present])
    doses = treatments.mark_point(clip=True, filled=True, size=point_size, opacity=1).encode(
        x=alt.X("start_day:Q", scale=x_scale, axis=x_axis), y=y, yOffset=y_offset,
        color=alt.Color(field, scale=colour_scale, title=legend_title),
        shape=alt.Shape(field, scale=shape_scale, title=legend_title),
        tooltip=mark_tooltip)

    kinds = [k for k in EVENT_STYLE if k in set(patient_marks["kind"])] or list(EVENT_STYLE)
    events = alt.Chart(patient_marks).mark_point(clip=True, filled=False, size=point_size * 2.5,
                                                  strokeWidth=2).encode(
        x=alt.X("day:Q", scale=x_scale, axis=x_axis), y=y,
        shape=alt.Shape("kind:N", title="Patient", scale=alt.Scale(
            domain=kinds, range=[EVENT_STYLE[k][1] for k in kinds])),
        color=alt.Color("kind:N", title="Patient", scale=alt.Scale(
            domain=kinds, range=[EVENT_STYLE[k][0] for k in kinds])),
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("kind:N", title="Event"), alt.Tooltip("day:Q", title="Day")])

    layers = [bars, ticks, courses, doses, events]
    found = discrepancies is not None and not discrepancies[discrepancies["patient_id"].isin(order)].empty
    if found:
        layers.append(discrepancy_layer(discrepancies, order, days, size=point_size * 2))
    lanes_chart = style.layer(*layers).resolve_scale(
        color="independent", shape="independent").properties(width=WIDTH, height=height)

    # The left strip names the patient and shows the group, so lanes stay readable in any order.
    patient_groups = patient_groups or {}
    strip_frame = pd.DataFrame({"patient_id": list(order), "group": [patient_groups.get(p) for p in order]})
    # Colours come from every group (stable across pages); the legend lists only those shown.
    shown_groups = [g for g in groups if g in set(strip_frame["group"])]
    strip = alt.Chart(strip_frame).mark_rect().encode(
        y=alt.Y("patient_id:N", sort=list(order),
                scale=alt.Scale(domain=list(order), paddingInner=0.2, paddingOuter=0.1),
                axis=alt.Axis(title="Patient" if show_labels else "Patients (hover for the identifier)",
                              labels=show_labels, ticks=False, domain=False)),
        color=alt.Color("group:N", scale=style.group_scale(groups), title="Group",
                        legend=alt.Legend(values=shown_groups)),
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group")],
    ).properties(width=10, height=height)

    lo_hi = f", days {days[0]:g} to {days[1]:g}" if days else ""
    symbols = "each drug" if symbol_by == "agent" else "each intervention class"
    subtitle = [_n_line(group_sizes, len(order)) + (f"; {page_note}" if page_note else ""),
                "Top bar ICANS, lower bar CRS, coloured by ASTCT grade (0-5); symbols above: first day of "
                f"{symbols}, line: multi-day course"
                + ("; ≠: a recorded grade that differs from the grade derived from observations" if found else ""),
                f"x: days since CAR-T infusion{lo_hi}"]
    chart = alt.hconcat(strip, lanes_chart, spacing=4).resolve_scale(color="independent", shape="independent")
    return style.titled(chart, title, subtitle)

"""The resolution charts' Vega-Lite specs: marks, fields, types, scales and titles."""

from __future__ import annotations

import pandas as pd
import pytest

from icans_core.charts import style
from icans_core.charts import survival as charts

# Tidy frames as icans_core.survival returns them, written out by hand (charts only draw).
KM = pd.DataFrame({
    "group": ["IVIG"] * 4 + ["Steroids"] * 3,
    "time": [0.0, 2.0, 5.0, 8.0, 0.0, 3.0, 6.0],
    "n_at_risk": [3, 3, 2, 1, 2, 2, 1],
    "n_events": [0, 1, 1, 0, 0, 1, 0],
    "n_censored": [0, 0, 0, 1, 0, 0, 1],
    "survival": [1.0, 2 / 3, 1 / 3, 1 / 3, 1.0, 0.5, 0.5],
    "ci_lower": [1.0, 0.3, 0.06, 0.06, 1.0, 0.13, 0.13],
    "ci_upper": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
})
KM["resolved"] = 1 - KM["survival"]
KM["resolved_ci_lower"] = 1 - KM["ci_upper"]
KM["resolved_ci_upper"] = 1 - KM["ci_lower"]
MEDIANS = pd.DataFrame({"group": ["IVIG", "Steroids"], "n": [3, 2], "resolved": [2, 1],
                        "median_days": [5.0, 4.5], "median_ci_lower": [2.0, 3.0],
                        "median_ci_upper": [float("nan")] * 2})
AT_RISK = pd.DataFrame({"group": ["IVIG"] * 3 + ["Steroids"] * 3, "time": [0.0, 4.0, 8.0] * 2,
                        "n_at_risk": [3, 2, 1, 2, 1, 0]})
CIF = pd.DataFrame({
    "group": ["IVIG"] * 4, "event": ["resolution", "resolution", "death", "death"], "time": [0.0, 2.0, 0.0, 2.0],
    "n_at_risk": [3, 3, 3, 3], "cumulative_incidence": [0, 1 / 3, 0, 0], "ci_lower": [0, 0.01, 0, 0],
    "ci_upper": [0, 0.8, 0, 0]})
# All groups of the cohort: the colour order is fixed by them, not by the groups that happen to be drawn.
ALL_GROUPS = ["IVIG", "No severe ICANS", "Steroids"]


def layers_by_mark(layer_spec: dict) -> dict[str, dict]:
    return {(layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]): layer
            for layer in layer_spec["layer"]}


@pytest.fixture
def figure() -> dict:
    return charts.km_figure(KM, MEDIANS, AT_RISK, "severe-ICANS onset", ci="log",
                            orientation=charts.RESOLVED, groups=ALL_GROUPS).to_dict()


def test_km_curve_is_a_step_after_line_of_the_proportion_resolved(figure):
    layers = layers_by_mark(figure["vconcat"][0])
    assert set(layers) == {"area", "line", "point"}
    line = layers["line"]
    assert line["mark"]["interpolate"] == "step-after"
    assert line["encoding"]["x"]["field"] == "time" and line["encoding"]["x"]["type"] == "quantitative"
    assert line["encoding"]["x"]["title"] == "Days since severe-ICANS onset"
    assert line["encoding"]["y"]["field"] == "resolved" and line["encoding"]["y"]["type"] == "quantitative"
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 1]
    tooltip_fields = {t["field"] for t in line["encoding"]["tooltip"]}
    assert {"group", "time", "resolved", "resolved_ci_lower", "resolved_ci_upper", "n_at_risk"} <= tooltip_fields


def test_km_groups_take_the_shared_palette_in_the_cohort_order(figure):
    colour = layers_by_mark(figure["vconcat"][0])["line"]["encoding"]["color"]
    assert colour["field"] == "group" and colour["type"] == "nominal"
    palette = style.group_scale(ALL_GROUPS)
    expected = dict(zip(palette.domain, palette.range))
    assert colour["scale"]["domain"] == ["IVIG", "Steroids"]  # only groups drawn, in the cohort order
    assert colour["scale"]["range"] == [expected["IVIG"], expected["Steroids"]]  # Steroids keeps its 3rd colour
    assert "IVIG (n = 3)" in colour["legend"]["labelExpr"] and "Steroids (n = 2)" in colour["legend"]["labelExpr"]


def test_km_band_and_censor_marks(figure):
    layers = layers_by_mark(figure["vconcat"][0])
    band = layers["area"]
    assert band["mark"]["interpolate"] == "step-after" and band["mark"]["opacity"] < 0.5
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == (
        "resolved_ci_lower", "resolved_ci_upper")
    censor = layers["point"]
    assert censor["mark"]["shape"] == "cross"
    assert censor["encoding"]["y"]["field"] == "resolved"
    assert any("n_censored > 0" in str(t.get("filter")) for t in censor["transform"])


def test_still_severe_orientation_draws_survival():
    spec = charts.km_figure(KM, MEDIANS, AT_RISK, "first IVIG dose after onset", ci="log-log",
                            orientation=charts.STILL_SEVERE).to_dict()
    layers = layers_by_mark(spec["vconcat"][0])
    assert layers["line"]["encoding"]["y"]["field"] == "survival"
    assert (layers["area"]["encoding"]["y"]["field"], layers["area"]["encoding"]["y2"]["field"]) == (
        "ci_lower", "ci_upper")
    assert layers["line"]["encoding"]["x"]["title"] == "Days since first IVIG dose after onset"
    assert "log-log" in " ".join(spec["title"]["subtitle"])


def test_figure_title_states_n_units_and_the_ci_transform(figure):
    assert figure["title"]["text"] == "Time to resolution of severe ICANS"
    subtitle = " ".join(figure["title"]["subtitle"])
    assert "n = 5" in subtitle and "IVIG 3" in subtitle and "Steroids 2" in subtitle
    assert "log transform (R survival's default)" in subtitle and "days" in subtitle.lower()


def test_at_risk_table_is_text_under_the_shared_day_axis(figure):
    assert figure["resolve"]["scale"]["x"] == "shared"
    table = figure["vconcat"][1]
    assert table["mark"]["type"] == "text"
    assert table["encoding"]["text"]["field"] == "n_at_risk"
    assert table["encoding"]["x"]["field"] == "time" and table["encoding"]["x"]["type"] == "quantitative"
    assert table["encoding"]["y"]["field"] == "group"
    # the plot's day ticks are the days of the table, so the numbers sit under the ticks
    line = layers_by_mark(figure["vconcat"][0])["line"]
    assert line["encoding"]["x"]["axis"]["values"] == [0.0, 4.0, 8.0]


def test_cumulative_incidence_chart():
    spec = charts.cif_chart(CIF, MEDIANS, "severe-ICANS onset", groups=ALL_GROUPS).to_dict()
    layers = layers_by_mark(spec)
    line = layers["line"]
    assert line["mark"]["interpolate"] == "step-after"
    assert line["encoding"]["y"]["field"] == "cumulative_incidence"
    assert line["encoding"]["strokeDash"]["field"] == "event"
    assert line["encoding"]["strokeDash"]["scale"]["domain"] == ["resolution", "death"]
    assert line["encoding"]["color"]["scale"]["range"] == [style.group_scale(ALL_GROUPS).range[0]]
    assert (layers["area"]["encoding"]["y"]["field"], layers["area"]["encoding"]["y2"]["field"]) == (
        "ci_lower", "ci_upper")
    assert "competing" in spec["title"]["text"]
    assert "Aalen-Johansen" in " ".join(spec["title"]["subtitle"])

"""CAR-T expansion (Cmax, Tmax, AUC0-28) on hand-computed patients, exactly as the data contract defines it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icans_core import expansion

CAR_T = "CAR-T cells"


def lab_values(rows):
    """rows: (patient_id, analyte, day, value) as store.lab_values returns them."""
    frame = pd.DataFrame(rows, columns=["patient_id", "analyte", "day", "value"])
    frame["unit"] = np.where(frame["analyte"].str.contains("CAR-T"), "cells/uL", "pg/mL")
    frame["below_lloq"] = False
    return frame.astype({"day": float, "value": float})


def metrics_of(rows) -> pd.DataFrame:
    return expansion.expansion_metrics(lab_values(rows)).set_index(["patient_id", "analyte"])


CURVE_DAYS = [0, 1, 3, 7, 10, 14, 21, 28, 60]
CURVE_VALUES = [0, 2, 10, 50, 40, 20, 5, 1, 0.1]


def test_auc_0_28_by_hand():
    # Trapezoids over days 0-28 only (day 60 is outside):
    #  0-1: 1 x (0+2)/2 = 1;    1-3: 2 x (2+10)/2 = 12;   3-7: 4 x (10+50)/2 = 120;
    #  7-10: 3 x (50+40)/2 = 135; 10-14: 4 x (40+20)/2 = 120; 14-21: 7 x (20+5)/2 = 87.5;
    #  21-28: 7 x (5+1)/2 = 21.  Total = 496.5 cells/uL x days.
    row = metrics_of([("P1", CAR_T, d, v) for d, v in zip(CURVE_DAYS, CURVE_VALUES)]).loc[("P1", CAR_T)]
    assert row.auc_0_28 == pytest.approx(496.5)
    assert (row.cmax, row.tmax_day, row.n_points, row.unit) == (50.0, 7.0, 8, "cells/uL")


def test_columns_are_the_exports_then_extras():
    metrics = expansion.expansion_metrics(lab_values([("P1", CAR_T, 1, 2.0)]))
    assert list(metrics.columns) == ["patient_id", "analyte", "cmax", "tmax_day", "auc_0_28", "unit", "n_points"]


def test_tmax_is_the_first_day_of_a_repeated_maximum():
    # given out of order: the maximum 30 is reached on days 14 and 7 -> Tmax 7
    row = metrics_of([("P1", CAR_T, 14, 30.0), ("P1", CAR_T, 3, 5.0), ("P1", CAR_T, 7, 30.0),
                      ("P1", CAR_T, 10, 12.0)]).loc[("P1", CAR_T)]
    assert (row.cmax, row.tmax_day) == (30.0, 7.0)
    # in order: 3-7: 4 x 35/2 = 70; 7-10: 3 x 42/2 = 63; 10-14: 4 x 42/2 = 84 -> 217
    assert row.auc_0_28 == pytest.approx(217.0)


def test_points_outside_0_28_are_left_out_of_the_area_and_not_extrapolated():
    # day -1 and day 35 are outside; the first count in the window is day 2 (no area for 0-2)
    # and the last day 20 (none for 20-28): only 2-20: 18 x (4+8)/2 = 108.
    row = metrics_of([("P1", CAR_T, -1, 100.0), ("P1", CAR_T, 2, 4.0), ("P1", CAR_T, 20, 8.0),
                      ("P1", CAR_T, 35, 50.0)]).loc[("P1", CAR_T)]
    assert row.auc_0_28 == pytest.approx(108.0)
    assert row.n_points == 2
    assert (row.cmax, row.tmax_day) == (100.0, -1.0)  # Cmax and Tmax use every observation


def test_one_point_in_the_window_has_no_area():
    metrics = metrics_of([("P1", CAR_T, 7, 20.0), ("P1", CAR_T, 60, 3.0), ("P2", CAR_T, 45, 1.0)])
    assert math.isnan(metrics.loc[("P1", CAR_T), "auc_0_28"]) and metrics.loc[("P1", CAR_T), "n_points"] == 1
    assert math.isnan(metrics.loc[("P2", CAR_T), "auc_0_28"]) and metrics.loc[("P2", CAR_T), "n_points"] == 0
    assert metrics.loc[("P1", CAR_T), "cmax"] == 20.0


def test_only_cell_count_analytes_each_separately():
    metrics = metrics_of([("P1", "IL-6", 1, 500.0), ("P1", "CD4+ CAR-T cells", 0, 1.0),
                          ("P1", "CD4+ CAR-T cells", 2, 3.0), ("P1", "CD8+ CAR-T cells", 0, 2.0),
                          ("P1", "CD8+ CAR-T cells", 1, 6.0)])
    assert sorted(a for _, a in metrics.index) == ["CD4+ CAR-T cells", "CD8+ CAR-T cells"]
    assert metrics.loc[("P1", "CD4+ CAR-T cells"), "auc_0_28"] == pytest.approx(4.0)  # 2 x (1+3)/2
    assert metrics.loc[("P1", "CD8+ CAR-T cells"), "auc_0_28"] == pytest.approx(4.0)  # 1 x (2+6)/2


series = st.lists(st.tuples(st.floats(-5, 40, allow_nan=False), st.floats(0, 1e4, allow_nan=False)),
                  min_size=1, max_size=12, unique_by=lambda p: p[0])


@settings(max_examples=50, deadline=None)
@given(st.lists(series, min_size=1, max_size=5))
def test_area_equals_numpy_trapezoid_per_patient(patients):
    rows = [(f"P{i}", CAR_T, d, v) for i, points in enumerate(patients) for d, v in points]
    metrics = metrics_of(rows)
    for i, points in enumerate(patients):
        inside = sorted(p for p in points if 0 <= p[0] <= 28)
        row = metrics.loc[(f"P{i}", CAR_T)]
        if len(inside) < 2:
            assert math.isnan(row.auc_0_28)
        else:
            days, values = zip(*inside)
            assert row.auc_0_28 == pytest.approx(np.trapezoid(values, days), rel=1e-9, abs=1e-9)
        assert row.cmax == max(v for _, v in points)
        assert row.tmax_day == min(d for d, v in points if v == row.cmax)


# --- per group --------------------------------------------------------------------------------------

PATIENTS = pd.DataFrame({"patient_id": [f"x{i}" for i in range(3)] + [f"y{i}" for i in range(4)],
                         "group": ["X"] * 3 + ["Y"] * 4})


def test_summary_per_group_with_the_exact_mann_whitney_p():
    # Cmax X = 1, 2, 3 and Y = 4, 5, 6, 7 (each a single count on day 1, so no area, Tmax 1):
    # medians 2 and 5.5; Y quartiles (type 7) 4.75 and 6.25; exact p = 2/35 (see test_kinetics).
    rows = [(p, CAR_T, 1, v) for p, v in zip(PATIENTS["patient_id"], [1, 2, 3, 4, 5, 6, 7])]
    summary = expansion.expansion_summary(expansion.expansion_metrics(lab_values(rows)), PATIENTS)
    assert list(summary.columns) == ["group", "analyte", "metric", "unit", "n", "median", "q1", "q3", "p_value",
                                     "q_value", "test"]
    cmax = summary[summary["metric"] == "cmax"].set_index("group")
    assert (cmax.loc["X", "median"], cmax.loc["X", "q1"], cmax.loc["X", "q3"], cmax.loc["X", "n"]) == (2, 1.5, 2.5, 3)
    assert (cmax.loc["Y", "median"], cmax.loc["Y", "q1"], cmax.loc["Y", "q3"]) == (5.5, 4.75, 6.25)
    assert cmax["p_value"].to_numpy() == pytest.approx([2 / 35] * 2)
    assert set(cmax["unit"]) == {"cells/uL"}
    tmax = summary[summary["metric"] == "tmax_day"]
    assert tmax["p_value"].isna().all()  # all Tmax equal: nothing to test
    assert set(tmax["unit"]) == {"day"}
    assert "auc_0_28" not in set(summary["metric"])  # one count each: no area for anyone


def test_curves_per_group_and_day():
    rows = pd.DataFrame({
        "patient_id": ["x0", "x1", "x2", "y0", "y0"], "group": ["X", "X", "X", "Y", "Y"],
        "analyte": [CAR_T] * 4 + ["IL-6"], "unit": "cells/uL", "day": [7, 7, 7, 7, 7],
        "value": [10.0, 40.0, 20.0, 5.0, 999.0], "below_lloq": False}).astype({"day": "int32"})
    curves = expansion.expansion_curves(rows).set_index("group")
    assert list(curves["analyte"]) == [CAR_T, CAR_T]  # IL-6 is not a cell count
    assert (curves.loc["X", "median"], curves.loc["X", "q1"], curves.loc["X", "q3"], curves.loc["X", "n"]) == \
        (20.0, 15.0, 30.0, 3)
    assert curves.loc["Y", "median"] == 5.0


def test_no_cell_counts_gives_empty_frames_with_columns():
    metrics = expansion.expansion_metrics(lab_values([("P1", "IL-6", 1, 5.0)]))
    assert metrics.empty and "auc_0_28" in metrics.columns
    summary = expansion.expansion_summary(metrics, PATIENTS)
    assert summary.empty and "p_value" in summary.columns

"""NCA expansion metrics against PKNCA's published test expectations and hand-computed cases.

PKNCA is not packaged for Debian, so its numbers come from its own test suite
(humanpred/pknca, tests/testthat/test-auc.R, test-aucint.R, test-interpolate.conc.R), quoted
at each case, and from areas worked by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icans_core import expansion, nca

LN2 = math.log(2)


def series(conc, time, below=None):
    conc, time = np.asarray(conc, float), np.asarray(time, float)
    below = np.zeros(conc.size, bool) if below is None else np.asarray(below, bool)
    return time, conc, below


@pytest.mark.parametrize("method, expected", [("linear", 1 + 1 + 0.5 + 1.5 + 1.5),
                                              ("lin up/log down", 1 + 1 + 0.5 + 1.5 + 1 / LN2)])
@pytest.mark.parametrize("window", ["observed", "interpolated"])
def test_pknca_center_blq_kept_as_zero(method, expected, window):
    # test-auc.R "Confirm that center BLQ points are dropped, kept, or imputed correctly":
    # conc c(0, 2, 0, 1, 2, 1), time 0:5, interval c(0, 5), conc.blq = "keep", AUClast
    time, conc, below = series([0, 2, 0, 1, 2, 1], range(6), [True, False, True, False, False, False])
    time, conc = nca.clean_blq(time, conc, below, nca.BLQ_ZERO)
    assert nca.auc(time, conc, 0, 5, method, window) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("method, expected", [("linear", 1 + 3 + 1.5 + 1.5),
                                              ("lin up/log down", 1 + 2 / LN2 + 1.5 + 1 / LN2)])
def test_pknca_interpolation_within_the_interval_auclast(method, expected):
    # test-auc.R "interpolation of times within the time interval": conc c(0, 2, 0, 1, 2, 1, 0),
    # time c(0:5, 7), interval c(0, 6), conc.blq first keep / middle drop / last keep, AUClast.
    # Day 6 has no count and is after Tlast (5): nothing is added after Tlast.
    time, conc, below = series([0, 2, 0, 1, 2, 1, 0], [0, 1, 2, 3, 4, 5, 7], [True, False, True, False, False,
                                                                             False, True])
    time, conc = nca.clean_blq(time, conc, below, nca.BLQ_PKNCA)
    assert list(time) == [0, 1, 3, 4, 5, 7]  # the middle BLQ (day 2) dropped
    assert nca.auc(time, conc, 0, 6, method, nca.INTERPOLATED) == pytest.approx(expected, rel=1e-12)


def test_pknca_aucint_equals_auc_without_interpolation():
    # test-aucint.R: conc c(8, 4, 2, 1), time 0:3: aucint(0, 3) = auc(0, 3) and aucint(0, 2) = auc(0, 2);
    # lin up/log down (PKNCA's default): 4/ln2 + 2/ln2 + 1/ln2 halving each day
    time, conc, _ = series([8, 4, 2, 1], range(4))
    for end, expected in ((3, 7 / LN2), (2, 6 / LN2)):
        assert nca.auc(time, conc, 0, end, nca.LIN_UP_LOG_DOWN, nca.INTERPOLATED) == pytest.approx(expected)
        assert nca.auc(time, conc, 0, end, nca.LIN_UP_LOG_DOWN, nca.OBSERVED) == pytest.approx(expected)


def test_pknca_interpolation_rules():
    # test-interpolate.conc.R: log interpolation between 1 and 0.5 at 1.5 is their geometric mean;
    # before the first time conc.origin = 0; linear between 2 and 0 (falling to zero) at 2.5 is 1
    time, conc, _ = series([0, 1, 0.5, 1, 0], range(5))
    assert nca._interpolate(time, conc, 1.5, 3, nca.LIN_UP_LOG_DOWN) == pytest.approx(math.sqrt(0.5))
    assert nca._interpolate(np.array([0.0, 1.0]), np.array([0.0, 1.0]), -1, 1, nca.LINEAR) == 0
    time, conc, _ = series([0, 1, 2, 0, 1, 0], range(6))
    assert nca._interpolate(time, conc, 2.5, 4, nca.LIN_UP_LOG_DOWN) == pytest.approx(1.0)


def test_pknca_all_zero_is_zero():
    # test-aucint.R: aucint(conc = c(0, 0, 0, 0), time = 0:3, interval = c(0, 4)) is 0
    time, conc, _ = series([0, 0, 0, 0], range(4))
    assert nca.auc(time, conc, 0, 4, nca.LIN_UP_LOG_DOWN, nca.INTERPOLATED) == 0


def test_auc_0_28_interpolated_by_hand():
    # counts on days 1, 7, 21, 35: 10, 50, 20, 5 (CAR-T cells/uL).
    # linear, interpolated: day 0 -> 0 (before the first count), day 28 between 21 (20) and 35 (5):
    # 20 + 7/14 x (5 - 20) = 12.5. Area: 0-1: 5; 1-7: 180; 7-21: 490; 21-28: 7 x 32.5/2 = 113.75 -> 788.75.
    # observed: only 1-7-21: 180 + 490 = 670.
    # lin up/log down: 21-28 falls: the count at 28 is 20 x (5/20)^(7/14) = 10; area 7 x 10 / ln 2.
    time, conc, _ = series([10, 50, 20, 5], [1, 7, 21, 35])
    assert nca.auc(time, conc, 0, 28, nca.LINEAR, nca.INTERPOLATED) == pytest.approx(788.75)
    assert nca.auc(time, conc, 0, 28, nca.LINEAR, nca.OBSERVED) == pytest.approx(670)
    log_down = 5 + 180 + 14 * 30 / math.log(50 / 20) + 7 * 10 / LN2
    assert nca.auc(time, conc, 0, 28, nca.LIN_UP_LOG_DOWN, nca.INTERPOLATED) == pytest.approx(log_down)
    # AUC0-90: day 90 is after Tlast (35): 0 there, nothing after Tlast. 788.75 - 113.75 + 14 x 25/2 = 850
    assert nca.auc(time, conc, 0, 90, nca.LINEAR, nca.INTERPOLATED) == pytest.approx(850)


def test_metrics_with_blq_rules_and_the_options_named():
    rows = pd.DataFrame({
        "patient_id": "P1", "analyte": "CAR-T cells", "unit": "cells/uL",
        "day": [0, 3, 7, 14, 21, 28, 60], "value": [1, 20, 80, 1, 30, 1, 1],
        "below_lloq": [True, False, False, True, False, True, True]})
    recorded = nca.nca_metrics(rows).iloc[0]
    assert (recorded.cmax, recorded.tmax_day, recorded.clast, recorded.tlast_day) == (80, 7, 1, 60)
    # as recorded, observed, linear = the contract's auc_0_28: 3x21/2 + 4x100/2 + 7x81/2 + 7x31/2 + 7x31/2
    assert recorded.auc_0_28 == pytest.approx(31.5 + 200 + 283.5 + 108.5 + 108.5)
    assert (recorded.auc_method, recorded.auc_window, recorded.blq_rule) == ("linear", "observed", "as recorded")
    pk = nca.nca_metrics(rows, nca.NcaOptions(blq=nca.BLQ_PKNCA, window=nca.INTERPOLATED)).iloc[0]
    # PKNCA rule: day 0 BLQ kept as 0, day 14 (between quantified) dropped, 28 and 60 kept as 0; Tlast 21
    assert (pk.clast, pk.tlast_day) == (30, 21)
    # 0-3: 30; 3-7: 200; 7-21: 14 x 110/2 = 770; 21-28: linear to the kept 0 at 28 = 105
    assert pk.auc_0_28 == pytest.approx(30 + 200 + 770 + 105)
    assert pk.blq_rule == "PKNCA"
    with pytest.raises(ValueError):
        nca.NcaOptions(method="cubic")


def test_units_are_never_pooled():
    rows = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P2"], "analyte": "CAR-T cells",
                         "unit": ["cells/uL", "cells/uL", "copies/ug DNA", "copies/ug DNA"],
                         "day": [1, 7, 1, 7], "value": [1.0, 5.0, 1000.0, 9000.0], "below_lloq": False})
    metrics = nca.nca_metrics(rows)
    assert set(zip(metrics["patient_id"], metrics["unit"])) == {("P1", "cells/uL"), ("P2", "copies/ug DNA")}
    assert nca.mixed_units(rows).to_dict("records") == [{"analyte": "CAR-T cells",
                                                         "units": "cells/uL, copies/ug DNA"}]
    # a unit on some rows and none on others (validation allows either): named, not a crash
    blank = rows.assign(unit=["cells/uL", "cells/uL", None, None])
    assert nca.mixed_units(blank).to_dict("records") == [{"analyte": "CAR-T cells", "units": "(no unit), cells/uL"}]
    patients = pd.DataFrame({"patient_id": ["P1", "P2"], "group": ["A", "B"]})
    with pytest.raises(ValueError, match="more than one unit"):
        expansion.expansion_summary(expansion.expansion_metrics(rows), patients)


@pytest.mark.parametrize("blank", [None, np.nan])
def test_a_blank_unit_stays_missing_not_the_text_nan(blank):
    # validation allows a cell count without a unit; its metrics must not name a unit "nan" or "None"
    rows = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P2"], "analyte": "CAR-T cells",
                         "unit": [blank, blank, "cells/uL", "cells/uL"],
                         "day": [1, 7, 1, 7], "value": [1.0, 5.0, 2.0, 6.0], "below_lloq": False})
    metrics = nca.nca_metrics(rows).set_index("patient_id")
    assert pd.isna(metrics.loc["P1", "unit"]) and metrics.loc["P2", "unit"] == "cells/uL"
    assert metrics.loc["P1", "cmax"] == 5.0 and metrics.loc["P2", "cmax"] == 6.0


# --- every series at once (nca_metrics) against series_metrics, the definition, one series at a time ----------------

_SERIES = st.lists(st.tuples(st.sampled_from(["P1", "P2", "P10"]), st.sampled_from(["CAR-T cells", "CD4+ CAR-T cells"]),
                             st.sampled_from([-1.0, 0.0, 0.5, 1.0, 3.0, 7.0, 14.0, 28.0, 29.0, 60.0, 90.0, 91.0]),
                             st.sampled_from([0.0, 0.0, 1e-3, 1.0, 2.5, 20.0, 80.0, 1e6]), st.booleans()),
                   max_size=40)


@settings(max_examples=1500, deadline=None)
@given(_SERIES, st.sampled_from(nca.METHODS), st.sampled_from(nca.WINDOWS), st.sampled_from(nca.BLQ_RULES))
def test_all_series_at_once_equal_each_series_alone(rows, method, window, blq):
    frame = pd.DataFrame(rows, columns=["patient_id", "analyte", "day", "value", "below_lloq"]).assign(unit="cells/uL")
    options = nca.NcaOptions(method=method, window=window, blq=blq)
    got = nca.nca_metrics(frame, options)
    expected = []
    for (patient, analyte), one in frame.groupby(["patient_id", "analyte"], sort=True):
        metrics = nca.series_metrics(one["day"].to_numpy(float), one["value"].to_numpy(float),
                                     one["below_lloq"].to_numpy(bool), options)
        expected.append({"patient_id": patient, "analyte": analyte, "unit": "cells/uL", **metrics})
    expected = pd.DataFrame(expected, columns=nca.NCA_COLUMNS[:-3])
    assert list(got.columns) == nca.NCA_COLUMNS and len(got) == len(expected)
    pd.testing.assert_frame_equal(got[nca.NCA_COLUMNS[:-3]].reset_index(drop=True), expected,
                                  check_dtype=False, rtol=1e-13)


def test_no_cell_counts_give_no_rows():
    empty = pd.DataFrame({"patient_id": [], "analyte": [], "unit": [], "day": [], "value": [], "below_lloq": []})
    for options in (nca.NcaOptions(), nca.NcaOptions(blq=nca.BLQ_PKNCA), nca.NcaOptions(window=nca.INTERPOLATED)):
        got = nca.nca_metrics(empty, options)
        assert got.empty and list(got.columns) == nca.NCA_COLUMNS

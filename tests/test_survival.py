"""Resolution curves checked against R's survival package and against hand-worked small cohorts.

The Freireich 6-MP leukaemia trial (lifelines.datasets.load_leukemia) is written out as a cohort in
the contract format and run through the whole pipeline: ingest -> store -> episodes -> survival.
Reference numbers are R's (survival package) for survfit(Surv(time, status) ~ group,
conf.type = "log") and survdiff on the same data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_leukemia

from icans_core import store, survival
from icans_core.episodes import compute_episodes
from icans_core.ingest import load_sources
from icans_core.readers import Source

# --- the 6-MP trial as an uploaded cohort -------------------------------------------------------------


def leukaemia_cohort_csv() -> tuple[str, str]:
    """patients.csv and toxicity.csv: grade 3 ICANS at day 0, then grade 1 at day t (status 1,
    resolved) or a last assessment still at grade 3 at day t (status 0, censored)."""
    trial = load_leukemia()
    patients = ["patient_id,product,group,disease,age_years,sex,ecog,last_followup_day,death_day,death_cause"]
    toxicity = ["patient_id,day,crs_grade,icans_grade,ice_score"]
    for i, row in enumerate(trial.itertuples(index=False), start=1):
        pid = f"L{i:02d}"
        group = "6-MP" if row.Rx == 0 else "placebo"
        patients.append(f"{pid},axi-cel,{group},B-ALL,,,,{row.t},,")
        toxicity.append(f"{pid},0,,3,")
        toxicity.append(f"{pid},{row.t},,{1 if row.status == 1 else 3},")
    return "\n".join(patients) + "\n", "\n".join(toxicity) + "\n"


@pytest.fixture(scope="module")
def leukaemia_episodes() -> pd.DataFrame:
    patients_csv, toxicity_csv = leukaemia_cohort_csv()
    result = load_sources([Source("patients.csv", patients_csv.encode()),
                           Source("toxicity.csv", toxicity_csv.encode())])
    assert result.ok, result.report.to_string()
    con = store.connect()
    store.load_cohort(con, result.cohort)
    episodes = compute_episodes(store.toxicity_frame(con), store.patients_frame(con))
    assert len(episodes) == 42
    return episodes


# R: summary(survfit(Surv(time, status) ~ Rx, data = leukemia))  (conf.type = "log", the default)
#          time n.risk n.event survival std.err lower 95% CI upper 95% CI
R_6MP = [(6, 21, 3, 0.857, 0.0764, 0.720, 1.000),
         (7, 17, 1, 0.807, None, 0.653, 0.996),
         (10, 15, 1, 0.753, None, 0.586, 0.968),
         (13, 12, 1, 0.690, None, 0.510, 0.935),
         (16, 11, 1, 0.627, None, 0.439, 0.896),
         (22, 7, 1, 0.538, None, 0.337, 0.858),
         (23, 6, 1, 0.448, None, 0.249, 0.807)]


def test_kaplan_meier_matches_r_for_6mp(leukaemia_episodes):
    km = survival.kaplan_meier(leukaemia_episodes, ci="log")
    assert list(km.columns) == survival.KM_COLUMNS
    six_mp = km[km["group"] == "6-MP"].set_index("time")
    for time, n_risk, n_event, surv, std_err, lower, upper in R_6MP:
        row = six_mp.loc[float(time)]
        assert (row.n_at_risk, row.n_events) == (n_risk, n_event), time
        assert row.survival == pytest.approx(surv, abs=5e-4), time
        assert row.ci_lower == pytest.approx(lower, abs=5e-4), time
        assert row.ci_upper == pytest.approx(upper, abs=5e-4), time
        assert row.resolved == pytest.approx(1 - surv, abs=5e-4)
        assert row.resolved_ci_lower == pytest.approx(1 - upper, abs=5e-4)
        assert row.resolved_ci_upper == pytest.approx(1 - lower, abs=5e-4)
        if std_err is not None:  # Greenwood SE of S, recovered from the (uncapped) lower bound
            recovered = row.survival * math.log(row.survival / row.ci_lower) / 1.959964
            assert recovered == pytest.approx(std_err, abs=5e-5)


def test_kaplan_meier_rows_start_at_one_and_count_censoring(leukaemia_episodes):
    km = survival.kaplan_meier(leukaemia_episodes)
    first = km.groupby("group").head(1).set_index("group")
    assert list(first.index) == ["6-MP", "placebo"]
    assert (first["time"] == 0).all() and (first["survival"] == 1).all() and (first["n_at_risk"] == 21).all()
    six_mp = km[km["group"] == "6-MP"].set_index("time")
    # 6-MP censored times: 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35 (12 censored, 9 events)
    assert six_mp.loc[6.0, "n_censored"] == 1 and six_mp.loc[32.0, "n_censored"] == 2
    assert six_mp.loc[9.0, "n_events"] == 0 and six_mp.loc[9.0, "survival"] == pytest.approx(0.807, abs=5e-4)
    assert six_mp["n_censored"].sum() == 12 and six_mp["n_events"].sum() == 9
    placebo = km[km["group"] == "placebo"]
    # every placebo patient resolved: the curve reaches 0 at day 23, where R gives no interval (NA)
    last = placebo.iloc[-1]
    assert (last.time, last.survival) == (23.0, 0.0)
    assert math.isnan(last.ci_lower) and math.isnan(last.ci_upper)


def test_medians_match_r(leukaemia_episodes):
    # R: survfit(...) printed: n events median 0.95LCL 0.95UCL
    #    Rx=0 (6-MP)    21      9     23      16      NA
    #    Rx=1 (placebo) 21     21      8       4      12
    medians = survival.median_times(leukaemia_episodes, ci="log").set_index("group")
    assert list(medians.reset_index().columns) == survival.MEDIAN_COLUMNS
    six_mp, placebo = medians.loc["6-MP"], medians.loc["placebo"]
    assert (six_mp.n, six_mp.resolved, six_mp.median_days, six_mp.median_ci_lower) == (21, 9, 23, 16)
    assert math.isnan(six_mp.median_ci_upper)
    assert (placebo.n, placebo.resolved, placebo.median_days) == (21, 21, 8)
    assert (placebo.median_ci_lower, placebo.median_ci_upper) == (4, 12)


def test_logrank_matches_r_survdiff(leukaemia_episodes):
    # R: survdiff(Surv(time, status) ~ Rx): Chisq = 16.8 on 1 degrees of freedom, p = 4.17e-05
    tests = survival.logrank(leukaemia_episodes)
    assert list(tests.columns[:4]) == ["test", "statistic", "df", "p_value"]
    assert len(tests) == 1  # two groups: no pairwise rows
    row = tests.iloc[0]
    assert row.test == "log-rank" and row.df == 1
    assert row.statistic == pytest.approx(16.8, abs=0.05)
    assert row.p_value == pytest.approx(4.17e-05, rel=5e-3)


def test_number_at_risk_under_the_plot(leukaemia_episodes):
    # R: summary(fit, times = c(0, 10, 20, 30, 40))$n.risk: 6-MP 21 15 8 4 0; placebo 21 8 2 0 0
    km = survival.kaplan_meier(leukaemia_episodes)
    at_risk = survival.number_at_risk(km, [0, 10, 20, 30, 40])
    assert list(at_risk.columns) == ["group", "time", "n_at_risk"]
    got = at_risk.pivot(index="group", columns="time", values="n_at_risk")
    assert got.loc["6-MP"].tolist() == [21, 15, 8, 4, 0]
    assert got.loc["placebo"].tolist() == [21, 8, 2, 0, 0]
    # between two rows of the table (day 8.5: six 6-MP patients have left by then, at 6, 6, 6, 6, 7)
    assert survival.number_at_risk(km, [8.5]).set_index("group").loc["6-MP", "n_at_risk"] == 16


def test_log_log_band_is_lifelines_default(leukaemia_episodes):
    km = survival.kaplan_meier(leukaemia_episodes, ci="log-log")
    trial = load_leukemia()
    for group, rx in (("6-MP", 0), ("placebo", 1)):
        arm = trial[trial["Rx"] == rx]
        band = KaplanMeierFitter().fit(arm["t"], arm["status"]).confidence_interval_
        ours = km[(km["group"] == group) & (km["survival"] > 0)].set_index("time")
        expected = band.loc[ours.index]
        np.testing.assert_allclose(ours["ci_lower"], expected.iloc[:, 0], rtol=1e-9)
        np.testing.assert_allclose(ours["ci_upper"], expected.iloc[:, 1], rtol=1e-9)
    log_band = survival.kaplan_meier(leukaemia_episodes, ci="log")
    assert not np.allclose(log_band["ci_upper"].fillna(0), km["ci_upper"].fillna(0))


def test_unknown_ci_transform_is_refused(leukaemia_episodes):
    with pytest.raises(ValueError):
        survival.kaplan_meier(leukaemia_episodes, ci="arcsine")


# --- hand-worked small cohorts -------------------------------------------------------------------------


def episodes(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    """Episodes as compute_episodes returns them, from (group, time_to_resolution, outcome)."""
    frame = pd.DataFrame(rows, columns=["group", "time_to_resolution", "outcome"])
    frame.insert(0, "patient_id", [f"P{i}" for i in range(len(rows))])
    return frame


def test_median_midpoint_rule_of_r():
    # times 1, 2, 3, 4, all resolved: S = 0.75, 0.5, 0.25, 0. S sits at exactly 0.5 on [2, 3):
    # R's median is the midpoint 2.5 (lifelines would say 2).
    medians = survival.median_times(episodes([("A", t, "resolved") for t in (1, 2, 3, 4)]))
    assert medians.loc[0, "median_days"] == 2.5


def test_median_flat_at_half_to_the_end_uses_the_last_follow_up():
    # resolved at 1 and 2, censored at 5 and 7: S = 0.75, 0.5 and stays 0.5 to day 7. R's
    # quantile.survfit takes the midpoint of day 2 and the last follow-up time: (2 + 7) / 2 = 4.5.
    rows = [("A", 1, "resolved"), ("A", 2, "resolved"), ("A", 5, "censored"), ("A", 7, "censored")]
    assert survival.median_times(episodes(rows)).loc[0, "median_days"] == 4.5


def test_median_not_reached_is_nan_and_died_counts_as_censored():
    rows = [("A", 2, "resolved"), ("A", 3, "died"), ("A", 4, "censored"), ("A", 6, "censored")]
    medians = survival.median_times(episodes(rows))
    assert (medians.loc[0, "n"], medians.loc[0, "resolved"]) == (4, 1)
    assert math.isnan(medians.loc[0, "median_days"])  # S = 0.75 at the end


def test_episodes_without_a_time_are_left_out_and_counted():
    rows = [("A", 2, "resolved"), ("A", float("nan"), "resolved"), ("B", 3, "resolved")]
    km = survival.kaplan_meier(episodes(rows))
    assert km.groupby("group")["n_at_risk"].first().to_dict() == {"A": 1, "B": 1}
    left_out = survival.count_left_out(episodes(rows)).set_index("group")
    assert left_out.loc["A"].tolist() == [2, 1, 1] and left_out.loc["B"].tolist() == [1, 1, 0]


def test_competing_risk_by_hand():
    # 4 patients: resolved at 2, died at 3, resolved at 5, censored at 6.
    # day 2: 4 at risk, 1 resolves: CIF(resolution) = 1/4 = 0.25; event-free 3/4.
    # day 3: 3 at risk, 1 dies: CIF(resolution) stays 0.25; CIF(death) = 3/4 x 1/3 = 0.25;
    #        event-free 3/4 x 2/3 = 0.5.
    # day 5: 2 at risk, 1 resolves: CIF(resolution) = 0.25 + 0.5 x 1/2 = 0.5; event-free 0.25.
    # day 6: censored: nothing changes.
    rows = [("A", 2, "resolved"), ("A", 3, "died"), ("A", 5, "resolved"), ("A", 6, "censored")]
    cif = survival.cumulative_incidence(episodes(rows))
    assert list(cif.columns) == survival.CIF_COLUMNS
    resolution = cif[cif["event"] == "resolution"].set_index("time")["cumulative_incidence"]
    death = cif[cif["event"] == "death"].set_index("time")["cumulative_incidence"]
    assert resolution.to_dict() == pytest.approx({0: 0, 2: 0.25, 3: 0.25, 5: 0.5, 6: 0.5})
    assert death.to_dict() == pytest.approx({0: 0, 2: 0, 3: 0.25, 5: 0.25, 6: 0.25})
    at_risk = cif[cif["event"] == "resolution"].set_index("time")["n_at_risk"].to_dict()
    assert at_risk == {0: 4, 2: 4, 3: 3, 5: 2, 6: 1}
    band = cif[cif["cumulative_incidence"] > 0]
    assert (band["ci_lower"] <= band["cumulative_incidence"]).all()
    assert (band["cumulative_incidence"] <= band["ci_upper"]).all()


def test_tied_resolution_death_and_censoring_are_exact_and_deterministic():
    # 5 patients; day 2: one resolves, one dies, one is censored (censored at 2 still at risk at 2).
    # day 2: 5 at risk: CIF(resolution) = 1/5 = 0.2, CIF(death) = 1/5 = 0.2, event-free 3/5.
    # day 4: 2 at risk (the censored one has left), 1 resolves: CIF(resolution) = 0.2 + 3/5 x 1/2 = 0.5.
    rows = [("A", 2, "resolved"), ("A", 2, "died"), ("A", 2, "censored"), ("A", 4, "resolved"),
            ("A", 7, "censored")]
    state = np.random.get_state()[1].copy()
    first = survival.cumulative_incidence(episodes(rows))
    assert np.array_equal(np.random.get_state()[1], state), "numpy's global generator was reseeded"
    second = survival.cumulative_incidence(episodes(rows))
    pd.testing.assert_frame_equal(first, second)
    resolution = first[first["event"] == "resolution"].set_index("time")["cumulative_incidence"]
    death = first[first["event"] == "death"].set_index("time")["cumulative_incidence"]
    assert resolution.to_dict() == pytest.approx({0: 0, 2: 0.2, 4: 0.5, 7: 0.5})
    assert death.to_dict() == pytest.approx({0: 0, 2: 0.2, 4: 0.2, 7: 0.2})
    assert first.set_index(["event", "time"]).loc[("resolution", 4.0), "n_at_risk"] == 2


def test_cumulative_incidence_without_deaths_is_one_minus_kaplan_meier(leukaemia_episodes):
    km = survival.kaplan_meier(leukaemia_episodes).set_index(["group", "time"])
    cif = survival.cumulative_incidence(leukaemia_episodes)
    resolution = cif[cif["event"] == "resolution"].set_index(["group", "time"])
    assert resolution.index.equals(km.index)
    np.testing.assert_allclose(resolution["cumulative_incidence"], km["resolved"], atol=1e-12)
    assert (cif.loc[cif["event"] == "death", "cumulative_incidence"] == 0).all()


def test_logrank_by_hand_and_pairwise_rows_for_three_groups(leukaemia_episodes):
    # Hand log-rank, A: events at 1 and 3; B: event at 2, censored at 4.
    # t=1: n=4 (2 A), d=1: E_A = 1/2, V = 2*2*1*3/(16*3) = 0.25
    # t=2: n=3 (1 A), d=1: E_A = 1/3, V = 1*2*1*2/(9*2) = 2/9
    # t=3: n=2 (1 A), d=1: E_A = 1/2, V = 1*1*1*1/(4*1) = 0.25
    # O_A - E_A = 2 - 4/3 = 2/3; V = 13/18; chi-square = (4/9)/(13/18) = 8/13 = 0.6154, p = 0.4328
    hand = episodes([("A", 1, "resolved"), ("A", 3, "resolved"), ("B", 2, "resolved"), ("B", 4, "censored")])
    row = survival.logrank(hand).iloc[0]
    assert row.statistic == pytest.approx(8 / 13, abs=1e-9)
    assert row.p_value == pytest.approx(0.4328, abs=5e-5)

    three = pd.concat([leukaemia_episodes, hand.assign(group="hand", patient_id=lambda f: "H" + f["patient_id"])],
                      ignore_index=True)
    tests = survival.logrank(three).set_index("test")
    assert list(tests.index) == ["log-rank", "log-rank: 6-MP vs hand", "log-rank: 6-MP vs placebo",
                                 "log-rank: hand vs placebo"]
    assert tests.loc["log-rank", "df"] == 2 and math.isnan(tests.loc["log-rank", "p_holm"])
    pair = tests.loc["log-rank: 6-MP vs placebo"]
    assert pair.df == 1 and pair.statistic == pytest.approx(16.8, abs=0.05)
    assert pair.p_value == pytest.approx(4.17e-05, rel=5e-3)
    pairwise = tests.iloc[1:]
    assert (pairwise["p_holm"] >= pairwise["p_value"]).all() and (pairwise["p_holm"] <= 1).all()
    smallest = pairwise["p_value"].idxmin()
    assert pairwise.loc[smallest, "p_holm"] == pytest.approx(3 * pairwise.loc[smallest, "p_value"])


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.5), method = "holm") = 0.04 0.09 0.09 0.50
    np.testing.assert_allclose(survival.holm(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.09, 0.09, 0.5])


def test_logrank_needs_two_groups():
    tests = survival.logrank(episodes([("A", 1, "resolved"), ("A", 2, "censored")]))
    assert tests.empty and list(tests.columns[:4]) == ["test", "statistic", "df", "p_value"]


def test_small_groups_are_named():
    rows = [("big", t, "resolved") for t in range(1, 11)] + [("small", t, "resolved") for t in range(1, 10)]
    rows.append(("small", float("nan"), "resolved"))  # no time: not in the analysis, not counted
    assert survival.small_groups(episodes(rows)) == ["small"]
    assert survival.small_groups(episodes(rows), threshold=11) == ["big", "small"]


def test_no_episodes_give_empty_frames_with_their_columns():
    none = episodes([])
    assert list(survival.kaplan_meier(none).columns) == survival.KM_COLUMNS
    assert list(survival.median_times(none).columns) == survival.MEDIAN_COLUMNS
    assert list(survival.cumulative_incidence(none).columns) == survival.CIF_COLUMNS
    assert survival.small_groups(none) == []


# --- properties --------------------------------------------------------------------------------------

cohorts = st.lists(
    st.tuples(st.sampled_from(["A", "B"]), st.integers(0, 40).map(lambda d: d / 4),
              st.sampled_from(["resolved", "resolved", "died", "censored"])),
    min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(cohorts, st.sampled_from(["log", "log-log"]))
def test_kaplan_meier_is_a_survival_curve_within_its_band(rows, ci):
    km = survival.kaplan_meier(episodes(rows), ci=ci)
    for _, curve in km.groupby("group"):
        s = curve["survival"].to_numpy()
        assert ((s >= 0) & (s <= 1)).all()
        assert (np.diff(s) <= 1e-12).all()
        banded = curve.dropna(subset=["ci_lower", "ci_upper"])
        assert (banded["ci_lower"] <= banded["survival"] + 1e-12).all()
        assert (banded["survival"] <= banded["ci_upper"] + 1e-12).all()
        assert ((banded["ci_lower"] >= 0) & (banded["ci_upper"] <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(cohorts)
def test_cumulative_incidences_never_exceed_one_and_never_fall(rows):
    cif = survival.cumulative_incidence(episodes(rows))
    wide = cif.pivot_table(index=["group", "time"], columns="event", values="cumulative_incidence",
                           aggfunc="last")
    assert (wide.sum(axis=1) <= 1 + 1e-9).all()
    for _, curve in cif.groupby(["group", "event"]):
        assert (np.diff(curve["cumulative_incidence"].to_numpy()) >= -1e-12).all()


def test_logrank_without_variance_has_no_test_instead_of_failing():
    # A censored at 6, resolved at 9; B resolved at 9: the only resolution time has everyone at risk
    # resolving, so the variance is 0 (R's survdiff stops: "exactly singular"). No test, no crash.
    rows = [("A", 6, "censored"), ("A", 9, "resolved"), ("B", 9, "resolved")]
    row = survival.logrank(episodes(rows)).iloc[0]
    assert math.isnan(row.statistic) and math.isnan(row.p_value) and row.df == 1


def test_no_resolutions_give_no_test_as_r():
    # R: survdiff with no events: chi-square 0 on -1 df, p NaN; here empty statistic and p, df 0
    rows = [("A", 3, "censored"), ("A", 5, "died"), ("B", 4, "censored")]
    row = survival.logrank(episodes(rows)).iloc[0]
    assert math.isnan(row.statistic) and math.isnan(row.p_value) and row.df == 0


def test_near_tied_times_are_one_time():
    # 4.35 - 2.1 in floating point is 2.2499999999999996; R's timefix makes it 2.25's tie
    rows = [("A", 4.35 - 2.1, "resolved"), ("A", 7 - 4.75, "resolved"), ("A", 5, "censored"), ("A", 1, "resolved")]
    km = survival.kaplan_meier(episodes(rows))
    assert (km["n_events"] == 2).sum() == 1  # both resolutions at one time
    assert list(survival.timefix(np.array([4.35 - 2.1, 7 - 4.75, 3.0]))) == [4.35 - 2.1, 4.35 - 2.1, 3.0]

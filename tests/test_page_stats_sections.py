"""The issue-12 sections of the Resolution and Expansion pages through AppTest, on the bundled sample cohort:
Gray's test under the log-rank table, the adjusted comparison (Cox) with covariates picked, the band and
median rules named, and the NCA options of the expansion page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import competing_risks, cox, nca
from ui.text import unplain

ROOT = Path(__file__).resolve().parent.parent


def opened(monkeypatch, page: str) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "views" / page), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tables(at: AppTest, first_columns: list[str]):
    return [d.value for d in at.dataframe if list(d.value.columns[:len(first_columns)]) == first_columns]


@pytest.fixture
def resolution(monkeypatch) -> AppTest:
    return opened(monkeypatch, "resolution.py")


def test_grays_test_and_the_rules_are_on_the_page(resolution):
    (gray,) = tables(resolution, competing_risks.GRAY_COLUMNS)
    assert list(gray["event"]) == ["resolution", "death"]
    assert (gray["df"] == 3).all() and gray["p_value"].between(0, 1).all()
    assert any("Gray's test" in unplain(h.value) for h in resolution.subheader)
    captions = " ".join(unplain(c.value) for c in resolution.caption)
    assert "cmprsk::cuminc variance" in captions and "log(-log)" in captions
    assert "print(survfit)" in captions and "quantile(survfit)" in captions


def test_adjusted_comparison_with_covariates(resolution):
    (before,) = tables(resolution, cox.COEF_COLUMNS)
    assert list(before["variable"]) == ["group"] * 3  # 4 arms: 3 hazard ratios against the first
    resolution.multiselect(key="resolution_cox_covariates").set_value(["peak_grade", "ecog"]).run()
    assert not resolution.exception
    (after,) = tables(resolution, cox.COEF_COLUMNS)
    assert list(after["variable"]) == ["group"] * 3 + ["peak_grade", "ecog"]
    assert (after["hr_ci_lower"] < after["hr"]).all() and (after["hr"] < after["hr_ci_upper"]).all()
    (tests,) = [d.value for d in resolution.dataframe if list(d.value.columns) == cox.TEST_COLUMNS]
    assert list(tests["test"][:3]) == [cox.LIKELIHOOD_RATIO, cox.WALD, cox.SCORE]
    assert tests["test"].iloc[-1] == cox.PH_PREFIX + "GLOBAL"
    # 49 resolutions for 5 coefficients: fewer than 10 per coefficient, said in a warning
    assert any("per coefficient" in unplain(w.value) for w in resolution.warning)
    assert any(unplain(h.value).startswith("Adjusted comparison (Cox; group and peak ICANS grade")
               for h in resolution.subheader)


def test_nca_options_change_the_areas(monkeypatch):
    at = opened(monkeypatch, "expansion.py")
    (default,) = tables(at, nca.NCA_COLUMNS[:4])
    assert set(default["auc_method"]) == {"linear"} and set(default["auc_window"]) == {"observed"}
    at.radio(key="expansion_auc_method").set_value(nca.LIN_UP_LOG_DOWN).run()
    at.radio(key="expansion_auc_window").set_value(nca.INTERPOLATED).run()
    at.radio(key="expansion_blq").set_value(nca.BLQ_PKNCA).run()
    assert not at.exception
    (changed,) = tables(at, nca.NCA_COLUMNS[:4])
    assert set(changed["auc_method"]) == {nca.LIN_UP_LOG_DOWN} and set(changed["blq_rule"]) == {nca.BLQ_PKNCA}
    merged = default.merge(changed, on="patient_id", suffixes=("", "_new"))
    assert (merged["auc_0_28_new"] != merged["auc_0_28"]).any()
    assert any("NCA conventions" in m.value for m in at.markdown)


def test_a_link_with_nca_options_opens_with_them(monkeypatch):
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "views" / "expansion.py"), default_timeout=90)
    at.query_params["expansion_auc_method"] = nca.LIN_UP_LOG_DOWN
    at.query_params["expansion_blq"] = nca.BLQ_ZERO
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="expansion_auc_method").value == nca.LIN_UP_LOG_DOWN
    assert at.radio(key="expansion_blq").value == nca.BLQ_ZERO
    (shown,) = tables(at, nca.NCA_COLUMNS[:4])
    assert set(shown["auc_method"]) == {nca.LIN_UP_LOG_DOWN} and set(shown["blq_rule"]) == {nca.BLQ_ZERO}


def many_groups_connection(groups: int):
    """The sample cohort with its severe-ICANS patients spread over `groups` arms (and the rest in one more)."""
    from icans_core import store
    from icans_core.episodes import compute_episodes
    from icans_core.ingest import load_paths

    result = load_paths([ROOT / "data" / "sample"])
    assert result.ok
    patients = result.cohort.tables["patients"]
    episodes = compute_episodes(result.cohort.tables["toxicity"], patients.assign(death_day=patients["death_day"]))
    arm = {pid: f"arm {i % groups:02d}" for i, pid in enumerate(episodes["patient_id"])}
    patients["group"] = [arm.get(pid, "no episode") for pid in patients["patient_id"]]
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


def test_more_groups_than_the_pairwise_bound_give_the_overall_test_and_say_so(monkeypatch):
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "views" / "resolution.py"), default_timeout=90)
    at.session_state["duckdb_connection"] = many_groups_connection(12)
    at.session_state["cohort_kind"] = "upload"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (tests,) = [d.value for d in at.dataframe if list(d.value.columns[:4]) == ["test", "statistic", "df", "p_value"]
                and "p_holm" in d.value.columns]
    assert list(tests["test"]) == ["log-rank"] and tests["df"].iloc[0] == 11
    assert any("up to 10 groups" in unplain(i.value) and "12" in unplain(i.value) for i in at.info)
    (gray,) = tables(at, competing_risks.GRAY_COLUMNS)
    assert (gray["df"] == 11).all()

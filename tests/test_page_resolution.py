"""The Resolution page through Streamlit's AppTest, opened alone on the bundled sample cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from icans_core import survival
from ui.text import plain, unplain

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "views" / "resolution.py"
# The sample's severe-ICANS episodes per arm (data/sample, generated with seed 7); the anakinra arm
# is the small one the page must warn about.
SAMPLE_ARMS = {"Steroids + IVIG": 11, "Steroids + anakinra": 8, "Steroids + intrathecal": 14,
               "Steroids alone": 21}



@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def table(at: AppTest, columns: list[str]) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if list(d.value.columns) == columns]
    assert len(found) == 1, f"expected one table with {columns}, found {[list(d.value.columns) for d in at.dataframe]}"
    return found[0]


def medians(at: AppTest) -> pd.DataFrame:
    return table(at, survival.MEDIAN_COLUMNS)


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def test_renders_the_curves_and_tables_on_the_sample(app):
    subheaders = [unplain(s.value) for s in app.subheader]
    assert subheaders == ["Kaplan-Meier: time to resolution", "Median time to resolution", "Log-rank test",
                          "Gray's test", "Cumulative incidence of resolution (death as a competing event)",
                          "Adjusted comparison (Cox; group and no covariates)", "Episodes"]
    shown = medians(app).set_index("group")
    assert shown["n"].to_dict() == SAMPLE_ARMS
    assert (shown["resolved"] <= shown["n"]).all()
    tests = table(app, survival.TEST_COLUMNS)
    assert tests["test"].iloc[0] == "log-rank" and tests["df"].iloc[0] == len(SAMPLE_ARMS) - 1
    assert len(tests) == 1 + 6  # overall + one row per pair of the 4 arms
    specs = chart_specs(app)
    assert [spec["title"]["text"] for spec in specs] == [
        "Time to resolution of severe ICANS", "Cumulative incidence of resolution, with death as a competing event"]
    subtitle = " ".join(specs[0]["title"]["subtitle"])
    assert subtitle.startswith("n = 54") and "Steroids + anakinra 8" in subtitle
    episodes = [d.value for d in app.dataframe if "time_to_resolution" in d.value.columns]
    assert len(episodes) == 1 and len(episodes[0]) == sum(SAMPLE_ARMS.values())
    assert any("competing event" in unplain(m.value) for m in [*app.markdown, *app.caption])


def test_warns_about_the_small_anakinra_arm(app):
    warnings = [unplain(w.value) for w in app.warning]
    assert len(warnings) == 1, warnings
    assert "Steroids + anakinra" in warnings[0] and "Fewer than 10" in warnings[0]
    assert "Steroids alone" not in warnings[0]


def test_changing_the_ci_transform_changes_the_medians_table(app):
    before = medians(app)
    app.radio(key="resolution_ci").set_value("log-log").run()
    assert_no_exception(app)
    after = medians(app)
    assert before[["group", "n", "median_days"]].equals(after[["group", "n", "median_days"]])
    assert not before[["median_ci_lower", "median_ci_upper"]].equals(after[["median_ci_lower", "median_ci_upper"]])


def test_orientation_switches_the_curve_to_still_severe(app):
    def leaves(spec):
        return [leaf for layer in spec["layer"] for leaf in (leaves(layer) if "layer" in layer else [layer])]

    def y_fields(at):
        return {layer["encoding"]["y"]["field"] for layer in leaves(chart_specs(at)[0]["vconcat"][0])
                if "y" in layer.get("encoding", {})}
    assert y_fields(app) == {"resolved", "resolved_ci_lower"}
    app.radio(key="resolution_orientation").set_value("still severe").run()
    assert_no_exception(app)
    assert y_fields(app) == {"survival", "ci_lower"}


def test_log_rank_p_is_written_on_the_figure(app):
    tests = table(app, survival.TEST_COLUMNS)
    p = tests["p_value"].iloc[0]
    expected = f"Log-rank p < 0.001" if p < 0.001 else f"Log-rank p = {p:.3g}"
    # on the figure (a text layer: its data travels as Arrow, so the layer and the caption are checked)
    layers = json.dumps(chart_specs(app)[0]["vconcat"][0])
    assert '"text": {"field": "text"' in layers.replace("'", '"') or '"field": "text"' in layers
    assert any(expected in unplain(c.value) for c in app.caption)


def test_ivig_origin_leaves_out_episodes_without_ivig_and_says_so(app):
    before = medians(app)
    app.selectbox(key="resolution_origin").set_value("IVIG").run()
    assert_no_exception(app)
    after = medians(app)
    assert after["group"].tolist() == ["Steroids + IVIG"] and after["n"].tolist() == [11]
    assert not before.equals(after)
    infos = " ".join(unplain(i.value) for i in app.info)
    assert "43 of 54 episode(s) had no IVIG dose" in infos
    assert "Only one group" in infos  # nothing to compare: no log-rank table, in words
    assert not [d for d in app.dataframe if list(d.value.columns) == survival.TEST_COLUMNS]
    assert not app.warning  # the IVIG arm has 11 patients


def test_group_by_product_regroups(app):
    app.session_state["group_by"] = "product"
    app.run()
    assert_no_exception(app)
    groups = set(medians(app)["group"])
    assert groups and not groups & set(SAMPLE_ARMS)
    assert medians(app)["n"].sum() == sum(SAMPLE_ARMS.values())


def test_sidebar_grades_define_the_episodes(app):
    default_n = medians(app)["n"].sum()
    app.session_state["severe_grade"] = 4  # what the sidebar's "Severe ICANS" control sets
    app.run()
    assert_no_exception(app)
    assert 0 < medians(app)["n"].sum() < default_n  # only grade-4 episodes remain

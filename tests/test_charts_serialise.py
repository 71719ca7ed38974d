"""Charts serialised by the app and by Streamlit at the same moment never trade data (icans_core/charts/serialise.py).

Found by an adversarial review: Altair's data transformer is global to the process, and Streamlit switches
it while it turns a chart into a session's message; a chart serialised meanwhile in another thread (a
figure's size or download, a report) had its rows collected into the other session's message.
"""

import threading
import time

import altair as alt
import pandas as pd
from streamlit.elements import vega_charts
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

import ui.figures  # noqa: F401  (installs the shared lock as Streamlit's)
from icans_core.charts import serialise

SECRET = "UPLOAD-SECRET"


def race(serialise_a, seconds: float = 3.0) -> tuple[int, int, int]:
    """Two sessions' threads: A serialises its chart of an upload's ids, B draws a chart (Streamlit's
    conversion). Returns (B's messages, those holding A's ids, A's specs without A's rows)."""
    private = pd.DataFrame({"patient_id": [f"{SECRET}-{i}" for i in range(50)], "v": range(50)})
    chart_a = alt.Chart(private).mark_point().encode(x="v", tooltip="patient_id")
    chart_b = alt.Chart(pd.DataFrame({"x": range(50), "y": range(50)})).mark_line().encode(x="x", y="y")
    stop = time.monotonic() + seconds
    counts = {"messages": 0, "leaks": 0, "broken": 0}

    def session_a():
        while time.monotonic() < stop:
            if SECRET not in str(serialise_a(chart_a)):
                counts["broken"] += 1
            time.sleep(0.0005)  # a page does other work between figures (the lock is not fair)

    def session_b():
        while time.monotonic() < stop:
            message = _convert_altair_to_vega_lite_spec(chart_b)
            counts["messages"] += 1
            if any(SECRET.encode() in bytes(v) for v in message["datasets"].values()):
                counts["leaks"] += 1
            time.sleep(0.0005)

    threads = [threading.Thread(target=session_a), threading.Thread(target=session_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts["messages"], counts["leaks"], counts["broken"]


def test_the_apps_specs_and_streamlits_messages_never_trade_data():
    messages, leaks, broken = race(serialise.vega_lite)
    assert messages > 20  # both threads really ran
    assert (leaks, broken) == (0, 0)


def test_control_without_the_lock_they_do():
    """The same race with a bare to_dict (what the app did): the test above can fail."""
    _, leaks, broken = race(lambda chart: chart.to_dict())
    assert leaks + broken > 0


def test_a_spec_has_altairs_defaults_whatever_was_left_switched():
    chart = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_point().encode(x="x")
    alt.data_transformers.register("to_arrow_dataset", vega_charts._to_arrow_dataset)
    with alt.theme.enable("none"), alt.data_transformers.enable("to_arrow_dataset", datasets={}):
        spec = serialise.vega_lite(chart)
    assert spec["datasets"] and list(spec["datasets"].values())[0] == [{"x": 1}, {"x": 2}]
    assert spec["config"]["view"]["continuousWidth"] == 300  # the default theme's

"""The load script (benchmarks/load.py): its leak and error checks, and a 2-session run in Chromium.

The browser test runs the script's `run()` for real (its own server, baseline, 2 concurrent sessions
for ~20 s) and asserts no errors and no leaks; it asserts no timings. It cannot pass vacuously: every
view a session checks is also judged as another session's, which must be flagged (the detector
self-test), and the pure tests below show the checks fail on another session's view.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import load  # noqa: E402

ME = load.Identity("S01", "S01-", 33, "s01-cohort.zip", user="load S01")
OTHER = load.Identity("S02", "S02-", 36, "s02-cohort.zip", user="load S02")


def sidebar(label="s01-cohort.zip", patients="33", kind=load.UPLOAD_KIND,
            selection="All 33 patients selected (no filter).", user="load S01") -> str:
    return (f"Overview\nSwimlanes\nCohort\n{label}\n{patients} patients · {kind}\nSigned in as {user}\nCompare by\n"
            f"Cohort filters\n{selection}\nLink to this view: filters and options travel with it.")


def view(**changes) -> dict:
    base = {"state": "notRunning", "connection": "CONNECTED", "path": "/patient", "sidebar": sidebar(),
            "main": "Patient\nPatient (33 in the selected cohort)\nS01-P0004 · Steroids alone", "exceptions": [],
            "errors": [], "patient": "S01-P0004 · Steroids alone", "loaded": None}
    return {**base, **changes}


def test_own_view_passes():
    assert load.check_view(view(), ME) == []
    filtered = view(sidebar=sidebar(selection="12 of 33 patients selected\nNo severe ICANS: 10 of 28"))
    assert load.check_view(filtered, ME) == []
    assert load.patient_ids_seen(view(), ME) == 1


def test_another_sessions_view_is_a_leak():
    assert load.check_view(view(), OTHER)  # the detector self-test in every run relies on this
    other_count = sidebar(patients="36", selection="All 36 patients selected (no filter).")
    problems = load.check_view(view(sidebar=other_count), ME)
    assert any("36 patients" in p for p in problems), problems
    assert any("total 36" in p for p in problems), problems


@pytest.mark.parametrize("changes, words", [
    ({"sidebar": sidebar(selection="5 of 36 patients selected")}, "total 36"),
    ({"sidebar": sidebar(label="s02-cohort.zip")}, "s02-cohort.zip"),
    ({"sidebar": sidebar(patients="300", kind="the bundled synthetic sample")}, "bundled synthetic sample"),
    ({"sidebar": sidebar(user="load S02")}, "load S02"),
    ({"patient": "S02-P0001 · axi-cel"}, "S02-P0001"),
    ({"main": "Patient\nS01-P0004\nS02-P0007"}, "S02-P0007"),
    ({"main": "Patient\nP0004 · Steroids alone"}, "unprefixed"),
    ({"loaded": "Loaded: s02-cohort.zip — your upload"}, "s02-cohort.zip"),
    ({"sidebar": None}, "no sidebar"),
])
def test_each_mismatch_is_reported(changes, words):
    problems = load.check_view(view(**changes), ME)
    assert any(words in p for p in problems), problems


def test_app_errors_are_reported():
    assert load.view_errors(view()) == []
    found = load.view_errors(view(exceptions=["KeyError: 'x'"], errors=["The upload could not be processed"],
                                  connection="DISCONNECTED_FOREVER"))
    assert len(found) == 3, found


def test_cohorts_differ_and_carry_their_prefix(tmp_path):
    baseline, sessions = load.make_identities(3, seed=7, out_dir=tmp_path, password=False)
    assert [s.patients for s in sessions] == [30, 33, 36]
    assert baseline.patients not in {s.patients for s in sessions}
    with zipfile.ZipFile(io.BytesIO(sessions[1].data)) as archive:
        patients = archive.read("patients.csv").decode().splitlines()
        assert sorted(archive.namelist()) == ["interventions.csv", "labs.csv", "observations.csv", "patients.csv",
                                              "toxicity.csv"]
    assert len(patients) == 1 + 33 and all(row.startswith("S01-P") for row in patients[1:])
    from icans_core.ingest import load_sources
    from icans_core.readers import Source

    result = load_sources([Source(sessions[1].file_name, sessions[1].data)])
    assert result.ok, result.report.head()


def test_refuses_a_non_loopback_target():
    assert load.is_loopback("127.0.0.1") and load.is_loopback("::1") and load.is_loopback("localhost")
    assert not load.is_loopback("0.0.0.0") and not load.is_loopback("10.1.2.3")
    with pytest.raises(SystemExit) as exit_:
        load.parse_args(["--host", "0.0.0.0"])
    assert exit_.value.code == 2
    with pytest.raises(ValueError):
        load.run(load.Options(host="192.168.1.5"))


REPORT_KEYS = {"sessions", "sessions_ready", "duration_s", "password_mode", "interactions", "baseline_interactions",
               "errors", "leaks", "checks", "latency", "uploads", "server_rss_mib", "cpu", "environment"}


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_two_sessions_run_without_errors_or_leaks(tmp_path):
    if not os.access(load.CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {load.CHROMIUM}")
    out = tmp_path / "load.json"
    report = load.run(load.Options(sessions=2, duration=20, baseline_interactions=2, ramp=1, think=(0.5, 1.5),
                                   linger=1, json_path=out, artifacts=tmp_path / "artifacts", quiet=True))
    where = f"server log and screenshots in {report['artifacts']}"
    assert report["errors"]["count"] == 0, (report["errors"]["first"], where)
    assert report["leaks"]["count"] == 0, (report["leaks"]["first"], where)
    assert REPORT_KEYS <= set(report), REPORT_KEYS - set(report)
    assert json.loads(out.read_text())["sessions"] == 2
    assert report["sessions_ready"] == 2 and report["baseline_ready"]
    for phase in ("baseline", "concurrent"):
        assert {"n", "p50_s", "p95_s"} <= set(report["latency"][phase])
    assert {"start", "peak", "end"} <= set(report["server_rss_mib"])
    assert report["uploads"]["baseline_s"] is not None and report["uploads"]["concurrent"]["n"] == 2
    # every session checked its own view at least once (after its upload), and each of those views
    # was flagged when judged as another session's: the leak check can fail
    checks = report["checks"]
    assert checks["views_checked"] >= 3, checks
    assert checks["detector_selftests"] == checks["views_checked"] and checks["detector_selftest_failures"] == 0

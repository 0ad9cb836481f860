"""Adaptation on the real daemon: a real-time stream whose finals lag (a slow worker: the asr
test hook adds a delay to every request) makes the daemon shed partials, then move to the
cheaper profile; when the lag is gone it comes back. Every switch is logged, counted and on
metrics."""

from __future__ import annotations

import json
import re

import pytest

from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR
from tests.stream_clients import finals_of, open_stream, text_of, wait_closed
from workers.asr import LOAD_FAULT_ENV

HARVARD = DATA_DIR / "harvard_list72_8k.wav"  # 36 s, ten sentences with pauses


@pytest.mark.slow  # ~1 min of a real daemon; `make test-all` runs it
def test_lag_sheds_partials_then_switches_profile_and_both_revert(tmp_path, monkeypatch) -> None:
    fault = {"counter": str(tmp_path / "loads"), "request_delay_s": 1.5}
    monkeypatch.setenv(LOAD_FAULT_ENV, json.dumps(fault))
    run = DaemonRun(
        "--source",
        "push:s16le:16000",
        "--workers",
        "1",
        "--set",
        "streams.adapt_lag_s=0.1",  # finals 0.1 s behind count as lag: the slow worker lags
        "--set",
        "streams.adapt_sustain_s=0.5",
        "--set",
        "streams.admission_max_busy=9",
    ).start()
    try:
        run.wait_for(lambda s: s["metrics"]["streams_open"] == 1, 60, "the daemon")
        assert run.status()["metrics"]["adaptation"]["level"] == "normal"
        # a real-time stream (a fast file's backlog is no lag)
        stream = open_stream(run, f"file:{HARVARD}", pace="realtime").stream_id
        wait_closed(run, [stream], 240)
        back = run.wait_for(
            lambda s: (
                s["metrics"]["adaptation"]["level"] == "normal"
                and s["metrics"]["adaptation"]["switches"] >= 4
            ),
            120,
            "adapted and back to normal",
        )
        assert back["profile"] == "balanced"  # the profile it started with
        switches = re.findall(r"adapting: (\w+) -> (\w+)", run.log())
        assert switches[0] == ("normal", "partials_shed"), switches
        assert ("partials_shed", "cheap_profile") in switches, switches
        assert ("cheap_profile", "partials_shed") in switches, switches
        assert switches[-1] == ("partials_shed", "normal"), switches
        adaptation = back["metrics"]["adaptation"]
        assert adaptation["enabled"] and adaptation["switches"] == len(switches), adaptation
        assert adaptation["recent"][-1].startswith("normal:")
        assert back["scheduler"]["partials_shed"] > 0  # level 1 held partials back
        # the cheaper profile was applied while it lasted, and left again
        assert "profile power-saving in effect" in run.log()
        assert run.log().rindex("profile balanced in effect") > run.log().rindex(
            "profile power-saving in effect"
        )
        assert text_of(finals_of(run, stream)), "the lagging stream still got its words"
    finally:
        run.cleanup()

"""A SIGTERM at pace fast is bounded: capture runs at most ``FAST_LEAD_S`` ahead of the VAD and of
the oldest ended segment still without its final, so the shutdown transcribes a bounded backlog,
and every segment the VAD had made gets its final (the real daemon, model, rings and journal)."""

from __future__ import annotations

import re
import signal
import time

from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR
from workers.fast_lead import FAST_LEAD_S

DICTATION = DATA_DIR / "dictation_dev.wav"
RING_S = 30.0  # a small ring wraps soon; before the bound, capture ran a whole ring ahead
# capture waits once it is FAST_LEAD_S past the frontier; a segment that ends then moves the
# frontier back to its start (dictation's utterances: under 5 s), the VAD's position comes with
# its heartbeat (1 s) and capture checks per block: the lead seen stays under this much more
SLACK_S = 7.0


def test_sigterm_at_pace_fast_transcribes_a_bounded_backlog_and_keeps_every_segment() -> None:
    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--loop",
        "--pace",
        "fast",
        "--workers",
        "1",
        "--set",
        f"ring.capacity_s={RING_S}",
        "--set",
        "vad.max_segment_s=12",  # under half the ring (dictation's utterances are ~3 s)
    ).start()
    try:
        run.wait_for(lambda s: s["ring"]["write_s"] > RING_S + 15.0, 180, "a wrapped ring")
        leads = []
        for _ in range(20):  # capture's lead over the oldest ended segment without a final
            status = run.status()
            assert status is not None
            row = status["streams"][0]
            frontier_s = min(row["vad_read_s"], row["backlog_from_s"] or row["vad_read_s"])
            leads.append(status["ring"]["write_s"] - frontier_s)
            time.sleep(0.1)
        assert max(leads) <= FAST_LEAD_S + SLACK_S < RING_S - 5.0, leads
        signalled_s = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.log()[-3000:]
        exit_after_s = time.monotonic() - signalled_s
        log = run.log()
        assert "shutdown timeout" not in log, log[-3000:]
        stop = re.search(r"VAD read at the stop: main (\d+\.\d+) s", log)
        assert stop is not None, log[-3000:]
        finals = run.journal()
        # the segment open at the signal ends where the VAD had read; an utterance of dictation
        # is followed by at most ~3 s of silence
        assert finals and finals[-1]["end_s"] >= float(stop.group(1)) - 4.0, finals[-3:]
        # hangover + the engine time of at most FAST_LEAD_S of audio + 1 s, on a loaded machine
        assert exit_after_s < 20.0, f"exit took {exit_after_s:.1f} s"
    finally:
        run.cleanup()

"""Every word survives a shutdown: SIGTERM while a later utterance is being spoken ends the
segment the VAD had open where it had read, publishes its final and exits promptly (the real
daemon, model, sockets and journal)."""

from __future__ import annotations

import re
import signal
import time

from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR

DICTATION = DATA_DIR / "dictation_dev.wav"
# utterance 4 of dictation_dev: "Maria will book the rooms and handle the catering order."
# spoken 16.275 - 19.298 s; the signal comes at 18.3 s, after "Maria will book the rooms and"
SIGNAL_AT_AUDIO_S = 18.3
UTTERANCE_START_S = 16.275


def test_sigterm_mid_utterance_in_a_later_segment_keeps_the_words_spoken() -> None:
    run = DaemonRun("--source", f"file:{DICTATION}", "--pace", "realtime", "--workers", "1").start()
    try:
        run.wait_for(
            lambda s: s["ring"]["write_s"] >= SIGNAL_AT_AUDIO_S - 0.5, 90, "audio up to 17.8 s"
        )
        while (status := run.status()) is not None and status["ring"][
            "write_s"
        ] < SIGNAL_AT_AUDIO_S:
            time.sleep(0.02)
        read_s = status["streams"][0]["vad_read_s"]  # status says where the VAD has read
        written_s = status["ring"]["write_s"]
        assert status["streams"][0]["stream_id"] == "main" and 15.0 < read_s <= written_s
        assert status["stop_vad_read_s"] == {} and not status["stopping"]
        signalled_s = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.log()[-3000:]
        exit_after_s = time.monotonic() - signalled_s
        log = run.log()
        assert "shutdown timeout" not in log, log[-3000:]
        assert "stale event" not in log, log[-3000:]
        finals = run.journal()
        texts = [f["text"].lower() for f in finals]
        assert len(texts) >= 4, texts
        # the utterance's words may be split over several finals (commits while speaking)
        spoken = " ".join(f["text"].lower() for f in finals if f["end_s"] > UTTERANCE_START_S)
        assert "maria" in spoken and "rooms" in spoken, texts
        assert "catering" not in spoken  # spoken after the signal: never read
        # the log names where the VAD had read when the stop came; the last final reaches it
        stop = re.search(r"VAD read at the stop: main (\d+\.\d+) s", log)
        assert stop is not None, log[-3000:]
        stop_read_s = float(stop.group(1))
        assert read_s <= stop_read_s <= written_s + 0.5
        assert run.journal()[-1]["end_s"] >= stop_read_s - 0.05
        # hangover (0.6 s) + one short segment's engine time + 1 s, with room for a loaded machine
        assert exit_after_s < 8.0, f"exit took {exit_after_s:.1f} s"
    finally:
        run.cleanup()

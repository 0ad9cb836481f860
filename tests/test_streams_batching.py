"""Cross-stream batching on the real daemon: one worker, two file streams at once; their finals
went out of batched encoder calls (the status counter) and match each file's run alone."""

from __future__ import annotations

import pytest

from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR
from tests.stream_clients import finals_of, open_stream, segment_count, text_of, wait_closed, wer

HARVARD = DATA_DIR / "harvard_list72_8k.wav"  # 36 s, ten sentences with pauses


@pytest.mark.slow  # ~1 min of a real daemon; `make test-all` runs it
def test_two_streams_on_one_worker_are_batched_and_their_finals_match_alone() -> None:
    run = DaemonRun(
        "--source",
        "push:s16le:16000",
        "--workers",
        "1",
        "--set",
        "asr.max_batch=2",
        "--set",
        "streams.admission_max_busy=9",  # no load check: fast files keep the worker busy
        "--set",
        "streams.adapt=false",  # the same profile all along (a switch would change the text)
    ).start()
    try:
        run.wait_for(lambda s: s["metrics"]["streams_open"] == 1, 60, "the daemon")
        alone = open_stream(run, f"file:{HARVARD}", pace="fast").stream_id
        wait_closed(run, [alone], 240)
        assert run.status()["scheduler"]["batches_sent"] == 0  # one stream: nothing to batch
        together = [
            open_stream(run, f"file:{HARVARD}", pace="fast", label=f"h{n}").stream_id
            for n in (1, 2)
        ]
        wait_closed(run, together, 360)
        scheduler = run.status()["scheduler"]
        assert scheduler["batches_sent"] >= 1, scheduler
        assert scheduler["batched_requests"] >= 2 * scheduler["batches_sent"]
        single = finals_of(run, alone)
        assert text_of(single), "the file alone gave no words"
        for stream_id in together:
            multi = finals_of(run, stream_id)
            assert wer(single, multi) <= 0.005, (text_of(single), text_of(multi))
            assert segment_count(multi) == segment_count(single)
        journal = run.journal()
        assert [f["seq"] for f in journal] == list(range(len(journal)))  # gap-free
    finally:
        run.cleanup()

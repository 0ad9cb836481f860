"""Per-stream state of the scheduler is bounded by the streams open, not by every stream ever
opened (fakes: plain calls, no processes)."""

from __future__ import annotations

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_fakes import ended, ongoing, options, result, started


def test_opening_and_closing_many_committing_streams_keeps_state_bounded() -> None:
    s = SegmentScheduler(options(commit=CommitOptions(margin_s=0.5)), rings={})
    for number in range(200):
        stream = f"s{number}"
        s.add_stream(stream, f"ring-{stream}")
        s.speech_started(started(0, 0.0, stream), 0.0)
        for audio_s in (3.0, 4.0):  # two agreeing partials commit the first words
            s.speech_ongoing(ongoing(0, 0.0, audio_s, stream), audio_s)
            ((role, request),) = s.dispatch(["asr-1"], audio_s)
            assert request.is_partial
            s.on_reply(role, result(request, "a river runs down to the sea and"), audio_s + 0.3)
        s.speech_ended(ended(0, 0.0, 6.0, stream), 6.0)
        ((role, request),) = s.dispatch(["asr-1"], 6.0)
        s.on_reply(role, result(request, "sea and it ends"), 6.5)
        assert not s.stream_pending(stream)
        if number == 0:
            assert s.sizes()["committed_streams"] == 1  # a commit happened: state was kept
        s.remove_stream(stream)
    assert s.stats().commits >= 200
    sizes = s.sizes()
    assert sizes["committed_streams"] == 0 and sizes["streams_known"] == 0, sizes
    assert all(value == 0 for value in sizes.values()), sizes
    assert s.idle()

"""Sentence ends confirmed first (sentence_ends.py): the real scheduler as the daemon builds its
work (``default_work``), real speech messages, two workers, one of them kept for finals."""

from __future__ import annotations

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.partial_cadence import PartialCadence
from pipeline.scheduling.scheduler import default_work
from tests.test_scheduler_fakes import ended, ongoing, options, result, started

RINGS = {name: f"ss-se-{name}" for name in ("a", "b")}
WORKERS = ["w1", "w2"]


def sharing(*streams: str) -> SegmentScheduler:
    opts = options(commit=CommitOptions())  # margin_s 0.5
    s = SegmentScheduler(
        opts, RINGS, work=default_work(opts), partial_share=0.25, reserve_for_finals=1
    )
    for stream in streams:
        s.speech_started(started(0, 0.0, stream), 0.0)
    return s


def heard(s: SegmentScheduler, now_s: float, *streams: str) -> None:
    for stream in streams:
        s.speech_ongoing(ongoing(0, 0.0, now_s, stream), now_s)


def first_hypothesis(s: SegmentScheduler, *streams: str) -> str:
    """Stream "a"'s first partial (1.5 s of audio) hears "wood and spring." (the sentence's last
    word ends at 1.1 s); returns the worker that is free again."""
    heard(s, 1.5, *streams)
    ((role, request),) = s.dispatch(WORKERS, 1.5)  # the other worker is kept for finals
    assert request.stream_id == "a" and request.is_partial
    s.on_reply(role, result(request, "wood and spring."), 1.6)
    return role


def test_the_hypothesis_that_can_commit_a_sentence_end_goes_past_the_reserve() -> None:
    """Two streams in speech. Once "a"'s audio is ``margin_s`` past its unconfirmed sentence end
    (1.6 s), its next partial goes at once (not a partial interval after the last, 2.5 s), onto
    the worker kept for finals while "b"'s partial holds the other."""
    s = sharing("a", "b")
    first_hypothesis(s, "a", "b")
    ((b_role, b_request),) = s.dispatch(WORKERS, 1.6)
    assert b_request.stream_id == "b" and b_request.is_partial
    heard(s, 1.7, "a", "b")
    free = [role for role in WORKERS if role != b_role]
    sent = s.dispatch(free, 1.7)
    assert [(r.stream_id, r.is_partial) for _, r in sent] == [("a", True)]
    ((role, confirming),) = sent
    assert confirming.end_index == round(1.7 * 16_000)
    s.on_reply(role, result(confirming, "wood and spring. The"), 1.9)  # agrees: committed
    assert s.stats().commits == 1


def test_one_confirming_partial_per_sentence_end() -> None:
    """The confirming hypothesis disagrees ("wood and sprig."): the same sentence end gets no
    second one; the next partial waits for the round-robin and the reserve as any other."""
    s = sharing("a", "b")
    first_hypothesis(s, "a", "b")
    ((b_role, _),) = s.dispatch(WORKERS, 1.6)
    heard(s, 1.7, "a", "b")
    free = [role for role in WORKERS if role != b_role]
    ((role, confirming),) = s.dispatch(free, 1.7)
    s.on_reply(role, result(confirming, "would and sprig."), 1.9)
    heard(s, 2.0, "a", "b")
    assert s.dispatch(free, 2.0) == []


def test_a_stream_alone_keeps_its_interval() -> None:
    """Alone, partials are never held back: the next one waits for the partial interval."""
    s = sharing("a")
    role = first_hypothesis(s, "a")
    heard(s, 1.7, "a")
    assert s.dispatch(WORKERS, 1.7) == []
    heard(s, 2.5, "a")
    ((_, request),) = s.dispatch([role], 2.5)
    assert request.is_partial


def test_cadence_one_confirming_partial_per_sentence_end() -> None:
    cadence = PartialCadence()
    cadence.await_confirmation(1.1, 0.5)  # a sentence's last word ends at 1.1 s
    assert not cadence.confirming(1.5) and cadence.confirming(1.6)
    cadence.sent(1.0)
    cadence.confirm_sent()
    assert not cadence.confirming(2.0)
    assert cadence.unsent() == 1.0  # its round-robin place back, not its urgency
    assert not cadence.confirming(2.0)
    cadence.await_confirmation(1.2, 0.5)  # the next hypothesis: the same sentence end
    assert not cadence.confirming(2.0)
    cadence.await_confirmation(3.0, 0.5)  # a later one
    assert cadence.confirming(3.5)
    cadence.await_confirmation(None, 0.5)  # committed: none awaits
    assert not cadence.confirming(9.0)


def test_a_new_segment_takes_its_streams_turn_in_the_round_robin() -> None:
    """One worker. "a" speaks on (one long segment), "b" ends a segment and starts another.
    "a"'s last partial went at 1.5 s, "b"'s at 1.6 s: at 4.0 s "a" goes first. Before, a
    segment's first partial counted as never served and went before every other stream's,
    so a stream that never pauses waited behind each new segment of the others
    (``SentenceEndsFirst.round_robin_streams``: off in the daemon, it did not pay on
    bench/stream_replay.py)."""
    opts = options(commit=CommitOptions())
    work = default_work(opts)
    work[0].round_robin_streams = True  # type: ignore[attr-defined]
    s = SegmentScheduler(opts, RINGS, work=work)
    s.speech_started(started(0, 0.0, "a"), 0.0)
    s.speech_started(started(0, 0.0, "b"), 0.0)
    heard(s, 1.5, "a", "b")
    for now_s, stream in ((1.5, "a"), (1.6, "b")):
        ((role, request),) = s.dispatch(["w1"], now_s)
        assert (request.stream_id, request.is_partial) == (stream, True)
        s.on_reply(role, result(request, "one two three"), now_s + 0.05)
    s.speech_ended(ended(0, 0.0, 2.0, "b"), 2.0)
    ((role, final),) = s.dispatch(["w1"], 2.0)
    assert final.stream_id == "b" and not final.is_partial
    s.on_reply(role, result(final, "one two three four"), 2.3)
    s.speech_started(started(1, 2.5, "b"), 2.5)
    s.speech_ongoing(ongoing(0, 0.0, 4.0, "a"), 4.0)
    s.speech_ongoing(ongoing(1, 2.5, 4.0, "b"), 4.0)
    ((_, request),) = s.dispatch(["w1"], 4.0)
    assert request.stream_id == "a" and request.is_partial

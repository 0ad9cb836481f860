"""Each final carries where its time went: ``engine_ms`` (backend time of its requests) and
``queue_wait_ms`` (its work waiting for a worker after the end decision), through the scheduler
core, the journal and the wire."""

from __future__ import annotations

import dataclasses

from pipeline.messages.codec import decode, encode
from pipeline.messages.transcripts import TranscriptFinal
from tests.test_scheduler_fakes import ended, ongoing, result, scheduler, spoken, started


def costed(request, text: str, engine_ms: float):
    return dataclasses.replace(result(request, text), engine_ms=engine_ms)


def test_a_final_waiting_behind_a_partial_reports_its_wait_and_its_own_engine_time() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    ((role, partial),) = s.dispatch(["w"], 2.0)
    assert partial.is_partial
    s.speech_ended(ended(0, 0.0, 2.5), 2.5)
    assert s.dispatch(["w"], 2.6) == []  # the only worker runs the partial
    s.on_reply(role, costed(partial, "hello", 300.0), 2.9)  # a partial: not the final's time
    ((role, chunk),) = s.dispatch(["w"], 3.0)
    (final,) = s.on_reply(role, costed(chunk, "hello there", 420.0), 3.5)
    assert isinstance(final, TranscriptFinal)
    assert final.engine_ms == 420.0
    assert final.queue_wait_ms == 500.0  # 2.5 (end decision) -> 3.0 (sent)
    assert final.latency_ms == 1000.0
    assert s.sizes()["final_costs"] == 0


def test_chunks_in_flight_together_count_no_wait_and_sum_their_engine_time() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 18.0), 18.0)  # two chunks of 10 s
    sent = s.dispatch(["a", "b"], 18.0)
    assert len(sent) == 2
    assert s.on_reply(sent[0][0], costed(sent[0][1], "one", 100.0), 19.0) == []
    (final,) = s.on_reply(sent[1][0], costed(sent[1][1], "two", 250.0), 19.5)
    assert final.engine_ms == 350.0 and final.queue_wait_ms == 0.0


def test_a_lost_worker_makes_the_resent_chunk_wait_from_the_loss() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    assert len(s.dispatch(["a"], 2.0)) == 1
    s.worker_lost("a", 2.4)
    ((role, again),) = s.dispatch(["b"], 3.0)
    (final,) = s.on_reply(role, costed(again, "hi", 80.0), 3.2)
    assert final.queue_wait_ms == 600.0 and final.engine_ms == 80.0


def test_a_committed_part_counts_its_partial_and_the_rest_starts_again() -> None:
    s = scheduler()
    s.speech_started(started(0, 1.0), 1.0)
    s.speech_ongoing(ongoing(0, 1.0, 6.0), 6.0)
    ((role, partial),) = s.dispatch(["w"], 6.0)
    s.on_reply(role, costed(partial, "one two three", 200.0), 6.1)
    segment = s.segment(("mic", 0))
    (part,) = s.commit(segment, 4 * 16_000, spoken("one two three", 1.2), 6.1)
    assert part.engine_ms == 200.0 and part.queue_wait_ms == 0.0
    s.speech_ended(ended(0, 1.0, 7.0), 7.0)
    ((role, chunk),) = s.dispatch(["w"], 7.0)
    (rest,) = s.on_reply(role, costed(chunk, "four five", 90.0), 7.5)
    assert rest.engine_ms == 90.0 and rest.queue_wait_ms == 0.0


def test_the_costs_travel_on_the_wire_and_older_finals_still_decode() -> None:
    final = TranscriptFinal("mic", 0, 1, 0.0, 1.0, "hi", (), "w", "m", 5.0, engine_ms=12.5)
    back = decode(encode(final))
    assert back.engine_ms == 12.5 and back.queue_wait_ms is None
    old = TranscriptFinal("mic", 0, 1, 0.0, 1.0, "hi", (), "w", "m", 5.0)
    assert decode(encode(old)).engine_ms is None


def test_the_costs_are_journaled_and_replayed_and_old_lines_still_read(tmp_path) -> None:
    from pipeline.journal import FinalsJournal

    path = tmp_path / "f.jsonl"
    with FinalsJournal.open(path, 100_000, 2, tail_size=10) as journal:
        journal.append(
            TranscriptFinal(
                "mic",
                0,
                journal.next_seq,
                0.0,
                1.0,
                "hi",
                (),
                "w",
                "m",
                5.0,
                "r",
                engine_ms=42.5,
                queue_wait_ms=7.0,
            )
        )
    line = path.read_text().splitlines()[-1]
    assert '"engine_ms": 42.5' in line or '"engine_ms":42.5' in line
    with FinalsJournal.open(path, 100_000, 2, tail_size=10) as journal:  # a fresh process
        (final,), _ = journal.replay(0, 10)
    assert (final.engine_ms, final.queue_wait_ms) == (42.5, 7.0)
    old = line.replace(', "engine_ms": 42.5', "").replace(', "queue_wait_ms": 7.0', "")
    old = old.replace(',"engine_ms":42.5', "").replace(',"queue_wait_ms":7.0', "")
    assert "engine_ms" not in old
    path.write_text(old + "\n")
    with FinalsJournal.open(path, 100_000, 2, tail_size=10) as journal:
        (final,), _ = journal.replay(0, 10)
    assert final.engine_ms is None and final.text == "hi"

"""The segment scheduler on a simulated clock: N streams speaking at once over W workers.

The real ``SegmentScheduler`` (chunked finals and partials) is driven with VAD events of N
streams and answered by simulated workers whose requests take a fixed engine time (a partial
``--partial-s``, a final ``--final-s`` plus ``--final-per-audio-s`` per second of audio; a
cancelled partial stops ``CANCEL_S`` after the cancel; a batch of B requests takes
``BATCH_COST_RATIO[B]`` of their time alone, bench/encoder_batch.py's measured ratios). The defaults are daemon_e2e's quiet
engine figures (balanced: a partial 0.43 s of engine CPU, an early final 0.33 s for ~3 s of
audio). CPU is shared as processor sharing: each stream's capture and VAD take
``--stream-cores`` (0.052: daemon_e2e's CPU by role), the supervisor 0.03, and the busy workers
split what is left of ``--cores``, at most one core each. No processes: what it shows is the
policy alone, the same on any machine, so configurations compare exactly:

- ``busy_share``: the workers' busy time / (W x wall time);
- ``partials_per_stream_s``: partial requests sent per stream per second of speech, and the
  longest wait of a speaking stream between two of them (``partial_gap_max_s``: commits while
  speaking need partials, so a stream must not be starved of them);
- ``final_wait_p95_s``: a segment's end -> its final request sent to a worker; ``final_p95_s``:
  its end -> its final published; ``preemptions``: partials cut short for finals.

Streams speak in turn-taking dictation: ``--speech-s`` of speech, ``--pause-s`` of silence,
each stream's phase shifted. ``--max-batch``, ``--aligns`` and ``--graces`` compare
``asr.max_batch``, ``streams.partial_align`` and the scheduler's pre-emption grace. Last line
JSON: per configuration and N, those figures.

    .venv/bin/python bench/stream_sim.py --levels 1,2,4,6,8 --shares 1.0,0.75
    .venv/bin/python bench/stream_sim.py --levels 4,6,8 --shares 0.75 --max-batch 2 --aligns 0,0.5
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.chunking import ChunkingOptions  # noqa: E402
from pipeline.messages.speech import SpeechEnded, SpeechOngoing, SpeechStarted  # noqa: E402
from pipeline.messages.transcripts import TranscriptFinal  # noqa: E402
from pipeline.messages.work import (  # noqa: E402
    CANCELLED,
    CancelRequest,
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.scheduling import SchedulerOptions, SegmentScheduler  # noqa: E402
from pipeline.scheduling.commit_policy import CommitOptions  # noqa: E402
from pipeline.scheduling.flights import flight_key  # noqa: E402
from pipeline.scheduling.options import SharingOptions  # noqa: E402
from pipeline.scheduling.scheduler import OVERDUE_PARTIAL_INTERVALS  # noqa: E402
from pipeline.words import Word  # noqa: E402

SR = 16_000
STEP_S = 0.01
ONGOING_S = 0.5  # SpeechOngoing cadence (vad.partial_interval_s is 1 s; events come more often)
CANCEL_S = 0.05  # a cancelled partial stops this long after the cancel
# CPU of a batch of B requests / the same requests alone (bench/encoder_batch.py, numpy, 1 BLAS
# thread, whole requests: partials of 6-14 s 0.82x in pairs, 0.75-0.78x in threes; 20-25 s
# windows 0.86-0.91x in pairs, 0.77-0.80x in threes); beyond 4 the ratio of 4
BATCH_COST_RATIO = {1: 1.0, 2: 0.82, 3: 0.77, 4: 0.75}


@dataclass
class SimSettings:
    streams: int
    workers: int = 2
    share: float = 1.0
    seconds: float = 60.0
    speech_s: float = 4.0
    pause_s: float = 1.5
    partial_s: float = 0.43
    final_s: float = 0.2
    final_per_audio_s: float = 0.04
    cores: float = 2.0
    stream_cores: float = 0.052  # each stream's capture + VAD (daemon_e2e, cpu_s_by_role)
    supervisor_cores: float = 0.03
    commit: bool = True  # commit while speaking (the daemon's request mode), else finals only
    shed: bool = False  # every partial shed (the adaptation's first level)
    max_batch: int = 1  # asr.max_batch
    partial_align: float = 0.0  # streams.partial_align
    preempt_grace_s: float = 0.0  # SegmentScheduler.preempt_grace_s
    reserve_for_finals: int = 0  # SegmentScheduler.reserve_for_finals
    # every this many partials one takes slow_partial_s instead (a short window's suspect result
    # decoded again on the finals' and the full window; 0: none)
    slow_partial_every: int = 0
    slow_partial_s: float = 1.4
    overdue: float = OVERDUE_PARTIAL_INTERVALS  # SegmentScheduler.overdue_partial_intervals
    sharing: SharingOptions = field(default_factory=SharingOptions)  # streams keys (sentence_ends)


@dataclass
class Busy:
    request: Any
    left_s: float  # engine seconds of work left (at full speed)
    cancelled: bool = False


@dataclass
class Figures:
    busy_s: float = 0.0
    partial_sends: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    ends: dict[tuple[str, int], float] = field(default_factory=dict)
    final_sent: dict[tuple[str, int], float] = field(default_factory=dict)
    final_done: dict[tuple[str, int], float] = field(default_factory=dict)
    word_latency_s: list[float] = field(default_factory=list)  # its end -> its final out


def options(
    commit: bool, max_batch: int = 1, sharing: SharingOptions | None = None
) -> SchedulerOptions:
    """The scheduler's options for the simulation. Commits are agreement-only
    (``CommitOptions()``), not the daemon's confident single-hypothesis rule: ``answer``'s
    synthetic words all carry one made-up probability, so that rule would commit every word from
    one hypothesis and say nothing about real speech."""
    return SchedulerOptions(
        max_batch=max_batch,
        max_batched_audio_s=30.0,
        commit=CommitOptions() if commit else None,
        backend="whisper",
        model="sim",
        chunking=ChunkingOptions.from_seconds(10.0, 2.0),
        partial_min_audio_samples=1 * SR,
        partial_interval_s=1.0,
        use_prompt=False,
        streaming=False,
        max_attempts=3,
        sharing=sharing if sharing is not None else SharingOptions(),
    )


def answer(request: TranscribeRequest) -> TranscribeResult:
    """Two words a second of the request's audio, each named by its time in the stream (so a
    partial with new audio hears something new, as speech would)."""
    audio_s = (request.end_index - request.start_index) / SR
    words = tuple(
        Word(i * 0.5, i * 0.5 + 0.3, f" w{request.start_index // 8000 + i}", 0.9)
        for i in range(int(audio_s * 2))
    )
    return TranscribeResult(
        request_id=request.request_id,
        stream_id=request.stream_id,
        segment_id=request.segment_id,
        chunk_index=request.chunk_index,
        text="".join(w.text for w in words).strip(),
        words=words,
        audio_s=(request.end_index - request.start_index) / SR,
    )


def cost_s(request: TranscribeRequest, settings: SimSettings, slow: bool = False) -> float:
    if request.is_partial:
        return settings.slow_partial_s if slow else settings.partial_s
    audio_s = (request.end_index - request.start_index) / SR
    return settings.final_s + settings.final_per_audio_s * audio_s


def batch_cost_s(
    requests: tuple[TranscribeRequest, ...], settings: SimSettings, slow: bool = False
) -> float:
    """Engine seconds of a batch: its requests' time alone x the measured batch ratio
    (``slow``: its first partial is a slow one)."""
    ratio = BATCH_COST_RATIO.get(len(requests), BATCH_COST_RATIO[max(BATCH_COST_RATIO)])
    return ratio * sum(cost_s(r, settings, slow and i == 0) for i, r in enumerate(requests))


def simulate(settings: SimSettings) -> dict[str, Any]:
    names = [f"s{i}" for i in range(settings.streams)]
    scheduler = SegmentScheduler(
        options(settings.commit, settings.max_batch, settings.sharing),
        {name: f"ring-{name}" for name in names},
        partial_share=settings.share,
        partial_align=settings.partial_align,
        reserve_for_finals=settings.reserve_for_finals,
    )
    scheduler.preempt_grace_s = settings.preempt_grace_s
    scheduler.overdue_partial_intervals = settings.overdue
    roles = [f"asr-{i + 1}" for i in range(settings.workers)]
    busy: dict[str, Busy] = {}
    figures = Figures(partial_sends={name: [] for name in names})
    period_s = settings.speech_s + settings.pause_s
    segment_ids = dict.fromkeys(names, -1)
    last_phase_s = dict.fromkeys(names, period_s)
    speaking_s = dict.fromkeys(names, 0.0)
    steps = int(settings.seconds / STEP_S)
    background = settings.stream_cores * settings.streams + settings.supervisor_cores
    partials_sent = slow_sent = 0  # slow ones: one per slow_partial_every partials sent
    for step in range(steps + 1):
        now_s = step * STEP_S
        for i, name in enumerate(names):  # VAD events
            phase_s = (now_s + i * period_s / settings.streams) % period_s
            audio_index = round(now_s * SR)
            segment_id = segment_ids[name]
            wrapped = phase_s < last_phase_s[name]  # a new period: speech starts
            last_phase_s[name] = phase_s
            if wrapped and phase_s < settings.speech_s:
                segment_ids[name] = segment_id = segment_id + 1
                start = SpeechStarted(name, segment_id, audio_index)
                scheduler.speech_started(start, now_s)
                figures.ends.pop((name, segment_id), None)
                speaking_s[name] = now_s
            elif segment_id >= 0 and (name, segment_id) not in figures.ends:
                start_index = round(speaking_s[name] * SR)
                if phase_s >= settings.speech_s:
                    end = SpeechEnded(name, segment_id, start_index, audio_index)
                    scheduler.speech_ended(end, now_s)
                    figures.ends[(name, segment_id)] = now_s
                elif step % round(ONGOING_S / STEP_S) == 0:
                    scheduler.speech_ongoing(
                        SpeechOngoing(name, segment_id, start_index, audio_index), now_s
                    )
        for role in [r for r, b in busy.items() if b.left_s <= 1e-9]:  # replies
            done = busy.pop(role)
            requests = (
                done.request.requests
                if isinstance(done.request, TranscribeBatch)
                else (done.request,)
            )
            replies = [
                WorkerError(flight_key(request), CANCELLED, "cancelled", False)
                if done.cancelled
                else answer(request)
                for request in requests
            ]
            if isinstance(done.request, TranscribeBatch):  # one answer for the batch, as a worker
                results = tuple(r for r in replies if isinstance(r, TranscribeResult))
                errors = tuple(r for r in replies if isinstance(r, WorkerError))
                replies = [TranscribeBatchResult(done.request.request_id, results, errors)]
            for reply in replies:
                for out in scheduler.on_reply(role, reply, now_s):
                    if isinstance(out, TranscriptFinal):
                        figures.word_latency_s += [now_s - w.end_s for w in out.words]
                        figures.final_done.setdefault((out.stream_id, out.segment_id), now_s)
        idle = [role for role in roles if role not in busy]
        speed = 1.0
        for role, request in scheduler.dispatch(idle, now_s, shed_partials=settings.shed):
            requests = request.requests if isinstance(request, TranscribeBatch) else (request,)
            partials_sent += sum(1 for r in requests if r.is_partial)
            every = settings.slow_partial_every
            slow = bool(every and requests[0].is_partial and partials_sent // every > slow_sent)
            slow_sent += int(slow)
            busy[role] = Busy(request, batch_cost_s(requests, settings, slow))
            for r in requests:
                if r.is_partial:
                    figures.partial_sends[r.stream_id].append((r.segment_id, now_s))
                else:
                    figures.final_sent.setdefault((r.stream_id, r.segment_id), now_s)
        for role, cancel in scheduler.preemptions(now_s):
            assert isinstance(cancel, CancelRequest)
            b = busy[role]
            b.cancelled, b.left_s = True, min(b.left_s, CANCEL_S)
        figures.busy_s += len(busy) * STEP_S
        if busy:
            speed = min(1.0, max(0.0, settings.cores - background) / len(busy))
        for b in busy.values():  # processor sharing: the workers get what the streams leave
            b.left_s -= STEP_S * speed
    return summarise(settings, scheduler, figures)


def p50(values: list[float]) -> float | None:
    return None if not values else round(sorted(values)[len(values) // 2], 3)


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)


def summarise(
    settings: SimSettings, scheduler: SegmentScheduler, figures: Figures
) -> dict[str, Any]:
    waits = [figures.final_sent[k] - e for k, e in figures.ends.items() if k in figures.final_sent]
    finals = [figures.final_done[k] - e for k, e in figures.ends.items() if k in figures.final_done]
    speech_share = settings.speech_s / (settings.speech_s + settings.pause_s)
    gaps = [
        later - earlier
        for sends in figures.partial_sends.values()
        for (segment, earlier), (same, later) in itertools.pairwise(sends)
        if segment == same
    ]
    stats = scheduler.stats()
    sends = sum(len(s) for s in figures.partial_sends.values())
    return {
        "n": settings.streams,
        "share": settings.share,
        "busy_share": round(figures.busy_s / (settings.workers * settings.seconds), 3),
        "partials_per_stream_s": round(
            sends / (settings.streams * settings.seconds * speech_share), 3
        ),
        "partial_gap_p95_s": p95(gaps),
        "partial_gap_max_s": round(max(gaps), 3) if gaps else None,
        "streams_without_partials": sum(1 for s in figures.partial_sends.values() if not s),
        "final_wait_p95_s": p95(waits),
        "final_p95_s": p95(finals),
        "word_latency_p50_s": p50(figures.word_latency_s),
        "word_latency_p95_s": p95(figures.word_latency_s),
        "commits": stats.commits,
        "finals": len(finals),
        "preemptions": stats.partials_preempted,
        "partials_deferred": stats.partials_deferred,
        "partials_aligned": stats.partials_aligned,
        "batches": stats.batches_sent,
        "batched_requests": stats.batched_requests,
        "finals_lost": stats.finals_failed + stats.segments_dropped,
        "max_batch": settings.max_batch,
        "partial_align": settings.partial_align,
        "preempt_grace_s": settings.preempt_grace_s,
        "reserve_for_finals": settings.reserve_for_finals,
        "overdue": settings.overdue,
        "slow_partial_every": settings.slow_partial_every,
        "partials_cut_short": stats.partials_cut_short,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,6,8")
    parser.add_argument("--shares", default="1.0,0.75")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--speech-s", type=float, default=4.0)
    parser.add_argument("--pause-s", type=float, default=1.5)
    parser.add_argument("--partial-s", type=float, default=0.43)
    parser.add_argument("--final-s", type=float, default=0.2)
    parser.add_argument("--final-per-audio-s", type=float, default=0.04)
    parser.add_argument("--cores", type=float, default=2.0)
    parser.add_argument("--stream-cores", type=float, default=0.052)
    parser.add_argument("--no-commit", action="store_true", help="finals only at segment ends")
    parser.add_argument("--shed", action="store_true", help="shed every partial (adaptation)")
    parser.add_argument("--max-batch", default="1", help="asr.max_batch values to compare")
    parser.add_argument("--aligns", default="0.0", help="streams.partial_align values to compare")
    parser.add_argument("--graces", default="0.0", help="pre-emption grace values to compare")
    parser.add_argument("--reserves", default="0", help="workers kept for finals, to compare")
    parser.add_argument(
        "--overdues",
        default=str(OVERDUE_PARTIAL_INTERVALS),
        help="partial intervals after which a partial no longer holds the reserve, to compare "
        "(0: it always does)",
    )
    parser.add_argument(
        "--slow-partial-every", type=int, default=0, help="one partial in this many is slow"
    )
    parser.add_argument("--slow-partial-s", type=float, default=1.4)
    args = parser.parse_args()
    rows = []
    combos = itertools.product(
        (float(s) for s in args.shares.split(",")),
        (int(b) for b in args.max_batch.split(",")),
        (float(a) for a in args.aligns.split(",")),
        (float(g) for g in args.graces.split(",")),
        (int(r) for r in args.reserves.split(",")),
        (float(o) for o in args.overdues.split(",")),
    )
    for share, max_batch, align, grace, reserve, overdue in combos:
        for n in (int(n) for n in args.levels.split(",")):
            row = simulate(
                SimSettings(
                    n,
                    args.workers,
                    share,
                    args.seconds,
                    args.speech_s,
                    args.pause_s,
                    args.partial_s,
                    args.final_s,
                    args.final_per_audio_s,
                    args.cores,
                    args.stream_cores,
                    commit=not args.no_commit,
                    shed=args.shed,
                    max_batch=max_batch,
                    partial_align=align,
                    preempt_grace_s=grace,
                    reserve_for_finals=reserve,
                    slow_partial_every=args.slow_partial_every,
                    slow_partial_s=args.slow_partial_s,
                    overdue=overdue,
                )
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"simulated": rows, "settings": vars(args)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

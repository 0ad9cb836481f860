"""Commit latency: how soon words said in continuous speech are final at a subscriber.

Runs the real daemon (``run.py daemon``, file source, realtime pace by default) on a dev file
with reference utterance times (default ``monologue_dev.wav``: continuous speech, pauses of at
most 0.15 s), subscribes like a user's program, and for each reference utterance measures

    latency = when the final holding the utterance's last word reached the subscriber
              - when that word was spoken (stream origin + the utterance's end time)

The final holding a reference word is found by aligning the reference words with the words of
the finals in seq order (``difflib`` on normalized words); a last word the model missed counts
by the next reference word it did get. The stream origin (wall time of stream second 0) comes
from polling the daemon's status (``ring.write_s``). Then the finals' concatenated text is
scored against the reference and against one offline long-form pass of the same model.

Prints per-utterance rows, then one JSON line with ``latency_continuous_p50_ms``,
``latency_continuous_p95_ms``, ``finals`` (count), ``commits`` (scheduler counter),
``wer_stream``, ``wer_offline``, ``wer_stream_minus_offline`` and the number of words, and
with ``--simulate`` the engine CPU per audio second and ``cpu_overhead_ratio`` (the simulated
daemon's engine CPU / one offline pass's, both on one BLAS thread), the finals' own latency
(``latency_p50_ms``/``latency_p95_ms``: the end-of-speech audio -> each segment's closing
final, parts committed while speech went on left out, as ``bench/daemon_e2e.py`` counts it), the first partial of each segment after its speech started
(``latency_first_partial_p50_ms``, as ``bench/daemon_e2e.py`` counts it) and the partials
pre-empted by final work.

``--cost-model``: each request takes the engine time its work implies (encoder frames and
decoded tokens times fixed costs) instead of the CPU time it took here, so the simulated
schedule, and with it the text and WER, is the same however loaded the machine is: two settings
compare side by side even on a busy machine. Partials are answered as the worker's
transcription service does (a short window that gives nothing is dropped, not decoded again).

Pre-emption in the simulation: a partial cancelled while it runs (``scheduler.preemptions``)
answers at its next checkpoint, one of the encoder's blocks or the decoder's steps of its CPU
time (the split of its measured encoder and decoder time), and is charged only up to there.

``--hypotheses FILE`` (with ``--simulate``): every request the worker ran, one JSON object a
line (``hypothesis_entry``): its kind, the audio it heard, its words with their times and
probabilities. ``--why`` names why a sentence's last word waited; this shows the words the
hypotheses disagreed on. On continuous.wav (balanced, default cost model) the 9 of 57 sentences
over 3 s waited on words tiny.en was unsure of and said differently 1 s apart ("the mortgage
which is off." / "the morning is witching off." for "the body switches off.", "time zones" /
"time loans", "Remind" / "dreaming" / "reamings"), mostly at probabilities of 0.1-0.5.

Usage: .venv/bin/python bench/commit_latency.py [--file NAME] [--pace realtime|fast]
       [--workers N] [--no-offline] [--set KEY=VALUE ...]
       [--simulate [--commit FIELD=VALUE] [--cost-model [PER_FRAME_S,PER_TOKEN_S]]
       [--why [LIMIT_S]] [--hypotheses FILE]] [--keep TEXTS_PATH]
A profile: ``--set profile=low-latency``. ``--file`` also takes the dev set's names
(``dictation.wav``, ``continuous.wav``: the synthetic files; ``jfk.flac``; see ``resolve_file``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e_parts.commit_trace import CommitTrace, explain, tabulate
from pipeline.backends.whisper.audio_context import encoder_frames_computed
from pipeline.text_metrics import normalize_word, word_error_rate
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR

POLL_S = 0.05  # subscriber and status polling period
TRACE = bool(os.environ.get("COMMIT_LATENCY_TRACE"))  # simulate: print every request
RUN_TIMEOUT_S = 300.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_daemon(
    path: Path, pace: str, workers: int, settings: list[str], log_path: Path | None = None
) -> dict[str, Any]:
    import zmq

    from pipeline.bus import new_context, open_socket, receive_message
    from pipeline.messages import TranscriptFinal

    extra = [item for setting in settings for item in ("--set", setting)]
    run = DaemonRun(
        "--source", f"file:{path}", "--pace", pace, "--workers", str(workers), *extra, instance="c"
    ).start()
    context = new_context()
    subscriber = open_socket(
        context,
        zmq.SUB,
        run.endpoint("transcript"),
        bind=False,
        subscribe=(TranscriptFinal.kind.encode(),),
    )
    arrivals: dict[int, float] = {}
    origins: list[float] = []
    last_status: dict[str, Any] | None = None
    started_s = time.monotonic()
    try:
        assert run.process is not None
        while run.process.poll() is None:
            if time.monotonic() - started_s > RUN_TIMEOUT_S:
                raise SystemExit(f"daemon still running after {RUN_TIMEOUT_S} s")
            while (received := receive_message(subscriber, timeout_ms=0)) is not None:
                message = received.message
                if isinstance(message, TranscriptFinal) and message.seq not in arrivals:
                    arrivals[message.seq] = time.time()
            status = run.status(timeout_s=2.0)
            if status is not None:
                last_status = status
                origin = origin_estimate(time.time(), status)
                if origin is not None:
                    origins.append(origin)
            time.sleep(POLL_S)
        exit_code = run.wait(30)
        if exit_code != 0:
            raise SystemExit(f"daemon exited {exit_code}; log:\n{run.log()[-3000:]}")
        finals = run.journal()  # journal records (dicts), seq order
        if log_path is not None:
            log_path.write_text(run.log())
    finally:
        subscriber.close(linger=0)
        context.term()
        run.close()
    shutil.rmtree(run.runtime_dir, ignore_errors=True)
    return {
        "finals": finals,
        "arrivals": arrivals,
        "origin_unix_s": min(origins) if origins else None,
        "status": last_status,
    }


def origin_estimate(replied_unix_s: float, status: dict[str, Any]) -> float | None:
    """Stream second 0 in wall time from one status reply (received at ``replied_unix_s``):
    at least ``replied_unix_s - write_s``, as the capture writes a block once its time has
    come (the smallest over a run is the estimate, as in ``bench/e2e_parts/runner.py``). None
    before the first block (``write_s`` 0: a poll during start-up would put the origin at the
    poll, seconds early) and after the end of the stream (the ring no longer moves)."""
    ring = status.get("ring", {})
    write_s = ring.get("write_s", 0.0)
    if write_s <= 0 or ring.get("ended"):
        return None
    return replied_unix_s - write_s


def utterance_latencies_ms(
    utterances: list[dict[str, Any]], finals: list, arrivals: dict[int, float], origin: float
) -> list[tuple[str, float | None]]:
    """(utterance text, latency ms or None) for each reference utterance."""
    ref_words: list[str] = []
    last_index: list[int] = []  # index of each utterance's last word in ref_words
    for utterance in utterances:
        ref_words += [w for w in (normalize_word(t) for t in utterance["text"].split()) if w]
        last_index.append(len(ref_words) - 1)
    hyp_words: list[str] = []
    hyp_seq: list[int] = []
    for final in finals:
        for word in final["words"]:
            norm = normalize_word(word["text"])
            if norm:
                hyp_words.append(norm)
                hyp_seq.append(final["seq"])
    matched: dict[int, int] = {}  # reference index -> seq of the final holding it
    matcher = difflib.SequenceMatcher(a=ref_words, b=hyp_words, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            matched[block.a + k] = hyp_seq[block.b + k]
    rows: list[tuple[str, float | None]] = []
    for utterance, index in zip(utterances, last_index, strict=True):
        seq = next((matched[i] for i in range(index, len(ref_words)) if i in matched), None)
        if seq is None:  # nothing matched after it: the last word of the utterance it got
            first = index - len(utterance["text"].split()) + 1
            seq = next((matched[i] for i in range(index, first - 1, -1) if i in matched), None)
        if seq is None or seq not in arrivals:
            rows.append((utterance["text"], None))
            continue
        spoken_unix_s = origin + utterance["end"]
        rows.append((utterance["text"], (arrivals[seq] - spoken_unix_s) * 1000.0))
    return rows


def load_audio(path: Path):
    """Mono float32 at 16 kHz (other rates resampled, as ``bench/daemon_e2e.py`` does)."""
    from bench.e2e_parts.offline import load_audio as load_16k

    return load_16k(path)


def resolve_file(name: str) -> tuple[Path, Path]:
    """(audio, reference JSON) of ``--file``: a shared recording with its JSON beside it, or a
    dev-set file by name (``bench/make_devset.py``'s full scale, built when missing), e.g.
    ``dictation.wav`` (the synthetic dictation) or ``jfk.flac``."""
    path = DATA_DIR / name
    if path.exists() and path.with_suffix(".json").exists():
        return path, path.with_suffix(".json")
    from bench.devset.build import DEFAULT_SEED, devset_dir, ensure_devset, file_paths

    manifest = ensure_devset(DEFAULT_SEED, "full")
    for entry in manifest["files"]:
        if entry["name"] == Path(name).name:
            return file_paths(entry, devset_dir(DEFAULT_SEED, "full"))
    known = [entry["name"] for entry in manifest["files"]]
    raise SystemExit(f"--file {name}: not in {DATA_DIR} with a JSON, nor in the dev set {known}")


ENCODER_BLOCKS = 4  # tiny.en: checkpoints between encoder blocks (cancellation)


def cancel_point_s(
    started_s: float,
    cpu_s: float,
    details: dict[str, float],
    at_s: float,
    cost_model: tuple[float, float] | None = None,
) -> float:
    """When a request computed from ``started_s`` for ``cpu_s`` stops if cancelled at ``at_s``:
    its next checkpoint (the encoder's blocks, then the decoder's steps). The encoder's share
    is the cost model's for its frames when ``cost_model`` is given (a schedule that does not
    depend on the clock), else the measured encode / decode split in ``details``: with the
    measured split, two simulations of the same file forked at a cancelled partial and ended
    1.3 WER points apart on continuous.wav."""
    if cost_model is not None:
        frames = encoder_frames_computed(details) + details.get("audio_ctx_retry_frames", 0.0)
        encoder_cpu_s = min(cpu_s, cost_model[0] * frames)
    else:
        encode_s, decode_s = details.get("encode_s", 0.0), details.get("decode_s", 0.0)
        total_s = encode_s + decode_s
        encoder_cpu_s = cpu_s * encode_s / total_s if total_s > 0 else 0.0
    steps = int(details.get("tokens", 0.0)) + 1
    points = [started_s + encoder_cpu_s * (i + 1) / ENCODER_BLOCKS for i in range(ENCODER_BLOCKS)]
    decoder_cpu_s = cpu_s - encoder_cpu_s
    points += [started_s + encoder_cpu_s + decoder_cpu_s * i / steps for i in range(1, steps)]
    return next((point for point in points if point >= at_s), started_s + cpu_s)


def modeled_cpu_s(cost_model: tuple[float, float], details: dict[str, float]) -> float:
    """A request's engine time from what it computed, not from the clock: encoder frames times
    the first of ``cost_model`` plus decoded tokens (and one step) times the second; a second
    pass over the full window (a short window's suspect answer) adds its first pass again."""
    per_frame_s, per_token_s = cost_model
    cost_s = per_frame_s * encoder_frames_computed(details)
    # a drafted search (whisper/drafted_greedy.py): its decoder passes, each draft token fed a
    # fraction of a pass more (the rows of one pass share the weights' reads)
    steps = details.get("decoder_steps", details.get("tokens", 0.0))
    cost_s += per_token_s * (steps + 1 + DRAFT_ROW_COST * details.get("draft_fed", 0.0))
    if "audio_ctx_retry_frames" in details:  # what the passes before the last computed
        cost_s += per_frame_s * details["audio_ctx_retry_frames"]
        cost_s += per_token_s * details.get("audio_ctx_retry_tokens", MAX_TOKENS_GUESS)
    elif "audio_ctx_retry_s" in details:
        cost_s += per_frame_s * AUDIO_CTX_SHORT_FRAMES + per_token_s * MAX_TOKENS_GUESS
    return cost_s


AUDIO_CTX_SHORT_FRAMES = 500  # the short encoder window's least frames (10 s)
MAX_TOKENS_GUESS = 10  # decode steps charged for a retried request's first pass
# one more token in a decoder pass, in single-token passes: tiny.en on these 2 cores, one BLAS
# thread, 450 encoder frames, a pass of 1 / 8 / 16 tokens took 16 / 34 / 58 ms (2026-12-02)
DRAFT_ROW_COST = 0.18
# s per encoder frame, s per token: quiet 2-core figures; a token 0.64x float32's with the int8
# vocabulary projection (asr.projection_bits 8, the default: 46 partial-sized requests fitted on
# an Intel Xeon, 0.0107 -> 0.0069 s a token); float32's: --cost-model 0.00046,0.009
COST_MODEL_DEFAULT = (0.00046, 0.0058)


def simulate(
    path: Path,
    settings: list[str],
    commit: dict[str, float],
    preempt_partials: bool = True,
    cost_model: tuple[float, float] | None = None,
    trace: CommitTrace | None = None,
    pause_hint_ms: float = 0.0,
    hypotheses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The daemon's scheduling on a virtual clock: the real VAD, scheduler and model in this
    process, audio arriving at realtime pace, one worker whose every request takes the CPU time
    the model spent on it (one BLAS thread), so the figures do not depend on other load.
    ``trace``: records requests, partial answers and segment ends (``--why``).
    ``pause_hint_ms`` > 0: once the VAD has seen that much silence inside a segment (shorter
    than its pause), the scheduler's commit work hears of it (``short_pause``; it acts only
    with ``--commit short_pause_partial=1``). The daemon's VAD sends no such event yet: this is
    where the lever is measured before it is wired. ``hypotheses``: gets one entry per request
    the worker ran (``hypothesis_entry``; ``--hypotheses``)."""
    from dataclasses import replace

    from config.loader import load_config
    from pipeline.backend_calls import request_marks, transcribe_one
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.messages import (
        SpeechEnded,
        TranscriptFinal,
        TranscriptPartial,
    )
    from pipeline.messages.work import (
        CANCELLED,
        TranscribeBatch,
        TranscribeBatchResult,
        TranscribeResult,
        WorkerError,
    )
    from pipeline.scheduling import SchedulerOptions, SegmentScheduler
    from pipeline.vad import StreamVad
    from workers.vad import speech_message

    overrides = dict(item.split("=", 1) for item in settings)
    config = load_config(None, cli_overrides=overrides).config
    audio = load_audio(path)
    backend = WhisperBackend("", replace(WhisperOptions.from_config(config.asr), blas_threads=1))
    backend.transcribe(audio[:16_000])  # warm up
    vad = StreamVad.from_config(config.vad)
    options = SchedulerOptions.from_config(config, "whisper", "tiny.en")
    if commit and options.commit is not None:
        options = replace(options, commit=replace(options.commit, **commit))
    if trace is not None:
        trace.install()
    scheduler = SegmentScheduler(options, rings={"main": "sim"})
    from pipeline.vad.state_machine import VadState

    committing = [kind for kind in scheduler._kinds if hasattr(kind, "short_pause")]
    hint_samples = int(pause_hint_ms * 16)
    hinted_from = -1  # the silence a hint went out for (its start index)
    finals: list[dict[str, Any]] = []
    arrivals: dict[int, float] = {}
    partials: list[tuple[float, int, float]] = []  # (published at, segment id, start_s)
    # (done at, role, request, reply, started at, CPU s, details)
    busy: tuple[float, str, Any, Any, float, float, dict[str, float]] | None = None
    engine_cpu_s = 0.0

    def publish(messages: list, now_s: float) -> None:
        for message in messages:
            if isinstance(message, TranscriptFinal):
                arrivals[message.seq] = now_s
                words = [{"text": w.text, "end_s": w.end_s} for w in message.words]
                finals.append({"seq": message.seq, "segment_id": message.segment_id,
                               "start_s": message.start_s,
                               "end_s": message.end_s, "text": message.text, "words": words,
                               "latency_ms": message.latency_ms})  # fmt: skip
            elif isinstance(message, TranscriptPartial):
                partials.append((now_s, message.segment_id, message.start_s))

    def dispatch(now_s: float) -> None:
        nonlocal busy
        if busy is not None:
            preempt(now_s)
            return
        for role, work in scheduler.dispatch(["asr-1"], now_s):
            # a batch (an ended segment's chunks) is decoded one request after another here,
            # answered at once when the last is done; its batching's saving is not modeled
            requests = work.requests if isinstance(work, TranscribeBatch) else (work,)
            replies, work_cpu_s, details = [], 0.0, {}
            for request in requests:
                reply, cpu_s, details = run_one(request, now_s + work_cpu_s)
                replies.append(reply)
                work_cpu_s += cpu_s
            if isinstance(work, TranscribeBatch):
                reply = TranscribeBatchResult(
                    work.request_id,
                    results=tuple(r for r in replies if isinstance(r, TranscribeResult)),
                    errors=tuple(r for r in replies if isinstance(r, WorkerError)),
                )
            busy = (now_s + work_cpu_s, role, work, reply, now_s, work_cpu_s, details)

    def run_one(request: Any, now_s: float) -> tuple[Any, float, dict[str, float]]:
        """One request decoded as the worker would: its reply, CPU s, and result details."""
        nonlocal engine_cpu_s
        piece = audio[request.start_index : request.end_index]
        cpu_s = time.process_time()
        # as the worker's transcription service does: a partial may use a shorter encoder
        # window, and one that gives nothing is dropped instead of decoded again on 30 s
        with request_marks(backend, partial=request.is_partial,
                           early_final=request.early_final, preview=request.preview,
                           draft=request.draft):  # fmt: skip
            result = transcribe_one(backend, piece, request.prompt or None,
                                    request.prefix or None)  # fmt: skip
        cpu_s = time.process_time() - cpu_s
        if cost_model is not None:  # the same schedule whatever else loads the machine
            cpu_s = modeled_cpu_s(cost_model, result.details)
        engine_cpu_s += cpu_s
        if hypotheses is not None:
            hypotheses.append(hypothesis_entry(now_s, cpu_s, request, result))
        if trace is not None:
            trace.request(now_s, cpu_s, request)
        if request.is_partial and result.details.get("suspect"):
            reply = WorkerError(request.request_id, "suspect_partial", "gave nothing",
                                retryable=False)  # fmt: skip
        else:
            reply = TranscribeResult(request.request_id, request.stream_id,
                                     request.segment_id, request.chunk_index, result.text,
                                     result.words)  # fmt: skip
        if TRACE:
            print(f"  t={now_s:6.2f} {request.request_id:14} [{request.start_index / 16e3:6.2f},"
                  f" {request.end_index / 16e3:6.2f}) {cpu_s:5.2f} s: {result.text[-60:]}")  # fmt: skip
        return reply, cpu_s, dict(result.details)

    def preempt(now_s: float) -> None:
        nonlocal busy, engine_cpu_s
        for _, cancel in scheduler.preemptions(now_s) if preempt_partials else ():
            if busy is None or busy[2].request_id != cancel.request_id:
                continue
            done_s, role, request, reply, started_s, cpu_s, details = busy
            stop_s = cancel_point_s(started_s, cpu_s, details, now_s, cost_model)
            if stop_s < done_s:  # cut short there; the CPU after it is never spent
                engine_cpu_s -= done_s - stop_s
                reply = WorkerError(request.request_id, CANCELLED, "cancelled")
                busy = (stop_s, role, request, reply, started_s, cpu_s, details)
            if TRACE:
                print(f"  t={now_s:6.2f} cancel {request.request_id}: answers at {stop_s:6.2f}")

    def settle(until_s: float) -> None:
        nonlocal busy
        while busy is not None and busy[0] <= until_s:
            done_s, role, _, reply, *_ = busy
            busy = None
            publish(scheduler.on_reply(role, reply, done_s), done_s)
            dispatch(done_s)

    block = 320  # 20 ms, capture's block
    for position in range(0, audio.size, block):
        now_s = min(position + block, audio.size) / 16_000
        settle(now_s)
        for event in vad.process(audio[position : position + block], position):
            message = speech_message("main", event)
            if trace is not None and isinstance(message, SpeechEnded):
                trace.segment_ends.append((message.segment_id, message.end_index / 16e3,
                                           message.split))  # fmt: skip
            publish(scheduler.speech_event(message, now_s), now_s)
        machine = vad.machine
        if hint_samples and committing and machine.state is VadState.STOPPING:
            pause_index = machine._last_speech_end_index
            if pause_index != hinted_from and vad.next_index - pause_index >= hint_samples:
                hinted_from = pause_index
                for kind in committing:
                    kind.short_pause("main", pause_index, vad.next_index, now_s)
        dispatch(now_s)
    now_s = audio.size / 16_000
    for event in vad.flush(audio.size):
        message = speech_message("main", event)
        publish(scheduler.speech_event(message, now_s), now_s)
    dispatch(now_s)
    while busy is not None:
        settle(busy[0])
    stats = dict(scheduler.stats())
    return {
        "finals": sorted(finals, key=lambda f: f["seq"]),
        "partials": partials,
        "arrivals": arrivals,
        "origin_unix_s": 0.0,
        "status": {"scheduler": stats},
        "engine_cpu_s": engine_cpu_s,
        "audio_s": audio.size / 16_000,
        "short_pauses": sum(kind.short_pauses for kind in committing),
    }


def offline_text(path: Path) -> tuple[str, float]:
    """One offline long-form pass with the default config: (text, CPU s on one BLAS thread)."""
    from dataclasses import replace

    from config.loader import load_config
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.long_form import transcribe_long

    config = load_config(None).config
    options = replace(WhisperOptions.from_config(config.asr), blas_threads=1)
    audio = load_audio(path)
    backend = WhisperBackend("", options)
    backend.transcribe(audio[:16_000])  # warm up, as simulate does
    cpu_s = time.process_time()
    text = transcribe_long(backend, audio).text
    return text, time.process_time() - cpu_s


def hypothesis_entry(now_s: float, cpu_s: float, request: Any, result: Any) -> dict[str, Any]:
    """One request the simulated worker ran, as ``--hypotheses`` writes it: when it went and
    was answered (virtual clock), its kind, the audio it heard (stream seconds), whether the
    worker found it suspect, the prefix forced, the engine's details (why a window was
    decoded again: ``fallback``, ``hit_cap``, ``repeat_stop`` ...), and its words (text,
    start, end in stream seconds, probability). The words every partial heard show why a sentence's last words waited (which words the
    hypotheses disagreed on, and how sure tiny.en was of them), which ``--why`` only names."""
    offset_s = request.start_index / 16e3
    kind = "final"
    if request.is_partial:
        kind = "preview" if request.preview else "partial"
    elif request.early_final:
        kind = "early"
    return {
        "at_s": round(now_s, 3),
        "done_s": round(now_s + cpu_s, 3),
        "kind": kind,
        "heard": [round(offset_s, 3), round(request.end_index / 16e3, 3)],
        "suspect": bool(result.details.get("suspect")),
        # what the encoder read: the answer's window and any short window decoded before it
        "encoder_frames": int(encoder_frames_computed(result.details)
                              + result.details.get("audio_ctx_retry_frames", 0.0)),
        "prefix": request.prefix,  # committed words forced as the decoder's first words
        "details": {key: round(value, 3) for key, value in result.details.items()},
        "words": [
            [w.text, round(w.start_s + offset_s, 3), round(w.end_s + offset_s, 3),
             round(w.probability, 3)]
            for w in result.words
        ],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="monologue_dev.wav")
    parser.add_argument("--pace", default="realtime", choices=("realtime", "fast"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-offline", action="store_true", help="skip the offline WER pass")
    parser.add_argument("--set", action="append", default=[], dest="settings")
    parser.add_argument("--log", type=Path, help="write the daemon's log here")
    parser.add_argument("--keep", type=Path, help="write the streamed and offline texts here")
    parser.add_argument(
        "--commit", action="append", default=[], help="simulate: CommitOptions FIELD=VALUE"
    )
    parser.add_argument(
        "--simulate", action="store_true", help="virtual clock in this process (see simulate)"
    )
    parser.add_argument(
        "--why",
        type=float,
        nargs="?",
        const=3.0,
        metavar="LIMIT_S",
        help="simulate: say why each sentence whose last word waited over LIMIT_S (default "
        "%(const)s) waited, and tabulate the causes (bench/e2e_parts/commit_trace.py)",
    )
    parser.add_argument(
        "--no-preempt", action="store_true", help="simulate: partials are never cancelled"
    )
    parser.add_argument(
        "--cost-model",
        nargs="?",
        const=",".join(str(v) for v in COST_MODEL_DEFAULT),
        help="simulate: each request takes PER_FRAME_S*encoder frames + PER_TOKEN_S*(tokens+1) "
        "(default %(const)s) instead of its measured CPU time: a schedule independent of load",
    )
    parser.add_argument(
        "--pause-hint-ms",
        type=float,
        default=80.0,
        help="simulate: silence inside a segment after which the commit work hears of a short "
        "pause (acts with --commit short_pause_partial=1; default %(default)s)",
    )
    parser.add_argument(
        "--hypotheses",
        type=Path,
        help="simulate: write every request the worker ran (its kind, the audio it heard, its "
        "words with their times and probabilities) here, one JSON object a line",
    )
    args = parser.parse_args(argv)
    path, reference_path = resolve_file(args.file)
    reference = json.loads(reference_path.read_text())
    reference.setdefault("utterances", [])  # jfk.flac: text only, no latency
    trace = None
    hypotheses: list[dict[str, Any]] | None = [] if args.hypotheses else None
    if args.simulate:
        commit = dict(item.split("=", 1) for item in args.commit)
        cost_model = None
        if args.cost_model:
            per_frame_s, per_token_s = (float(v) for v in args.cost_model.split(","))
            cost_model = (per_frame_s, per_token_s)
        trace = CommitTrace() if args.why is not None else None
        result = simulate(
            path,
            args.settings,
            {k: _number(v) for k, v in commit.items()},
            not args.no_preempt,
            cost_model,
            trace,
            args.pause_hint_ms,
            hypotheses,
        )
        if args.hypotheses and hypotheses is not None:
            args.hypotheses.write_text("".join(json.dumps(h) + "\n" for h in hypotheses))
    else:
        result = run_daemon(path, args.pace, args.workers, args.settings, args.log)
    print(f"{len(result['arrivals'])} finals received live")
    finals, origin = result["finals"], result["origin_unix_s"]
    for f in finals:
        print(f"final seq {f['seq']} [{f['start_s']:6.2f}, {f['end_s']:6.2f}) {f['text']}")
    latencies: list[float] = []
    reason = None
    if (args.pace != "realtime" and not args.simulate) or origin is None:
        reason = "latency needs a realtime run with a status answer"
    elif not reference["utterances"] or not all("end" in u for u in reference["utterances"]):
        reason = f"{args.file}: the reference has no utterance times"
    else:
        rows = utterance_latencies_ms(reference["utterances"], finals, result["arrivals"], origin)
        for text, latency in rows:
            shown = "missed" if latency is None else f"{latency:7.0f} ms"
            print(f"{shown}  {text[:70]}")
        latencies = [latency for _, latency in rows if latency is not None]
        if args.simulate and trace is not None:
            waited = explain(reference["utterances"], finals, result["arrivals"], trace, args.why)
            print(tabulate(waited))
    text = " ".join(f["text"] for f in finals if f["text"])
    wer_stream = word_error_rate(reference["text"], text)
    offline, offline_cpu_s = (None, None) if args.no_offline else offline_text(path)
    wer_offline = None if offline is None else word_error_rate(reference["text"], offline)
    if args.keep is not None:
        args.keep.write_text(f"STREAMED\n{text}\n\nOFFLINE\n{offline}\n")
    engine_cpu_s = result.get("engine_cpu_s")
    audio_s = result.get("audio_s") or reference_duration_s(path)
    stats = (result["status"] or {}).get("scheduler", {})
    decided = None
    if origin is not None and all("segment_id" in f for f in finals):
        from bench.e2e_parts.latency import decision_latencies

        decided = decision_latencies(finals, result["arrivals"], origin)
    own_ms = decided.values_ms if decided is not None else []
    first_partial_ms = []
    if (
        "partials" in result
        and reference["utterances"]
        and all("end" in u for u in reference["utterances"])
    ):
        from bench.e2e_parts.latency import first_partial_latencies, load_utterances

        utterances = load_utterances(reference_path)
        first_partial_ms = first_partial_latencies(utterances, result["partials"], 0.0)
    summary = {
        "file": args.file,
        "pace": "simulated realtime, 1 worker, 1 BLAS thread" if args.simulate else args.pace,
        "words": len(reference["text"].split()),
        "latency_continuous_p50_ms": _round(percentile(latencies, 0.5)),
        "latency_continuous_p95_ms": _round(percentile(latencies, 0.95)),
        "latency_reason": reason,
        "utterances_measured": len(latencies),
        "finals": len(finals),
        "commits": stats.get("commits"),
        "short_pauses": result.get("short_pauses"),
        "confident_commits": stats.get("confident_commits"),
        "early_finals_used": stats.get("early_finals_used"),
        "early_finals_wasted": stats.get("early_finals_wasted"),
        "partials_preempted": stats.get("partials_preempted"),
        "partials_cut_short": stats.get("partials_cut_short"),
        # end-of-speech audio -> the segment's closing final (parts left out; daemon_e2e's)
        "latency_p50_ms": _round(percentile(own_ms, 0.5)),
        "latency_p95_ms": _round(percentile(own_ms, 0.95)),
        "latency_reason_decision": None if own_ms else "no segment-closing final measured",
        "finals_ready_at_decision": None if decided is None else decided.ready_at_decision,
        "latency_first_partial_p50_ms": _round(percentile(first_partial_ms, 0.5)),
        "first_partials": len(first_partial_ms),
        "engine_cpu_per_audio_s": (
            round(engine_cpu_s / audio_s, 3) if engine_cpu_s is not None else None
        ),
        "offline_cpu_per_audio_s": (
            None if offline_cpu_s is None else round(offline_cpu_s / audio_s, 3)
        ),
        # engine CPU of the simulated daemon / the offline pass's (scheduling, VAD not counted)
        "cpu_overhead_ratio": (
            round(engine_cpu_s / offline_cpu_s, 3)
            if engine_cpu_s is not None and offline_cpu_s
            else None
        ),
        "wer_stream": round(wer_stream, 4),
        "wer_offline": None if wer_offline is None else round(wer_offline, 4),
        "wer_stream_minus_offline": (
            None if wer_offline is None else round(wer_stream - wer_offline, 4)
        ),
    }
    print(json.dumps(summary))
    return 0


def reference_duration_s(path: Path) -> float:
    import soundfile

    return float(soundfile.info(str(path)).duration)


def _number(text: str) -> float | int:
    """A ``--commit`` value: an int when it is written as one (counts such as
    ``clause_reach_words``), else a float (1 and 0 also switch the boolean fields)."""
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


if __name__ == "__main__":
    sys.exit(main())

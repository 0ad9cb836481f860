"""Many streams, one daemon: N concurrent real-time file streams (levels 1, 2, 4, 8 or ``--levels``).

One daemon (its first stream an idle push stream) is started; for each N, N streams are opened
with ``stream.open`` (``pace = realtime``), each playing a different clip of the dev set with
exact reference times (``bench/stream_clips.py``: dictation clips, with pauses, and continuous
ones, given out in turn by ``--mix``; the shared recordings without times are not played), run
for ``--seconds`` from the moment the last of them starts writing (``start_delay_s``: open ->
that moment, the start-up of N captures and VADs) and closed (``stream.close`` drains them).

Latency is measured the way ``bench/daemon_e2e.py`` measures it (``bench/e2e_parts/latency``):
per reference utterance (a sentence, in continuous clips), its last word spoken -> the arrival at
a subscriber of the final holding that word (a commit while speaking counts when it carries the
word). "Spoken" is the stream's origin plus the reference end time; the origin (the monotonic
time of the stream's sample 0) comes from the capture's ``AudioTick`` messages (see
``Listener``), not from a status poll. Utterances ending within ``CLOSE_MARGIN_S`` of the close
are left out (the close, not the endpoint, publishes them).

Per N: dictation p50/p95 (the issue's figure), continuous p50/p95 apart, per clip, the finals'
own latency (VAD decision -> publish) and queue wait p95, CPU seconds of the whole daemon tree,
finals lost (segments the VAD started without a final, or a final whose audio was lost or
failed), utterances missed (no final holds them), streams refused (``capacity``), and the
scheduler's counters (partials requested / shed / pre-empted, commits, batches). A level passes
with dictation p95 <= 1.5 s, continuous p95 <= 3 s (issue 10's continuous target), nothing lost
or missed and none refused. The sweep stops after the first N >= 2 that fails, unless
``--all-levels``.

Dictation clips hold sentences said with short pauses too. In the synthetic dictation 7 of 203
sentence ends are followed by 0.20-0.23 s of silence, less than the VAD takes for a pause
(``vad.pause_ms``, 200 ms), so to the daemon that sentence and the next are one utterance: its
last word is final only once a partial commits it while the next sentence is spoken, or at the
segment's end. Clip dictation-01's fifth sentence ("... out of wood and string.", 0.22 s, "The
bakery ...") is one: on the simulated clock, alone, it is final 1.70 s after its last word (the
partial of 18.4 s hears no word after it; the next, at 19.4 s, commits it), and at N >= 2 it
took 3.7-4.1 s when another stream's suspect partial, decoded again on longer windows, held the
one worker partials may use (``OVERDUE_PARTIAL_INTERVALS`` in the scheduler). Traced again on
``bench/stream_replay.py``'s simulated clock (its doc): the partial commit at 18.62 s stops one
word short, at "and", the following hypotheses hear "spring," and the last word is final only
with the next part (2.74 s with two dictation streams, 3.48 s at N = 4; 2.86 s since s8: its
word "spring." is new and unsure in the 18.62 s hypothesis, and the next to agree goes at 20.28
s). At a 0.27 s pause ("... built in 1965.") the early final found no free worker before
speech resumed and was dropped unsent (1.81 s at N = 4, 3.61 s at N = 6): since s8 it is kept
while another stream speaks (``CommitOptions.keep_unsent_early``). A level has few
dictation utterances (about 7 at N = 2, 15 at N = 3-4, 22 at N = 5-6) and its p95 is their
maximum up to 19 of them, the second highest from 20 to 39: that sentence alone decides the
levels N = 3 and 4 (dictation-01 plays from N = 3 with the default ``--mix``).

CPU by role (``cpu_s_by_role``) is read every ``CpuSampler.SAMPLE_S`` during the level, so a
process that ends meanwhile (a worker recycled for memory growth, a restarted VAD) still counts
(``processes_ended`` says which); read only at the start and the end, quiet run streams_q2.log's
N = 6 showed asr 5.8 s of CPU (both workers were recycled 4 s before the close).
``--trace-over S`` prints a ``# late`` line per utterance over S seconds: the final that held
its last word and the other finals of its segment (commits while speaking, their times);
``--log-level DEBUG`` keeps the daemon's sends in its log (verbose: capture and VAD log every
block, which costs CPU at high N).

``--compare NAME:KEY=VALUE;KEY=VALUE`` sweeps again on a daemon of its own per option, and prints
the main figures side by side; ``--compare-batching`` is ``asr.max_batch`` 1 against the config.

Last line JSON: ``max_realtime_streams`` (the highest N below the first failing level),
``per_n`` figures, ``per_stream_cpu_s_per_audio_s`` (at N = 1), ``n2_p95_over_n1``, the clips
played and the files left out for want of reference times (with ``--compare``: those of the
last configuration, and ``configurations`` holding every run).

    .venv/bin/python bench/streams.py --seconds 30 --levels 1,2,4,6,8
    .venv/bin/python bench/streams.py --seconds 20 --levels 4 --compare shed:streams.adapt=false
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e_parts.latency import ArrivedFinal, utterance_latencies  # noqa: E402
from bench.stream_clips import WITHOUT_TIMES, Clip, ClipMaker, clip_manifest  # noqa: E402
from pipeline.bus import new_context, open_socket, receive_message, send_message  # noqa: E402
from pipeline.messages import (  # noqa: E402
    AudioTick,
    ControlError,
    StatusRequest,
    StreamCloseRequest,
    StreamOpenReply,
    StreamOpenRequest,
    TranscriptFinal,
)
from workers.stream_load import LOAD_TAU_S  # noqa: E402

P95_LIMIT_S = 1.5  # the limit, on dictation (speech with pauses)
P95_CONTINUOUS_LIMIT_S = 3.0  # issue 10's continuous-speech target (daemon_e2e)
SETTLED_BUSY_FRACTION = 0.05  # a level starts once the pool's busy average is below this
START_TIMEOUT_S = 60.0  # every stream of a level writes within this, or the level goes on
CLOSE_MARGIN_S = 2.0  # utterances ending this close to the stream's close are left out
CLIP_EXTRA_S = 4.0  # clips run this much past the close (the close, not the file's end, ends them)
COUNTED = (  # scheduler counters reported per level (deltas)
    "requests_sent",
    "partials_requested",
    "partials_shed",
    "partials_deferred",
    "partials_preempted",
    "commits",
    "early_finals_requested",
    "batches_sent",
    "batched_requests",
    "partials_aligned",
)


class Daemon:
    def __init__(self, workers: int, extra: list[str], log_level: str = "INFO") -> None:
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="ssb", dir="/tmp"))
        self.runtime_dir.chmod(0o700)
        print(f"# daemon log: {self.runtime_dir / 'daemon.log'}", flush=True)
        self.log = (self.runtime_dir / "daemon.log").open("ab")
        command = [
            sys.executable,
            str(ROOT / "run.py"),
            "--log-level",
            log_level,
            "daemon",
            "--instance",
            "b",
            "--source",
            "push:s16le:16000",
            "--workers",
            str(workers),
            "--set",
            f"outputs.runtime_dir={self.runtime_dir}",
            *extra,
        ]
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.context = new_context()

    def endpoint(self, name: str) -> str:
        return f"ipc://{self.runtime_dir}/b.{name}"

    def stream_audio_endpoint(self, stream_id: str) -> str:
        """Where a stream's capture publishes its ticks (``workers/stream_set.py``)."""
        return f"ipc://{self.runtime_dir}/b-{stream_id}.audio"

    def request(self, message: Any, timeout_s: float = 10.0) -> Any:
        socket = open_socket(self.context, zmq.REQ, self.endpoint("control"), bind=False)
        try:
            send_message(socket, message)
            received = receive_message(socket, timeout_ms=int(timeout_s * 1000))
            return received.message if received else None
        finally:
            socket.close(linger=0)

    def status(self) -> dict[str, Any]:
        reply = self.request(StatusRequest())
        return dict(reply.status) if reply is not None else {}

    def cpu_s(self) -> float:
        try:
            root = psutil.Process(self.process.pid)
            times = root.cpu_times()  # children_*: children already reaped (closed streams)
            total = times.user + times.system + times.children_user + times.children_system
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
            return total
        except psutil.Error:
            return 0.0

    def cpu_by_pid(self) -> dict[int, tuple[str, float]]:
        """CPU seconds so far of each live process of the daemon, with its kind of role
        (supervisor, asr, capture, vad)."""
        roles = {self.process.pid: "supervisor"}
        for row in self.status().get("processes", []):
            if row.get("pid"):
                roles[row["pid"]] = str(row["role"]).split(":")[0].split("-")[0]
        out = {}
        for pid, role in roles.items():
            with contextlib.suppress(psutil.Error):
                out[pid] = (role, sum(psutil.Process(pid).cpu_times()[:2]))
        return out

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class CpuSampler(threading.Thread):
    """The CPU seconds of each process of the daemon, read every ``SAMPLE_S`` during a level.

    A process that ends during the level (a worker recycled for memory growth, a restarted
    VAD) takes its CPU time with it: read only at the level's start and end, a worker replaced
    near the end counted only its successor's few seconds (streams_q2.log, N = 6: asr 5.8 s of
    CPU against 30.1 s at N = 4, both workers recycled 4 s before the close). Each process's
    last reading is kept, so one that ended is counted up to its last sample (at most
    ``SAMPLE_S`` of its CPU is missed); ``ended`` lists them by role."""

    SAMPLE_S = 0.5

    def __init__(self, daemon: Daemon) -> None:
        super().__init__(daemon=True)
        self._daemon = daemon
        self.first: dict[int, tuple[str, float]] = daemon.cpu_by_pid()
        self.last: dict[int, tuple[str, float]] = dict(self.first)
        self._roles = {pid: role for pid, (role, _) in self.first.items()}
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            time.sleep(self.SAMPLE_S)
            self.sample()

    def sample(self) -> None:
        try:
            root = psutil.Process(self._daemon.process.pid)
            pids = [root.pid] + [c.pid for c in root.children(recursive=True)]
        except psutil.Error:
            return
        if any(pid not in self._roles for pid in pids):  # a new process: ask for its role
            for pid, (role, _) in self._daemon.cpu_by_pid().items():
                self._roles[pid] = role
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                cpu = sum(psutil.Process(pid).cpu_times()[:2])
                self.last[pid] = (self._roles.get(pid, "other"), cpu)

    def by_role(self) -> tuple[dict[str, float], dict[str, int]]:
        """CPU seconds per role since the start, and processes per role that ended meanwhile."""
        self.stopping = True
        self.sample()
        alive = set(psutil.pids())
        used: dict[str, float] = {}
        ended: dict[str, int] = {}
        for pid, (role, cpu) in self.last.items():
            before = self.first.get(pid, (role, 0.0))[1]
            used[role] = round(used.get(role, 0.0) + cpu - before, 1)
            if pid not in alive:
                ended[role] = ended.get(role, 0) + 1
        return used, ended


class Listener(threading.Thread):
    """Finals as they arrive at a subscriber, and each stream's exact start from its ticks.

    A stream's origin (the monotonic time of its sample 0): the capture of a realtime file
    writes a block when its last sample would have been spoken and then publishes an
    ``AudioTick`` with the ring's write index on the stream's audio socket, which this thread
    also subscribes to; ``arrival - write_index / rate`` is at least the origin, and the
    smallest value over the stream's ticks (about 30 a second) is the origin within the
    delivery time of an unqueued tick (a millisecond or so). The monotonic clock is the same
    in every process of the machine."""

    def __init__(self, daemon: Daemon) -> None:
        super().__init__(daemon=True)
        self.finals_socket = open_socket(
            daemon.context, zmq.SUB, daemon.endpoint("transcript"), bind=False
        )
        self.finals_socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.ticks_socket = daemon.context.socket(zmq.SUB)
        self.ticks_socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._to_connect: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.arrived: list[tuple[float, TranscriptFinal]] = []
        self.origin_s: dict[str, float] = {}
        self.ticks: dict[str, int] = {}
        self.stopping = False

    def watch(self, endpoint: str) -> None:
        """Follow the ticks published on ``endpoint`` (connected from this thread)."""
        self._to_connect.put(endpoint)

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.finals_socket, zmq.POLLIN)
        poller.register(self.ticks_socket, zmq.POLLIN)
        while not self.stopping:
            while not self._to_connect.empty():
                self.ticks_socket.connect(self._to_connect.get())
            ready = dict(poller.poll(50))
            if self.ticks_socket in ready:
                self._drain_ticks()
            if self.finals_socket in ready:
                while (received := receive_message(self.finals_socket, timeout_ms=0)) is not None:
                    if isinstance(received.message, TranscriptFinal):
                        self.arrived.append((time.monotonic(), received.message))

    def _drain_ticks(self) -> None:
        while (received := receive_message(self.ticks_socket, timeout_ms=0)) is not None:
            now_s = time.monotonic()
            tick = received.message
            if isinstance(tick, AudioTick) and tick.write_index > 0:
                origin_s = now_s - tick.write_index / (tick.sample_rate_hz or 16000)
                previous = self.origin_s.get(tick.stream_id, origin_s)
                self.origin_s[tick.stream_id] = min(previous, origin_s)
                self.ticks[tick.stream_id] = self.ticks.get(tick.stream_id, 0) + 1


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seconds_or_none(value_ms: float | None) -> float | None:
    return None if value_ms is None else round(value_ms / 1000.0, 3)


def run_level(
    daemon: Daemon, listener: Listener, clips: ClipMaker, n: int, args: argparse.Namespace
) -> dict[str, Any]:
    seconds = args.seconds
    mix = args.mix.split(",")
    cpu_before = daemon.cpu_s()
    sampler = CpuSampler(daemon)
    sampler.start()
    window_start_s = time.monotonic()
    stats_before = daemon.status().get("scheduler", {})
    opened: dict[str, Clip] = {}
    refused: list[str] = []
    for i in range(n):
        clip = clips.clip(mix[i % len(mix)], i // len(mix))
        reply = daemon.request(
            StreamOpenRequest(source=f"file:{clip.path}", pace="realtime", label=clip.path.stem)
        )
        if isinstance(reply, StreamOpenReply):
            opened[reply.stream_id] = clip
            listener.watch(daemon.stream_audio_endpoint(reply.stream_id))
        else:
            refused.append(reply.message if isinstance(reply, ControlError) else str(reply))
    # the level runs ``seconds`` from the moment every stream is writing (a loaded machine
    # starts N captures and VADs slowly; that wait is reported, not counted as speech)
    opened_at_s = time.monotonic()
    start_deadline_s = opened_at_s + START_TIMEOUT_S
    while time.monotonic() < start_deadline_s and any(s not in listener.origin_s for s in opened):
        time.sleep(0.05)
    origins = [listener.origin_s[s] for s in opened if s in listener.origin_s]
    start_delay_s = round(max(origins) - opened_at_s, 2) if origins else None
    time.sleep(seconds)
    # the level's CPU by kind of process, before the close (processes that ended counted too)
    cpu_by_role, ended_by_role = sampler.by_role()
    cpu_window_s = time.monotonic() - window_start_s
    closed_at_s: dict[str, float] = {}
    for stream_id in opened:
        closed_at_s[stream_id] = time.monotonic()
        daemon.request(StreamCloseRequest(stream_id=stream_id))
    settle = time.monotonic() + 60
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < settle:
        rows = {r["stream_id"]: r for r in daemon.status().get("streams", [])}
        if all(rows.get(s, {}).get("state") == "closed" for s in opened):
            break
        time.sleep(0.5)
    time.sleep(0.3)  # the last finals reach the listener
    cpu_s = daemon.cpu_s() - cpu_before
    stats_after = daemon.status().get("scheduler", {})
    by_kind: dict[str, list[float]] = {kind: [] for kind in mix}
    per_clip: list[dict[str, Any]] = []
    lost = missed = 0
    audio_s = 0.0
    final_ms: list[float] = []
    queue_ms: list[float] = []
    for stream_id, clip in opened.items():
        finals = [(t, f) for t, f in listener.arrived if f.stream_id == stream_id]
        lost += sum(1 for _, f in finals if f.status != "ok")
        with_final = {f.segment_id for _, f in finals}
        segments = rows.get(stream_id, {}).get("segments", 0)
        lost += max(0, segments - len(with_final))
        played_s = clips.length_s
        if stream_id in listener.origin_s:
            played_s = min(played_s, closed_at_s[stream_id] - listener.origin_s[stream_id])
        audio_s += played_s
        final_ms += [f.latency_ms for _, f in finals]
        queue_ms += [f.queue_wait_ms for _, f in finals if f.queue_wait_ms is not None]
        origin_s = listener.origin_s.get(stream_id)
        if origin_s is None:
            per_clip.append({"clip": clip.path.stem, "kind": clip.kind, "origin": None})
            continue
        # utterances the close cut (or nearly) are published by the close, not the endpoint
        heard_until_s = played_s - CLOSE_MARGIN_S
        utterances = [u for u in clip.utterances if u.end_s <= heard_until_s]
        arrived = [
            ArrivedFinal(f.seq, f.text, f.start_s, f.end_s, t) for t, f in finals if f.text.strip()
        ]
        results = utterance_latencies(utterances, arrived, origin_s)
        if args.trace_over is not None:
            trace_late(n, clip, stream_id, utterances, results, finals, origin_s, args.trace_over)
        values = [r.latency_ms for r in results if r.latency_ms is not None]
        missed += sum(1 for r in results if r.latency_ms is None)
        by_kind.setdefault(clip.kind, []).extend(values)
        per_clip.append({
            "clip": clip.path.stem,
            "kind": clip.kind,
            "utterances": len(results),
            "p50_s": seconds_or_none(percentile(values, 0.5)),
            "p95_s": seconds_or_none(percentile(values, 0.95)),
            "max_s": seconds_or_none(max(values, default=None)),
        })  # fmt: skip
    dictation = by_kind.get("dictation", [])
    continuous = by_kind.get("continuous", [])
    every = [v for values in by_kind.values() for v in values]
    p95 = seconds_or_none(percentile(dictation, 0.95))
    p95_continuous = seconds_or_none(percentile(continuous, 0.95))
    figures = {
        "n": n,
        "opened": len(opened),
        "refused": len(refused),
        "refusals": refused[:3],
        "finals": sum(1 for _, f in listener.arrived if f.stream_id in opened),
        "utterances": len(every),
        "utterances_missed": missed,
        "latency_p50_s": seconds_or_none(percentile(dictation, 0.5)),
        "latency_p95_s": p95,
        "latency_continuous_p50_s": seconds_or_none(percentile(continuous, 0.5)),
        "latency_continuous_p95_s": p95_continuous,
        "latency_all_p95_s": seconds_or_none(percentile(every, 0.95)),
        "final_latency_p95_ms": percentile(final_ms, 0.95),
        "queue_wait_p95_ms": percentile(queue_ms, 0.95),
        "finals_lost": lost,
        "cpu_s": round(cpu_s, 1),
        "audio_s": round(audio_s, 1),
        "cpu_s_per_audio_s": round(cpu_s / audio_s, 3) if audio_s else None,
        "cpu_s_by_role": cpu_by_role,  # over cpu_window_s (open -> close), in cores: divide
        "cpu_window_s": round(cpu_window_s, 1),
        "processes_ended": ended_by_role,  # by role: recycled or restarted during the level
        **{name: _delta(stats_after, stats_before, name) for name in COUNTED},
        "per_clip": per_clip,
        "start_delay_s": start_delay_s,
        "cores": psutil.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    streams_s = audio_s or None  # stream-seconds played (each stream's audio)
    figures["continuous_sentences"] = len(continuous)
    figures["latency_continuous_mean_s"] = (
        seconds_or_none(sum(continuous) / len(continuous)) if continuous else None
    )
    # what a stream costs at this level (CPU-s per second of one stream's audio): the workers'
    # (asr) and its own capture and VAD; partials sent per stream-second
    figures["worker_cpu_s_per_stream_s"] = (
        round(cpu_by_role.get("asr", 0.0) / streams_s, 3) if streams_s else None
    )
    figures["stream_cpu_s_per_stream_s"] = (
        round((cpu_by_role.get("capture", 0.0) + cpu_by_role.get("vad", 0.0)) / streams_s, 3)
        if streams_s
        else None
    )
    sent = figures.get("partials_requested")
    figures["partials_per_stream_s"] = round(sent / streams_s, 3) if streams_s and sent else None
    clean = bool(opened and not refused and lost == 0 and missed == 0)
    # the issue's own rule: p95 last word -> final <= 1.5 s (dictation), nothing lost
    figures["ok_issue_rule"] = bool(clean and p95 is not None and p95 <= P95_LIMIT_S)
    figures["ok"] = bool(
        clean
        and (p95 is not None or p95_continuous is not None)
        and (p95 is None or p95 <= P95_LIMIT_S)
        and (p95_continuous is None or p95_continuous <= P95_CONTINUOUS_LIMIT_S)
    )
    return figures


def trace_late(
    n: int,
    clip: Clip,
    stream_id: str,
    utterances: list[Any],
    results: list[Any],
    finals: list[tuple[float, TranscriptFinal]],
    origin_s: float,
    over_s: float,
) -> None:
    """One ``# late`` line per utterance whose last word waited over ``over_s`` (or missed):
    the final that held it and the other finals of its segment, in stream seconds: ``at`` its
    arrival, ``decided`` the end-of-speech decision (arrival - the final's own latency; for a
    part committed while speech went on, when it was committed), ``cut`` its end (a part's end
    before its segment's end: a commit while speaking). Read with the daemon's log
    (``--log-level DEBUG``: the scheduler's sends) to see what held it."""

    def row(arrival_s: float, f: TranscriptFinal) -> dict[str, Any]:
        at_s = arrival_s - origin_s
        return {
            "seq": f.seq,
            "segment": f.segment_id,
            "span": [round(f.start_s, 2), round(f.end_s, 2)],
            "at": round(at_s, 2),
            "decided": round(at_s - f.latency_ms / 1000.0, 2),
            "queue_ms": None if f.queue_wait_ms is None else round(f.queue_wait_ms),
            "engine_ms": None if f.engine_ms is None else round(f.engine_ms),
            "text": f.text.strip()[:70],
        }

    by_seq = {f.seq: (t, f) for t, f in finals}
    for result in results:
        if result.latency_ms is not None and result.latency_ms <= over_s * 1000.0:
            continue
        utterance = utterances[result.index]
        held = by_seq.get(result.final_seq)
        segment = held[1].segment_id if held else None
        line = {
            "n": n,
            "clip": clip.path.stem,
            "stream": stream_id,
            "utterance": [round(utterance.start_s, 2), round(utterance.end_s, 2)],
            "text": utterance.text[:70],
            "latency_s": None if result.latency_ms is None else round(result.latency_ms / 1000, 2),
            "method": result.method,
            "final": row(*held) if held else None,
            "segment_finals": [row(t, f) for t, f in finals if f.segment_id == segment],
            # the stream's sample 0 on the wall clock (the daemon log's times)
            "origin_wall": time.strftime(
                "%H:%M:%S", time.localtime(time.time() - time.monotonic() + origin_s)
            )
            + f"{(time.time() - time.monotonic() + origin_s) % 1:.3f}"[1:],
        }
        print("# late " + json.dumps(line), flush=True)


def _delta(after: dict[str, Any], before: dict[str, Any], name: str) -> int | None:
    if name not in after:
        return None
    return int(after[name]) - int(before.get(name, 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="each level runs this long")
    parser.add_argument("--max-n", type=int, default=16)
    parser.add_argument(
        "--levels", default="", help="comma-separated N to run (default: 1, 2, 4, ... --max-n)"
    )
    parser.add_argument(
        "--mix",
        default="dictation,continuous",
        help="kinds of clip given to streams 1, 2, 3, ... in turn (dictation, continuous)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--trace-over",
        type=float,
        default=None,
        metavar="S",
        help="print a '# late' line per utterance whose last word waited over S seconds",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="the daemon's log level (its log: daemon.log in the "
        "runtime directory, printed at the start)",
    )
    parser.add_argument("--set", action="append", default=[], help="daemon config overrides")
    parser.add_argument("--all-levels", action="store_true", help="do not stop at a failure")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[;KEY=VALUE]",
        help="sweep once more per option, each on a daemon of its own with these overrides "
        "(side by side with the plain sweep)",
    )
    parser.add_argument(
        "--compare-batching", action="store_true", help="sweep with batching off, then on"
    )
    parser.add_argument("--batch", type=int, default=0, help="asr.max_batch when on (0: config)")
    args = parser.parse_args()
    if args.levels:
        args.level_list = [int(n) for n in args.levels.split(",")]
    else:
        args.level_list = [n for n in (2**k for k in range(12)) if n <= args.max_n]
    extra = [item for kv in args.set for item in ("--set", kv)]
    configurations: list[tuple[str, list[str]]] = []
    if args.compare_batching:
        on = ["--set", f"asr.max_batch={args.batch}"] if args.batch else []
        configurations = [("batching_off", ["--set", "asr.max_batch=1"]), ("batching_on", on)]
    elif args.compare:
        configurations = [("plain", [])]
        for option in args.compare:
            name, _, settings = option.partition(":")
            configurations.append(
                (name, [x for kv in settings.split(";") if kv for x in ("--set", kv)])
            )
    with tempfile.TemporaryDirectory(prefix="ssclips") as directory:
        clips = ClipMaker(Path(directory), args.seconds + CLIP_EXTRA_S)
        if not configurations:
            print(json.dumps(sweep(args, extra, clips)))
            return 0
        runs = {}
        for name, settings in configurations:
            print(f"# {name}: {' '.join(settings)}", flush=True)
            runs[name] = sweep(args, [*extra, *settings], clips)
    names = list(runs)
    for rows in zip(*(runs[name]["per_n"] for name in names), strict=False):
        line: dict[str, Any] = {"n": rows[0]["n"], "configurations": names}
        for field in SIDE_BY_SIDE:
            line[field] = [row.get(field) for row in rows]
        print(json.dumps(line), flush=True)
    print(json.dumps({**runs[names[-1]], "configurations": runs}))
    return 0


SIDE_BY_SIDE = (
    "latency_p50_s",
    "latency_p95_s",
    "latency_continuous_p95_s",
    "queue_wait_p95_ms",
    "cpu_s_per_audio_s",
    "worker_cpu_s_per_stream_s",
    "stream_cpu_s_per_stream_s",
    "partials_per_stream_s",
    "continuous_sentences",
    "finals_lost",
    "utterances_missed",
    "partials_requested",
    "partials_shed",
    "partials_deferred",
    "commits",
    "partials_preempted",
    "batches_sent",
    "batched_requests",
    "partials_aligned",
    "ok",
    "ok_issue_rule",
    "cpu_s_by_role",
    "refused",
)


def highest_passing(per_n: list[dict[str, Any]], rule: str) -> int:
    """The highest N below the first level failing ``rule`` (0: none passed)."""
    failing = [f["n"] for f in per_n if not f[rule]]
    first_failing = min(failing) if failing else None
    passing = [f["n"] for f in per_n if f[rule]]
    return max((n for n in passing if first_failing is None or n < first_failing), default=0)


def settle(daemon: Daemon, timeout_s: float = 60.0) -> None:
    """Wait until the pool's busy average (which admission reads) has forgotten the last level."""
    deadline = time.monotonic() + timeout_s
    time.sleep(5.0)
    while time.monotonic() < deadline:
        load = daemon.status().get("metrics", {}).get("load", {})
        if load.get("busy_fraction", 0.0) < SETTLED_BUSY_FRACTION:
            return
        time.sleep(1.0)


def wait_ready(daemon: Daemon, workers: int, timeout_s: float = 120.0) -> None:
    """Wait until every worker has loaded the model and the daemon's own idle push stream is
    older than the load's time constant: before that, admission counts that stream as one
    that may speak (a client opening a push stream feeds it at once), so the first level would
    be refused a stream the later ones are not, and its first utterances would wait on the
    model loading."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = daemon.status()
        ready = status.get("metrics", {}).get("load", {}).get("workers_ready", 0)
        uptimes = [row.get("uptime_s", 0.0) for row in status.get("streams", [])]
        if ready >= workers and uptimes and min(uptimes) >= LOAD_TAU_S:
            return
        time.sleep(0.5)


def sweep(args: argparse.Namespace, extra: list[str], clips: ClipMaker) -> dict[str, Any]:
    """The levels on one daemon; the summary (see the module doc)."""
    daemon = Daemon(args.workers, extra, args.log_level)
    per_n: list[dict[str, Any]] = []
    try:
        wait_ready(daemon, args.workers)
        listener = Listener(daemon)
        listener.start()
        for n in args.level_list:
            figures = run_level(daemon, listener, clips, n, args)
            per_n.append(figures)
            print(json.dumps(figures), flush=True)
            if not figures["ok"] and n >= 2 and not args.all_levels:  # N = 2 is always run
                break
            settle(daemon)
        listener.stopping = True
    finally:
        daemon.stop()
    single = next((f for f in per_n if f["n"] == 1), None)
    double = next((f for f in per_n if f["n"] == 2), None)
    ratio = None
    if single and double and single["latency_p95_s"] and double["latency_p95_s"]:
        ratio = round(double["latency_p95_s"] / single["latency_p95_s"], 2)
        ratio_reason = None
    elif not (single and double):
        ratio_reason = "levels 1 and 2 were not both run (--levels)"
    else:
        ratio_reason = "no dictation p95 at level 1 or 2 (no dictation clip in --mix)"
    highest = highest_passing(per_n, "ok")
    mix = args.mix.split(",")
    result = {
        "max_realtime_streams": highest,
        "max_realtime_streams_reason": None
        if highest
        else f"even N = {min(args.level_list)} failed (p95 over its limit, a loss, a missed "
        "utterance or a refusal)",
        "max_realtime_streams_issue_rule": highest_passing(per_n, "ok_issue_rule"),
        "per_n": per_n,
        "per_stream_cpu_s_per_audio_s": single["cpu_s_per_audio_s"] if single else None,
        "per_stream_cpu_s_per_audio_s_reason": None
        if single
        else "level 1 was not run (--levels): a lone stream's CPU is measured there",
        "n2_p95_over_n1": ratio,
        "n2_p95_over_n1_reason": ratio_reason,
        "workers": args.workers,
        "seconds_per_level": args.seconds,
        "levels": args.level_list,
        "mix": mix,
        "clips": clip_manifest(
            [clips.clip(mix[i % len(mix)], i // len(mix)) for i in range(max(args.level_list))]
        ),
        "files_without_reference_times": WITHOUT_TIMES,
        "settings": extra,
        "note": "latency_p95_s: dictation clips (speech with pauses), per reference utterance, "
        "its last word spoken -> the final holding it at a subscriber (bench/e2e_parts/latency); "
        f"continuous clips apart (limit {P95_CONTINUOUS_LIMIT_S} s, per sentence); a level "
        "passes with dictation p95 <= 1.5 s, continuous p95 within its limit, nothing lost or "
        "missed, none refused; max_realtime_streams is the highest N below the first failing "
        "level; max_realtime_streams_issue_rule the same by the issue's own rule (dictation p95 "
        "<= 1.5 s, nothing lost or missed, none refused; continuous latency not limited); "
        "continuous_sentences: how many sentences the continuous p95 is taken over (with few, "
        "it is their maximum: run longer levels for a steadier figure); the machine is shared "
        "(see load_avg_1m)",
    }
    return result


if __name__ == "__main__":
    raise SystemExit(main())

"""Many streams, one daemon: N concurrent real-time file streams (N = 1, 2, 4, 8, ...).

One daemon (its first stream an idle push stream) is started; for each N, N streams are opened
with ``stream.open`` (each a different dev file, ``pace = realtime``; files are reused only
when N exceeds the set), run for ``--seconds`` and closed (``stream.close`` drains them). A
subscriber on the transcript socket stamps each final on arrival.

Per N: p50/p95 of last word -> final (arrival time minus the moment the final's last word was
written to the ring: the stream's start, estimated from its ``written_s`` in ``status``, plus
the word's end time; finals of segments the close cut are left out), CPU seconds of the whole daemon tree, finals lost (segments the VAD
started without a final, or a final whose audio was lost or failed), streams refused
(``capacity``), and the batches of final requests sent (cross-stream batching: several
streams' finals in one encoder call when more wait than workers are free; ``asr.max_batch``).
It stops after the first N >= 2 that fails (p95 > 1.5 s, a loss, or a refusal), unless
``--all-levels``.

``--compare-batching`` runs the whole sweep twice, one daemon each: batching off
(``asr.max_batch=1``) and on (the configured ``asr.max_batch``, or ``--batch``), side by side.

Last line JSON: ``max_realtime_streams`` (the largest N with p95 <= 1.5 s and nothing lost),
``per_n`` figures, ``per_stream_cpu_s_per_audio_s`` (at N = 1), ``n2_p95_over_n1`` (with
``--compare-batching``: those of the batching-on run, and ``batching`` holding both runs).

    .venv/bin/python bench/streams.py --seconds 30 --max-n 8
    .venv/bin/python bench/streams.py --seconds 20 --max-n 4 --compare-batching --all-levels
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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

from pipeline.bus import new_context, open_socket, receive_message, send_message  # noqa: E402
from pipeline.messages import (  # noqa: E402
    ControlError,
    StatusRequest,
    StreamCloseRequest,
    StreamOpenReply,
    StreamOpenRequest,
    TranscriptFinal,
)

DATA = ROOT.parent / "shared" / "data"
P95_LIMIT_S = 1.5
CLOSE_MARGIN_S = 2.0  # finals ending this close to the level's end are left out of latency


def dev_files() -> list[Path]:
    files = sorted(DATA.glob("*.wav")) + sorted(DATA.glob("*.flac"))
    devset = ROOT / ".cache" / "devset"
    if devset.is_dir():
        files += sorted(devset.glob("*.wav"))
    return files


class Daemon:
    def __init__(self, workers: int, extra: list[str]) -> None:
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="ssb", dir="/tmp"))
        self.runtime_dir.chmod(0o700)
        self.log = (self.runtime_dir / "daemon.log").open("ab")
        command = [
            sys.executable,
            str(ROOT / "run.py"),
            "--log-level",
            "INFO",
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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class FinalsListener(threading.Thread):
    def __init__(self, daemon: Daemon) -> None:
        super().__init__(daemon=True)
        self.socket = open_socket(
            daemon.context, zmq.SUB, daemon.endpoint("transcript"), bind=False
        )
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.arrived: list[tuple[float, TranscriptFinal]] = []
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            received = receive_message(self.socket, timeout_ms=100)
            if received is not None and isinstance(received.message, TranscriptFinal):
                self.arrived.append((time.monotonic(), received.message))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_level(daemon: Daemon, listener: FinalsListener, n: int, seconds: float) -> dict[str, Any]:
    files = dev_files()
    cpu_before = daemon.cpu_s()
    batches_before = daemon.status().get("scheduler", {})
    opened: dict[str, Path] = {}
    refused: list[str] = []
    for i in range(n):
        path = files[i % len(files)]
        reply = daemon.request(StreamOpenRequest(source=f"file:{path}", pace="realtime"))
        if isinstance(reply, StreamOpenReply):
            opened[reply.stream_id] = path
        else:
            refused.append(reply.message if isinstance(reply, ControlError) else str(reply))
    starts: dict[str, float] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = {r["stream_id"]: r for r in daemon.status().get("streams", [])}
        now = time.monotonic()
        for stream_id in opened:
            row = rows.get(stream_id)
            if row and row.get("written_s"):
                estimate = now - row["written_s"]
                starts[stream_id] = min(starts.get(stream_id, estimate), estimate)
        time.sleep(0.5)
    for stream_id in opened:
        daemon.request(StreamCloseRequest(stream_id=stream_id))
    settle = time.monotonic() + 60
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < settle:
        rows = {r["stream_id"]: r for r in daemon.status().get("streams", [])}
        if all(rows.get(s, {}).get("state") == "closed" for s in opened):
            break
        time.sleep(0.5)
    cpu_s = daemon.cpu_s() - cpu_before
    batches_after = daemon.status().get("scheduler", {})
    latencies: list[float] = []
    lost = 0
    audio_s = 0.0
    for stream_id in opened:
        finals = [(t, f) for t, f in listener.arrived if f.stream_id == stream_id]
        for arrived_s, final in finals:
            if final.status != "ok":
                lost += 1
            # a segment cut by the close is published by the close, not by the end of speech
            cut_by_close = final.end_s >= seconds - CLOSE_MARGIN_S
            if final.words and stream_id in starts and not cut_by_close:
                latencies.append(arrived_s - (starts[stream_id] + final.words[-1].end_s))
        with_final = {f.segment_id for _, f in finals}
        segments = rows.get(stream_id, {}).get("segments", 0)
        lost += max(0, segments - len(with_final))
        audio_s += min(seconds, rows.get(stream_id, {}).get("uptime_s") or seconds)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    figures = {
        "n": n,
        "opened": len(opened),
        "refused": len(refused),
        "refusals": refused[:3],
        "finals": sum(1 for _, f in listener.arrived if f.stream_id in opened),
        "latency_p50_s": round(p50, 3) if p50 is not None else None,
        "latency_p95_s": round(p95, 3) if p95 is not None else None,
        "finals_lost": lost,
        "cpu_s": round(cpu_s, 1),
        "audio_s": round(audio_s, 1),
        "cpu_s_per_audio_s": round(cpu_s / audio_s, 3) if audio_s else None,
        "batches_sent": _delta(batches_after, batches_before, "batches_sent"),
        "batched_requests": _delta(batches_after, batches_before, "batched_requests"),
        "cores": psutil.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    figures["ok"] = bool(
        p95 is not None and p95 <= P95_LIMIT_S and lost == 0 and not refused and opened
    )
    return figures


def _delta(after: dict[str, Any], before: dict[str, Any], name: str) -> int | None:
    if name not in after:
        return None
    return int(after[name]) - int(before.get(name, 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="each level runs this long")
    parser.add_argument("--max-n", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="daemon config overrides")
    parser.add_argument("--all-levels", action="store_true", help="do not stop at a failure")
    parser.add_argument(
        "--compare-batching", action="store_true", help="sweep with batching off, then on"
    )
    parser.add_argument("--batch", type=int, default=0, help="asr.max_batch when on (0: config)")
    args = parser.parse_args()
    extra = [item for kv in args.set for item in ("--set", kv)]
    if not args.compare_batching:
        print(json.dumps(sweep(args, extra)))
        return 0
    on = ["--set", f"asr.max_batch={args.batch}"] if args.batch else []
    runs = {}
    for name, settings in (("off", ["--set", "asr.max_batch=1"]), ("on", on)):
        print(f"# batching {name}", flush=True)
        runs[name] = sweep(args, [*extra, *settings])
    for row_off, row_on in zip(runs["off"]["per_n"], runs["on"]["per_n"], strict=False):
        print(json.dumps({
            "n": row_on["n"],
            "p50_s_off_on": [row_off["latency_p50_s"], row_on["latency_p50_s"]],
            "p95_s_off_on": [row_off["latency_p95_s"], row_on["latency_p95_s"]],
            "cpu_s_per_audio_s_off_on": [row_off["cpu_s_per_audio_s"], row_on["cpu_s_per_audio_s"]],
            "lost_off_on": [row_off["finals_lost"], row_on["finals_lost"]],
            "batches_on": row_on["batches_sent"],
        }), flush=True)  # fmt: skip
    print(json.dumps({**runs["on"], "batching": runs}))
    return 0


def sweep(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """Levels N = 1, 2, 4, ... on one daemon; the summary (see the module doc)."""
    daemon = Daemon(args.workers, extra)
    per_n: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while not daemon.status().get("streams") and time.monotonic() < deadline:
            time.sleep(0.5)
        listener = FinalsListener(daemon)
        listener.start()
        n = 1
        while n <= args.max_n:
            figures = run_level(daemon, listener, n, args.seconds)
            per_n.append(figures)
            print(json.dumps(figures), flush=True)
            if not figures["ok"] and n >= 2 and not args.all_levels:  # N = 2 is always run
                break
            time.sleep(5.0)  # the load average of the last level decays
            n *= 2
        listener.stopping = True
    finally:
        daemon.stop()
    passing = [f["n"] for f in per_n if f["ok"]]
    single = next((f for f in per_n if f["n"] == 1), None)
    double = next((f for f in per_n if f["n"] == 2), None)
    ratio = None
    if single and double and single["latency_p95_s"] and double["latency_p95_s"]:
        ratio = round(double["latency_p95_s"] / single["latency_p95_s"], 2)
    result = {
        "max_realtime_streams": max(passing) if passing else 0,
        "max_realtime_streams_reason": None
        if passing
        else "even N = 1 failed (p95 over 1.5 s, a loss or a refusal)",
        "per_n": per_n,
        "per_stream_cpu_s_per_audio_s": single["cpu_s_per_audio_s"] if single else None,
        "n2_p95_over_n1": ratio,
        "workers": args.workers,
        "seconds_per_level": args.seconds,
        "settings": extra,
        "note": "levels double (1, 2, 4, 8, ...): the true maximum lies between the last "
        "passing N and the first failing one; the machine is shared (see load_avg_1m)",
    }
    return result


if __name__ == "__main__":
    raise SystemExit(main())

"""Latency the web gateway adds, and concurrent WebSocket clients, on the real daemon.

For each dev file a WebSocket client streams it to ``/v1/stream`` (the gateway runs as its own
``run.py serve`` process) while a ZeroMQ subscriber thread in the bench process takes the
daemon's finals: per final (matched by seq), the time it reached the
WebSocket client minus the time it reached the subscriber is the latency the gateway adds
(targets p50 <= 5 ms, p95 <= 15 ms). Nothing lost: the client's finals are exactly the
subscriber's finals of its stretch of the stream (same seqs).

Concurrent clients: in the default mode every client shares the daemon's ``--source push:``
stream, so a second concurrent client is refused as busy (measured: its close code) and 8 are
null with that reason. With ``--open-streams`` the gateway opens a stream per client
(``stream.open``) and N = ``--clients`` clients stream at once: per N, clients served or
refused (the daemon's capacity answer), finals lost, latency added. Then a ``/v1/listen`` client
sends ``Finalize`` right after its last frame: the time until the ``from_finalize`` final.
Per final, the daemon's end of speech -> final, engine time and queue wait (p50/p95). Last
line: one JSON object.

    .venv/bin/python bench/gateway.py [--files jfk.flac harvard_list72_8k.wav] [--pace fast]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.stream_client import FAST_FRAMES_PER_S, stream
from tests.gateway_harness import GatewayRig, s16le_frames

REALTIME_FRAMES_PER_S = 10.0  # 100 ms frames
ONE_STREAM = "the daemon has one push stream until streams are opened at runtime (stream.open)"


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def run_file(rig: GatewayRig, name: str, frames_per_s: float) -> dict[str, Any]:
    frames = s16le_frames(name)
    before = len(rig.finals)
    started_s = time.monotonic()
    result = asyncio.run(
        stream(f"{rig.gateway.ws}/v1/stream", iter(frames), max_frames_per_s=frames_per_s)
    )
    elapsed_s = time.monotonic() - started_s
    time.sleep(0.5)  # the subscriber thread has every final by now
    zmq = {final.seq: arrived_s for final, arrived_s in rig.finals[before:]}
    ws = {body["seq"]: body["received_at"] for body in result.finals}
    added_ms = [(ws[seq] - zmq[seq]) * 1000.0 for seq in ws if seq in zmq]
    lost = sorted(set(zmq) - set(ws))
    extra = sorted(set(ws) - set(zmq))
    print(
        f"{name}: {len(ws)} finals at the client, {len(zmq)} at the subscriber, lost {lost}, "
        f"gateway adds p50 {percentile(added_ms, 0.5)} ms p95 {percentile(added_ms, 0.95)} ms, "
        f"close {result.close_code}, {elapsed_s:.1f} s for {result.audio_s:.1f} s of audio"
    )
    return {
        "file": name,
        "finals_ws": len(ws),
        "finals_zmq": len(zmq),
        "lost": len(lost),
        "unexpected": len(extra),
        "added_ms": added_ms,
        "close_code": result.close_code,
        # where each final's time went, as the daemon published it (None: an older daemon)
        "times_ms": {
            key: [body[key] for body in result.finals if body.get(key) is not None]
            for key in ("latency_ms", "engine_ms", "queue_wait_ms")
        },
    }


async def finalize_delay(rig: GatewayRig, frames: list[bytes]) -> dict[str, Any]:
    """``/v1/listen`` at speaking pace, then ``Finalize`` right after the last frame (no silence
    follows): the time until the ``from_finalize`` final, and that final's daemon latency."""
    import aiohttp

    url = f"{rig.gateway.ws}/v1/listen?encoding=linear16&sample_rate=16000"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        for frame in frames:
            await ws.send_bytes(frame)
            await asyncio.sleep(1.0 / REALTIME_FRAMES_PER_S)
        sent_s = time.monotonic()
        await ws.send_str(json.dumps({"type": "Finalize"}))
        delay_ms = None
        while delay_ms is None:
            message = await ws.receive(timeout=60)
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            body = json.loads(message.data)
            if body.get("type") == "Results" and body.get("from_finalize"):
                delay_ms = round((time.monotonic() - sent_s) * 1000.0, 1)
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        while (await ws.receive(timeout=120)).type == aiohttp.WSMsgType.TEXT:
            pass
    print(f"Finalize after the last frame -> from_finalize final: {delay_ms} ms")
    return {"finalize_to_final_ms": delay_ms}


async def second_client_close(rig: GatewayRig, frames: list[bytes]) -> tuple[int | None, str]:
    """Two clients at once: the second one's close code and reason."""
    import aiohttp

    url = f"{rig.gateway.ws}/v1/stream"
    start = {"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(url)
        await first.send_json(start)
        await first.receive(timeout=10)
        await first.send_bytes(frames[0])
        async with http.ws_connect(url) as second:
            await second.send_json(start)
            message = await second.receive(timeout=10)
            code, reason = second.close_code, str(message.extra or "")
        await first.send_json({"type": "stop"})
        while (await first.receive(timeout=120)).type == aiohttp.WSMsgType.TEXT:
            pass
    return code, reason


async def concurrent_clients(rig: GatewayRig, names: list[str], frames_per_s: float) -> dict:
    """``len(names)`` clients at once, each on a stream of its own (``--open-streams``)."""
    before = len(rig.finals)
    results = await asyncio.gather(
        *(
            stream(
                f"{rig.gateway.ws}/v1/stream",
                iter(s16le_frames(name)),
                label=f"c{i}",
                max_frames_per_s=frames_per_s,
            )
            for i, name in enumerate(names)
        ),
        return_exceptions=True,
    )
    await asyncio.sleep(0.5)
    by_stream: dict[str, dict[int, float]] = {}
    for final, arrived_s in rig.finals[before:]:
        by_stream.setdefault(final.stream_id, {})[final.seq] = arrived_s
    lost = refused = 0
    added_ms: list[float] = []
    reasons = []
    for result in results:
        if isinstance(result, BaseException) or result.close_code != 1000:
            refused += 1
            reasons.append(
                str(result) if isinstance(result, BaseException) else result.close_reason
            )
            continue
        seqs = {body["seq"]: body["received_at"] for body in result.finals}
        streams = {sid for sid, finals in by_stream.items() if set(seqs) & set(finals)}
        zmq = {seq: at for sid in streams for seq, at in by_stream[sid].items()}
        lost += len(set(zmq) - set(seqs))
        added_ms += [(seqs[q] - zmq[q]) * 1000.0 for q in seqs if q in zmq]
    return {
        "clients": len(names),
        "served": len(names) - refused,
        "refused": refused,
        "refusals": reasons[:3],
        "finals_lost": lost,
        "finals": len(added_ms),
        "added_p50_ms": percentile(added_ms, 0.5),
        "added_p95_ms": percentile(added_ms, 0.95),
    }


def main_open_streams(args: argparse.Namespace, frames_per_s: float) -> int:
    overrides = [part for key_value in args.set for part in ("--set", key_value)]
    rig = GatewayRig(
        None,
        "--set",
        f"streams.max_open={max(args.clients) + 1}",
        *overrides,
        gateway_process=True,
        open_streams=True,
    )
    per_n: dict[str, Any] = {}
    try:
        for n in args.clients:
            names = [args.files[i % len(args.files)] for i in range(n)]
            figures = asyncio.run(concurrent_clients(rig, names, frames_per_s))
            print(f"{n} clients: {figures}")
            per_n[str(n)] = figures
    finally:
        rig.close()
    ok = [int(n) for n, f in per_n.items() if f["refused"] == 0 and f["finals_lost"] == 0]
    print(
        json.dumps(
            {
                "mode": "open_streams",
                "pace": args.pace,
                "files": args.files,
                "settings": args.set,
                "per_n": per_n,
                "max_concurrent_clients_nothing_lost": max(ok) if ok else None,
                "reason": None if ok else "no N had every client served with nothing lost",
            }
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="+", default=["jfk.flac"])
    parser.add_argument("--pace", choices=("realtime", "fast"), default="realtime")
    parser.add_argument(
        "--open-streams",
        action="store_true",
        help="concurrent clients on streams of their own (run.py serve --open-streams)",
    )
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="daemon config override with --open-streams, e.g. streams.admission_max_busy=100 "
        "to measure the gateway with more clients than the daemon's admission lets in",
    )
    args = parser.parse_args()
    frames_per_s = REALTIME_FRAMES_PER_S if args.pace == "realtime" else FAST_FRAMES_PER_S
    if args.open_streams:
        sys.setswitchinterval(0.0005)
        return main_open_streams(args, frames_per_s)
    sys.setswitchinterval(0.0005)  # the subscriber thread stamps arrivals without waiting 5 ms
    rig = GatewayRig(gateway_process=True)  # the gateway in its own process, as in use
    try:
        runs = [run_file(rig, name, frames_per_s) for name in args.files]
        finalized = asyncio.run(finalize_delay(rig, s16le_frames(args.files[0])))
        code, reason = asyncio.run(second_client_close(rig, s16le_frames(args.files[0])))
        print(f"a second concurrent client: closed {code} ({reason})")
    finally:
        rig.close()
    added = [ms for run in runs for ms in run["added_ms"]]
    p50, p95 = percentile(added, 0.5), percentile(added, 0.95)
    lost = sum(run["lost"] for run in runs)
    figures = {
        "gateway_added_latency_p50_ms": p50,
        "gateway_added_latency_p95_ms": p95,
        "finals_compared": len(added),
        "targets_met": None if p50 is None else bool(p50 <= 5 and p95 <= 15),
        "pace": args.pace,
        "files": args.files,
        "finals_lost_single_client": lost,
        "concurrent_clients": {
            "1": {"clients": 1, "finals_lost": lost, "finals": len(added)},
            "2": {"clients": 1, "refused": 1, "close_code": code, "reason": reason},
            "8": None,
        },
        "concurrent_clients_8_reason": ONE_STREAM,
        "max_concurrent_clients_nothing_lost": 1 if lost == 0 else 0,
        "max_concurrent_clients_reason": ONE_STREAM,
    }
    figures.update(finalized)
    if finalized["finalize_to_final_ms"] is None:
        figures["finalize_reason"] = "no from_finalize final reached the client within 60 s"
    for key in ("latency_ms", "engine_ms", "queue_wait_ms"):  # per final, the page's chart
        values = [ms for run in runs for ms in run["times_ms"][key]]
        name = key.removesuffix("_ms")
        figures[f"final_{name}_p50_ms"] = percentile(values, 0.5)
        figures[f"final_{name}_p95_ms"] = percentile(values, 0.95)
        print(f"{key} per final: p50 {percentile(values, 0.5)} p95 {percentile(values, 0.95)}")
    if p50 is None:
        figures["gateway_added_latency_reason"] = (
            "no final reached both the client and the subscriber"
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

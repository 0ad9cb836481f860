"""Benchmark the audio ring and the local ZeroMQ hops the daemon relies on.

Measures, on this machine:

1. ring throughput, one process: write a block, read it back as a copy, repeat (block sizes
   4096..65536 samples) into a default-size ring (120 s at 16 kHz). GB/s counts the audio bytes
   that went through (each written once and read once), and is also given as a multiple of one
   16 kHz float32 stream's real-time rate (64 kB/s);
2. ring throughput, two processes: a writer process and a reader (this process) copying every
   block out, with the writer held to half a ring ahead of the reader;
3. tick latency: an ``AudioTick``-sized message from a PUB process to a SUB process over
   ``ipc://`` (runtime directory of mode 0700), one every 1 ms, stamped with
   ``time.perf_counter_ns`` (CLOCK_MONOTONIC on Linux, mach absolute time on macOS: both are
   system-wide, so stamps compare across processes);
4. request/reply round trip: ROUTER (this process) to a DEALER echo process, one every 1 ms.

Prints readable lines; the last line is one JSON object. Run: ``.venv/bin/python bench/ring_ipc.py``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.ring import AudioRing

REALTIME_BYTES_PER_S = SAMPLE_RATE_HZ * 4  # one 16 kHz float32 stream: 64 kB/s
RING_CAPACITY_SAMPLES = 120 * SAMPLE_RATE_HZ  # the daemon's default ring
BLOCK_SIZES_SAMPLES = (4096, 16384, 65536)
TICK = struct.Struct("=QQ")  # sequence number, perf_counter_ns at send
SPAWN = multiprocessing.get_context("spawn")


def ring_one_process(runtime_dir: str, seconds_per_size: float) -> dict[int, float]:
    """GB/s per block size for write-then-copy-read in one process."""
    results = {}
    with AudioRing.create("bench", RING_CAPACITY_SAMPLES, SAMPLE_RATE_HZ, runtime_dir) as ring:
        reader = AudioRing.attach(ring.name)
        for block_samples in BLOCK_SIZES_SAMPLES:
            block = np.random.default_rng(0).standard_normal(block_samples).astype(np.float32)
            moved_bytes = 0
            started_s = time.perf_counter()
            while (elapsed_s := time.perf_counter() - started_s) < seconds_per_size:
                for _ in range(16):
                    end = ring.write(block)
                    reader.read(end - block_samples, end)
                moved_bytes += 16 * block.nbytes
            results[block_samples] = moved_bytes / elapsed_s / 1e9
        reader.close()
    return results


def _paced_writer(name: str, progress, block_samples: int, block_count: int) -> None:
    ring = AudioRing.attach(name, writable=True)
    block = np.ones(block_samples, np.float32)
    for _ in range(block_count):
        while ring.write_index - progress.value >= RING_CAPACITY_SAMPLES // 2:
            time.sleep(0)
        ring.write(block)
    ring.close()


def ring_two_processes(runtime_dir: str, block_samples: int, block_count: int) -> float:
    """GB/s with the writer in a child process and copy reads in this one."""
    with AudioRing.create("bench2", RING_CAPACITY_SAMPLES, SAMPLE_RATE_HZ, runtime_dir) as ring:
        progress = SPAWN.Value("q", 0, lock=False)
        total = block_samples * block_count
        writer = SPAWN.Process(
            target=_paced_writer, args=(ring.name, progress, block_samples, block_count)
        )
        writer.start()
        read_index = 0
        ring.wait_for(1, timeout_s=30.0)
        started_s = time.perf_counter()
        while read_index < total:
            end = min(ring.wait_for(read_index + 1, timeout_s=10.0), total)
            read_index += ring.read(read_index, end).size
            progress.value = read_index
        elapsed_s = time.perf_counter() - started_s
        writer.join(10)
    return total * 4 / elapsed_s / 1e9


def _tick_publisher(endpoint: str, ready, tick_count: int, interval_s: float) -> None:
    import zmq

    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.bind(endpoint)
    while not ready.is_set():  # slow joiner: warm up until the subscriber hears us
        pub.send_multipart([b"audio", TICK.pack(0, 0)])
        time.sleep(0.01)
    next_s = time.perf_counter()
    for seq in range(1, tick_count + 1):
        next_s += interval_s
        while (wait_s := next_s - time.perf_counter()) > 0:
            time.sleep(wait_s)
        pub.send_multipart([b"audio", TICK.pack(seq, time.perf_counter_ns())])
    pub.send_multipart([b"audio", TICK.pack(2**64 - 1, 0)])
    pub.close(linger=1000)
    context.term()


def tick_latency_ms(endpoint: str, tick_count: int, interval_s: float) -> np.ndarray:
    """float64[n] publisher→subscriber latencies in ms (n ≤ tick_count, losses excluded)."""
    import zmq

    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.subscribe(b"audio")
    sub.connect(endpoint)
    ready = SPAWN.Event()
    publisher = SPAWN.Process(
        target=_tick_publisher, args=(endpoint, ready, tick_count, interval_s)
    )
    publisher.start()
    latencies_ns = []
    while True:
        _topic, payload = sub.recv_multipart()
        received_ns = time.perf_counter_ns()
        seq, sent_ns = TICK.unpack(payload)
        if seq == 0:
            ready.set()
        elif seq == 2**64 - 1:
            break
        else:
            latencies_ns.append(received_ns - sent_ns)
    publisher.join(10)
    sub.close(linger=0)
    context.term()
    return np.array(latencies_ns, np.float64) / 1e6


def _dealer_echo(endpoint: str) -> None:
    import zmq

    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.connect(endpoint)
    dealer.send(b"ready")
    while (message := dealer.recv()) != b"stop":
        dealer.send(message)
    dealer.close(linger=1000)
    context.term()


def round_trip_ms(endpoint: str, request_count: int, interval_s: float) -> np.ndarray:
    """float64[request_count] ROUTER→DEALER→ROUTER round trips in ms."""
    import zmq

    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    echo = SPAWN.Process(target=_dealer_echo, args=(endpoint,))
    echo.start()
    identity, _ = router.recv_multipart()
    round_trips_ns = []
    next_s = time.perf_counter()
    for seq in range(request_count):
        next_s += interval_s
        while (wait_s := next_s - time.perf_counter()) > 0:
            time.sleep(wait_s)
        sent_ns = time.perf_counter_ns()
        router.send_multipart([identity, seq.to_bytes(8, "little") + bytes(56)])
        router.recv_multipart()
        round_trips_ns.append(time.perf_counter_ns() - sent_ns)
    router.send_multipart([identity, b"stop"])
    echo.join(10)
    router.close(linger=0)
    context.term()
    return np.array(round_trips_ns, np.float64) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=3000, help="ticks and requests to send")
    parser.add_argument("--interval-ms", type=float, default=1.0, help="pace of ticks/requests")
    parser.add_argument("--ring-seconds", type=float, default=0.5, help="per block size")
    args = parser.parse_args()
    interval_s = args.interval_ms / 1000

    runtime_dir = tempfile.mkdtemp(prefix="ss-bench-")  # mode 0700
    assert os.stat(runtime_dir).st_mode & 0o777 == 0o700
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, runtime dir {runtime_dir}")

    per_size = ring_one_process(runtime_dir, args.ring_seconds)
    for block_samples, gb_s in per_size.items():
        print(
            f"ring, one process, write+copy-read {block_samples:6d}-sample blocks: {gb_s:6.2f} GB/s"
        )
    ring_gb_s = float(np.median(list(per_size.values())))
    two_process_gb_s = ring_two_processes(runtime_dir, 16384, 4000)
    print(
        f"ring, writer process -> reader process, 16384-sample blocks: {two_process_gb_s:.2f} GB/s"
    )
    realtime_multiple = ring_gb_s * 1e9 / REALTIME_BYTES_PER_S
    print(
        f"ring (median over block sizes, one process): {ring_gb_s:.2f} GB/s "
        f"= {realtime_multiple:,.0f} x one 16 kHz stream's real-time rate"
    )

    ticks = tick_latency_ms(f"ipc://{runtime_dir}/audio", args.ticks, interval_s)
    tick_p50, tick_p99 = np.percentile(ticks, [50, 99])
    print(
        f"tick PUB->SUB over ipc, {ticks.size}/{args.ticks} ticks every {args.interval_ms} ms: "
        f"p50 {tick_p50:.3f} ms, p99 {tick_p99:.3f} ms, max {ticks.max():.3f} ms"
    )
    rtts = round_trip_ms(f"ipc://{runtime_dir}/work", args.ticks, interval_s)
    rtt_p50, rtt_p99 = np.percentile(rtts, [50, 99])
    print(
        f"ROUTER<->DEALER round trip over ipc, {rtts.size} requests: "
        f"p50 {rtt_p50:.3f} ms, p99 {rtt_p99:.3f} ms, max {rtts.max():.3f} ms"
    )
    for leftover in Path(runtime_dir).iterdir():
        leftover.unlink()
    os.rmdir(runtime_dir)

    summary = {
        "ring_gb_s": round(ring_gb_s, 3),
        "ring_gb_s_by_block_samples": {str(k): round(v, 3) for k, v in per_size.items()},
        "ring_two_process_gb_s": round(two_process_gb_s, 3),
        "ring_realtime_multiple": round(realtime_multiple),
        "tick_p50_ms": round(float(tick_p50), 4),
        "tick_p99_ms": round(float(tick_p99), 4),
        "tick_received": int(ticks.size),
        "rtt_p50_ms": round(float(rtt_p50), 4),
        "rtt_p99_ms": round(float(rtt_p99), 4),
        "interval_ms": args.interval_ms,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

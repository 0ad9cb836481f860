"""The VAD's CPU when audio comes at speaking speed, one capture block per wake-up.

``bench/vad.py``'s ``cpu_fraction`` feeds a recording through ``StreamVad`` in one tight loop,
where the models stay hot in the caches. In the daemon the VAD process sleeps between capture
blocks, and every window after a sleep costs several times as much (on the 2-core x86 VMs a
Silero window took 0.22 ms in a loop and 1.2-1.3 ms one per 32 ms wake-up, with any sleep from
1 ms to 100 ms between; a small numpy matmul triples the same way). This measures that: the
thread CPU of ``StreamVad.process`` alone (sleeps and wake-ups not counted), per audio second,
with the blocks released on an absolute speaking-speed schedule, for each block size asked, and
the same excerpt in a tight loop beside it.

``shared_figures``: the question of one VAD process serving several streams' rings. Each wake-up
feeds one block to each of K ``StreamVad``s (the same excerpt, each stream starting at another
point of it) in one thread, as such a process would on a shared timer; CPU per stream per audio
second, for each K asked (K = 1 is the paced figure again).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.vad import StreamVad


def warm_up(vad: StreamVad) -> None:
    """Run the models once (loaded, allocated), then forget what they heard."""
    vad.process(np.zeros(SAMPLE_RATE_HZ, np.float32) + 1e-3, 0)
    vad.flush()


def process_cpu_s(
    config: Any, samples: np.ndarray, block_samples: int, *, paced: bool, streams: int = 1
) -> float:
    """Thread CPU seconds of ``StreamVad.process`` over ``samples`` in ``block_samples`` blocks
    for each of ``streams`` VADs in this one thread (each starting at another point of the
    excerpt): released at speaking speed (``paced``: each block when its last sample would have
    been spoken, on an absolute schedule) or back to back."""
    vads = [StreamVad.from_config(config) for _ in range(streams)]
    for vad in vads:
        warm_up(vad)
    shift = samples.size // streams
    sources = [np.roll(samples, -i * shift) for i in range(streams)]
    cpu_s = 0.0
    start_s = time.monotonic()
    for pos in range(0, samples.size, block_samples):
        end = min(pos + block_samples, samples.size)
        if paced:
            delay_s = start_s + end / SAMPLE_RATE_HZ - time.monotonic()
            if delay_s > 0:
                time.sleep(delay_s)
        t0 = time.thread_time()
        for vad, source in zip(vads, sources, strict=True):
            vad.process(source[pos:end], pos)
        cpu_s += time.thread_time() - t0
    for vad in vads:
        vad.flush()
    return cpu_s


def paced_figures(config: Any, samples: np.ndarray, block_ms: list[int]) -> dict[str, Any]:
    """CPU per audio second, paced per block size and hot, side by side on one excerpt."""
    audio_s = samples.size / SAMPLE_RATE_HZ

    def fraction(ms: int, paced: bool) -> float:
        cpu_s = process_cpu_s(config, samples, ms * SAMPLE_RATE_HZ // 1000, paced=paced)
        return round(cpu_s / audio_s, 5)

    return {
        "paced_cpu_fraction": {str(ms): fraction(ms, True) for ms in block_ms},
        "paced_hot_cpu_fraction": fraction(block_ms[0], False),
        "paced_audio_s": round(audio_s, 1),
    }


def shared_figures(
    config: Any, samples: np.ndarray, block_ms: int, counts: list[int]
) -> dict[str, Any]:
    """``paced_shared_cpu_fraction``: {K: CPU per stream per audio s} at ``block_ms`` blocks."""
    block_samples = block_ms * SAMPLE_RATE_HZ // 1000
    audio_s = samples.size / SAMPLE_RATE_HZ

    def per_stream(k: int) -> float:
        cpu_s = process_cpu_s(config, samples, block_samples, paced=True, streams=k)
        return round(cpu_s / k / audio_s, 5)

    return {
        "paced_shared_cpu_fraction": {str(k): per_stream(k) for k in counts},
        "paced_shared_block_ms": block_ms,
    }

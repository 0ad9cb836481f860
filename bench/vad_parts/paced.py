"""The VAD's CPU when audio comes at speaking speed, one capture block per wake-up.

``bench/vad.py``'s ``cpu_fraction`` feeds a recording through ``StreamVad`` in one tight loop,
where the models stay hot in the caches. In the daemon the VAD process sleeps between capture
blocks, and every window after a sleep costs several times as much (on the 2-core x86 VMs a
Silero window took 0.22 ms in a loop and 1.2-1.3 ms one per 32 ms wake-up, with any sleep from
1 ms to 100 ms between; a small numpy matmul triples the same way). This measures that: the
thread CPU of ``StreamVad.process`` alone (sleeps and wake-ups not counted), per audio second,
with the blocks released on an absolute speaking-speed schedule, for each block size asked, and
the same excerpt in a tight loop beside it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.vad import StreamVad


def _warm(vad: StreamVad) -> None:
    vad.process(np.zeros(SAMPLE_RATE_HZ, np.float32) + 1e-3, 0)  # load the models, then forget
    vad.flush()


def paced_cpu_s(config: Any, samples: np.ndarray, block_samples: int) -> float:
    """Thread CPU seconds of ``StreamVad.process`` over ``samples`` fed at speaking speed."""
    vad = StreamVad.from_config(config)
    _warm(vad)
    cpu_s = 0.0
    start_s = time.monotonic()
    for pos in range(0, samples.size, block_samples):
        block = samples[pos : pos + block_samples]
        due_s = start_s + (pos + block.size) / SAMPLE_RATE_HZ
        delay_s = due_s - time.monotonic()
        if delay_s > 0:
            time.sleep(delay_s)
        t0 = time.thread_time()
        vad.process(block, pos)
        cpu_s += time.thread_time() - t0
    vad.flush()
    return cpu_s


def hot_cpu_s(config: Any, samples: np.ndarray, block_samples: int) -> float:
    """The same work in one tight loop (no sleeps): the models stay in the caches."""
    vad = StreamVad.from_config(config)
    _warm(vad)
    t0 = time.thread_time()
    for pos in range(0, samples.size, block_samples):
        vad.process(samples[pos : pos + block_samples], pos)
    vad.flush()
    return time.thread_time() - t0


def paced_figures(config: Any, samples: np.ndarray, block_ms: list[int]) -> dict[str, Any]:
    """CPU per audio second, paced per block size and hot, side by side on one excerpt."""
    audio_s = samples.size / SAMPLE_RATE_HZ
    paced = {
        str(ms): round(paced_cpu_s(config, samples, ms * SAMPLE_RATE_HZ // 1000) / audio_s, 5)
        for ms in block_ms
    }
    hot = hot_cpu_s(config, samples, block_ms[0] * SAMPLE_RATE_HZ // 1000) / audio_s
    return {
        "paced_cpu_fraction": paced,
        "paced_hot_cpu_fraction": round(hot, 5),
        "paced_audio_s": round(audio_s, 1),
    }

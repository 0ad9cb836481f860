"""bench/commit_latency.py --cost-model: a request's simulated engine time from what it
computed (encoder frames, decoded tokens), the same on a loaded machine as on a quiet one."""

from __future__ import annotations

import pytest

from bench.commit_latency import AUDIO_CTX_SHORT_FRAMES, MAX_TOKENS_GUESS, modeled_cpu_s


def test_frames_and_tokens_make_the_cost() -> None:
    model = (0.001, 0.01)
    assert modeled_cpu_s(model, {"audio_ctx": 500.0, "tokens": 9.0}) == pytest.approx(0.6)
    assert modeled_cpu_s(model, {"audio_ctx": 1500.0, "tokens": 9.0}) == pytest.approx(1.6)
    assert modeled_cpu_s(model, {}) == pytest.approx(0.01)  # silence: one decoder step


def test_a_second_pass_over_the_full_window_pays_its_first_pass_too() -> None:
    model = (0.001, 0.01)
    once = modeled_cpu_s(model, {"audio_ctx": 1500.0, "tokens": 9.0})
    again = modeled_cpu_s(model, {"audio_ctx": 1500.0, "tokens": 9.0, "audio_ctx_retry_s": 0.3})
    assert again - once == pytest.approx(0.001 * AUDIO_CTX_SHORT_FRAMES + 0.01 * MAX_TOKENS_GUESS)

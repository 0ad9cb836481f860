"""Checkpoints of a running transcription (``pipeline.backends.cancellation``), on the real
embedded tiny.en model with both engines (numpy; MLX, here its CPU build), in this process."""

from __future__ import annotations

import pytest
import soundfile

from config.loader import load_config
from pipeline.backends.cancellation import Cancelled, checkpoint, watching
from pipeline.backends.factory import build_backend, resolve_model_path
from tests.data_paths import DATA_DIR


def test_a_checkpoint_without_a_check_does_nothing_and_a_cancel_is_no_exception() -> None:
    checkpoint()
    with watching(lambda: False):
        checkpoint()
    with pytest.raises(Cancelled), watching(lambda: True):
        try:
            checkpoint()
        except Exception:  # what turns failures into error replies does not catch it
            pytest.fail("a cancel was caught as a failure")
    checkpoint()  # the check is gone with its block


# checkpoints inside the encoder: numpy between its 4 blocks; MLX runs it as one compiled call
@pytest.mark.parametrize(("engine", "encoder_checks"), [("numpy", 4), ("mlx", 0)])
def test_a_transcription_stops_at_the_first_checkpoint_after_the_cancel(
    engine: str, encoder_checks: int
) -> None:
    config = load_config(environ={}, cli_overrides={"asr.engine": engine}).config
    backend = build_backend(config.asr, str(resolve_model_path(config.asr)))
    audio, _ = soundfile.read(DATA_DIR / "dictation_dev.wav", dtype="float32")
    piece = audio[16_000 : (12 if engine == "numpy" else 5) * 16_000]
    calls = 0

    def count() -> bool:
        nonlocal calls
        calls += 1
        return False

    with watching(count):
        whole = backend.transcribe(piece)
    # encoder blocks, the search's start, one per token: the checks cover the whole request
    assert calls >= encoder_checks + 1 + len(whole.text.split())
    # in the encoder, at the search's start, mid-decoding
    for cancel_at in sorted({max(1, encoder_checks // 2), encoder_checks + 1, calls // 2}):
        seen = 0

        def cancel_after(limit: int = cancel_at) -> bool:
            nonlocal seen
            seen += 1
            return seen >= limit

        with pytest.raises(Cancelled), watching(cancel_after):
            backend.transcribe(piece)
        assert seen == cancel_at  # stopped at that checkpoint: nothing ran past it
    again = backend.transcribe(piece)  # nothing half-done is left behind
    assert again.text == whole.text and len(again.words) == len(whole.words)

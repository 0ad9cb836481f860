"""Silero VAD tier: the neural voice detector, run through onnxruntime on the packaged model.

The model takes windows of 512 samples at 16 kHz, each preceded by the 64 samples before it
(the "context"), plus a recurrent state of shape (2, 1, 128) that carries over from window to
window and is zeroed at each stream start. This mirrors ``silero_vad.utils_vad.OnnxWrapper``
without importing the package (which imports torch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.errors import ModelError

logger = logging.getLogger(__name__)

WINDOW_SAMPLES = 512  # samples per Silero window at 16 kHz (32 ms)
CONTEXT_SAMPLES = 64  # samples of the preceding audio the model sees before each window
STATE_SHAPE = (2, 1, 128)  # recurrent state: (h/c, batch, hidden)
PACKAGE_NAME = "silero-vad"  # distribution that ships the model
MODEL_RELPATH = "silero_vad/data/silero_vad.onnx"  # model file inside that distribution


def find_packaged_model() -> Path:
    """Path of the ONNX model shipped by the silero-vad package, found without importing it.

    Raises ``ModelError`` when the package or its model file is missing.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(PACKAGE_NAME)
    except metadata.PackageNotFoundError as e:
        raise ModelError(
            f"Silero VAD model not found: the '{PACKAGE_NAME}' package is not installed "
            f"(set silero off, or install it)"
        ) from e
    for file in dist.files or ():
        if str(file).replace("\\", "/") == MODEL_RELPATH:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelError(f"Silero VAD model not found: '{PACKAGE_NAME}' has no file {MODEL_RELPATH}")


@dataclass(frozen=True)
class SileroParams:
    threshold: float = 0.5  # speech probability at or above which a window is speech
    model_path: str = ""  # ONNX model file; empty = the one packaged with silero-vad


class SileroVad:
    """Silero VAD on one 16 kHz stream: ``probability`` per 512-sample window, ``reset`` per stream."""

    def __init__(self, params: SileroParams) -> None:
        self.params = params
        path = Path(params.model_path) if params.model_path else find_packaged_model()
        if not path.is_file():
            raise ModelError(f"Silero VAD model file is missing: {path}")
        try:
            import onnxruntime
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ModelError("the Silero VAD tier needs the 'onnxruntime' package") from e
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            raise ModelError(f"cannot load the Silero VAD model {path}: {e}") from e
        self.model_path = path
        self._sr = np.array(SAMPLE_RATE_HZ, dtype=np.int64)
        # One preallocated model input: [context (64) | window (512)], shape (1, 576).
        self._input = np.zeros((1, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        logger.debug("Silero VAD loaded from %s", path)

    def reset(self) -> None:
        """Zero the recurrent state and the context: a new stream starts."""
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._input[:] = 0.0

    def probability(self, window: np.ndarray, preceding: np.ndarray | None = None) -> float:
        """Speech probability of one window.

        ``window``: float32, shape (512,). ``preceding``: float32, shape (64,), the audio right
        before the window; ``None`` keeps the last 64 samples of the previous window fed to the
        model (zeros at stream start), which is what the reference wrapper does.
        """
        if window.shape != (WINDOW_SAMPLES,):
            raise ValueError(
                f"Silero window must have shape ({WINDOW_SAMPLES},), got {window.shape}"
            )
        if preceding is not None:
            self._input[0, :CONTEXT_SAMPLES] = preceding
        else:
            self._input[0, :CONTEXT_SAMPLES] = self._input[0, -CONTEXT_SAMPLES:]
        self._input[0, CONTEXT_SAMPLES:] = window
        output, self._state = self._session.run(
            None, {"input": self._input, "state": self._state, "sr": self._sr}
        )
        return float(output[0, 0])

    def is_speech(self, probability: float) -> bool:
        """True when ``probability`` reaches the threshold."""
        return probability >= self.params.threshold

"""BLAS thread counts per phase of a window: wide for the encoder, one thread for the decoder.

The encoder's matmuls (1500 × 384 by 384 × 1536) scale with threads; the decoder's one-token
matmuls are too small to split, and with two BLAS threads on two cores that other processes also
use, OpenBLAS's spinning workers made each decoder step 3-4× slower (measured on the 2-core x86
machines under load: 14-19 ms a step with 2 threads, 4.4 ms with 1). So the backend switches the
thread count of every BLAS in the process (numpy's and, on Linux, the OpenBLAS that MLX uses) at
the two phase boundaries of a window. Without ``threadpoolctl`` nothing changes.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class BlasPhases:
    """``encoder()`` / ``decoder()`` set the process's BLAS threads for the phase that follows."""

    def __init__(self, encoder_threads: int, decoder_threads: int) -> None:
        self.encoder_threads = max(1, encoder_threads)
        self.decoder_threads = max(1, decoder_threads) if decoder_threads else self.encoder_threads
        self._current = 0
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            logger.info("threadpoolctl missing: BLAS threads stay as they are")
            self._blas = None
            return
        self._blas = ThreadpoolController().select(user_api="blas")

    def encoder(self) -> None:
        self._set(self.encoder_threads)

    def decoder(self) -> None:
        self._set(self.decoder_threads)

    def _set(self, threads: int) -> None:
        if self._blas is None or threads == self._current:
            return
        self._blas.limit(limits=threads)  # not a context: the count holds until the next phase
        self._current = threads

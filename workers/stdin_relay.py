"""Raw PCM on the daemon's stdin, relayed to the capture process through a FIFO.

Children start with the ``spawn`` context and get ``/dev/null`` as stdin, so capture cannot read
the daemon's stdin itself. The supervisor copies its stdin into a FIFO (mode 0600) in the
private runtime directory; capture opens the FIFO as its stdin source. A restarted capture opens
it again and the stream goes on (what the dead one had read but not yet written is lost: at most
one pipe buffer, about 2 s of 16 kHz s16le). At the end of stdin the relay closes the FIFO, so
capture sees the end of the stream.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

READ_BYTES = 65536


class StdinRelay(threading.Thread):
    def __init__(self, fifo_path: Path, source: BinaryIO | None = None) -> None:
        super().__init__(name="stdin-relay", daemon=True)
        self.fifo_path = Path(fifo_path)
        self._source = source or sys.stdin.buffer
        self.bytes_relayed = 0
        self.fifo_path.unlink(missing_ok=True)
        os.mkfifo(self.fifo_path, 0o600)

    def run(self) -> None:
        writer: int | None = None
        try:
            while True:
                chunk = (
                    self._source.read1(READ_BYTES)
                    if hasattr(self._source, "read1")
                    else self._source.read(READ_BYTES)
                )
                if not chunk:
                    break
                while chunk:
                    if writer is None:
                        writer = os.open(
                            self.fifo_path, os.O_WRONLY
                        )  # waits for capture to open it
                    try:
                        written = os.write(writer, chunk)
                        chunk = chunk[written:]
                        self.bytes_relayed += written
                    except BrokenPipeError:
                        logger.warning(
                            "capture closed its stdin pipe; waiting for the next capture"
                        )
                        os.close(writer)
                        writer = None
            if writer is None:
                writer = os.open(self.fifo_path, os.O_WRONLY)  # so capture sees the end at once
            logger.info("stdin ended after %d bytes", self.bytes_relayed)
        except OSError as e:
            logger.error("stdin relay stopped: %s", e)
        finally:
            if writer is not None:
                os.close(writer)

    def remove(self) -> None:
        self.fifo_path.unlink(missing_ok=True)

"""What an asr worker does with each request, usable in one process (the worker wires it to sockets).

A ``TranscribeRequest`` names a ring and an index range: the service reads that audio straight
from shared memory, runs the backend and answers a ``TranscribeResult`` (word times in seconds
from ``start_index``). Stateful streams (parakeet) are sessions opened, fed and closed by index.
Every failure becomes a ``WorkerError`` naming what went wrong; nothing raises out of ``handle``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backend_calls import request_marks, transcribe_one
from pipeline.backends.base import Backend, StreamSession
from pipeline.backends.cancellation import Cancelled
from pipeline.engine_ledger import EngineLedger
from pipeline.errors import BackendError, RingError, RingOverrun
from pipeline.messages.base import Message
from pipeline.messages.work import (
    StreamClose,
    StreamFeed,
    StreamOpen,
    StreamUpdate,
    TranscribeBatch,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.ring import AudioRing
from pipeline.words import Word

logger = logging.getLogger(__name__)

MAX_ATTACHED_RINGS = 8  # rings kept attached (one per stream, plus files being transcribed)
MAX_SESSIONS = 16  # open streaming sessions; the oldest is dropped past this
AUDIO_WAIT_S = 2.0  # a request may name audio a moment before it is written
MAX_FINALIZED_WORDS_SENT = 400  # bound on the words one StreamUpdate carries


@dataclass
class _Session:
    """One open streaming session: the backend state and where its audio stands in the ring."""

    stream: StreamSession
    open_message: StreamOpen
    next_index: int  # the next sample index to feed
    finalized: list[Word]  # all finalized words so far, seconds from open_message.start_index
    engine_ms: float = 0.0


class TranscriptionService:
    """Answers work messages with one loaded backend. Not thread-safe: one per worker process."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._rings: OrderedDict[str, AudioRing] = OrderedDict()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self.busy_request_id = ""  # read by the heartbeat thread
        self.busy_since_s = 0.0
        self.ledger = EngineLedger()  # engine time per kind of request, logged at close

    def handle(self, message: Message) -> Message | None:
        """The reply to one work message, or None for messages that need none."""
        request_id = getattr(message, "request_id", "") or getattr(message, "session_id", "")
        self.busy_request_id = request_id
        self.busy_since_s = time.monotonic()
        try:
            if isinstance(message, TranscribeRequest):
                return self._transcribe(message)
            if isinstance(message, TranscribeBatch):
                from pipeline.batch_requests import answer_batch  # one encoder call for all

                return answer_batch(self, message)
            if isinstance(message, StreamOpen):
                return self._open(message)
            if isinstance(message, StreamFeed):
                return self._feed(message.session_id, message.end_index, final=False)
            if isinstance(message, StreamClose):
                return self._feed(message.session_id, message.end_index, final=True)
            return WorkerError(
                request_id,
                "unexpected",
                f"a worker does not handle {message.kind}",
                retryable=False,
            )
        except RingOverrun as e:
            logger.warning("request %s: %s", request_id, e)
            return WorkerError(request_id, "ring_overrun", str(e), retryable=False)
        except RingError as e:
            logger.warning("request %s: %s", request_id, e)
            return WorkerError(request_id, "ring", str(e), retryable=True)
        except BackendError as e:
            logger.exception("request %s: backend failed", request_id)
            return WorkerError(request_id, "backend", str(e), retryable=True)
        except Exception as e:
            logger.exception("request %s: unexpected failure", request_id)
            return WorkerError(request_id, "internal", f"{type(e).__name__}: {e}", retryable=True)
        finally:
            self.busy_request_id = ""

    def close(self) -> None:
        if any(totals.requests or totals.cancelled for totals in self.ledger.kinds.values()):
            logger.info("%s", self.ledger.log_line())
        for ring in self._rings.values():
            ring.close()
        self._rings.clear()
        self._sessions.clear()

    # ---- offline requests ---------------------------------------------------------------

    def _transcribe(self, request: TranscribeRequest) -> TranscribeResult:
        audio = self._read(request.ring_name, request.start_index, request.end_index)
        started_s, cpu_started_s = time.perf_counter(), time.process_time()
        # a partial: its shorter encoder window and no second pass over the full window for an
        # empty result (the next one supersedes it); an early final: its own encoder window
        with request_marks(self.backend, partial=request.is_partial,
                           early_final=request.early_final,
                           preview=request.preview, draft=request.draft) as no_retry:  # fmt: skip
            try:
                result = transcribe_one(self.backend, audio, request.prompt or None,
                                        request.prefix or None)  # fmt: skip
            except Cancelled:  # pre-empted: the work done so far was paid for
                self.ledger.record_cancelled(request.request_id, time.perf_counter() - started_s,
                                             time.process_time() - cpu_started_s,
                                             len(audio) / SAMPLE_RATE_HZ)  # fmt: skip
                raise
        engine_ms = (time.perf_counter() - started_s) * 1000.0
        self.ledger.record(request.request_id, engine_ms / 1000.0,
                           time.process_time() - cpu_started_s, len(audio) / SAMPLE_RATE_HZ,
                           result.details)  # fmt: skip
        if no_retry and result.details.get("suspect"):
            return WorkerError(request.request_id, "suspect_partial", "a short encoder window "
                               "gave an empty or rejected partial", retryable=False)  # fmt: skip
        return TranscribeResult.answering(request, result, engine_ms, len(audio) / SAMPLE_RATE_HZ)

    def _read(self, ring_name: str, start_index: int, end_index: int) -> np.ndarray:
        ring = self._ring(ring_name)
        if ring.wait_for(end_index, AUDIO_WAIT_S) < end_index:
            raise RingError(
                f"{ring_name}: audio up to index {end_index} was not written within "
                f"{AUDIO_WAIT_S} s (write index {ring.write_index})"
            )
        return ring.read(start_index, end_index)

    def _ring(self, name: str) -> AudioRing:
        ring = self._rings.get(name)
        if ring is None:
            ring = AudioRing.attach(name)
            self._rings[name] = ring
            while len(self._rings) > MAX_ATTACHED_RINGS:
                _, oldest = self._rings.popitem(last=False)
                oldest.close()
        self._rings.move_to_end(name)
        return ring

    # ---- streaming sessions -------------------------------------------------------------

    def _open(self, message: StreamOpen) -> StreamUpdate:
        stream = self.backend.open_stream()
        self._sessions[message.session_id] = _Session(stream, message, message.start_index, [])
        while len(self._sessions) > MAX_SESSIONS:
            dropped_id, dropped = self._sessions.popitem(last=False)
            dropped.stream.reset()
            logger.warning("dropped streaming session %s: too many open sessions", dropped_id)
        return self._update(self._sessions[message.session_id], (), is_final=False)

    def _feed(self, session_id: str, end_index: int, *, final: bool) -> StreamUpdate | WorkerError:
        session = self._sessions.get(session_id)
        if session is None:
            return WorkerError(
                session_id, "unknown_session", f"no open session {session_id!r}", retryable=False
            )
        draft: tuple[Word, ...] = ()
        started_s = time.perf_counter()
        if end_index > session.next_index:
            audio = self._read(session.open_message.ring_name, session.next_index, end_index)
            session.next_index = end_index
            update = session.stream.feed(audio)
            session.finalized.extend(update.finalized)
            draft = update.draft
        if final:
            finished = session.stream.finish()
            known = len(session.finalized)
            session.finalized.extend(finished.words[known:])
            draft = ()
            del self._sessions[session_id]
        session.engine_ms += (time.perf_counter() - started_s) * 1000.0
        return self._update(session, draft, is_final=final)

    def _update(
        self, session: _Session, draft: tuple[Word, ...], *, is_final: bool
    ) -> StreamUpdate:
        opened = session.open_message
        finalized_end_s = session.finalized[-1].end_s if session.finalized else 0.0
        finalized_index = opened.start_index + int(finalized_end_s * SAMPLE_RATE_HZ)
        return StreamUpdate(
            session_id=opened.session_id,
            stream_id=opened.stream_id,
            segment_id=opened.segment_id,
            finalized_words=tuple(session.finalized[-MAX_FINALIZED_WORDS_SENT:]),
            draft_words=draft,
            finalized_index=min(finalized_index, session.next_index),
            is_final=is_final,
            engine_ms=session.engine_ms,
        )

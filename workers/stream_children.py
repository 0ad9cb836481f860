"""The capture and VAD children of one stream, as the supervisor watches and restarts them.

Capture writes the stream's ring; VAD reads it. Both push heartbeats on the events socket. A
child that dies or goes silent is killed and restarted with backoff, behind a circuit breaker
(``pipeline.supervision.restart_policy``); every start, restarts included, gets the start-up
grace until the new process is first heard from:

- a restarted capture attaches to the same ring and resumes at its write index (a file source
  seeks there), so no audio is repeated or skipped;
- a restarted VAD starts where the previous one stopped (its ring cursor), or at the start of
  the segment it had open, which it then detects again under a new segment id. Until it holds
  its own cursor the supervisor's cursor keeps a fast capture from overwriting that audio;
- audio that crashes the VAD twice (two VADs in a row die near the same position) is skipped:
  the next VAD starts past it (``pipeline.supervision.poison``) and the skipped range is
  reported as a gap (``take_gaps``).

A capture that exits 0 after ``EndOfStream`` and a VAD that exits 0 after flushing are done,
not crashed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.loader import as_tree
from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.messages import (
    CaptureEvent,
    EndOfStream,
    Heartbeat,
    Message,
    SpeechEnded,
    SpeechStarted,
)
from pipeline.ring import AudioRing
from pipeline.supervision.poison import PoisonTracker
from pipeline.supervision.progress import ChildHealth
from pipeline.supervision.restart_policy import RestartLimits, RestartPolicy
from workers.child_process import ChildSpec
from workers.supervised_child import SupervisedChild

logger = logging.getLogger(__name__)

UNREPORTED_MARGIN_SAMPLES = 16_000  # 1 s beyond pre-roll + min speech (detector windows, blocks)


MAIN_STREAM = "main"  # the stream --source opens; its children keep the plain role names


def child_role(kind: str, stream_id: str) -> str:
    """``capture``/``vad`` for the main stream, ``capture:ID``/``vad:ID`` for others."""
    return kind if stream_id == MAIN_STREAM else f"{kind}:{stream_id}"


@dataclass
class WatchedChild(SupervisedChild):
    """A stream's capture or VAD (``SupervisedChild``), which may also finish for good."""

    finished: bool = False  # exited normally after the end of the stream


@dataclass
class StreamProcesses:
    """Capture + VAD of one stream."""

    stream_id: str
    ring: AudioRing
    config: Config
    audio_endpoint: str
    events_endpoint: str
    log_level: str
    capture: WatchedChild = field(init=False)
    vad: WatchedChild = field(init=False)
    capture_ended: bool = False  # EndOfStream seen
    # where the stream's open segment starts, asked of its one owner (the scheduler); a
    # restarted VAD resumes there. None: no segment open.
    open_segment_start: Callable[[], int | None] = lambda: None
    next_segment_id: int = 0  # one past the highest segment id seen
    vad_position: int = 0  # the VAD's reported read position (events before it have arrived)
    lead_cap_index: int | None = None  # a fast stream: the cursor no higher (workers.fast_lead)
    stdin_fifo: Path | None = None  # where a stdin source is relayed (see workers.stdin_relay)
    stopping: bool = False  # capture and VAD were told to stop: no more restarts
    _cursor_slot: int | None = None
    _vad_poison: PoisonTracker = field(default_factory=PoisonTracker)  # VAD deaths by position
    _gaps: list[tuple[int, int]] = field(default_factory=list)  # skipped [start, end) indices

    def __post_init__(self) -> None:
        limits = RestartLimits.from_config(self.config.supervisor)
        self.capture = WatchedChild(
            child_role("capture", self.stream_id), None, RestartPolicy(limits)
        )
        self.vad = WatchedChild(child_role("vad", self.stream_id), None, RestartPolicy(limits))
        self._cursor_slot = self.ring.claim_cursor("super", 0)

    # ---- starting -----------------------------------------------------------------------

    def start(self) -> None:
        now_s = time.monotonic()
        self._start_vad(now_s, start_index=0)
        self._start_capture(now_s)

    def _settings(self, role: str) -> dict[str, Any]:
        return {
            "role": child_role(role, self.stream_id),
            "config": as_tree(self.config),
            "ring_name": self.ring.name,
            "stream_id": self.stream_id,
            "audio_endpoint": self.audio_endpoint,
            "events_endpoint": self.events_endpoint,
        }

    def _start_capture(self, now_s: float) -> None:
        settings = self._settings("capture")
        if self.stdin_fifo is not None:
            settings["stdin_fifo"] = str(self.stdin_fifo)
        spec = ChildSpec(self.capture.role, "workers.capture", settings, self.log_level)
        self._launch(self.capture, spec, now_s)

    def _start_vad(self, now_s: float, start_index: int) -> None:
        settings = self._settings("vad")
        settings["start_index"] = start_index
        settings["first_segment_id"] = self.next_segment_id
        self.vad_position = start_index  # nothing is known past where the new VAD starts
        self.hold_cursor(min(start_index, self.held_index()))
        spec = ChildSpec(self.vad.role, "workers.vad", settings, self.log_level)
        self._launch(self.vad, spec, now_s)

    def _launch(self, watched: WatchedChild, spec: ChildSpec, now_s: float) -> None:
        watched.launch(now_s, spec)

    # ---- what the events socket says ----------------------------------------------------

    def observe(self, message: Message, now_s: float) -> None:
        """Update liveness and stream state from a message that arrived on the events socket."""
        if isinstance(message, Heartbeat):
            watched = (
                self.capture
                if message.role == self.capture.role
                else self.vad
                if message.role == self.vad.role
                else None
            )
            if watched is not None and message.pid != watched.pid:
                logger.debug("heartbeat of %s from pid %d ignored", message.role, message.pid)
                return  # not the current process (a predecessor's late beat)
            if watched is not None:
                watched.heard(now_s, message.rss_bytes)
            if watched is self.vad and message.position_index > 0:
                self.vad_position = max(self.vad_position, message.position_index)
            return
        if isinstance(message, (SpeechStarted, SpeechEnded)):
            self.vad.heard(now_s)
            self.next_segment_id = max(self.next_segment_id, message.segment_id + 1)
            return
        if isinstance(message, EndOfStream):
            self.capture_ended = True
        elif isinstance(message, CaptureEvent):
            self.capture.heard(now_s)
            if message.event == "error":
                self.capture.last_failure = message.detail

    # ---- watching -----------------------------------------------------------------------

    def check(self, now_s: float) -> list[tuple[str, str]]:
        """Restart dead or silent children; returns (role, why) for each restart.

        Nothing is restarted once the stream is stopping: capture and VAD were told to stop.
        """
        events: list[tuple[str, str]] = []
        if self.stopping:
            return events
        supervisor = self.config.supervisor
        for watched in (self.capture, self.vad):
            if watched.failed or watched.finished or watched.child is None:
                continue
            if watched.restart_at_s is not None:
                if watched.restart_due(now_s):
                    self._restart(watched, now_s)
                continue
            exitcode = watched.exitcode()
            why = ""
            if exitcode is not None:
                if exitcode == 0 and self.stream_ended():
                    watched.finished = True
                    logger.info("%s finished at the end of the stream", watched.role)
                    continue
                why = f"exited with code {exitcode}"
            else:
                why = watched.silent_why(
                    now_s, supervisor.heartbeat_timeout_s, supervisor.startup_timeout_s
                )
            if why:
                events.append((watched.role, why))
                self._schedule_restart(watched, why, now_s)
        return events

    def stream_ended(self) -> bool:
        """The source has ended: a child exiting 0 now is done, not crashed."""
        return self.capture_ended or self.ring.end_index is not None

    def _schedule_restart(self, watched: WatchedChild, why: str, now_s: float) -> None:
        logger.warning("%s (pid %s) %s: restarting it", watched.role, watched.pid, why)
        if not (watched is self.capture and watched.last_failure and "exited" in why):
            watched.last_failure = why  # capture's own error report says more than its exit
        if watched is self.vad:
            self._vad_poison.note_death(self.vad_position)
        decision = watched.schedule_restart(why, now_s)
        if decision.delay_s <= 0:
            self._restart(watched, now_s)

    def _restart(self, watched: WatchedChild, now_s: float) -> None:
        if watched is self.capture:
            self._start_capture(now_s)
            return
        resume_index = self._skip_poison(self._vad_resume_index())
        self._start_vad(now_s, resume_index)

    def _skip_poison(self, resume_index: int) -> int:
        """After the second VAD death at one place, start past it and record the gap."""
        resume_index, gap = self._vad_poison.resume(resume_index)
        if gap is not None:
            logger.error(
                "vad died %d times near %.1f s of stream %s: skipping [%.1f, %.1f) s",
                self._vad_poison.deaths_there,
                (self._vad_poison.place_index or 0) / SAMPLE_RATE_HZ,
                self.stream_id,
                gap[0] / SAMPLE_RATE_HZ,
                gap[1] / SAMPLE_RATE_HZ,
            )
            self._gaps.append(gap)
        return resume_index

    def take_gaps(self) -> list[tuple[int, int]]:
        """Ring index ranges ``[start, end)`` skipped since the last call (audio that crashed
        the VAD), to be reported as gaps."""
        gaps, self._gaps = self._gaps, []
        return gaps

    def _vad_resume_index(self) -> int:
        """Where a new VAD starts: the open segment's start, else the old VAD's last position."""
        if (open_start := self.open_segment_start()) is not None:
            return max(open_start, self.ring.oldest_index)
        positions = [c.index for c in self.ring.cursors() if c.label.startswith("vad")]
        position = max(positions) if positions else self.ring.write_index
        return max(position, self.ring.oldest_index)

    def restart_vad(self, why: str) -> None:
        """A planned restart (new configuration); not counted against the restart limit."""
        logger.info("restarting vad: %s", why)
        if self.vad.child is not None:
            self.vad.child.kill()
        self.vad.finished = False
        self._restart(self.vad, time.monotonic())

    # ---- ring cursor --------------------------------------------------------------------

    def held_index(self) -> int:
        return next(
            (c.index for c in self.ring.cursors() if c.slot == self._cursor_slot),
            self.ring.write_index,
        )

    def update_cursor(self, needed_index: int | None) -> None:
        """Hold the ring at the oldest audio still needed: by queued work, or by a segment the VAD
        has not reported yet. Such a segment starts after the VAD's reported position minus its
        pre-roll and minimum speech (events arrive in order, before the position that follows
        them), so a fast capture never overwrites audio that will be transcribed."""
        vad = self.config.vad
        lookback = (
            round((vad.pre_roll_ms + vad.min_speech_ms) * SAMPLE_RATE_HZ / 1000)
            + UNREPORTED_MARGIN_SAMPLES
        )
        safe_index = max(0, self.vad_position - lookback)
        index = safe_index if needed_index is None else min(needed_index, safe_index)
        if self.lead_cap_index is not None:  # a fast stream's capture waits for VAD and workers
            index = min(index, self.lead_cap_index)
        self.hold_cursor(index)

    def hold_cursor(self, index: int) -> None:
        """Keep a fast capture from overwriting audio from ``index`` on (work still needs it)."""
        if self._cursor_slot is not None:
            self.ring.set_cursor(self._cursor_slot, max(index, self.ring.oldest_index))

    # ---- stopping -----------------------------------------------------------------------

    def finished(self) -> bool:
        """The stream has ended and both children are done."""
        return all(w.finished for w in (self.capture, self.vad))

    def health(self, now_s: float) -> dict[str, ChildHealth]:
        """Each child's ``SupervisedChild.stuck_for_s``, for ``pipeline.supervision.progress``
        (0 once it finished for good)."""
        return {
            w.role: ChildHealth(
                0.0 if w.finished else w.stuck_for_s(now_s),
                w.last_failure,
            )
            for w in (self.capture, self.vad)
        }

    def signal_stop(self) -> None:
        """Stop capture and VAD for good without waiting (``stream.close``): SIGTERM now;
        ``stopped`` says when both are gone, ``stop`` reaps them."""
        self.stopping = True
        for watched in (self.capture, self.vad):
            if watched.child is not None and watched.child.is_alive():
                watched.child.signal(15)

    def capture_stop(self) -> None:
        """SIGTERM capture alone (closing: the VAD reads on up to what capture wrote)."""
        if self.capture.alive():
            assert self.capture.child is not None
            self.capture.child.signal(15)

    def kill_remaining(self, capture_only: bool = False) -> None:
        """SIGKILL what is still alive after ``signal_stop`` (never waits: reaped later)."""
        for watched in (self.capture,) if capture_only else (self.capture, self.vad):
            if watched.alive():
                assert watched.child is not None
                watched.child.kill()

    def stopped(self) -> bool:
        return not any(w.child is not None and w.child.is_alive() for w in (self.capture, self.vad))

    def stop(self, grace_s: float) -> None:
        """Stop capture and VAD for good. The ring cursor stays held (queued work still reads the
        ring) until ``release_cursor``."""
        self.stopping = True
        for watched in (self.capture, self.vad):
            if watched.child is not None and watched.child.is_alive():
                watched.child.signal(15)  # SIGTERM: capture and VAD hold nothing worth flushing
        for watched in (self.capture, self.vad):
            if watched.child is not None:
                watched.child.stop(grace_s)

    def release_cursor(self) -> None:
        if self._cursor_slot is not None:
            self.ring.release_cursor(self._cursor_slot)
            self._cursor_slot = None

    def snapshot(self, now_s: float) -> list[dict[str, Any]]:
        rows = []
        for watched in (self.capture, self.vad):
            state = watched.state(now_s, watched.finished)
            rows.append(
                {
                    "role": watched.role,
                    "pid": watched.pid,
                    "state": state,
                    "uptime_s": round(now_s - watched.started_at_s, 1),
                    "restarts": watched.restarts,
                    "rss_mb": round(watched.rss_bytes / 1e6, 1),
                    "last_failure": watched.last_failure,
                }
            )
        return rows

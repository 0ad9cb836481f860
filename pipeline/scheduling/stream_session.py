"""One stateful streaming session (parakeet) of a segment, as the scheduler drives it.

The worker that takes a session's ``StreamOpen`` owns its state while the segment lasts; every
later message of the session goes to that worker only. The session's next message is derived
from its state whenever its owner is idle, so feeds never pile up: one ``StreamFeed`` covers all
audio from what was fed to the newest index, and once the segment has ended a ``StreamClose``
(which feeds up to the end itself) replaces any feed.

Words are kept in stream seconds. When the owner is lost, the session is reopened elsewhere as a
new generation (new session id) from the last finalized index: the words finalized before it are
kept, the draft is dropped, and the audio from there on is fed again from the ring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.audio_format import samples_to_seconds
from pipeline.messages.work import StreamClose, StreamFeed, StreamOpen, StreamUpdate
from pipeline.scheduling.request_ids import session_id
from pipeline.words import Word

SessionMessage = StreamOpen | StreamFeed | StreamClose
_SAME_WORD_S = 1e-6  # finalized words starting this close to a resent one are that word


@dataclass(eq=False, slots=True)
class StreamSession:
    stream_id: str
    segment_id: int
    ring_name: str
    open_index: int  # first sample of this generation (the segment start, or where reopened)
    generation: int = 1  # 1 + times reopened
    owner: str | None = None  # worker role holding the state; None until the open is sent
    opened: bool = False  # this generation's StreamOpen was sent
    fed_index: int = -1  # audio sent to the worker up to here (-1: the open index)
    close_sent: bool = False
    busy: bool = False  # one of its messages is in flight
    kept_words: list[Word] = field(default_factory=list)  # finalized by earlier generations
    finalized: list[Word] = field(default_factory=list)  # finalized by this generation
    finalized_index: int = -1  # audio before this will not change the finalized words
    draft: tuple[Word, ...] = ()  # the tail that may still change (stream seconds)
    failures: int = 0  # failed sends of the current message (retryable errors)
    finished: bool = False  # the final update arrived (or the session was given up)

    def __post_init__(self) -> None:
        self.fed_index = max(self.fed_index, self.open_index)
        self.finalized_index = max(self.finalized_index, self.open_index)

    @property
    def session_id(self) -> str:
        return session_id(self.stream_id, self.segment_id, self.generation)

    @property
    def resume_index(self) -> int:
        """Where a reopened session would start: the ring must keep audio from here on."""
        return max(self.open_index, self.finalized_index)

    @property
    def stable_words(self) -> tuple[Word, ...]:
        return (*self.kept_words, *self.finalized)

    def next_message(self, newest_index: int, end_index: int | None) -> SessionMessage | None:
        """What to send next (open, close, or a feed up to ``newest_index``); None: nothing."""
        if self.busy or self.finished:
            return None
        if not self.opened:
            return StreamOpen(
                session_id=self.session_id,
                stream_id=self.stream_id,
                segment_id=self.segment_id,
                ring_name=self.ring_name,
                start_index=self.open_index,
            )
        if end_index is not None:
            if self.close_sent:
                return None
            return StreamClose(session_id=self.session_id, end_index=max(end_index, self.fed_index))
        if newest_index > self.fed_index:
            return StreamFeed(
                session_id=self.session_id, start_index=self.fed_index, end_index=newest_index
            )
        return None

    def sent(self, message: SessionMessage, role: str) -> None:
        """``message`` went to ``role``."""
        self.busy = True
        if isinstance(message, StreamOpen):
            self.opened = True
            self.owner = role
        elif isinstance(message, StreamFeed):
            self.fed_index = message.end_index
        else:
            self.fed_index = max(self.fed_index, message.end_index)
            self.close_sent = True

    def unsent(self, message: SessionMessage) -> None:
        """``message`` did not get through (or failed retryably): it will be sent again."""
        self.busy = False
        if isinstance(message, StreamOpen):
            self.opened = False
            self.owner = None
        elif isinstance(message, StreamFeed):
            self.fed_index = min(self.fed_index, message.start_index)
        else:
            self.close_sent = False

    def apply(self, update: StreamUpdate) -> None:
        """Take an update of this generation: all its finalized words so far and its draft.

        A worker sends at most its newest few hundred finalized words; words finalized earlier
        are kept from previous updates (finalized words never change).
        """
        self.busy = False
        self.failures = 0
        offset_s = samples_to_seconds(self.open_index)
        words = [w.shifted(offset_s) for w in update.finalized_words]
        if words:
            first_s = words[0].start_s - _SAME_WORD_S
            self.finalized = [w for w in self.finalized if w.start_s < first_s] + words
        self.draft = tuple(w.shifted(offset_s) for w in update.draft_words)
        self.finalized_index = max(self.finalized_index, update.finalized_index)
        if update.is_final:
            self.finished = True
            self.draft = ()

    def reopen(self) -> None:
        """The owner lost the state: start a new generation at the last finalized index."""
        self.kept_words.extend(self.finalized)
        self.open_index = self.resume_index
        self.finalized = []
        self.finalized_index = self.open_index
        self.fed_index = self.open_index
        self.draft = ()
        self.generation += 1
        self.owner = None
        self.opened = False
        self.close_sent = False
        self.busy = False
        self.failures = 0

    def give_up(self) -> None:
        """No more messages: the segment's final is what was finalized so far."""
        self.finished = True
        self.busy = False
        self.draft = ()

"""What the segment scheduler needs to know: chunking, partial cadence, prompts and retries.

Built once at start from the configuration (``SchedulerOptions.from_config``); everything is in
samples or seconds of the 16 kHz stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.schema import Config, StreamsConfig
from pipeline.audio_format import seconds_to_samples
from pipeline.chunking import WHISPER_WINDOW_S, ChunkingOptions
from pipeline.scheduling.commit_policy import CommitOptions

DEFAULT_MAX_ATTEMPTS = 3  # sends of one request (first try included) before it counts as failed
DEFAULT_PROMPT_MAX_CHARS = 400  # tail of the previous final given as a prompt (~100 tokens)
# Seconds of audio one request may carry, per backend. Whisper sees 30 s per forward pass; the
# others get the same bound so a partial or chunk never grows with the segment.
BACKEND_WINDOW_S = {"whisper": WHISPER_WINDOW_S}
DEFAULT_WINDOW_S = WHISPER_WINDOW_S


STARVED_PRIORITIES = ("order", "reserve", "one", "full")  # streams.starved_priority


@dataclass(frozen=True, slots=True)
class SharingOptions:
    """How streams sharing the pool are served (``sentence_ends``; the ``streams`` keys of the
    same names). The defaults are the daemon's (``tests/test_config.py`` checks they match)."""

    # a tentative pause's early final unsent at the resume is kept and sent while sharing
    short_pause_unsent: bool = False
    # a sharing stream's unsent tentative early final pre-empts the newest partial in flight
    tentative_preempts: bool = False
    # a segment whose speech waited this long uncommitted while sharing is starved; 0: off
    starved_s: float = 0.0
    # a starved segment's partial (``STARVED_PRIORITIES``): goes first among the due partials
    # (order), and past the worker kept for finals (reserve), and past the partial budget one
    # at a time pool-wide (one) or every one (full)
    starved_priority: str = "order"

    def __post_init__(self) -> None:
        if self.starved_s < 0:
            raise ValueError(f"starved_s must not be negative, got {self.starved_s}")
        if self.starved_priority not in STARVED_PRIORITIES:
            raise ValueError(
                f"starved_priority must be one of {STARVED_PRIORITIES}, got {self.starved_priority!r}"
            )

    @classmethod
    def from_config(cls, streams: StreamsConfig) -> SharingOptions:
        return cls(
            short_pause_unsent=streams.short_pause_unsent,
            tentative_preempts=streams.tentative_preempts,
            starved_s=streams.starved_s,
            starved_priority=streams.starved_priority,
        )


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """How segments become requests and how results become transcripts."""

    backend: str  # backend name written into every transcript ("whisper", "parakeet")
    model: str  # model name written into every transcript
    chunking: ChunkingOptions  # how an ended segment is cut (its max chunk = the backend window)
    partial_min_audio_samples: int  # no partial request for less segment audio than this
    partial_interval_s: float  # least time between two partial requests of one segment
    workers: int = 1  # long segments are cut into a multiple of this many chunks
    use_prompt: bool = True  # prompt requests with the stream's previous final text
    streaming: bool = False  # stateful sessions (parakeet): open / feed / close per segment
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # sends per request before its audio counts as lost
    prompt_max_chars: int = DEFAULT_PROMPT_MAX_CHARS  # longest prompt, cut at a word boundary
    # Commit stable words while speech goes on, and decode finals early at pauses (request
    # mode; ``commits.CommittedSegments``); None: finals only when a segment ends.
    commit: CommitOptions | None = None
    # Final requests of different streams sent to one worker as one batch (one encoder call)
    # when more wait than workers are free (``batching``); 1: never.
    max_batch: int = 1
    # longest request a batch may hold (``batching.MAX_BATCHED_AUDIO_S``)
    max_batched_audio_s: float = 30.0
    # streams sharing the pool (``streams`` keys read by ``sentence_ends``)
    sharing: SharingOptions = SharingOptions()

    def __post_init__(self) -> None:
        if self.partial_min_audio_samples < 0:
            raise ValueError(
                f"partial_min_audio_samples must not be negative, got {self.partial_min_audio_samples}"
            )
        if self.partial_interval_s < 0:
            raise ValueError(
                f"partial_interval_s must not be negative, got {self.partial_interval_s}"
            )
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.prompt_max_chars < 0:
            raise ValueError(f"prompt_max_chars must not be negative, got {self.prompt_max_chars}")

    @property
    def window_samples(self) -> int:
        """Most audio one request carries (a partial of a longer segment takes the newest)."""
        return self.chunking.max_chunk_samples

    @classmethod
    def from_config(
        cls,
        config: Config,
        backend_name: str,
        model_name: str,
        streaming: bool = False,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> SchedulerOptions:
        """Options from the configuration tree (``asr``, ``vad`` and ``streams`` sections)."""
        asr = config.asr
        window_s = BACKEND_WINDOW_S.get(backend_name, DEFAULT_WINDOW_S)
        chunking = ChunkingOptions.from_seconds(
            chunk_duration_s=min(asr.chunk_duration_s, window_s),
            overlap_duration_s=asr.overlap_duration_s,
            max_chunk_duration_s=window_s,
        )
        return cls(
            backend=backend_name,
            model=model_name,
            chunking=chunking,
            workers=asr.workers,
            partial_min_audio_samples=seconds_to_samples(asr.partial_min_audio_s),
            partial_interval_s=config.vad.partial_interval_s,
            use_prompt=asr.use_prompt,
            streaming=streaming,
            max_attempts=max_attempts,
            # confident words from one hypothesis (commit_policy's figures)
            commit=None
            if streaming
            else CommitOptions(
                confident_commit=asr.confident_commit,
                agreement_lookback=asr.agreement_lookback,
                agreement_bridge_words=asr.agreement_bridge_words,
                agreement_bridge_similar=True,  # words alike only (commit_policy's figures)
                prompt_recent_chars=asr.prompt_recent_chars,
                long_uncommitted_s=asr.long_uncommitted_s,
                # the speech before the words a partial decides (commit_policy's figures)
                partial_context_s=asr.partial_context_s,
                # the words before a pause heard again by the early final, not the partials;
                # a final that spells a number out left out of the prompt; a 3 s gap as
                # measured (commit_policy's figures)
                context_lead_after_pause=asr.early_final_lead_in_s > 0,
                context_lead_in_s=asr.early_final_lead_in_s or CommitOptions().context_lead_in_s,
                context_lead_max_gap_s=3.0,
                context_lead_partials=False,
                prompt_skip_spelled_numbers=True,
                drafts=asr.draft_decoding,
                # a sentence's last words: the partial timed by its end (commit_policy's figures)
                sentence_end_delay_s=asr.sentence_end_delay_s,
                # a word is over once the next confident one began (commit_policy's figures)
                confident_next_start_s=asr.confident_next_start_s,
                # tiny.en's full stop where its audio stops (commit_policy's figures)
                hold_after_clause_gaps=asr.hold_after_clause_gaps,
            ),
            max_batch=asr.max_batch,
            max_batched_audio_s=asr.max_batched_audio_s,
            sharing=SharingOptions.from_config(config.streams),
        )

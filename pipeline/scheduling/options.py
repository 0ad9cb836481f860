"""What the segment scheduler needs to know: chunking, partial cadence, prompts and retries.

Built once at start from the configuration (``SchedulerOptions.from_config``); everything is in
samples or seconds of the 16 kHz stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.schema import Config
from pipeline.audio_format import seconds_to_samples
from pipeline.chunking import WHISPER_WINDOW_S, ChunkingOptions
from pipeline.scheduling.commit_policy import CommitOptions

DEFAULT_MAX_ATTEMPTS = 3  # sends of one request (first try included) before it counts as failed
DEFAULT_PROMPT_MAX_CHARS = 400  # tail of the previous final given as a prompt (~100 tokens)
# Seconds of audio one request may carry, per backend. Whisper sees 30 s per forward pass; the
# others get the same bound so a partial or chunk never grows with the segment.
BACKEND_WINDOW_S = {"whisper": WHISPER_WINDOW_S}
DEFAULT_WINDOW_S = WHISPER_WINDOW_S


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
        """Options from the configuration tree (``asr`` and ``vad`` sections)."""
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
                # a sentence's last words: the partial timed by its end (commit_policy's figures)
                sentence_end_delay_s=asr.sentence_end_delay_s,
            ),
            max_batch=asr.max_batch,
            max_batched_audio_s=asr.max_batched_audio_s,
        )

"""How many encoder frames a request pays for: the full 30 s window, or only the audio it holds.

Whisper pads every input to 30 s and its encoder attends over all 1500 frames (20 ms each), so a
2 s request costs as much as a 30 s one. Like whisper.cpp's ``audio_ctx``, the shortened encoder
reads only the window's first F frames (the audio plus a margin of the zero padding the model
was trained with), adds the first F positional embeddings, and the decoder's cross-attention
sees F frames instead of 1500. The encoder's cost falls about in proportion (its attention
faster still), every decoder step's cross-attention too.

The model never saw a window shorter than 30 s in training, and whisper.cpp users report
repetition loops with a small ``audio_ctx``: the margin of padding after the audio keeps the
end-of-text cue the model learned, and ``bench/encoder_ctx.py`` measures WER per length bucket
against the full window, which sets the defaults here (the ``asr.audio_ctx*`` keys).

Measured on the dev recordings, a short window sometimes makes tiny.en say the last sentence
twice (or a short phrase many times), or give up on the audio (empty text). ``looks_suspect``
flags such a result so the backend decodes the request again over the full window: a repeat
costs a second pass, never a wrong transcript that the full window would have got right. A
partial that ``gave_nothing`` is dropped instead (``pipeline.transcription_service``).

A partial (a preview the scheduler's local agreement turns into committed words) may have its
own floor, ``partial_min_s`` (``asr.audio_ctx_partial_min_s``), since a 2 s partial pays a 10 s
window. ``bench/encoder_ctx.py --partials`` measures, per length bucket and floor, the partial's
text against the full window's on the same audio. On tiny.en a 2-4 s floor lost words on 1-2 s
partials and sent up to 4x as many back to the 30 s window (loops); 6 s kept the 10 s floor's
WER in every bucket within a word or four and saved CPU on 2-6 s partials on MLX, and over the
whole scheduler (``bench/commit_latency.py --simulate``) 7-9 % of the engine CPU with the same
committed WER: the default (the README has the tables).

A preview (a segment's first partial over less than ``asr.partial_min_audio_s``: shown, never
agreed on, and its suspect answer dropped rather than decoded again) may have a floor of its own,
``preview_min_s`` (``asr.audio_ctx_preview_min_s``): the first partial's encoder pass is on the
path from speech start to the first text a subscriber sees, and a short window's known losses (a
loop, a lost word) cost only a dropped preview, retried with the next audio. A preview is a
partial too: without ``preview_min_s`` it gets ``partial_min_s``. Default 5 s (250 frames
against 300), measured with ``bench/commit_latency.py --simulate --cost-model`` side by side:
each preview ~23 ms sooner (155 vs 178 ms of modeled engine time), the same preview texts and
suspect counts on dictation_dev, monologue_dev, the quick dev set's dictation and the Harvard
list (first partial p50 614 -> 591, 821 -> 798, 583 -> 560, 554 -> 531 ms); on the synthetic dictation
(1,589 words, 184 previews) 92 suspect against 89, first partial mean 851 -> 838 ms but p50
668 -> 732 ms (about half its previews fail, so its median falls in the gap between a first
preview shown and one tried again); user latency, commits and WER the same on all of them.
4 s: more suspect previews (dictation_dev 4 of 12, 3 s 8 of 14) and a later first partial.

An early final (the scheduler's decode of a segment's uncommitted rest when a pause begins,
``TranscribeRequest.early_final``) may have its own floor too, ``early_final_min_s``
(``asr.audio_ctx_early_final_min_s``): on the ``low-latency`` profile every sentence end waits
for one, so its encoder pass is on the latency path (the profile's comment has the figures).

A final's suspect result goes first to a second pass on the same short window at the next
fallback temperature (``asr.audio_ctx_retry = "temperature"``, the default), kept unless it
``looks_broken`` (a loop, the token cap, nothing); only then to the full window. Most suspect
finals are not loops but hard audio the model is unsure of (mean log-probability under -1), and
the full window's answer to them was no better: the 21 early finals of the synthetic dictation
(each reference utterance decoded alone on the 10 s floor) whose 10 s result was suspect had
126 errors of 130 words as they were, 114 after the full window's temperature ladder (0.90 s
each), 117 after one pass at 0.2 on the same window (0.21 s), 110 on the full window at 0 only
(0.75 s). Over the whole scheduler (``bench/commit_latency.py --simulate --cost-model``,
``--set asr.audio_ctx_retry=full`` against ``temperature``): the synthetic dictation (1,589
words) end-of-speech decision -> final p95 527 -> 150 ms, WER 0.3247 -> 0.3216, engine CPU
0.278 -> 0.271 s per audio s; continuous.wav (1,096 words) WER 0.240 -> 0.236, last word ->
final p95 3.51 -> 3.40 s; the Harvard list's decision -> final p95 334 -> 58 ms; jfk, the
demo monologue, dictation_dev and monologue_dev the same text. Partials keep the full path:
sampled partials feed the local agreement, and with them too the synthetic dictation lost
(WER 0.3342, 15 more inserted words).

The hotter pass decodes the first pass's encoder output again (the same frames give the same
output), so it costs only its decoding. It is only for windows of at most half the full one
(``hotter_retry_fits``: 1,500 / 2 frames, 13 s of audio with the padding), the sizes it was
measured on and where it saves most. On longer windows it cost words: the offline long-form pass reads a 30 s window that
gave nothing again over 20 s (1,100 frames), and on the synthetic dictation one such window's
suspect "the" came back "the" at 0.2 and was kept where the full window read the sentences;
the samples spelled the numbers after it out ("twenty two") and the prompt carried that on:
offline WER 0.2901 -> 0.3103 (``bench/commit_latency.py``'s offline pass, 89e6442 against the
full path). The full window costs such a window only 1.4 times its own pass.

F is rounded up to a multiple of ``STEP_FRAMES`` so the MLX engine compiles a bounded number of
encoder shapes (at most 1500 / STEP_FRAMES).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.backends.whisper.features import FRAMES_PER_TOKEN, HOP_LENGTH
from pipeline.backends.whisper.repeat_watch import repeat_size_at, words_of

MODES = ("auto", "full")
SAMPLES_PER_FRAME = HOP_LENGTH * FRAMES_PER_TOKEN  # 320 samples = 20 ms per encoder frame
FRAMES_PER_S = 16_000 / SAMPLES_PER_FRAME  # 50
STEP_FRAMES = 50  # F is a multiple of 1 s


@dataclass(frozen=True, slots=True)
class AudioContextPolicy:
    """``mode`` auto: encode the audio plus ``pad_s`` of padding, at least ``min_s``
    (``partial_min_s`` for a partial, ``preview_min_s`` for a preview, ``early_final_min_s`` for
    an early final; None: the partial's floor for a preview, else ``min_s``),
    for requests up to ``max_audio_s`` (longer ones get the full window); ``full``: always 30 s."""

    mode: str = "auto"
    min_s: float = 10.0
    pad_s: float = 2.0
    max_audio_s: float = 30.0
    partial_min_s: float | None = None
    early_final_min_s: float | None = None
    preview_min_s: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"audio_ctx {self.mode!r}: expected one of {MODES}")
        optional = ("partial_min_s", "early_final_min_s", "preview_min_s")
        for name in ("min_s", "pad_s", "max_audio_s", *optional):
            value = getattr(self, name)
            if name in optional and value is None:
                continue
            if not (math.isfinite(value) and 0 <= value <= 30):
                raise ValueError(f"audio_ctx_{name} must be between 0 and 30 s, got {value!r}")

    def frames(
        self, num_samples: int, n_audio_ctx: int, *, partial: bool = False,
        early_final: bool = False, preview: bool = False,
    ) -> int:  # fmt: skip
        """Encoder frames F for ``num_samples`` of 16 kHz audio (mel frames: 2 F); ``partial``:
        the request is a partial, ``preview``: a preview partial, ``early_final``: an early
        final (each its own floor)."""
        if num_samples < 0:
            raise ValueError(f"sample count must not be negative, got {num_samples}")
        if self.mode == "full" or num_samples > self.max_audio_s * 16_000:
            return n_audio_ctx
        wanted = max(
            math.ceil(num_samples / SAMPLES_PER_FRAME) + round(self.pad_s * FRAMES_PER_S),
            round(self.floor_s(partial, early_final, preview) * FRAMES_PER_S),
            1,
        )
        return min(n_audio_ctx, math.ceil(wanted / STEP_FRAMES) * STEP_FRAMES)

    def floor_s(
        self, partial: bool = False, early_final: bool = False, preview: bool = False
    ) -> float:
        """The shortest window in auto mode: ``preview_min_s`` for a preview (a partial),
        ``partial_min_s`` for a partial, ``early_final_min_s`` for an early final, when set;
        else ``min_s``."""
        if partial and preview and self.preview_min_s is not None:
            return self.preview_min_s
        if partial and self.partial_min_s is not None:
            return self.partial_min_s
        if early_final and self.early_final_min_s is not None:
            return self.early_final_min_s
        return self.min_s


def has_repeat(text: str) -> bool:
    """True when some run of 2+ words is said twice in a row, or one word three times in a
    row: the loop a short window provokes ("Thank you. Thank you.", "25. 25. 25.")."""
    words = words_of(text)
    return any(repeat_size_at(words, end) for end in range(2, len(words) + 1))


def looks_suspect(text: str, details: dict[str, float]) -> bool:
    """A short-window result to decode again over the full window: empty or rejected, failing
    the fallback checks (low log-probability, a loop), stopped by the token cap or by the early
    stop on a repeat (``repeat_watch``), or repeating."""
    return (
        not text
        or details.get("rejected", 0.0) > 0
        or details.get("fallback", 0.0) > 0
        or details.get("hit_cap", 0.0) > 0
        or details.get("repeat_stop", 0.0) > 0
        or has_repeat(text)
    )


def looks_broken(text: str, details: dict[str, float]) -> bool:
    """A suspect result that is not merely unsure: empty or rejected, capped, or looping. A
    short window's second pass at the next temperature (``audio_ctx_retry = "temperature"``) is
    kept unless it looks broken; a low mean log-probability alone is kept (the full window's
    answer to such hard audio was no better: whisper_mlx's ``_after_suspect_window``)."""
    return (
        not text
        or details.get("rejected", 0.0) > 0
        or details.get("hit_cap", 0.0) > 0
        or details.get("repeat_stop", 0.0) > 0
        or has_repeat(text)
    )


def hotter_retry_fits(frames: int, full_frames: int) -> bool:
    """Whether a short window's suspect final may be decoded again on the same window at the
    next temperature (``audio_ctx_retry = "temperature"``): only a window of at most half the
    full one (the module's docstring has why)."""
    return 2 * frames <= full_frames


def encoder_frames_computed(details: dict[str, float]) -> float:
    """Encoder frames a result's last pass computed: its window's (``audio_ctx``), or none when
    it decoded the pass before's encoder output again (``encoder_reused``: the hotter pass on
    the same window). The passes before the last are ``audio_ctx_retry_frames``."""
    if details.get("encoder_reused", 0.0) > 0:
        return 0.0
    return details.get("audio_ctx", 0.0)


def gave_nothing(text: str, details: dict[str, float]) -> bool:
    """A short-window result with no text, or rejected (noise, a breath): for a partial, the
    full window's second pass almost always gives nothing too, at several times the cost, so the
    worker drops it instead; a loop or a capped result is still decoded again."""
    return not text or details.get("rejected", 0.0) > 0

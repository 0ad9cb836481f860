"""The Whisper backend: an MLX Whisper model directory, decoded with guards for a 24 h service.

Per window of up to 30 s: log-Mel → encoder (over the audio plus a margin, not always the full 30 s:
``whisper/audio_context.py``) → token search (greedy or beam) with temperature fallback →
no-speech / log-probability / compression-ratio guards → word timestamps from cross-attention.
Silence and noise give an empty ``Transcription``; decoded tokens are capped in proportion to the
audio length so a repetition loop cannot run away.

The model is resolved with ``pipeline.models.resolve_model`` and loaded once. Two engines compute
the same forward pass over its weights (``whisper/engine_base.py``): ``mlx`` (MLX arrays, Metal on
Apple Silicon) and ``numpy`` (numpy + BLAS, the faster one on x86 CPUs, where MLX's CPU kernels
are several times slower per decoder step). ``engine="auto"`` picks mlx on macOS arm64 and numpy
elsewhere. Importing this module does not import mlx or numpy's heavy users; constructing a
backend does.
"""

from __future__ import annotations

import logging
import math
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.backends import mlx_runtime
from pipeline.backends.base import Backend, Capabilities, MemoryStats
from pipeline.errors import BackendError, ModelError
from pipeline.words import Transcription, Word

if TYPE_CHECKING:
    from pipeline.backends.whisper.decoding import Hypothesis

logger = logging.getLogger(__name__)

WINDOW_S = 30.0  # Whisper's encoder window
_SILENCE_RMS = 1e-4  # about -80 dBFS: digital silence is not worth an encoder pass
_HESITANT_PROB = 0.5  # mean token probability below which a likely-silent window is dropped


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """Decoding options (the ``asr`` section of the configuration, minus scheduling)."""

    engine: str = "auto"  # compute engine: mlx, numpy, or auto (mlx on Apple Silicon)
    dtype: str = "float32"  # weight precision: float32, bfloat16, float16
    projection_bits: int = 8  # bits of the vocabulary projection: 8 (int8_projection.py) or 32
    beam_size: int = 1  # 1 = greedy
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback sequence
    no_speech_threshold: float = 0.6  # with a low log-probability: the window is silence
    logprob_threshold: float = -1.0  # mean token log-probability below which decoding falls back
    compression_ratio_threshold: float = 2.4  # gzip ratio above which text is a loop
    max_tokens_per_s: float = 8.0  # cap on decoded tokens per second of audio
    use_prompt: bool = True  # condition on the previous final of the stream
    word_timestamps: bool = True  # cross-attention alignment (one extra decoder pass)
    language: str = "en"  # multilingual models only
    mlx_cache_limit_mb: int = 256  # bound on MLX's buffer cache
    blas_threads: int = 0  # 0 = all cores (one worker) — the supervisor passes cores // workers
    decoder_blas_threads: int = 1  # BLAS threads while decoding on a CPU; 0 = as blas_threads
    audio_ctx: str = "auto"  # encoder window: auto (the audio + a margin) or full (always 30 s)
    audio_ctx_min_s: float = 10.0  # shortest encoder window in auto mode
    audio_ctx_partial_min_s: float = 6.0  # the same for partials (previews)
    audio_ctx_early_final_min_s: float = 10.0  # the same for early finals (at a pause)
    # the same for previews (a segment's first partial, shown, never agreed on); None: partials' floor
    audio_ctx_preview_min_s: float | None = 5.0
    audio_ctx_pad_s: float = 2.0  # padding encoded after the audio in auto mode
    audio_ctx_max_audio_s: float = 30.0  # longer requests get the full window in auto mode
    # a short window's suspect result: "full" decodes it again on the finals' then the full
    # window; "temperature" (finals only) first on the same window at the next temperature
    audio_ctx_retry: str = "full"
    seed: int = 0  # sampling at temperature > 0
    repeat_stop: bool = True  # a short window's search stops once its text repeats (retried)
    # ... and, below the finals' window, ends at the sentences said before a repeated one
    # instead of a second pass: off, it lost words on the synthetic dictation (repeat_watch)
    repeat_cut: bool = False
    # ... and on any short window whose decoder was given a forced prefix (committed words):
    # cut there too
    repeat_cut_after_prefix: bool = True
    # every temperature failing the checks: keep the attempt with the best mean log-probability
    # (of those not looping) instead of the last, hottest one (``best_attempt``)
    fallback_best: bool = True

    @classmethod
    def from_config(cls, asr) -> WhisperOptions:
        """From ``config.schema.AsrConfig`` (duck-typed, so this module does not import config)."""
        names = set(cls.__dataclass_fields__) & set(vars(asr))
        return cls(**{name: getattr(asr, name) for name in names})


def best_attempt(attempts: list[Hypothesis], compression_ratio_threshold: float) -> Hypothesis:
    """Of a window's hypotheses that all failed the fallback checks, the one with the highest
    mean token log-probability among those under the compression-ratio threshold (all, if none
    is), as faster-whisper does: the last attempt, sampled at the highest temperature, is often
    words the audio never held ("... and he looks into with hedonu and commentary ...")."""
    kept = [h for h in attempts if h.compression_ratio <= compression_ratio_threshold]
    return max(kept or attempts, key=lambda h: h.avg_logprob)


def after_spent(result: Transcription, spent_s: float, spent_frames: float, spent_tokens: float,
                **marks: float) -> Transcription:  # fmt: skip
    """``result`` of a short window's second (or third) pass, with what the passes before it
    took and computed (``audio_ctx_retry_*``: bench/commit_latency.py's cost model) and
    ``marks``."""
    return replace(result, details={**result.details, "audio_ctx_retry_s": spent_s,
                                    "audio_ctx_retry_frames": spent_frames,
                                    "audio_ctx_retry_tokens": spent_tokens, **marks})  # fmt: skip


ENGINES = ("auto", "mlx", "numpy")


def choose_engine(requested: str = "auto") -> tuple[str, str]:
    """The engine to run (``mlx`` or ``numpy``) for ``requested``, and why, in words."""
    if requested not in ENGINES:
        raise BackendError(f"unknown Whisper engine {requested!r}: expected one of {ENGINES}")
    if requested != "auto":
        return requested, "configured"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mlx", "auto: Apple Silicon, MLX runs on Metal"
    return "numpy", (f"auto: {sys.platform} {platform.machine()} has no MLX GPU; on a CPU numpy + "
                     "BLAS runs Whisper ~2.5x faster than MLX")  # fmt: skip


class WhisperBackend(Backend):
    """One Whisper model in one process; ``transcribe`` any number of times."""

    name = "whisper"

    def __init__(self, model: str | Path = "", options: WhisperOptions | None = None,
                 quantization: str = "none") -> None:  # fmt: skip
        self.options = options or WhisperOptions()
        self.retry_suspect = True  # False: an empty short-window result comes back marked
        self.partial_request = False  # True: the request is a partial (audio_ctx_partial_min_s)
        # True: the request is an early final (audio_ctx_early_final_min_s)
        self.early_final_request = False
        # True: the partial is a preview (shown, never agreed on): its own encoder floor
        # (audio_ctx_preview_min_s), and any suspect short-window result comes back marked
        # instead of decoded again (with ``retry_suspect`` off)
        self.preview_request = False
        # the words a previous hypothesis of this audio said after the prefix: greedy search
        # checks them several tokens per decoder pass (``whisper/drafted_greedy.py``), same text
        self.draft_text = ""
        mlx_runtime.prepare_blas(self.options.blas_threads)
        mlx_runtime.limit_numpy_blas(self.options.blas_threads)
        from pipeline.models import resolve_model
        from pipeline.models.store import read_metadata

        started_s = time.perf_counter()
        self.model_dir = resolve_model(str(model), quantization)
        self._model_name = str(read_metadata(self.model_dir).get("name", self.model_dir.name))
        try:
            self._load()
        except ModelError:
            raise
        except Exception as e:
            raise BackendError(f"cannot load Whisper model {self.model_dir}: {e}") from e
        logger.info("loaded %s (%s) on the %s engine (%s) in %.2f s", self._model_name,
                    self.options.dtype, self.engine_name, self._engine_reason,
                    time.perf_counter() - started_s)  # fmt: skip

    def _load(self) -> None:
        from pipeline.backends.whisper.blas_phases import BlasPhases
        from pipeline.backends.whisper.decoding import TokenSearch
        from pipeline.backends.whisper.weights import load_numpy_weights, read_config

        mlx_runtime.configure_mlx(self.options.mlx_cache_limit_mb)
        from pipeline.backends.whisper.mlx_whisper_files import tokenizer_module

        get_tokenizer = tokenizer_module().get_tokenizer

        dims, _ = read_config(self.model_dir)
        weights = load_numpy_weights(self.model_dir, self.options.dtype)
        self.dims = dims
        heads = weights.pop("alignment_heads", None)
        if heads is None or not len(heads):
            heads = np.array([(layer, h) for layer in range(dims.n_text_layer // 2, dims.n_text_layer)
                              for h in range(dims.n_text_head)])  # fmt: skip
        self._alignment_heads = np.asarray(heads, dtype=np.int64).reshape(-1, 2)
        engine, self._engine_reason = choose_engine(self.options.engine)
        if engine == "mlx":
            from pipeline.backends.whisper.mlx_engine import MlxWhisperEngine

            self.engine = MlxWhisperEngine(dims, weights, self.options.dtype,
                                           projection_bits=self.options.projection_bits)  # fmt: skip
        else:
            from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine

            self.engine = CpuWhisperEngine(dims, weights, self.options.projection_bits)
        del weights
        self._engine_name = self.engine.name
        self._phases = None  # BLAS threads per phase, where the engine computes on this CPU
        if engine == "numpy" or sys.platform == "linux":
            threads = self.options.blas_threads or mlx_runtime.default_blas_threads(1)
            self._phases = BlasPhases(threads, self.options.decoder_blas_threads)
        multilingual = dims.n_vocab >= 51865
        self.tokenizer = get_tokenizer(
            multilingual,
            num_languages=dims.n_vocab - 51765 - int(multilingual),
            language=self.options.language if multilingual else None,
            task="transcribe" if multilingual else None,
        )
        tok = self.tokenizer
        suppressed = {*tok.non_speech_tokens, tok.transcribe, tok.translate, tok.sot,
                      tok.sot_prev, tok.sot_lm, tok.no_timestamps}  # fmt: skip
        if tok.no_speech is not None:
            suppressed.add(tok.no_speech)
        suppress = np.zeros(dims.n_vocab, np.float32)
        suppress[sorted(t for t in suppressed if t < dims.n_vocab)] = -np.inf
        suppress[tok.timestamp_begin :] = -np.inf
        begin = np.zeros(dims.n_vocab, np.float32)
        begin[[*tok.encode(" "), tok.eot]] = -np.inf
        after_prefix = np.zeros(dims.n_vocab, np.float32)  # a forced prefix may be all there is
        after_prefix[tok.encode(" ")] = -np.inf
        self._search = TokenSearch(self.engine, suppress, begin, tok.eot, tok.no_speech,
                                   np.random.default_rng(self.options.seed),
                                   prefix_begin_mask=after_prefix, text_of=tok.decode)  # fmt: skip
        self._start_sequence = list(tok.sot_sequence_including_notimestamps)
        from pipeline.backends.whisper.audio_context import AudioContextPolicy

        opts = self.options
        self._audio_ctx = AudioContextPolicy(opts.audio_ctx, opts.audio_ctx_min_s,
                                             opts.audio_ctx_pad_s, opts.audio_ctx_max_audio_s,
                                             opts.audio_ctx_partial_min_s,
                                             opts.audio_ctx_early_final_min_s,
                                             opts.audio_ctx_preview_min_s)  # fmt: skip

    # -- Backend -------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def engine_name(self) -> str:
        """The compute engine in use: ``mlx`` or ``numpy``."""
        return self._engine_name

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(offline=True, streaming=False, max_window_s=WINDOW_S)

    supports_prefix = True  # ``transcribe(..., prefix=)``: forced words at the audio's head

    def transcribe(
        self, audio: np.ndarray, prompt: str | None = None, prefix: str | None = None
    ) -> Transcription:
        """Audio float32 (n,) at 16 kHz; longer than 30 s is decoded window after window.

        ``prefix``: text known to be spoken at the head of the audio (a partial's committed
        words): its tokens are fed after the start sequence in the first decoder pass and
        decoding continues after them (Whisper's ``prefix`` option), so only the words after
        it are generated. The result holds the prefix words too, with their aligned times.
        """
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        duration_s = audio.size / 16_000
        window = int(WINDOW_S * 16_000)
        texts, words, details = [], [], {}
        for start in range(0, max(audio.size, 1), window):
            piece = audio[start : start + window]
            result = self._transcribe_window(piece, prompt if self.options.use_prompt else None,
                                             prefix if start == 0 else None)  # fmt: skip
            details = result.details
            if result.is_empty:
                continue
            texts.append(result.text)
            words.extend(w.shifted(start / 16_000) for w in result.words)
            prompt = result.text
        return Transcription(text=" ".join(texts).strip(), words=tuple(words),
                             duration_s=duration_s, details=details)  # fmt: skip

    def memory_stats(self) -> MemoryStats:
        return mlx_runtime.memory_stats()

    def close(self) -> None:
        self.engine = None
        mlx_runtime.release_cache()

    # -- one window ----------------------------------------------------------------------------

    def _initial_tokens(self, prompt: str | None) -> tuple[list[int], int]:
        tokens = list(self._start_sequence)
        if prompt and prompt.strip():
            prompt_tokens = self.tokenizer.encode(" " + prompt.strip())
            keep = self.dims.n_text_ctx // 2 - 1
            tokens = [self.tokenizer.sot_prev, *prompt_tokens[-keep:], *tokens]
        return tokens, tokens.index(self.tokenizer.sot)

    def _draft_tokens(self) -> tuple[int, ...]:
        """``draft_text`` as the tokens the decoder would choose for it after the prefix."""
        if not self.draft_text.strip():
            return ()
        return tuple(self.tokenizer.encode(" " + self.draft_text.strip()))

    def _prefix_tokens(self, prefix: str | None) -> list[int]:
        if not prefix or not prefix.strip():
            return []
        keep = self.dims.n_text_ctx // 4  # openai/whisper keeps at most a quarter of the context
        return list(self.tokenizer.encode(" " + prefix.strip()))[-keep:]

    def _transcribe_window(self, audio: np.ndarray, prompt: str | None,
                           prefix: str | None = None) -> Transcription:  # fmt: skip
        from pipeline.backends.whisper.audio_context import looks_suspect

        duration_s = audio.size / 16_000
        if audio.size == 0 or float(np.sqrt(np.mean(np.square(audio)))) < _SILENCE_RMS:
            return Transcription(text="", duration_s=duration_s, details={"silent": 1.0})
        started_s = time.perf_counter()
        full = self.dims.n_audio_ctx
        frames = self._audio_ctx.frames(audio.size, full, partial=self.partial_request,
                                        early_final=self.early_final_request,
                                        preview=self.preview_request)  # fmt: skip
        # a short window decodes at the first temperature only: a fallback goes to the full window
        temperatures = self.options.temperatures or (0.0,)
        context = self._encode(audio, frames)
        result = self._decode_encoded(audio, context, prompt, frames, started_s,
                                      temperatures if frames == full else temperatures[:1],
                                      prefix)  # fmt: skip
        if frames < full and looks_suspect(result.text, result.details):
            return self._after_suspect_window(audio, prompt, prefix, frames, result,
                                              time.perf_counter() - started_s, context)  # fmt: skip
        return result

    def _after_suspect_window(self, audio: np.ndarray, prompt: str | None, prefix: str | None,
                              frames: int, result: Transcription, spent_s: float,
                              context: Any = None) -> Transcription:  # fmt: skip
        """A short encoder window's suspect ``result`` (a repeated sentence, no text), which took
        ``spent_s``: handed back marked ``suspect`` when it gave nothing, or whatever it gave
        for a preview, and the caller drops such results (``retry_suspect`` off: noise or a
        breath; a partial: the next supersedes it); else decoded again, first on the finals'
        window when ``frames`` was a partial's shorter floor (1/3), then on the full window
        (single path and ``batch_windows``). With ``audio_ctx_retry = "temperature"`` a final's
        (not a partial's) suspect result on a window of at most half the full one
        (``hotter_retry_fits``) is first decoded once more on the same window at the next
        fallback temperature, kept unless it looks broken (``looks_broken``: a loop, the
        cap, nothing); a low mean log-probability alone is kept, as the full window's answer to
        such audio was no better (``whisper/audio_context.py`` has the figures). ``context``:
        the first pass's encoder output for this window, which the hotter pass decodes again
        instead of encoding the same frames twice (None: encoded again)."""
        from pipeline.backends.whisper.audio_context import (
            encoder_frames_computed,
            gave_nothing,
            hotter_retry_fits,
            looks_broken,
            looks_suspect,
        )

        if not self.retry_suspect and (
            self.preview_request or gave_nothing(result.text, result.details)
        ):
            return replace(result, details={**result.details, "suspect": 1.0})
        # what the passes before the last computed (bench/commit_latency.py's cost model)
        spent_frames = result.details.get("audio_ctx", float(frames))
        spent_tokens = result.details.get("tokens", 0.0) + 1
        full = self.dims.n_audio_ctx
        temperatures = self.options.temperatures or (0.0,)
        if (self.options.audio_ctx_retry == "temperature" and not self.partial_request
                and len(temperatures) > 1 and hotter_retry_fits(frames, full)):  # fmt: skip
            hotter_s = time.perf_counter()
            if context is None:
                hotter = self._encode_and_decode(audio, prompt, frames, hotter_s,
                                                 temperatures[1:2], prefix)  # fmt: skip
            else:  # the same frames: the first pass's encoder output decoded again
                hotter = self._decode_encoded(audio, context, prompt, frames, hotter_s,
                                              temperatures[1:2], prefix)  # fmt: skip
                hotter = replace(hotter, details={**hotter.details, "encoder_reused": 1.0})
            if not looks_broken(hotter.text, hotter.details):
                return after_spent(hotter, spent_s, spent_frames, spent_tokens,
                                   audio_ctx_retry_hotter=1.0)  # fmt: skip
            spent_s += time.perf_counter() - hotter_s
            spent_frames += encoder_frames_computed(hotter.details)
            spent_tokens += hotter.details.get("tokens", 0.0) + 1
        logger.debug("short encoder window (%d frames) gave %r: full window", frames, result.text)
        retried_s = time.perf_counter()
        middle = self._audio_ctx.frames(audio.size, full)  # the finals' window
        if frames < middle < full:
            second = self._encode_and_decode(audio, prompt, middle, retried_s, temperatures[:1],
                                             prefix)  # fmt: skip
            if not looks_suspect(second.text, second.details):
                return after_spent(second, spent_s, spent_frames, spent_tokens)
            spent_frames += second.details.get("audio_ctx", float(middle))
            spent_tokens += second.details.get("tokens", 0.0) + 1
        spent_s += time.perf_counter() - retried_s
        result = self._encode_and_decode(audio, prompt, full, time.perf_counter(), temperatures,
                                         prefix)  # fmt: skip
        return after_spent(result, spent_s, spent_frames, spent_tokens)

    def stops_on_repeat(self, frames: int) -> bool:
        """Whether a search over ``frames`` encoder frames stops once its text repeats: on a
        short window whose suspect result is decoded again (``retry_suspect``) or dropped (a
        preview), where a repeat is retried or dropped anyway; never on the full window, whose
        text is the answer."""
        retried_or_dropped = self.retry_suspect or self.preview_request
        return self.options.repeat_stop and retried_or_dropped and frames < self.dims.n_audio_ctx

    def cuts_repeat(self, frames: int, num_samples: int, prefixed: bool = False) -> bool:
        """Whether a search that stops on a repeat ends at the sentences said before it instead
        of being decoded again: on a window shorter than the finals' own for this audio (an
        early final's or a partial's floor), where the second pass would be the finals' window;
        off by default (``WhisperOptions.repeat_cut``: it lost words, ``repeat_watch``). Also on
        any window whose decoder was given a forced prefix (``prefixed``) with
        ``WhisperOptions.repeat_cut_after_prefix`` (on): the repeat there is the sentences said
        again after the committed words."""
        if prefixed and self.options.repeat_cut_after_prefix:
            return True
        finals = self._audio_ctx.frames(num_samples, self.dims.n_audio_ctx)
        return self.options.repeat_cut and frames < finals

    def max_tokens(self, duration_s: float) -> int:
        """The cap on tokens decoded for ``duration_s`` of audio (``max_tokens_per_s``)."""
        return max(4, math.ceil(self.options.max_tokens_per_s * max(duration_s, 1.0)))

    def _encode(self, audio: np.ndarray, frames: int) -> Any:
        """The engine's audio context of ``audio``'s first ``frames`` encoder frames."""
        from pipeline.backends.whisper.features import log_mel_spectrogram

        if self._phases is not None:
            self._phases.encoder()
        context = self.engine.encode(log_mel_spectrogram(audio, self.dims.n_mels, 2 * frames))
        if self._phases is not None:
            self._phases.decoder()
        return context

    def _encode_and_decode(self, audio: np.ndarray, prompt: str | None, frames: int,
                           started_s: float, temperatures: tuple[float, ...],
                           prefix: str | None = None) -> Transcription:  # fmt: skip
        context = self._encode(audio, frames)
        return self._decode_encoded(audio, context, prompt, frames, started_s, temperatures,
                                    prefix)  # fmt: skip

    def _decode_encoded(self, audio: np.ndarray, context: Any, prompt: str | None, frames: int,
                        started_s: float, temperatures: tuple[float, ...],
                        prefix: str | None = None) -> Transcription:  # fmt: skip
        """``audio``'s window decoded from its encoder output ``context`` (``encode_s``: the
        time from ``started_s`` to now)."""
        encoded_s = time.perf_counter()
        try:
            return self._decode_window(audio, context, prompt, started_s, encoded_s, frames,
                                       temperatures, self._prefix_tokens(prefix))  # fmt: skip
        finally:
            self.engine.end_window()

    def _decode_window(self, audio: np.ndarray, context, prompt: str | None, started_s: float,
                       encoded_s: float, frames: int, temperatures: tuple[float, ...],
                       prefix_tokens: list[int] | None = None,
                       first=None) -> Transcription:  # fmt: skip
        """``first``: the hypothesis of the first temperature, already decoded (a batch's
        greedy pass, ``whisper/batch_decoder.py``); the fallback temperatures run here."""
        from pipeline.backends.whisper.decoding import SearchOptions, compression_ratio

        opts = self.options
        duration_s = audio.size / 16_000
        initial, sot_index = self._initial_tokens(prompt)
        forced = tuple(prefix_tokens or ())
        initial = [*initial, *forced]
        max_tokens = self.max_tokens(duration_s)
        stop_on_repeat = self.stops_on_repeat(frames)
        cut_repeat = stop_on_repeat and self.cuts_repeat(frames, audio.size, bool(forced))
        hypothesis = None
        fallback = False
        attempts = []
        draft = self._draft_tokens()
        for attempt, temperature in enumerate(temperatures):
            search = SearchOptions(temperature=temperature, beam_size=opts.beam_size,
                                   max_tokens=max_tokens, after_prefix=bool(forced),
                                   forced_tokens=len(forced), stop_on_repeat=stop_on_repeat,
                                   cut_repeat=cut_repeat, draft=draft)  # fmt: skip
            if attempt == 0 and first is not None:
                hypothesis = first
            else:
                hypothesis = self._search.run(context, initial, sot_index, search)
            if forced:  # the forced words lead the result, as if decoded (probability 1)
                hypothesis = replace(hypothesis, tokens=(*forced, *hypothesis.tokens),
                                     token_probs=(1.0,) * len(forced) + hypothesis.token_probs)  # fmt: skip
            text = self.tokenizer.decode(list(hypothesis.tokens)).strip()
            hypothesis = replace(hypothesis, text=text, compression_ratio=compression_ratio(text))
            silent = (hypothesis.no_speech_prob > opts.no_speech_threshold
                      and hypothesis.avg_logprob < opts.logprob_threshold)  # fmt: skip
            fallback = (hypothesis.compression_ratio > opts.compression_ratio_threshold
                        or hypothesis.avg_logprob < opts.logprob_threshold
                        or hypothesis.hit_cap)  # fmt: skip
            if silent or not fallback:
                break
            attempts.append(hypothesis)
        assert hypothesis is not None
        if fallback and not silent and len(attempts) > 1 and opts.fallback_best:
            hypothesis = best_attempt(attempts, opts.compression_ratio_threshold)
        details = {
            "no_speech_prob": hypothesis.no_speech_prob,
            "avg_logprob": hypothesis.avg_logprob,
            "compression_ratio": hypothesis.compression_ratio,
            "temperature": hypothesis.temperature,
            "tokens": float(len(hypothesis.tokens) - len(forced)),  # decoded, not forced
            "max_tokens": float(max_tokens),
            "hit_cap": float(hypothesis.hit_cap),
            "repeat_stop": float(hypothesis.repeat_stop),
            "repeat_cut": float(hypothesis.repeat_cut),
            "prefix_tokens": float(len(forced)),
            "encode_s": encoded_s - started_s,
            "audio_ctx": float(frames),  # encoder frames (1500 = the full 30 s window)
            "fallback": float(fallback and not silent),  # still failing at the last temperature
            **hypothesis.details,  # a drafted search: its decoder steps and the draft kept
        }
        if self._rejected(hypothesis, len(forced)):
            details["rejected"] = 1.0
            return Transcription(text="", duration_s=duration_s, details=details)
        words: tuple[Word, ...] = ()
        if opts.word_timestamps and self._times_read(frames, hypothesis.text, details):
            from pipeline.backends.whisper.alignment import word_timings

            words = tuple(word_timings(
                self.engine, context, self.tokenizer, self._start_sequence, hypothesis.tokens,
                hypothesis.token_probs, self._alignment_heads, audio.size))  # fmt: skip
        elif opts.word_timestamps:
            from pipeline.backends.whisper.alignment import unaligned_words

            words = tuple(unaligned_words(self.tokenizer, hypothesis.tokens,
                                          hypothesis.token_probs, audio.size))  # fmt: skip
            details["word_times"] = 0.0  # the words' times are not aligned
        details["decode_s"] = time.perf_counter() - encoded_s
        return Transcription(text=hypothesis.text, words=words, duration_s=duration_s,
                             details=details)  # fmt: skip

    def _times_read(self, frames: int, text: str, details: dict[str, float]) -> bool:
        """Whether anyone reads this window's word times, worth the alignment pass
        (``whisper/alignment.py``): not for a preview (shown as text only) nor for a short
        window's suspect result (decoded again or dropped, ``_after_suspect_window``)."""
        from pipeline.backends.whisper.audio_context import looks_suspect

        if self.preview_request:
            return False
        return frames >= self.dims.n_audio_ctx or not looks_suspect(text, details)

    def _rejected(self, hypothesis, forced: int = 0) -> bool:
        """Silence, noise or a loop: nothing worth publishing (the first ``forced`` tokens were
        a given prefix, not guessed)."""
        opts = self.options
        if not hypothesis.text:
            return True
        if hypothesis.no_speech_prob > opts.no_speech_threshold:
            # Whisper's rule (with a low log-probability), plus: a hesitant guess over audio the
            # model itself calls silence (hiss giving " you" or " Thank you.") is dropped too.
            guessed = hypothesis.token_probs[forced:]
            mean_prob = float(np.mean(guessed)) if guessed else (1.0 if forced else 0.0)
            if hypothesis.avg_logprob < opts.logprob_threshold or mean_prob < _HESITANT_PROB:
                return True
        return hypothesis.compression_ratio > opts.compression_ratio_threshold

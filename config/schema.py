"""The configuration tree: one frozen dataclass per section, one field per key.

Every field carries its constraint in ``metadata`` (``choices``, ``min``/``max``) and a short
``help``; ``config.validation`` checks them all at start, so an invalid value fails with the key,
the value and what is allowed. Units are in the names (``_s``, ``_ms``, ``_mb``, ``_dbfs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _key(default: Any, help: str, **constraint: Any) -> Any:
    """A config field with its default, help text and constraint (choices, min, max)."""
    return field(default=default, metadata={"help": help, **constraint})


@dataclass(frozen=True)
class CaptureConfig:
    source: str = _key(
        "mic",
        "where audio comes from: mic, mic:DEVICE, file:PATH, stdin:FORMAT:RATE[:CHANNELS]",
    )
    pace: str = _key(
        "realtime",
        "file sources: realtime plays at speaking speed, fast as quickly as readers keep up",
        choices=("realtime", "fast"),
    )
    loop: bool = _key(False, "file sources: start again at the end (soak runs)")
    block_duration_ms: int = _key(32, "audio written to the ring per block", min=5, max=500)
    device_retry_initial_s: float = _key(
        0.5, "first wait before reopening a lost device", min=0.05, max=60
    )
    device_retry_max_s: float = _key(
        10.0, "longest wait between device reopen attempts", min=0.1, max=600
    )
    remove_dc: bool = _key(True, "subtract a slowly tracked DC offset from the input")


@dataclass(frozen=True)
class RingConfig:
    capacity_s: float = _key(
        120.0, "seconds of audio each stream's shared-memory ring holds", min=5, max=3600
    )


@dataclass(frozen=True)
class VadConfig:
    energy_gate_dbfs: float = _key(
        -55.0,
        "frames quieter than this RMS level are silence without further work",
        min=-120,
        max=0,
    )
    webrtc: bool = _key(True, "run the WebRTC VAD tier")
    webrtc_aggressiveness: int = _key(
        2, "WebRTC VAD mode, 0 (least) to 3 (most aggressive)", min=0, max=3
    )
    webrtc_frame_ms: int = _key(30, "WebRTC VAD frame length", choices=(10, 20, 30))
    silero: str = _key(
        "confirm",
        "Silero VAD tier: off, confirm (checks what WebRTC calls speech), always (every window)",
        choices=("off", "confirm", "always"),
    )
    silero_threshold: float = _key(
        0.5, "Silero speech probability that counts as speech", min=0.05, max=0.99
    )
    min_speech_ms: int = _key(250, "speech needed before a segment starts", min=30, max=5000)
    hangover_ms: int = _key(600, "silence needed before a segment ends", min=50, max=10000)
    pre_roll_ms: int = _key(300, "audio kept before the detected start", min=0, max=5000)
    max_segment_s: float = _key(
        45.0, "a longer segment is split at its quietest recent point", min=2, max=600
    )
    partial_interval_s: float = _key(
        1.0, "cadence of SpeechOngoing events (drives partials)", min=0.1, max=30
    )
    pause_ms: int = _key(
        200,
        "silence inside a segment that sends SpeechPaused (a complete sentence is committed, or an early final decoded, before the hangover ends); at most half the hangover",
        min=50,
        max=5000,
    )
    pause_decode_ms: int = _key(
        100,
        "silence inside a segment after which the early final is decoded, committed only once the silence reaches pause_ms (dropped if speech resumes first); 0 or at least pause_ms: decoded at pause_ms",
        min=0,
        max=5000,
    )


@dataclass(frozen=True)
class AsrConfig:
    backend: str = _key("whisper", "inference engine", choices=("whisper", "parakeet"))
    model: str = _key(
        "",
        "model: local MLX dir, CTranslate2 Whisper dir, or HF repo id; empty = embedded tiny.en",
    )
    workers: int = _key(1, "inference worker processes", min=1, max=16)
    max_batch: int = _key(
        2,
        "requests (finals, or partials of different streams) one worker decodes in one batch when more wait than workers are free; 1 = no batching",
        min=1,
        max=8,
    )
    max_batched_audio_s: float = _key(
        30.0,
        "longest request (seconds) the daemon puts in a batch (decoded together, windows of 20-25 s cost 0.77-0.91x of alone)",
        min=1.0,
        max=30.0,
    )
    file_max_batch: int = _key(
        3,
        "run.py transcribe: chunks of the file one worker decodes in one batch; 1 = one chunk per request",
        min=1,
        max=8,
    )
    engine: str = _key(
        "auto",
        "Whisper compute engine: mlx, numpy (BLAS), or auto (mlx on Apple Silicon, numpy on other CPUs)",
        choices=("auto", "mlx", "numpy"),
    )
    dtype: str = _key(
        "float32",
        "weights and activations (float16 is slow on CPU)",
        choices=("float32", "bfloat16", "float16"),
    )
    quantization: str = _key(
        "none", "MLX weight quantization at conversion time", choices=("none", "8bit", "4bit")
    )
    projection_bits: int = _key(
        8,
        "bits per weight of the decoder's vocabulary projection: 8 reads a quarter of the memory per decoded token (the 16 best tokens of each step computed again in float32)",
        choices=(32, 8),
    )
    beam_size: int = _key(1, "1 = greedy decoding; more = beam search", min=1, max=10)
    temperatures: tuple[float, ...] = _key(
        (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), "temperature fallback sequence", min=0.0, max=2.0
    )
    no_speech_threshold: float = _key(
        0.6, "no-speech probability above which a window is silence", min=0, max=1
    )
    logprob_threshold: float = _key(
        -1.0, "mean log-probability below which decoding falls back", min=-20, max=0
    )
    compression_ratio_threshold: float = _key(
        2.4, "gzip ratio above which text is a repetition loop", min=1, max=10
    )
    fallback_best: bool = _key(
        True,
        "every fallback temperature failing: keep the attempt with the best mean log-probability, not the last",
    )
    repeat_cut_after_prefix: bool = _key(
        True,
        "a short window decoded after committed words (a forced prefix) that starts saying a sentence again ends before it instead of being decoded again on a longer window",
    )
    max_tokens_per_s: float = _key(8.0, "cap on decoded tokens per second of audio", min=1, max=50)
    use_prompt: bool = _key(True, "prompt each final with the previous final of the stream")
    confident_commit: bool = _key(
        True,
        "while speech goes on, commit words one hypothesis is confident of without waiting for the next to agree",
    )
    agreement_lookback: int = _key(
        2,
        "while speech goes on, a word is stable when the newest hypothesis agrees with any of this many hypotheses before it (1: the previous one only)",
        min=1,
        max=3,
    )
    agreement_bridge_words: int = _key(
        0,
        "while speech goes on, one word two hypotheses say in two forms (seem / seems) does not hold back the words after it when this many words after it agree (0: off)",
        min=0,
        max=8,
    )
    prompt_recent_chars: int = _key(
        400,
        "prompt each segment with the tail, at most this long, of the stream's recent finals (0: its last final only)",
        min=0,
        max=400,
    )
    draft_decoding: bool = _key(
        True,
        "partials and finals of a segment carry the words its newest hypothesis said after the committed ones, and greedy decoding checks them several tokens per decoder pass (the same text for fewer passes)",
    )
    long_uncommitted_s: float = _key(
        0.0,
        "while speech goes on, once a hypothesis heard this much uncommitted audio the next partial may go 0.5 s after the last (0: off)",
        min=0,
        max=30,
    )
    partial_context_s: float = _key(
        20.0,
        "while speech goes on, every partial window hears this much of the committed speech before the uncommitted audio, from a word boundary, its words forced as the decoder's prefix (0: a context that grows to 10 s and starts again 1 s before the cut after a sentence end)",
        min=0,
        max=25,
    )
    early_final_lead_in_s: float = _key(
        6.0,
        "after a pause, an early final (and a segment's last final) hears again up to this much of the stream's final words before it, from a word boundary, their words forced as the decoder's prefix; partials do not (0: off)",
        min=0,
        max=10,
    )
    sentence_end_delay_s: float = _key(
        0.5,
        "while speech goes on, a hypothesis that heard a sentence end and left it uncommitted brings the next partial once the audio is this far past it, instead of a partial interval later (0: off)",
        min=0,
        max=10,
    )
    confident_next_start_s: float = _key(
        0.0,
        "while speech goes on, a confident word that ends within the confident margin of the newest audio is committed all the same once the next word, itself stable or confident, began this long before that audio (0: off)",
        min=0,
        max=1,
    )
    hold_after_clause_gaps: int = _key(
        0,
        "while speech goes on, once this many pauses of a segment were followed by speech within 0.3 s (clause gaps, not sentence ends), an early final ending with a full stop is no longer committed at its pause but held like one ending mid-sentence (0: off)",
        min=0,
        max=10,
    )
    chunk_duration_s: float = _key(
        30.0,
        "longer segments and files are cut into chunks of at most this length (Whisper pads every input to 30 s, so shorter chunks cost more)",
        min=2,
        max=30,
    )
    overlap_duration_s: float = _key(2.0, "overlap between consecutive chunks", min=0, max=10)
    partial_min_audio_s: float = _key(1.0, "no partial for less audio than this", min=0.1, max=30)
    parakeet_left_context_s: float = _key(5.0, "parakeet streaming left context", min=0, max=60)
    parakeet_chunk_s: float = _key(0.5, "parakeet streaming chunk", min=0.05, max=10)
    parakeet_right_context_s: float = _key(
        0.5, "parakeet streaming right context (lookahead)", min=0, max=10
    )
    parakeet_attention: str = _key("local", "parakeet encoder attention", choices=("local", "full"))
    parakeet_min_confidence: float = _key(
        0.0, "drop parakeet tokens below this confidence", min=0, max=1
    )
    audio_ctx: str = _key(
        "auto",
        "Whisper encoder window: auto (the audio plus a margin, 30 s again if the result looks wrong) or full (always 30 s)",
        choices=("auto", "full"),
    )
    audio_ctx_min_s: float = _key(10.0, "shortest encoder window in auto mode", min=0, max=30)
    audio_ctx_partial_min_s: float = _key(
        6.0,
        "shortest encoder window of a partial in auto mode (2-4 s lost words and loops more "
        "on tiny.en: bench/encoder_ctx.py --partials, README CPU)",
        min=0,
        max=30,
    )
    audio_ctx_preview_min_s: float = _key(
        5.0,
        "shortest encoder window of a preview (a segment's first partial over less than "
        "partial_min_audio_s, shown and never agreed on) in auto mode",
        min=0,
        max=30,
    )
    audio_ctx_early_final_min_s: float = _key(
        10.0,
        "shortest encoder window of an early final (a segment's rest decoded when a pause "
        "begins) in auto mode; low-latency profile: 8 (config/profiles.py)",
        min=0,
        max=30,
    )
    audio_ctx_pad_s: float = _key(
        2.0, "silence encoded after the audio in auto mode", min=0, max=30
    )
    audio_ctx_retry: str = _key(
        "temperature",
        "a short window's suspect result (unsure, looping, empty) in auto mode: full (decoded "
        "again on the full window) or temperature (a final's, first once more on the same "
        "window at the next fallback temperature, kept unless it loops or gives nothing; "
        "partials keep the full window: sampled partials lost WER)",
        choices=("full", "temperature"),
    )
    mlx_cache_limit_mb: int = _key(256, "bound on MLX's buffer cache per worker", min=0, max=65536)
    blas_threads: int = _key(
        1,
        "BLAS threads per worker; 0 = cores / workers (1: more spin CPU than speed beside the "
        "daemon's other processes, README CPU)",
        min=0,
        max=256,
    )


@dataclass(frozen=True)
class SupervisorConfig:
    heartbeat_interval_s: float = _key(
        1.0, "how often every child reports it is alive", min=0.05, max=60
    )
    heartbeat_timeout_s: float = _key(
        10.0, "a child silent this long is killed and restarted", min=0.5, max=600
    )
    startup_timeout_s: float = _key(60.0, "time a child may take to become ready", min=1, max=3600)
    restart_max: int = _key(
        5, "restarts allowed per child within restart_window_s", min=0, max=1000
    )
    restart_window_s: float = _key(60.0, "window of the restart intensity limit", min=1, max=86400)
    restart_backoff_initial_s: float = _key(0.0, "wait before the first restart", min=0, max=60)
    restart_backoff_max_s: float = _key(10.0, "longest wait between restarts", min=0, max=600)
    inference_timeout_factor: float = _key(
        10.0,
        "hang limit before a worker's cost is measured: a request running longer than this × "
        "the audio it bills (Whisper: whole 30 s windows) + 10 s counts as hung; after 5 "
        "answered requests the limit is 3 × the worker's measured p95 cost + 10 s",
        min=1,
        max=1000,
    )
    memory_limit_mb: int = _key(
        3072, "a worker above this RSS is drained and replaced", min=64, max=1_000_000
    )
    memory_slope_limit_mb_per_h: float = _key(
        200.0, "a worker growing faster than this is replaced", min=1, max=1e6
    )
    memory_window_s: float = _key(600.0, "window for the memory growth slope", min=10, max=86400)
    shutdown_timeout_s: float = _key(
        10.0, "graceful shutdown time before children are killed", min=0.1, max=600
    )


@dataclass(frozen=True)
class OutputsConfig:
    runtime_dir: str = _key("", "socket and state directory (mode 0700); empty = per-user default")
    transport: str = _key(
        "ipc",
        "socket transport; tcp (loopback included) requires curve_keys_dir",
        choices=("ipc", "tcp"),
    )
    tcp_host: str = _key("127.0.0.1", "host of tcp endpoints")
    tcp_base_port: int = _key(47800, "first of five consecutive tcp ports", min=1024, max=65530)
    curve_keys_dir: str = _key(
        "", "directory with CURVE keys (run.py keys generate); required for tcp"
    )
    journal_path: str = _key(
        "", "JSONL journal of finals (mode 0600); empty = runtime_dir/INSTANCE.finals.jsonl"
    )
    journal_max_mb: float = _key(
        16.0, "journal file size (MB of 10^6 bytes) before it is rotated", min=0.01, max=100000
    )
    journal_keep: int = _key(3, "rotated journal files kept", min=0, max=1000)
    journal_sync: str = _key(
        "fsync",
        "when the journal reaches the disk: fsync = each final before it is published; "
        "rotate = at rotation and close (a power loss may lose recent lines, never reuse a seq); "
        "none = never",
        choices=("fsync", "rotate", "none"),
    )
    max_frame_bytes: int = _key(
        1_048_576, "larger incoming frames are rejected", min=1024, max=1 << 30
    )
    high_water_mark: int = _key(
        1000, "messages queued per slow subscriber before dropping", min=1, max=1_000_000
    )
    http: str = _key(
        "",
        "HOST:PORT where the daemon runs the web gateway as a supervised child (run.py serve); "
        "empty = none; an address other than loopback needs $STREAMSCRIBE_GATEWAY_TOKEN",
    )


@dataclass(frozen=True)
class StreamsConfig:
    max_open: int = _key(
        16, "streams open at once at most (stream.open beyond is refused)", min=1, max=1024
    )
    admission_max_busy: float = _key(
        0.85,
        "stream.open is refused (capacity) when the workers' busy fraction, projected with one "
        "more stream, would exceed this, or when a stream's lag is over adapt_lag_s; above 1 "
        "the load is not checked (the cap max_open still is)",
        min=0.05,
        max=100.0,
    )
    partial_share: float = _key(
        0.75,
        "partials may fill the workers' time up to this share, finals included (a global budget "
        "shared round-robin by the streams; the rest is headroom for finals and the streams' "
        "capture and VAD); 1 or more: no budget",
        min=0.05,
        max=100.0,
    )
    partial_align: float = _key(
        0.0,
        "partials due within this fraction of the partial interval join a partial batch of "
        "other streams going now (their cadence locks to the batch's phase); 0 = off",
        min=0.0,
        max=0.95,
    )
    reserve_for_finals: int = _key(
        1,
        "while more than one stream is in speech, partials never take the last this many "
        "workers (they batch on the others) so a final finds a free worker without cancelling "
        "them; a pool of one worker keeps none; 0 = off",
        min=0,
        max=64,
    )
    short_pause_unsent: bool = _key(
        False,
        "while streams share the pool, an early final decoded at a short pause (vad.pause_decode_ms) "
        "that found no free worker before speech resumed is kept and sent on the next free worker "
        "(committed if its text ends a sentence) instead of being dropped",
    )
    tentative_preempts: bool = _key(
        False,
        "while streams share the pool, an unsent early final of a short pause counts as final "
        "work waiting and cancels the newest partial in flight (off: it waits for a free worker)",
    )
    starved_s: float = _key(
        0.0,
        "while streams share the pool, a segment whose speech has waited this long uncommitted "
        "is starved: its due partial is served as starved_priority says; 0 = off",
        min=0.0,
        max=60.0,
    )
    starved_priority: str = _key(
        "order",
        "a starved segment's partial: order = first among the due partials, still held by the "
        "partial budget and reserve_for_finals; reserve = also past reserve_for_finals; one = "
        "past both, one at a time over the pool; full = past both, every one (defeats the "
        "partial budget once every stream starves)",
        choices=("order", "reserve", "one", "full"),
    )
    adapt: bool = _key(
        True, "under sustained lag shed partials, then switch to adapt_profile; back when it falls"
    )
    adapt_lag_s: float = _key(
        2.0, "a stream whose finals are this far behind counts as lagging", min=0.1, max=600
    )
    adapt_sustain_s: float = _key(
        10.0, "lag (or its absence) held this long before the daemon adapts", min=0.5, max=3600
    )
    adapt_profile: str = _key(
        "power-saving",
        "the cheaper profile lagging streams move to (after partials are shed)",
        choices=("balanced", "low-latency", "power-saving", "high-accuracy"),
    )
    battery_profile: bool = _key(
        False, "on battery (where the platform reports it) move streams to adapt_profile"
    )
    push_close_when_idle: bool = _key(
        True, "a push stream opened by stream.open closes when its client ends or times out"
    )


@dataclass(frozen=True)
class Config:
    profile: str = _key(
        "balanced",
        "named set of defaults",
        choices=("balanced", "low-latency", "power-saving", "high-accuracy"),
    )
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    streams: StreamsConfig = field(default_factory=StreamsConfig)


SECTIONS: tuple[str, ...] = ("capture", "ring", "vad", "asr", "supervisor", "outputs", "streams")

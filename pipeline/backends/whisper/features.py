"""Whisper's log-Mel spectrogram in numpy (the same numbers as openai/whisper's ``audio.py``)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE_HZ = 16_000
N_FFT = 400  # samples per STFT window (25 ms)
HOP_LENGTH = 160  # samples between frames (10 ms)
CHUNK_LENGTH_S = 30  # seconds of audio in one encoder window
N_SAMPLES = CHUNK_LENGTH_S * SAMPLE_RATE_HZ  # 480000 samples in a 30-second window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames in a window
FRAMES_PER_TOKEN = 2  # the encoder's second convolution has stride 2
SECONDS_PER_AUDIO_TOKEN = HOP_LENGTH * FRAMES_PER_TOKEN / SAMPLE_RATE_HZ  # 0.02 s


@lru_cache(maxsize=2)
def mel_filters(n_mels: int) -> np.ndarray:
    """The Mel filterbank (n_mels, N_FFT // 2 + 1) shipped with mlx-whisper (librosa's)."""
    from pipeline.backends.whisper.mlx_whisper_files import asset_path

    with np.load(asset_path("mel_filters.npz")) as filters:
        return filters[f"mel_{n_mels}"].astype(np.float32)


@lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel_spectrogram(
    audio: np.ndarray, n_mels: int = 80, n_frames: int = N_FRAMES
) -> np.ndarray:
    """The (n_mels, n_frames) log-Mel input of one encoder window.

    ``audio`` is float32 (n,) at 16 kHz, at most 30 s; it is padded with zeros to 30 s first,
    as Whisper was trained. ``n_frames`` < N_FRAMES keeps only the window's first frames (a
    shortened encoder, ``audio_context.py``): as long as they cover the audio, they are the same
    numbers as the full window's first frames (the floor at max - 8 is set by the audio).
    """
    if not 0 < n_frames <= N_FRAMES:
        raise ValueError(f"n_frames must be in 1..{N_FRAMES}, got {n_frames}")
    audio = np.asarray(audio, dtype=np.float32)[:N_SAMPLES]
    padded = np.zeros(N_SAMPLES + 2 * (N_FFT // 2), dtype=np.float32)
    padded[N_FFT // 2 : N_FFT // 2 + audio.size] = audio
    # centred STFT with reflect padding, as torch.stft(center=True)
    head = audio[1 : N_FFT // 2 + 1][::-1] if audio.size > N_FFT // 2 else 0.0
    padded[: N_FFT // 2] = head
    padded = padded[: (n_frames - 1) * HOP_LENGTH + N_FFT]
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:n_frames]
    spectrum = np.fft.rfft(frames * _hann_window(), axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)  # (n_frames, N_FFT/2+1)
    mel = mel_filters(n_mels) @ power.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)

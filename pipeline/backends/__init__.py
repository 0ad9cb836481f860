"""Inference backends: one interface (``base.Backend``) over mlx-whisper and parakeet-mlx."""

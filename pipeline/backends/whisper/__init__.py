"""Whisper internals: log-Mel features, the numpy and MLX engines, token search, word alignment."""

"""Whisper internals: log-Mel features, the CPU engine, token search and word alignment."""

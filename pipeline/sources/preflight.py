"""Check, before anything is spawned, that the configured source can be opened at all.

A daemon started on ``file:/nonexistent.wav`` or ``bogus:x`` must stop at once with one line
that names the problem, not start children that crash and restart forever. The check parses the
source string and, for a file, opens it and closes it again (a header read: no audio decoded).
A microphone is only parsed: a device that is missing now may be plugged in later, and the
capture process already waits and retries for it. Stdin and push are only parsed.
"""

from __future__ import annotations

from pipeline.sources.source_spec import SourceSpec, parse_source_spec


def preflight_source(source: str) -> SourceSpec:
    """The parsed ``source``; ``AudioSourceError`` naming the source if it cannot be opened."""
    spec = parse_source_spec(source)
    if spec.kind == "file":
        from pipeline.sources.file_source import open_sound_file

        assert spec.path is not None
        open_sound_file(spec.path).close()
    return spec

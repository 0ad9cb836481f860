"""The first minutes of a dev-set file, cut at a sentence boundary (``daemon_e2e --excerpt-s``).

A continuous file's p95 needs many sentences, but a whole dev-set file at realtime pace takes
as long as it lasts (continuous.wav: 6 minutes). ``excerpt`` writes the audio up to the end of
the last reference sentence that ends by the limit (plus a short tail of the audio after it, so
the VAD sees the speech end as it would), with a reference JSON holding only those sentences.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bench.e2e_parts.figures import FileSpec

TAIL_S = 1.0  # audio kept after the last sentence's end (it ends in the file's silence or speech)


def excerpt(spec: FileSpec, limit_s: float, directory: Path) -> FileSpec:
    """``spec`` cut to its sentences that end by ``limit_s`` (the spec itself when the file is
    no longer, or its reference has no sentence times)."""
    import soundfile

    reference = json.loads(spec.reference.read_text())
    utterances = [u for u in reference.get("utterances", []) if "end" in u]
    kept = [u for u in utterances if float(u["end"]) <= limit_s]
    if spec.audio_s <= limit_s or not kept or len(kept) == len(utterances):
        return spec
    audio, rate = soundfile.read(str(spec.audio), dtype="float32")
    end_s = min(spec.audio_s, float(kept[-1]["end"]) + TAIL_S)
    audio = audio[: round(end_s * rate)]
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{spec.stem}-first{int(limit_s)}s"
    audio_path = directory / f"{stem}.wav"
    reference_path = directory / f"{stem}.json"
    soundfile.write(str(audio_path), audio, rate)
    text = " ".join(u["text"] for u in kept)
    cut = {**reference, "duration": end_s, "utterances": kept, "text": text}
    reference_path.write_text(json.dumps(cut, indent=1))
    return replace(spec, audio=audio_path, reference=reference_path, audio_s=end_s,
                   words=len(text.split()))  # fmt: skip

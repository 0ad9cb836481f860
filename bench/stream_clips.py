"""Clips of the dev set with exact reference times, one per concurrent stream of ``bench/streams.py``.

The latency a user sees (last word spoken -> final) needs reference word times. Of the dev set
(``bench/devset``), the files with exact sentence times are the synthetic ones: the long
``dictation.wav`` (pauses of 0.2-4 s) and ``continuous.wav`` (pauses <= 0.15 s), and the shared
``dictation_dev.wav`` and ``monologue_dev.wav``. The other shared recordings lack them:
``harvard_list72_8k.wav`` (times +-0.3 s only), ``jfk.flac`` and ``demo_pauses_16k.wav`` (no
times), ``lecture_60s_16k.wav`` (no reference); they are not played (``WITHOUT_TIMES``).

Each stream of a level gets a different stretch of audio: clip ``k`` of a kind is cut from that
kind's files, one after the other, at an utterance start (the pause before it kept, at most
``LEAD_S``), ``length_s`` long, with the reference utterances that lie wholly inside it shifted
to the clip's time. Clips are 16 kHz mono WAV files in a temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from bench.devset.build import DEFAULT_SEED, devset_dir, ensure_devset, file_paths
from bench.e2e_parts.latency import RefUtterance, load_utterances

SAMPLE_RATE_HZ = 16000
LEAD_S = 0.5  # silence kept before a clip's first utterance
KINDS = ("dictation", "continuous")
WITHOUT_TIMES = {
    "harvard_list72_8k.wav": "sentence times only +-0.3 s",
    "jfk.flac": "no utterance times",
    "demo_pauses_16k.wav": "machine transcript without times",
    "lecture_60s_16k.wav": "no reference at all",
}


@dataclass(frozen=True)
class Clip:
    path: Path
    kind: str  # dictation or continuous
    source: str  # the dev-set file and offset it was cut from
    utterances: tuple[RefUtterance, ...]  # clip seconds


class ClipMaker:
    """Cuts clips of ``length_s`` per kind into ``directory`` (see module doc)."""

    def __init__(
        self,
        directory: Path,
        length_s: float,
        sources: list[tuple[str, Path, list[RefUtterance]]] | None = None,
    ) -> None:
        """``sources``: (kind, audio, utterances) to cut from (default: the dev set's files
        with exact times, ``devset_sources``)."""
        self.directory = directory
        self.length_s = length_s
        self._spans: dict[str, list[tuple[Path, float, list[RefUtterance]]]] = {
            k: [] for k in KINDS
        }
        for kind, audio, utterances in devset_sources() if sources is None else sources:
            for start_s in self._starts(utterances):
                self._spans[kind].append((audio, start_s, utterances))
        self._made: dict[tuple[str, int], Clip] = {}

    def _starts(self, utterances: list[RefUtterance]) -> list[float]:
        """Clip starts in one file: at utterance starts, each clip after the last one's end."""
        starts: list[float] = []
        previous_end_s = 0.0
        next_free_s = 0.0
        for utterance in utterances:
            if utterance.start_s >= next_free_s:
                start_s = max(previous_end_s, utterance.start_s - LEAD_S, 0.0)
                starts.append(start_s)
                next_free_s = start_s + self.length_s
            previous_end_s = utterance.end_s
        return starts

    def available(self, kind: str) -> int:
        return len(self._spans[kind])

    def clip(self, kind: str, number: int) -> Clip:
        """Clip ``number`` of ``kind`` (numbers beyond the available ones wrap around)."""
        spans = self._spans[kind]
        if not spans:
            raise SystemExit(f"the dev set has no {kind} file with reference times")
        number %= len(spans)
        if (kind, number) in self._made:
            return self._made[(kind, number)]
        audio_path, start_s, utterances = spans[number]
        info = soundfile.info(str(audio_path))
        if info.samplerate != SAMPLE_RATE_HZ:
            raise SystemExit(f"{audio_path}: {info.samplerate} Hz, clips need 16 kHz")
        first = int(start_s * SAMPLE_RATE_HZ)
        audio, _ = soundfile.read(
            str(audio_path),
            start=first,
            frames=int(self.length_s * SAMPLE_RATE_HZ),
            dtype="float32",
            always_2d=True,
        )
        path = self.directory / f"{kind}-{number:02d}.wav"
        soundfile.write(str(path), np.ascontiguousarray(audio[:, 0]), SAMPLE_RATE_HZ)
        length_s = audio.shape[0] / SAMPLE_RATE_HZ
        inside = tuple(
            RefUtterance(u.text, u.start_s - start_s, u.end_s - start_s)
            for u in utterances
            if u.start_s >= start_s and u.end_s <= start_s + length_s
        )
        clip = Clip(path, kind, f"{audio_path.name}@{start_s:.1f}s", inside)
        self._made[(kind, number)] = clip
        return clip


def devset_sources(seed: int = DEFAULT_SEED) -> list[tuple[str, Path, list[RefUtterance]]]:
    """(kind, audio, utterances) of each dev-set file with exact times (built when missing)."""
    manifest = ensure_devset(seed, "full")
    folder = devset_dir(seed, "full")
    sources = []
    for entry in manifest["files"]:
        if entry.get("latency") and entry["kind"] in KINDS:
            audio, reference = file_paths(entry, folder)
            sources.append((entry["kind"], audio, load_utterances(reference)))
    return sources


def clip_manifest(clips: list[Clip]) -> list[dict[str, object]]:
    return [
        {"clip": c.path.name, "kind": c.kind, "from": c.source, "utterances": len(c.utterances)}
        for c in clips
    ]

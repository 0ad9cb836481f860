"""Build the dev set: synthetic dictation and continuous speech, plus the shared recordings.

Layout of one build (``.cache/devset/v<version>-seed<seed>-<scale>/``)::

    dictation.wav / .json    sessions of one voice each: sentences, Harvard sentences, numbers
                             and one-word answers, separated by pauses of 0.2 to 4 s
    continuous.wav / .json   stretches of running speech (sentences <= 0.15 s apart), each over a
                             minute at the full scale, separated by pauses of 2 to 3 s
    manifest.json            every file of the dev set (the shared recordings too) with its kind,
                             reference, word count and whether its times can be used for latency

Each reference JSON has the shared data's format: ``text``, ``duration``, ``sample_rate`` and
``utterances`` (``text``, ``start``, ``end`` in seconds; in continuous files one per sentence).
Same seed and scale give the same bytes (on one machine: espeak-ng and soxr are deterministic).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench.devset import texts
from bench.devset.synth import SAMPLE_RATE_HZ, Voice, espeak_version, synthesize

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump when the output of a given seed changes
DEFAULT_SEED = 7
ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "devset"
SHARED_DATA_DIR = ROOT.parent / "shared" / "data"
NOISE_RMS = 0.0015  # low background noise over the whole file (about -56 dBFS)
LEAD_SILENCE_S = 1.0  # before the first utterance of a file
TAIL_SILENCE_S = 2.0  # after the last one (the VAD's hangover must fit)
PAUSE_BUCKETS_S = ((0.2, 0.4), (0.4, 0.8), (0.8, 1.5), (1.5, 4.0))  # dictation pauses, drawn evenly
CONTINUOUS_GAP_S = (0.03, 0.15)  # between sentences of a stretch
STRETCH_PAUSE_S = (2.0, 3.0)  # between stretches
NUMBER_SENTENCES = 60  # templated sentences with numbers in the full pool
LANGUAGE_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4")
RATES_WPM = (135, 150, 165, 175, 190, 205)


@dataclass(frozen=True)
class Scale:
    """How much of the pool one build speaks."""

    dictation_sessions: int  # one voice each
    dictation_items: int | None  # utterances in all (None: the whole pool)
    paragraphs_per_stretch: int
    stretches: int
    stretch_max_sentences: int | None  # cut each stretch after this many (None: whole paragraphs)
    shared: bool  # list the shared recordings in the manifest


SCALES: dict[str, Scale] = {
    # >= 3,000 words with the shared recordings; stretches of about 100 s
    "full": Scale(8, None, 2, 4, None, True),
    # a few minutes of bench: ~45 s of dictation, one ~40 s stretch
    "quick": Scale(1, 12, 1, 1, 7, False),
    # the determinism test
    "tiny": Scale(1, 3, 1, 1, 2, False),
}

SHARED_FILES = (
    # name, reference JSON (None: references.json), kind, times usable for latency, note
    ("dictation_dev.wav", "dictation_dev.json", "dictation", True, "synthetic dictation, exact"),
    ("monologue_dev.wav", "monologue_dev.json", "continuous", True, "synthetic, exact"),
    ("harvard_list72_8k.wav", "harvard_list72_8k.json", "dictation", False, "times +-0.3 s"),
    ("jfk.flac", None, "dictation", False, "no utterance times"),
    ("demo_pauses_16k.wav", "demo_pauses_16k.json", "dictation", False,
     "machine reference transcript, no times"),
)  # fmt: skip


@dataclass(frozen=True)
class Utterance:
    text: str
    start_s: float
    end_s: float
    voice: Voice
    kind: str  # dictation, harvard, number, answer, continuous

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": round(self.start_s, 3),
            "end": round(self.end_s, 3),
            "kind": self.kind,
            **self.voice.as_dict(),
        }


class Track:
    """Audio laid out piece by piece, with the reference time of every piece."""

    def __init__(self) -> None:
        self.pieces: list[np.ndarray] = []
        self.length = 0  # samples
        self.utterances: list[Utterance] = []

    def silence(self, seconds: float) -> None:
        samples = round(seconds * SAMPLE_RATE_HZ)
        self.pieces.append(np.zeros(samples, dtype=np.float32))
        self.length += samples

    def speak(self, text: str, voice: Voice, kind: str, gain: float) -> None:
        audio = synthesize(text, voice) * np.float32(gain)
        start = self.length
        self.pieces.append(audio)
        self.length += len(audio)
        self.utterances.append(
            Utterance(text, start / SAMPLE_RATE_HZ, self.length / SAMPLE_RATE_HZ, voice, kind)
        )

    def audio(self, rng: np.random.Generator) -> np.ndarray:
        audio = np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.float32)
        noise = rng.standard_normal(len(audio)).astype(np.float32) * np.float32(NOISE_RMS)
        return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


def random_voice(rng: random.Random) -> Voice:
    return Voice(
        rng.choice(LANGUAGE_VOICES), rng.choice(VARIANTS), rng.choice(RATES_WPM),
        rng.randint(35, 65),
    )  # fmt: skip


def dictation_pool(rng: random.Random) -> list[tuple[str, str]]:
    """(text, kind) of every dictation item, shuffled; answers spread between sentences."""
    items = [(t, "dictation") for t in texts.DICTATION] + [(t, "harvard") for t in texts.HARVARD]
    items += [(texts.number_sentence(rng), "number") for _ in range(NUMBER_SENTENCES)]
    rng.shuffle(items)
    answers = [(t, "answer") for t in texts.SHORT_ANSWERS]
    rng.shuffle(answers)
    step = max(1, len(items) // len(answers))
    for position, answer in zip(range(len(items), 0, -step), answers, strict=False):
        items.insert(position, answer)
    return items


def build_dictation(scale: Scale, rng: random.Random) -> Track:
    items = dictation_pool(rng)
    if scale.dictation_items is not None:
        items = _quick_mix(items, scale.dictation_items)
    per_session = -(-len(items) // scale.dictation_sessions)
    track = Track()
    track.silence(LEAD_SILENCE_S)
    for first in range(0, len(items), per_session):
        voice, gain = random_voice(rng), rng.uniform(0.5, 1.0)
        for text, kind in items[first : first + per_session]:
            track.speak(text, voice, kind, gain)
            low, high = rng.choice(PAUSE_BUCKETS_S)
            track.silence(rng.uniform(low, high))
    track.silence(TAIL_SILENCE_S)
    return track


def _quick_mix(items: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    """``count`` items holding every kind (answers and numbers included) when it can."""
    chosen: list[tuple[str, str]] = []
    for kind in ("answer", "number", "dictation", "harvard"):
        chosen += [item for item in items if item[1] == kind][:1]
    chosen += [item for item in items if item not in chosen][: max(0, count - len(chosen))]
    order = {item: i for i, item in enumerate(items)}
    return sorted(chosen[:count], key=lambda item: order[item])


def build_continuous(scale: Scale, rng: random.Random) -> Track:
    paragraphs = list(texts.PARAGRAPHS)
    rng.shuffle(paragraphs)
    track = Track()
    track.silence(LEAD_SILENCE_S)
    for number in range(scale.stretches):
        chosen = paragraphs[number * scale.paragraphs_per_stretch :][: scale.paragraphs_per_stretch]
        sentences = [s for p in chosen for s in texts.split_sentences(p)]
        if scale.stretch_max_sentences is not None:
            sentences = sentences[: scale.stretch_max_sentences]
        voice, gain = random_voice(rng), rng.uniform(0.5, 1.0)
        for index, sentence in enumerate(sentences):
            if index:
                track.silence(rng.uniform(*CONTINUOUS_GAP_S))
            track.speak(sentence, voice, "continuous", gain)
        track.silence(rng.uniform(*STRETCH_PAUSE_S) if number + 1 < scale.stretches else 0.0)
    track.silence(TAIL_SILENCE_S)
    return track


def word_count(text: str) -> int:
    from pipeline.text_metrics import normalize_words

    return len(normalize_words(text))


def write_track(track: Track, directory: Path, stem: str, kind: str, seed: int) -> dict[str, Any]:
    audio = track.audio(np.random.default_rng([seed, len(stem)]))
    wav = directory / f"{stem}.wav"
    soundfile.write(wav, audio, SAMPLE_RATE_HZ, subtype="PCM_16")
    text = " ".join(u.text for u in track.utterances)
    reference = {
        "sample_rate": SAMPLE_RATE_HZ,
        "duration": round(len(audio) / SAMPLE_RATE_HZ, 3),
        "kind": kind,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "utterances": [u.as_json() for u in track.utterances],
        "text": text,
    }
    (directory / f"{stem}.json").write_text(json.dumps(reference, indent=1) + "\n")
    return {
        "name": wav.name,
        "audio": wav.name,  # relative to the dev set's directory
        "reference": f"{stem}.json",
        "kind": kind,
        "source": "synthetic",
        "latency": True,
        "note": "espeak-ng, sentence times exact",
        "audio_s": reference["duration"],
        "utterances": len(track.utterances),
        "words": word_count(text),
    }


def shared_entries(directory: Path) -> list[dict[str, Any]]:
    """The shared recordings that have a reference text (a JSON written here where they lack one)."""
    entries = []
    for name, reference_name, kind, latency, note in SHARED_FILES:
        audio = SHARED_DATA_DIR / name
        if not audio.exists():
            logger.warning("shared recording %s is missing; left out of the dev set", audio)
            continue
        if reference_name is None:
            text = json.loads((SHARED_DATA_DIR / "references.json").read_text())[name]
            reference = f"{Path(name).stem}.json"
            (directory / reference).write_text(json.dumps({"text": text}, indent=1) + "\n")
        else:
            reference = str(SHARED_DATA_DIR / reference_name)
            text = json.loads(Path(reference).read_text())["text"]
        entries.append(
            {
                "name": name,
                "audio": str(audio),
                "reference": reference,
                "kind": kind,
                "source": "shared",
                "latency": latency,
                "note": note,
                "audio_s": round(soundfile.info(str(audio)).duration, 3),
                "words": word_count(text),
            }
        )
    return entries


def build(directory: Path, seed: int = DEFAULT_SEED, scale_name: str = "full") -> dict[str, Any]:
    """Write the dev set of ``seed`` and ``scale_name`` into ``directory``; its manifest."""
    scale = SCALES[scale_name]
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"devset-{seed}")
    files = [
        write_track(build_dictation(scale, rng), directory, "dictation", "dictation", seed),
        write_track(build_continuous(scale, rng), directory, "continuous", "continuous", seed),
    ]
    if scale.shared:
        files += shared_entries(directory)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scale": scale_name,
        "scale_settings": asdict(scale),
        "espeak_version": espeak_version(),
        "files": files,
        "words": sum(f["words"] for f in files),
        "audio_s": round(sum(f["audio_s"] for f in files), 1),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def devset_dir(seed: int, scale_name: str, cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / f"v{GENERATOR_VERSION}-seed{seed}-{scale_name}"


def ensure_devset(
    seed: int = DEFAULT_SEED, scale_name: str = "full", cache_dir: Path = CACHE_DIR
) -> dict[str, Any]:
    """The manifest of the cached build, built first when missing or made by another espeak-ng."""
    if scale_name not in SCALES:
        raise ValueError(f"unknown dev set scale {scale_name!r}; known: {sorted(SCALES)}")
    directory = devset_dir(seed, scale_name, cache_dir)
    manifest_path = directory / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("espeak_version") == espeak_version():
            return manifest
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        manifest = build(staging, seed, scale_name)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def file_paths(entry: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """(audio, reference JSON) of a manifest entry; relative paths are in ``directory``."""
    return directory / entry["audio"], directory / entry["reference"]

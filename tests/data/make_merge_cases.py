"""Regenerate the real-model merge cases in ``tests/data/merge_cases/`` (a dev script).

Each shared recording is cut into overlapping chunks as the daemon and ``run.py transcribe`` cut
it (``split_span``), every chunk is transcribed on its own by the real Whisper backend (tiny.en,
in-process, no prompt, as a worker does), and the file is also transcribed in one sequential
long-form pass (``transcribe_long``), the seamless reference the merged chunks are compared with.
``tests/test_merging_real.py`` replays the cases without a model.

Run from the project root: ``.venv/bin/python tests/data/make_merge_cases.py`` (a minute or two
of CPU). One case per (file, chunking), named ``<file stem>_<chunk>s_<overlap>s.json``:

    {"audio": file name, "duration_s": float, "chunk_s": float, "overlap_s": float,
     "model": str,
     "reference": {"text": str, "words": [[start_s, end_s, text, probability], ...]},
     "chunks": [{"index": int, "start_s": float, "end_s": float,
                 "words": [[start_s, end_s, text, probability], ...]}, ...]}

Reference word times are absolute (file seconds); chunk word times are relative to the chunk's
start (what the backend returned), for ``ChunkWords.from_relative``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT.parent / "shared" / "data"
OUT_DIR = Path(__file__).resolve().parent / "merge_cases"

AUDIO_FILES = (
    "lecture_60s_16k.wav",
    "monologue_dev.wav",
    "dictation_dev.wav",
    "jfk.flac",
    "harvard_list72_8k.wav",
)
CHUNKINGS_S = ((10.0, 2.0), (8.0, 1.5), (20.0, 3.0), (30.0, 2.0))  # (chunk, overlap) seconds
TIME_DECIMALS = 3  # ms resolution is finer than Whisper's 20 ms timestamps
PROBABILITY_DECIMALS = 3


def _words_json(words: object) -> list[list[object]]:
    return [
        [
            round(w.start_s, TIME_DECIMALS),
            round(w.end_s, TIME_DECIMALS),
            w.text,
            round(w.probability, PROBABILITY_DECIMALS),
        ]
        for w in words  # type: ignore[attr-defined]
    ]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from pipeline.backends.mlx_runtime import prepare_blas

    prepare_blas(2)
    from pipeline.audio_format import SAMPLE_RATE_HZ
    from pipeline.backends.whisper_mlx import WhisperBackend
    from pipeline.chunking import ChunkingOptions, split_span
    from pipeline.long_form import transcribe_long
    from workers.transcribe_file import load_file_audio

    backend = WhisperBackend()  # embedded tiny.en
    OUT_DIR.mkdir(exist_ok=True)
    for name in AUDIO_FILES:
        started_s = time.perf_counter()
        audio = load_file_audio(DATA_DIR / name)
        reference = transcribe_long(backend, audio)
        for chunk_s, overlap_s in CHUNKINGS_S:
            chunks = split_span(0, len(audio), ChunkingOptions.from_seconds(chunk_s, overlap_s))
            case = {
                "audio": name,
                "duration_s": round(len(audio) / SAMPLE_RATE_HZ, TIME_DECIMALS),
                "chunk_s": chunk_s,
                "overlap_s": overlap_s,
                "model": "tiny.en",
                "reference": {"text": reference.text, "words": _words_json(reference.words)},
                "chunks": [
                    {
                        "index": c.index,
                        "start_s": round(c.start_s, TIME_DECIMALS),
                        "end_s": round(c.end_s, TIME_DECIMALS),
                        "words": _words_json(
                            backend.transcribe(audio[c.start_index : c.end_index]).words
                        ),
                    }
                    for c in chunks
                ],
            }
            path = OUT_DIR / f"{Path(name).stem}_{chunk_s:g}s_{overlap_s:g}s.json"
            path.write_text(json.dumps(case, ensure_ascii=False, separators=(",", ":")) + "\n")
            print(f"{path.name}: {len(chunks)} chunks")
        print(f"{name}: {time.perf_counter() - started_s:.1f} s")


if __name__ == "__main__":
    main()

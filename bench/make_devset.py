"""Build the reproducible dev set (espeak-ng speech + the shared recordings) into .cache/devset/.

    .venv/bin/python bench/make_devset.py [--seed 7] [--scale full|quick|tiny] [--out DIR]

Same seed and scale give the same bytes. Prints where it went, the files with their kinds, word
counts and lengths, and (last line) the manifest as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.devset.build import (  # noqa: E402
    CACHE_DIR,
    DEFAULT_SEED,
    SCALES,
    build,
    devset_dir,
    ensure_devset,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--out", type=Path, help="write here instead of the cache (rebuilds)")
    args = parser.parse_args(argv)
    started_s = time.perf_counter()
    if args.out is not None:
        directory = args.out
        manifest = build(directory, args.seed, args.scale)
    else:
        directory = devset_dir(args.seed, args.scale, CACHE_DIR)
        manifest = ensure_devset(args.seed, args.scale)
    for entry in manifest["files"]:
        print(
            f"{entry['name']:24s} {entry['kind']:10s} {entry['words']:5d} words "
            f"{entry['audio_s']:7.1f} s  {entry['source']}: {entry['note']}"
        )
    print(
        f"{manifest['words']} words, {manifest['audio_s']:.0f} s of audio in {directory} "
        f"({time.perf_counter() - started_s:.1f} s)"
    )
    print(json.dumps({**manifest, "directory": str(directory)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""streamscribe in a checkout: the same command line as the installed ``streamscribe``.

run.py daemon                  run the streaming daemon
run.py subscribe | status      clients of a running daemon
run.py transcribe FILE         transcribe a file in parallel overlapping chunks
run.py config show | models | devices | keys

Everything is in ``cli/`` (``cli.main.main``); this file only makes the checkout importable.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli.main import main

if __name__ == "__main__":
    sys.exit(main(prog="run.py"))

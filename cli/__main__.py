"""``python -m cli``: the same command line as ``streamscribe`` and ``run.py``."""

import sys

from cli.main import main

sys.exit(main(prog="streamscribe"))

# streamscribe: `make run` and `make test` work on a fresh machine with Python 3.10+ and make.
# uv is installed into .cache/uv-bootstrap when it is not already on PATH. Bytecode is compiled at
# install: every worker process starts faster (a restarted worker is ready sooner).

PYTHON ?= python3
VENV := .venv
BOOTSTRAP := .cache/uv-bootstrap
UV := $(shell command -v uv 2>/dev/null || echo $(BOOTSTRAP)/bin/uv)
DATA := ../shared/data
PYTEST_ARGS ?=
# The suite runs on two pytest processes (pytest-xdist): most of its time is real daemons playing
# audio at speaking speed, which leaves a core idle: two cut the wall time by 40 % on 2 cores
# (17.4 -> 10.4 min, 2026-12-02). TEST_PROCESSES=0 runs it in one process.
TEST_PROCESSES ?= 2

.PHONY: run test test-all lint bench system-deps clean

$(BOOTSTRAP)/bin/uv:
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

# The daemon on the embedded model, a recorded dictation played at speaking speed as its source,
# and a subscriber printing the finals; it ends by itself when the recording ends.
SAMPLE := $(DATA)/dictation_dev.wav
run: $(VENV)/.synced
	@test -f $(SAMPLE) || { echo "missing $(SAMPLE): the shared test audio is expected beside the checkout"; exit 2; }
	$(VENV)/bin/python run.py daemon --source file:$(SAMPLE) --pace realtime --print

test: $(VENV)/.synced
	$(VENV)/bin/python -m pytest -q -m "not slow" -n $(TEST_PROCESSES) --dist worksteal $(PYTEST_ARGS)

test-all: $(VENV)/.synced
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every bench side by side, a 10-minute soak, then bench/results/ (JSON, plots, REPORT.md).
bench: $(VENV)/.synced
	$(VENV)/bin/python bench/run_all.py

# Optional system libraries (root): PortAudio for microphones, OpenBLAS for fast MLX on Linux CPUs,
# espeak-ng and sox for the benches' synthetic dev set (bench/make_devset.py).
system-deps:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libportaudio2 libopenblas0-pthread espeak-ng sox chromium chromium-driver firefox-esr

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache

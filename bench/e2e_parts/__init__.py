"""Parts of ``bench/daemon_e2e.py``: daemon runs, latency against reference times, faults."""

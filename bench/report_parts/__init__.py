"""Pieces of ``bench/run_all.py``: machine description, targets, the markdown report."""

"""Building blocks of ``bench/soak.py``: expected segments, the finals ledger, memory series,
fault injection, and the report (plots, markdown)."""

"""A reproducible dev set for the benches: synthetic speech (espeak-ng) plus the shared recordings.

``bench/make_devset.py`` builds it into ``.cache/devset/``; ``build.ensure_devset`` is what the
benches call (it builds once per seed, scale and generator version, then reuses the files).
"""

"""Building blocks of streamscribe, usable and testable in one process.

Nothing here imports ``workers/``: the process entry points wire these blocks to sockets.
"""

"""Process entry points: one module per process kind (supervisor, capture, vad, asr).

Each is a thin loop that wires ``pipeline`` building blocks to sockets. The parent starts a
child by naming its entry module (``workers.asr``); ``workers.bootstrap`` runs it.
"""

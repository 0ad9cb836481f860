"""The web gateway: HTTP + WebSocket front of a running daemon (``run.py serve``).

A client of the daemon like any other: it asks the control socket for status, subscribes to the
transcript socket and sends audio to the daemon's push stream. The daemon never imports it.
"""

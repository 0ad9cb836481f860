"""Request and session ids: unique per attempt, so a late reply to an old attempt is recognisable.

Forms (``stream`` is the stream id, ``seg`` the segment id):

- final chunk:  ``{stream}/{seg}/c{chunk}.{attempt}`` (attempt counts from 1)
- partial:      ``{stream}/{seg}/p{serial}`` (serial counts the segment's partial requests)
- window:       ``{stream}/{seg}/w{window}.{attempt}`` (windows read one after another)
- session:      ``{stream}/{seg}/s{generation}`` (a reopened session is a new generation)

Ids are for matching and logs only; the scheduler never parses them, it looks them up among the
requests it has in flight.
"""

from __future__ import annotations


def chunk_request_id(stream_id: str, segment_id: int, chunk_index: int, attempt: int) -> str:
    return f"{stream_id}/{segment_id}/c{chunk_index}.{attempt}"


def partial_request_id(stream_id: str, segment_id: int, serial: int) -> str:
    return f"{stream_id}/{segment_id}/p{serial}"


def window_request_id(stream_id: str, segment_id: int, window: int, attempt: int) -> str:
    return f"{stream_id}/{segment_id}/w{window}.{attempt}"


def session_id(stream_id: str, segment_id: int, generation: int) -> str:
    return f"{stream_id}/{segment_id}/s{generation}"

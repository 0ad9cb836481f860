"""``/v1/listen``'s ``endpointing`` and ``Finalize`` on a real daemon, through the official
Deepgram SDK client: endpointing sets the VAD hangover of the client's own stream (bounds checked
with a clear close reason); Finalize ends the open speech at once, its final comes marked
``from_finalize``, and audio sent after it is transcribed with the client's own timestamps."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import aiohttp
import pytest

from gateway.options import Limits
from pipeline.text_metrics import word_error_rate
from tests.gateway_harness import GatewayRig, deepgram_client, reference, s16le_frames

pytestmark = pytest.mark.timeout(900)

FRAME_S = 0.1  # s16le_frames: 100 ms each


@pytest.fixture(scope="module")
def rig():
    limits = replace(Limits(), silence_timeout_s=20.0, max_connections=20)
    rig = GatewayRig(
        limits,
        "--set",
        "streams.admission_max_busy=100",
        "--set",
        "streams.adapt=false",
        open_streams=True,
    )
    yield rig
    rig.close()


def _listen(rig: GatewayRig, endpointing: str, parts: list[list[bytes]]) -> list:
    """Send ``parts`` at 8x realtime with a Finalize between them; every message back."""
    messages = []
    with deepgram_client(rig).listen.v1.connect(
        model="nova-3",
        encoding="linear16",
        sample_rate="16000",
        channels="1",
        interim_results="false",
        endpointing=endpointing,
    ) as connection:
        for number, frames in enumerate(parts):
            if number:
                connection.send_finalize()
            for frame in frames:
                connection.send_media(frame)
                time.sleep(FRAME_S / 8)
        connection.send_close_stream()
        for message in connection:
            messages.append(message)
    return messages


def _stream_segments(rig: GatewayRig, before: int) -> dict[str, set[int]]:
    segments: dict[str, set[int]] = {}
    for final, _ in rig.finals[before:]:
        if final.text.strip():
            segments.setdefault(final.stream_id, set()).add(final.segment_id)
    return segments


def test_finalize_ends_the_speech_now_and_later_audio_keeps_its_own_times(rig) -> None:
    frames = s16le_frames("jfk.flac")
    first_s = len(frames) * FRAME_S
    before = len(rig.finals)
    # a hangover of 3 s: without the Finalize the two recordings, back to back, would be one
    # utterance and nothing would be final before the end
    messages = _listen(rig, "3000", [frames, frames])
    results = [m for m in messages if getattr(m, "type", "") == "Results" and m.is_final]
    texts = [m.channel.alternatives[0].transcript for m in results]
    marked = [i for i, m in enumerate(results) if m.from_finalize]
    assert marked, texts
    assert all(results[i].speech_final for i in marked)
    first = " ".join(texts[: marked[-1] + 1])
    second = " ".join(texts[marked[-1] + 1 :])
    ref = reference("jfk.flac")
    assert word_error_rate(ref, first) < 0.3, first
    assert word_error_rate(ref, second) < 0.3, second  # nothing lost after the Finalize
    # the Finalize's silence is not in the client's times: the second recording starts at
    # the end of the first one
    later = [w for m in results[marked[-1] + 1 :] for w in m.channel.alternatives[0].words]
    assert first_s <= later[0].start < first_s + 1.5, (first_s, later[0].start)
    assert later[-1].end <= 2 * first_s + 0.5
    assert abs(messages[-1].duration - 2 * first_s) < 0.3  # Metadata: the client's audio
    # endpointing=3000 reached the stream's VAD: the first recording is one segment
    (stream_segments,) = _stream_segments(rig, before).values()
    assert len(stream_segments) == 2, stream_segments


def test_a_short_endpointing_cuts_more_segments_than_a_long_one(rig) -> None:
    frames = s16le_frames("jfk.flac")
    before = len(rig.finals)
    _listen(rig, "150", [frames])
    (short,) = _stream_segments(rig, before).values()
    assert len(short) >= 2, short  # jfk's pauses (~0.5 s) end utterances at 150 ms


@pytest.mark.parametrize(
    ("value", "why"),
    [("20", "outside 100..10000 ms"), ("soon", "must be milliseconds"), ("99999", "outside")],
)
def test_endpointing_out_of_bounds_is_refused_with_the_reason(rig, value, why) -> None:
    url = f"{rig.gateway.ws}/v1/listen?encoding=linear16&sample_rate=16000&endpointing={value}"

    async def run() -> tuple[int | None, str]:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            message = await ws.receive(timeout=30)
            return ws.close_code, str(message.extra or "")

    code, reason = asyncio.run(run())
    assert code == 4000 and why in reason and "endpointing" in reason, (code, reason)

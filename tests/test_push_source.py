"""The push source on real ZeroMQ sockets: frames in, 16 kHz blocks out, bad frames rejected."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import zmq

from pipeline.errors import AudioSourceError
from pipeline.messages import PushAudio, PushEnd, PushReply, decode, encode
from pipeline.sources import open_source, parse_source_spec
from pipeline.sources.push_source import PushSource, push_endpoint

RATE_HZ = 16_000


def test_spec_and_endpoint() -> None:
    spec = parse_source_spec("push:s16le:16000")
    assert (spec.kind, spec.sample_format, spec.rate_hz, spec.channels) == (
        "push",
        "s16le",
        16000,
        1,
    )
    assert parse_source_spec("push:f32le:48000:2").describe() == "push:f32le:48000:2"
    with pytest.raises(AudioSourceError, match="push:FORMAT:RATE"):
        parse_source_spec("push:s16le")
    with pytest.raises(AudioSourceError, match="not supported"):
        parse_source_spec("push:u8:16000")
    assert push_endpoint("ipc:///run/x/default.audio", "main") == "ipc:///run/x/default.push-main"
    with pytest.raises(AudioSourceError, match="ipc"):
        push_endpoint("tcp://127.0.0.1:5555", "main")


class Collector:
    """Iterates a source's blocks on a thread, as the capture process does."""

    def __init__(self, source: PushSource) -> None:
        self.source = source
        self.samples: list[np.ndarray] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for block in self.source.blocks():
            self.samples.append(block)
            if self.stop.is_set():
                break

    def total(self) -> int:
        return sum(block.size for block in list(self.samples))

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()
        self.source.close()


def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def header(seq: int, client: str = "c1", **fields) -> bytes:
    values = {"sample_format": "s16le", "rate_hz": RATE_HZ, "channels": 1} | fields
    return encode(PushAudio("main", client, seq, **values))


def replies(dealer: zmq.Socket, count: int) -> list[PushReply]:
    got = []
    for _ in range(count):
        assert dealer.poll(3000), f"no reply after {got}"
        got.append(decode(dealer.recv()))
    return got


@pytest.fixture
def pushed(tmp_path):
    endpoint = f"ipc://{tmp_path}/t.push-main"
    source = open_source(
        "push:s16le:16000",
        push_endpoint=endpoint,
        stream_id="main",
        client_timeout_s=0.4,
        flush_silence_s=0.5,
        idle_yield_s=0.1,
    )
    collector = Collector(source)
    context = zmq.Context()
    dealers = []

    def connect() -> zmq.Socket:
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(endpoint)
        dealers.append(dealer)
        return dealer

    yield source, collector, connect
    collector.finish()
    for dealer in dealers:
        dealer.close()
    context.term()


def test_frames_gaps_reorders_and_end(pushed) -> None:
    source, collector, connect = pushed
    dealer = connect()
    pcm = (np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes()  # 100 ms
    dealer.send_multipart([header(0), pcm])
    (accepted,) = replies(dealer, 1)
    assert accepted.status == "accepted" and accepted.sample_index == 0
    dealer.send_multipart([header(1), pcm])
    dealer.send_multipart([header(4), pcm])  # 2 and 3 lost
    dealer.send_multipart([header(3), pcm])  # late: dropped
    gap, reorder = replies(dealer, 2)
    assert (gap.status, gap.missing) == ("gap", 2)
    assert reorder.status == "reorder"
    wait_for(lambda: collector.total() >= 3 * 1600 - 320)
    dealer.send(encode(PushEnd("main", "c1", 5)))
    (ended,) = replies(dealer, 1)
    assert ended.status == "ended"
    wait_for(lambda: collector.total() >= 3 * 1600 + 8000 - 320)  # + 0.5 s of silence
    assert source.counts["gaps"] == 1 and source.counts["missing_frames"] == 2
    assert source.counts["reorders"] == 1 and source.counts["frames"] == 3
    kinds = [event.kind for event in source.poll_events()]
    assert kinds.count("push_gap") == 2 and "push_client" in kinds and "push_ended" in kinds


def test_bad_frames_are_rejected_and_the_stream_goes_on(pushed) -> None:
    source, _collector, connect = pushed
    dealer = connect()
    pcm = np.zeros(320, dtype="<i2").tobytes()
    dealer.send_multipart([b"\xc1garbage", pcm])
    dealer.send_multipart([header(0, rate_hz=48000), pcm])
    dealer.send_multipart([header(0), pcm[:-1]])  # half a sample
    dealer.send_multipart([header(0), b"\0" * (2 * RATE_HZ * 2 + 2)])  # over 2 s
    dealer.send(header(0))  # no PCM part
    reasons = [reply.detail for reply in replies(dealer, 5)]
    assert all(reply for reply in reasons)
    assert "not a push header" in reasons[0]
    assert "format" in reasons[1]
    assert "whole number" in reasons[2]
    assert "limit" in reasons[3]
    assert "parts" in reasons[4]
    assert source.counts["rejected"] == 5
    dealer.send_multipart([header(0), pcm])  # a good frame still goes through
    assert replies(dealer, 1)[0].status == "accepted"
    other = connect()  # a second client while the first speaks: busy
    other.send_multipart([header(0, client="c2"), pcm])
    busy = replies(other, 1)[0]
    assert busy.status == "rejected" and "busy" in busy.detail


def test_a_silent_client_times_out_and_the_next_one_is_taken(pushed) -> None:
    source, _collector, connect = pushed
    dealer = connect()
    pcm = np.zeros(1600, dtype="<i2").tobytes()
    dealer.send_multipart([header(0), pcm])
    assert replies(dealer, 1)[0].status == "accepted"
    ended = replies(dealer, 1)[0]  # nothing more: the 0.4 s timeout ends its speech
    assert ended.status == "ended" and ended.detail == "timed out"
    assert ended.sample_index >= 1600 + 8000 - 320
    assert source.counts["timeouts"] == 1
    other = connect()
    other.send_multipart([header(7, client="c2"), pcm])  # joins mid-count: no gap
    accepted = replies(other, 1)[0]
    assert accepted.status == "accepted" and accepted.sample_index >= 1600 + 8000 - 320
    assert source.counts["gaps"] == 0 and source.counts["clients"] == 2


def test_finalize_writes_silence_and_the_client_stays(pushed) -> None:
    from pipeline.messages import PushFinalize

    source, collector, connect = pushed
    dealer = connect()
    pcm = (np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes()  # 100 ms
    dealer.send_multipart([header(0), pcm])
    assert replies(dealer, 1)[0].status == "accepted"
    dealer.send(encode(PushFinalize("main", "c1", 1, silence_ms=300)))
    (finalized,) = replies(dealer, 1)
    assert finalized.status == "finalized" and finalized.missing == 300 * 16
    assert 0 < finalized.sample_index <= 1600  # where the client's audio stopped
    dealer.send_multipart([header(1), pcm])  # the same client goes on, no gap
    wait_for(lambda: collector.total() >= 2 * 1600 + 4800 - 320)
    samples = np.concatenate(list(collector.samples))
    assert np.abs(samples[1600 + 320 : 1600 + 4800 - 320]).max() < 1e-3  # the silence
    assert source.counts["finalized"] == 1 and source.counts["gaps"] == 0

"""10,000 random and mutated frames into a real receiving loop: no crash, every one rejected with
a reason, and a valid message sent after them still arrives.

The corpus is built with a fixed seed; each entry is checked against ``decode`` when built so that
the expected rejection counts are known (a mutation that happens to stay valid is redrawn).
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from pipeline import bus
from pipeline.bus.frames import LOUD_REJECTIONS
from pipeline.messages import REGISTRY, FrameRejected, SpeechEnded, decode, encode
from tests.test_messages import EXAMPLES

FRAMES = 10_000
LIMIT_BYTES = 4096  # the receiver's decode limit; sockets let bigger frames through to it
MULTIPART_PARTS = bus.frames.MAX_IDENTITY_FRAMES + 2  # too many parts for every layout
FINAL_MESSAGE = SpeechEnded("mic", 7, 1600, 48000, split=False)
VALID = [encode(m) for m in EXAMPLES.values() if len(encode(m)) <= LIMIT_BYTES]


def _value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.choice([0, -1, 1, 2**63 - 1, -(2**63), rng.randrange(-1000, 10**9)])
    if choice == 3:
        return rng.choice([0.5, -1.0, float("nan"), float("inf"), 1e308])
    if choice == 4:
        return "".join(rng.choice("abc.é_ 1") for _ in range(rng.randrange(12)))
    if choice == 5:
        return rng.randbytes(rng.randrange(8))
    if choice in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(_value(rng, 3)): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _body(rng: random.Random) -> dict[str, Any]:
    return msgpack.unpackb(rng.choice(VALID), raw=False)


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 200))


def _truncated(rng: random.Random) -> bytes:
    frame = rng.choice(VALID)
    return frame[: rng.randrange(0, len(frame))]


def _bit_flips(rng: random.Random) -> bytes:
    frame = bytearray(rng.choice(VALID))
    for _ in range(rng.randrange(1, 4)):
        frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
    return bytes(frame)


def _wrong_shape(rng: random.Random) -> bytes:
    return _pack(_value(rng))


def _unknown_kind(rng: random.Random) -> bytes:
    body = _body(rng)
    body["kind"] = rng.choice(["", "speech", "transcript.finals", "SPEECH.STARTED", 3, None, []])
    return _pack(body)


def _wrong_version(rng: random.Random) -> bytes:
    body = _body(rng)
    body["v"] = rng.choice([0, 2, -1, 1.0, True, "1", None, [1]])
    return _pack(body)


def _wrong_field(rng: random.Random) -> bytes:
    body = _body(rng)
    fields = [k for k in body if k not in ("v", "kind")]
    if fields:
        body[rng.choice(fields)] = _value(rng)
    return _pack(body)


def _extra_or_missing_field(rng: random.Random) -> bytes:
    body = _body(rng)
    fields = [k for k in body if k not in ("v", "kind")]
    if fields and rng.random() < 0.5:
        del body[rng.choice(fields)]
    else:
        body[f"extra_{rng.randrange(100)}"] = _value(rng)
    return _pack(body)


def _oversize(rng: random.Random) -> bytes:
    body = msgpack.unpackb(encode(EXAMPLES["transcript.final"]), raw=False)
    body["text"] = "x" * rng.randrange(LIMIT_BYTES, 3 * LIMIT_BYTES)
    return _pack(body)


GENERATORS = [  # (generator, share of the corpus)
    (_random_bytes, 1500),
    (_truncated, 1500),
    (_bit_flips, 1500),
    (_wrong_shape, 1000),
    (_unknown_kind, 800),
    (_wrong_version, 500),
    (_wrong_field, 2200),
    (_extra_or_missing_field, 500),
    (_oversize, 300),
]
MULTIPART_SHARE = FRAMES - sum(n for _, n in GENERATORS)


def _expected_reason(parts: list[bytes]) -> str | None:
    if len(parts) != 1:
        return "frames"
    try:
        decode(parts[0], max_frame_bytes=LIMIT_BYTES)
    except FrameRejected as e:
        return e.reason
    return None


def build_corpus(seed: int = 1234) -> tuple[list[list[bytes]], Counter[str]]:
    """FRAMES invalid multipart messages, shuffled, and the rejection reasons they must get."""
    rng = random.Random(seed)
    corpus: list[list[bytes]] = []
    expected: Counter[str] = Counter()
    for generate, share in GENERATORS:
        for _ in range(share):
            while (reason := _expected_reason(parts := [generate(rng)])) is None:
                pass  # the mutation left a valid message: draw again
            corpus.append(parts)
            expected[reason] += 1
    for _ in range(MULTIPART_SHARE):
        corpus.append([rng.choice(VALID)] * MULTIPART_PARTS)
        expected["frames"] += 1
    rng.shuffle(corpus)
    return corpus, expected


@pytest.fixture(scope="module")
def corpus() -> tuple[list[list[bytes]], Counter[str]]:
    return build_corpus()


def test_corpus_covers_every_reason(corpus: tuple[list[list[bytes]], Counter[str]]) -> None:
    frames, expected = corpus
    assert len(frames) == FRAMES == sum(expected.values())
    for reason in ("garbage", "not_a_map", "version", "unknown_kind", "missing_field"):
        assert expected[reason] > 50, expected
    for reason in ("unknown_field", "field_type", "field_value", "oversize", "frames"):
        assert expected[reason] > 50, expected
    assert set(expected) <= set(bus.RECEIVE_REJECTION_REASONS)
    assert len(REGISTRY) == len(EXAMPLES)


def _send_all(socket: zmq.Socket, frames: list[list[bytes]]) -> None:
    for parts in frames:
        socket.send_multipart(parts)
    bus.send_message(socket, FINAL_MESSAGE)


def test_fuzz_router_in_thread(
    tmp_path: Path,
    corpus: tuple[list[list[bytes]], Counter[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames, expected = corpus
    context = bus.new_context()
    endpoint = f"ipc://{bus.ensure_private_dir(tmp_path / 'rt')}/work"
    options = bus.SocketOptions(max_frame_bytes=-1)
    router = bus.open_socket(context, zmq.ROUTER, endpoint, bind=True, options=options)
    dealer = bus.open_socket(context, zmq.DEALER, endpoint, bind=False, identity=b"fuzzer")
    receiver = bus.Receiver(router, max_frame_bytes=LIMIT_BYTES, name="work")
    sender = threading.Thread(target=_send_all, args=(dealer, frames), daemon=True)
    with caplog.at_level(logging.DEBUG, logger="pipeline.bus.frames"):
        sender.start()
        got = receiver.receive(30_000)
        sender.join(10)
    assert got is not None and got.message == FINAL_MESSAGE and got.identity == (b"fuzzer",)
    assert receiver.rejected == expected and receiver.rejected_total == FRAMES
    assert receiver.accepted == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= LOUD_REJECTIONS + 1, "rejections must not flood the log"
    router.close()
    dealer.close()
    context.term()


def _serve_pull(endpoint: str, conn: Any) -> None:
    """Child process: receive on a PULL until one valid message arrives; report the counts."""
    context = bus.new_context()
    options = bus.SocketOptions(max_frame_bytes=-1)
    pull = bus.open_socket(context, zmq.PULL, endpoint, bind=True, options=options)
    conn.send("ready")
    receiver = bus.Receiver(pull, max_frame_bytes=LIMIT_BYTES, name="events")
    got = receiver.receive(30_000)
    conn.send(
        (dict(receiver.rejected), receiver.accepted, None if got is None else encode(got.message))
    )
    pull.close()
    context.term()


def test_fuzz_pull_in_spawned_process(
    tmp_path: Path, corpus: tuple[list[list[bytes]], Counter[str]]
) -> None:
    frames, expected = corpus
    endpoint = f"ipc://{bus.ensure_private_dir(tmp_path / 'rt')}/events"
    spawn = multiprocessing.get_context("spawn")
    parent_end, child_end = spawn.Pipe()
    child = spawn.Process(target=_serve_pull, args=(endpoint, child_end), daemon=True)
    child.start()
    try:
        assert parent_end.poll(30), "child did not start"
        assert parent_end.recv() == "ready"
        context = bus.new_context()
        push = bus.open_socket(context, zmq.PUSH, endpoint, bind=False)
        _send_all(push, frames)
        assert parent_end.poll(30), "child did not answer"
        rejected, accepted, final = parent_end.recv()
        push.close()
        context.term()
        child.join(10)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
    assert final is not None and decode(final) == FINAL_MESSAGE
    assert Counter(rejected) == expected and sum(rejected.values()) == FRAMES
    assert accepted == 1

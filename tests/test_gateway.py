"""The web gateway on a real daemon (push stream, real model, real sockets): our protocol through
``run.py stream``, the Deepgram SDK's own client on ``/v1/listen``, /metrics, /healthz, and bad
clients that must be closed with a code and a reason while the daemon and others go on."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
from dataclasses import replace

import aiohttp
import pytest

from gateway.options import GatewayError, GatewayOptions, Limits
from pipeline.text_metrics import word_error_rate
from tests.data_paths import DATA_DIR, REPO_ROOT
from tests.gateway_harness import (
    GatewayRig,
    GatewayThread,
    deepgram_client,
    free_port,
    reference,
    s16le_frames,
)

pytestmark = pytest.mark.timeout(900)

LIMITS = replace(Limits(), silence_timeout_s=4.0, max_connections=20, max_frame_bytes=64 * 1024)


@pytest.fixture(scope="module")
def rig():
    # the loaded test machine must not refuse the open-streams test's streams as over capacity
    rig = GatewayRig(
        LIMITS, "--set", "streams.admission_max_busy=100", "--set", "streams.adapt=false"
    )
    yield rig
    rig.close()


def text_of(finals) -> str:
    return " ".join(f.text.strip() for f in finals if f.text.strip())


def test_health_and_metrics(rig: GatewayRig) -> None:
    code, body = rig.get("/healthz")
    assert code == 200 and "worker" in body
    code, body = rig.get("/metrics")
    assert code == 200
    for name in (
        "streamscribe_finals_total",
        'streamscribe_process_rss_bytes{role="asr-1"}',
        'streamscribe_process_restarts{role="vad"}',
        'streamscribe_stream_lag_seconds{stream="main"}',
        "streamscribe_latency_p95_seconds",
        "streamscribe_final_latency_seconds_bucket",
        "streamscribe_worker_restarts_total",
    ):
        assert name in body, name
    assert rig.status()["daemon"]["endpoints"]["push"].startswith("ipc://")


@pytest.mark.parametrize(
    "name", ["jfk.flac", pytest.param("dictation_dev.wav", marks=pytest.mark.slow)]
)
def test_run_py_stream_matches_the_subscriber(rig: GatewayRig, name: str) -> None:
    before = len(rig.finals)
    command = [
        sys.executable,
        str(REPO_ROOT / "run.py"),
        "stream",
        "--url",
        f"{rig.gateway.ws}/v1/stream",
        "--source",
        f"file:{DATA_DIR / name}",
        "--pace",
        "fast",
        "--format",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    finals = [m for m in lines if m["type"] == "final"]
    assert finals and lines[0]["type"] == "ready" and lines[-1]["type"] == "closing"
    ws_text = " ".join(m["text"] for m in finals if m["text"])
    zmq_finals = [f for f, _ in rig.finals[before:]]
    assert [f.seq for f in zmq_finals] == [m["seq"] for m in finals]
    ref = reference(name)
    assert abs(word_error_rate(ref, ws_text) - word_error_rate(ref, text_of(zmq_finals))) <= 0.005
    assert word_error_rate(ref, ws_text) < 0.3
    assert all(m["latency_ms"] >= 0 and m["words"] for m in finals if m["text"])
    # where the time went, from the real daemon: every final with text had engine time
    spoken = [m for m in finals if m["text"]]
    assert all(m["engine_ms"] is not None and m["engine_ms"] > 0 for m in spoken), spoken
    assert all(m["queue_wait_ms"] is not None and m["queue_wait_ms"] >= 0 for m in finals)
    assert all(f.engine_ms is not None for f in zmq_finals)  # the ZeroMQ subscriber's too
    _, body = rig.get("/metrics")
    assert _sample(body, "streamscribe_final_engine_seconds_count") >= len(spoken)
    assert _sample(body, "streamscribe_final_engine_seconds_sum") > 0
    assert _sample(body, "streamscribe_final_queue_wait_seconds_count") >= len(finals)


def _sample(body: str, name: str) -> float:
    """The value of the unlabelled sample ``name`` in a Prometheus text page."""
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_deepgram_sdk_client_on_listen(rig: GatewayRig) -> None:
    client = deepgram_client(rig)
    before = len(rig.finals)
    frames = s16le_frames("jfk.flac")
    messages = []
    with client.listen.v1.connect(
        model="nova-3",
        encoding="linear16",
        sample_rate="16000",
        channels="1",
        interim_results="true",
        utterance_end_ms="1000",
        vad_events="true",
        endpointing="300",
    ) as connection:
        for frame in frames:
            connection.send_media(frame)
            time.sleep(0.0125)  # 8x realtime
        connection.send_keep_alive()
        connection.send_close_stream()
        for message in connection:
            messages.append(message)
    kinds = [getattr(m, "type", None) for m in messages]
    assert "Results" in kinds and kinds[-1] == "Metadata", kinds
    assert "SpeechStarted" in kinds and "UtteranceEnd" in kinds
    finals = [m for m in messages if getattr(m, "type", "") == "Results" and m.is_final]
    assert finals and any(m.speech_final for m in finals)
    alternative = finals[0].channel.alternatives[0]
    assert alternative.words and 0 < alternative.confidence <= 1
    assert 0 <= alternative.words[0].start <= alternative.words[-1].end <= 12
    dg_text = " ".join(m.channel.alternatives[0].transcript for m in finals)
    zmq_finals = [f for f, _ in rig.finals[before:]]
    ref = reference("jfk.flac")
    assert abs(word_error_rate(ref, dg_text) - word_error_rate(ref, text_of(zmq_finals))) <= 0.005
    assert abs(messages[-1].duration - len(frames) * 0.1) < 0.2


async def _close_of(url: str, first: object, then: bytes | None = None, **headers: str):
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        if isinstance(first, (bytes, bytearray)):
            await ws.send_bytes(first)
        elif first is not None:
            await ws.send_str(first if isinstance(first, str) else json.dumps(first))
        if then is not None:
            await ws.receive(timeout=30)  # ready
            await ws.send_bytes(then)
        while True:
            message = await ws.receive(timeout=60)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return ws.close_code, str(message.extra or "")


START = {"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}


def test_bad_clients_get_a_close_code_and_a_reason(rig: GatewayRig) -> None:
    url = f"{rig.gateway.ws}/v1/stream"

    async def run() -> list[tuple[int, str]]:
        return [
            await _close_of(url, "{not json"),
            await _close_of(url, b"\x00\x01"),
            await _close_of(url, {**START, "encoding": "pcm_mulaw"}),
            await _close_of(url, {**START, "sample_rate": 48000}),
            await _close_of(url, START, then=b"\x01" * 3),  # half a sample
            await _close_of(url, START, then=b"\x01" * (LIMITS.max_frame_bytes + 2)),
        ]

    closes = asyncio.run(run())
    codes = [code for code, _ in closes]
    assert codes == [4000, 1003, 4003, 4003, 1003, 1009], closes
    assert "JSON" in closes[0][1] and "mulaw" in closes[2][1] and "48000" in closes[3][1]
    assert "3 bytes" in closes[4][1]
    assert rig.get("/healthz")[0] == 200


def test_a_hundred_connections_at_once(rig: GatewayRig) -> None:
    url = f"{rig.gateway.ws}/v1/stream"

    async def one(http: aiohttp.ClientSession) -> int | None:
        try:
            ws = await http.ws_connect(url)
        except aiohttp.ClientError:
            return -1
        message = await ws.receive(timeout=2)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code
        return None  # still open: waiting for its start message

    async def run() -> tuple[list, dict]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            results = await asyncio.gather(*(one(http) for _ in range(100)), return_exceptions=True)
            status = rig.status()  # while they are open
        return results, status

    results, status = asyncio.run(run())
    refused = [r for r in results if r == 1013]
    open_ = [r for r in results if isinstance(r, asyncio.TimeoutError) or r is None]
    assert len(refused) == 100 - LIMITS.max_connections, results
    assert len(open_) == LIMITS.max_connections, results
    assert status["gateway"]["connections"] == LIMITS.max_connections
    time.sleep(0.5)
    assert rig.status()["gateway"]["connections"] == 0
    assert rig.get("/healthz")[0] == 200


def test_a_client_that_stops_reading_and_sending_is_closed_and_frees_the_stream(rig) -> None:
    url = f"{rig.gateway.ws}/v1/stream"
    frames = s16le_frames("jfk.flac")[:20]

    async def run() -> tuple[int, str, str]:
        async with aiohttp.ClientSession() as http:
            stuck = await http.ws_connect(url)
            await stuck.send_json(START)
            for frame in frames:
                await stuck.send_bytes(frame)
            # no reading, no sending: the silence timeout closes it
            started_s = time.monotonic()
            busy = await _close_of(url, START)  # meanwhile the stream is in use
            message = await stuck.receive(timeout=30)
            while message.type == aiohttp.WSMsgType.TEXT:
                message = await stuck.receive(timeout=30)
            waited_s = time.monotonic() - started_s
            assert waited_s < LIMITS.silence_timeout_s + 20
            code, reason = stuck.close_code, str(message.extra or "")
            async with http.ws_connect(url) as after:  # the stream is free again
                await after.send_json(START)
                ready = await after.receive_json(timeout=10)
            return code, reason, f"{busy} {ready['type']}"

    code, reason, rest = asyncio.run(run())
    assert (code, "no sound") == (4008, reason[:8]), reason
    assert "1013" in rest and "busy" in rest and rest.endswith("ready")


def test_token_origin_and_tls(rig: GatewayRig, tmp_path) -> None:
    with pytest.raises(GatewayError, match="token"):
        GatewayOptions(host="0.0.0.0")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    options = replace(
        rig.gateway.options, port=free_port(), token="s3cret", tls_cert=str(cert), tls_key=str(key)
    )
    gateway = GatewayThread(options)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    base = f"wss://127.0.0.1:{options.port}/v1/stream"

    async def run() -> dict:
        results = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            for name, kwargs in (
                ("none", {}),
                ("wrong", {"headers": {"Authorization": "Token nope"}}),
                (
                    "origin",
                    {"headers": {"Authorization": "Token s3cret", "Origin": "http://evil.example"}},
                ),
            ):
                try:
                    async with http.ws_connect(base, **kwargs):
                        results[name] = "open"
                except aiohttp.WSServerHandshakeError as e:
                    results[name] = e.status
            for name, kwargs in (
                ("header", {"headers": {"Authorization": "Token s3cret"}}),
                ("subprotocol", {"protocols": ("token", "s3cret")}),
            ):
                async with http.ws_connect(base, **kwargs) as ws:
                    await ws.send_json({**START, "encoding": "pcm_mulaw"})
                    await ws.receive(timeout=10)
                    results[name] = ws.close_code
        return results

    try:
        results = asyncio.run(run())
    finally:
        gateway.stop()
    assert results == {
        "none": 401,
        "wrong": 401,
        "origin": 403,
        "header": 4003,
        "subprotocol": 4003,
    }


def test_garbage_and_gaps_on_the_daemon_push_socket_are_reported(rig: GatewayRig) -> None:
    import zmq

    from pipeline.messages import PushAudio, PushEnd, PushReply, decode, encode

    endpoint = rig.status()["daemon"]["endpoints"]["push"]
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    try:
        dealer.send_multipart([b"\x93garbage", b"\x00\x00"])
        assert dealer.poll(10_000), "no answer from the daemon's capture"
        reply = decode(dealer.recv())
        silence = bytes(3200)
        for seq in (0, 1, 3):  # frame 2 lost on the way
            header = PushAudio("main", "direct", seq, "s16le", 16000)
            dealer.send_multipart([encode(header), silence])
        dealer.send(encode(PushEnd("main", "direct", 4)))
        statuses = []
        while "ended" not in statuses and dealer.poll(10_000):
            statuses.append(decode(dealer.recv()).status)
    finally:
        dealer.close()
        context.term()
    assert isinstance(reply, PushReply) and reply.status == "rejected", reply
    assert statuses == ["accepted", "gap", "ended"], statuses
    status = rig.daemon.wait_for(
        lambda s: (
            s["capture_events"].get("push_rejected", 0) >= 1
            and s["capture_events"].get("push_gap", 0) >= 1
        ),
        10,
        "push_rejected and push_gap counted",
    )
    capture = next(row for row in status["processes"] if row["role"] == "capture")
    assert capture["restarts"] == 0 and capture["state"] == "running"
    assert rig.daemon.process.poll() is None


def test_a_connection_is_closed_past_its_longest_session(rig: GatewayRig) -> None:
    options = replace(
        rig.gateway.options, port=free_port(), limits=replace(LIMITS, max_session_s=1.5)
    )
    gateway = GatewayThread(options)
    frames = s16le_frames("jfk.flac")

    async def run() -> tuple[int | None, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{gateway.ws}/v1/stream") as ws,
        ):
            await ws.send_json(START)
            await ws.receive(timeout=10)  # ready
            for frame in frames:
                try:
                    await ws.send_bytes(frame)
                except aiohttp.ClientConnectionResetError:
                    break  # the server is closing
                await asyncio.sleep(0.1)
            while True:
                message = await ws.receive(timeout=120)
                if message.type == aiohttp.WSMsgType.CLOSE:
                    return message.data, str(message.extra or "")  # the server's code
                if message.type == aiohttp.WSMsgType.CLOSED:
                    return ws.close_code, str(message.extra or "")

    try:
        code, reason = asyncio.run(run())
    finally:
        gateway.stop()
    assert code == 1008 and "longer than 2 s" in reason, (code, reason)


def test_run_py_serve_fronts_the_daemon(rig: GatewayRig) -> None:
    import urllib.request

    from tests.gateway_harness import GatewayProcess

    options = replace(rig.gateway.options, port=free_port())
    served = GatewayProcess(rig.daemon, options)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{served.http}/healthz", timeout=5) as response:
                    assert response.status == 200
                with urllib.request.urlopen(f"{served.http}/", timeout=5) as response:
                    assert b"/static/app.js" in response.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "run.py serve did not answer"
                assert served.process.poll() is None, "run.py serve exited"
                time.sleep(0.3)
    finally:
        served.stop()
    assert served.process.returncode is not None


def test_open_streams_two_clients_at_once_each_get_their_own_finals(rig: GatewayRig) -> None:
    options = replace(rig.gateway.options, port=free_port(), open_streams=True)
    gateway = GatewayThread(options)
    url = f"{gateway.ws}/v1/stream"

    async def one(name: str, label: str) -> tuple[dict, list[dict], int | None]:
        frames = s16le_frames(name)
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_json({**START, "label": label, "profile": "low-latency"})
            message = await ws.receive(timeout=60)
            if message.type != aiohttp.WSMsgType.TEXT:
                return {"type": "closed", "why": str(message.extra)}, [], ws.close_code
            ready = json.loads(message.data)
            for frame in frames:
                await ws.send_bytes(frame)
                await asyncio.sleep(0.0125)  # 8x realtime
            await ws.send_json({"type": "stop"})
            finals = []
            while True:
                message = await ws.receive(timeout=300)
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                body = json.loads(message.data)
                if body["type"] == "final":
                    finals.append(body)
            return ready, finals, ws.close_code

    async def both():
        return await asyncio.gather(one("jfk.flac", "left"), one("harvard_list72_8k.wav", "right"))

    try:
        (ready_a, finals_a, code_a), (ready_b, finals_b, code_b) = asyncio.run(both())
    finally:
        gateway.stop()
    assert ready_a["type"] == ready_b["type"] == "ready", (ready_a, ready_b)
    assert ready_a["stream_id"] != ready_b["stream_id"] != "main"
    assert ready_a["profile"] == "low-latency"
    assert code_a == code_b == 1000
    text_a = " ".join(f["text"] for f in finals_a)
    text_b = " ".join(f["text"] for f in finals_b)
    assert word_error_rate(reference("jfk.flac"), text_a) < 0.3, text_a
    assert word_error_rate(reference("harvard_list72_8k.wav"), text_b) < 0.4, text_b
    seqs = {f.seq: f.stream_id for f, _ in rig.finals}
    assert {seqs[f["seq"]] for f in finals_a} == {ready_a["stream_id"]}
    assert {seqs[f["seq"]] for f in finals_b} == {ready_b["stream_id"]}


def _lag(body: str, stream: str = "main") -> float | None:
    prefix = f'streamscribe_stream_lag_seconds{{stream="{stream}"}} '
    for line in body.splitlines():
        if line.startswith(prefix):
            return float(line.split()[1])
    return None


def test_stream_lag_on_metrics_rises_while_speech_waits_and_falls_after(rig: GatewayRig) -> None:
    frames = s16le_frames("jfk.flac")
    lags: list[float] = []
    client_lags: list[float | None] = []

    async def scrape(done: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as http:
            while not done.is_set():
                async with http.get(f"{rig.gateway.http}/metrics") as response:
                    lag = _lag(await response.text())
                if lag is not None:
                    lags.append(lag)
                await asyncio.sleep(0.2)

    async def run() -> None:
        done = asyncio.Event()
        scraper = asyncio.create_task(scrape(done))
        url = f"{rig.gateway.ws}/v1/stream"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_json(START)
            await ws.receive(timeout=60)  # ready
            for frame in frames:
                await ws.send_bytes(frame)
                await asyncio.sleep(0.05)  # 2x realtime
            await ws.send_json({"type": "stop"})
            while (message := await ws.receive(timeout=300)).type == aiohttp.WSMsgType.TEXT:
                body = json.loads(message.data)
                if body["type"] == "metrics":  # every 5 s: the page's status panel
                    client_lags.append(body["lag_s"])
        await asyncio.sleep(3.0)  # status refreshes, the VAD reports its position
        done.set()
        await scraper

    asyncio.run(run())
    assert lags and max(lags) >= 1.0, lags  # speech not yet covered by a final
    assert lags[-1] <= 0.5, lags  # every final out, nothing more written: caught up
    assert client_lags and all(lag is not None for lag in client_lags), client_lags

"""Gateway logic without a daemon: start messages, Deepgram parameters, token, Origin, rate
limit, options, and the layering (the daemon never imports the gateway)."""

from __future__ import annotations

import ast

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.dialects import deepgram_start
from gateway.options import GatewayError, GatewayOptions
from gateway.protocol import ProtocolError, parse_start
from gateway.security import RateLimit, check_origin, check_token, offered_token
from tests.data_paths import REPO_ROOT


def test_start_message() -> None:
    start = parse_start(
        '{"type": "start", "sample_rate": 48000, "encoding": "pcm_f32le", "channels": 2,'
        ' "profile": "low-latency", "label": "desk"}'
    )
    assert (start.sample_rate_hz, start.sample_format, start.channels) == (48000, "f32le", 2)
    assert (start.profile, start.label) == ("low-latency", "desk")
    for text, code, words in (
        ("{oops", 4000, "not JSON"),
        ('{"type": "audio"}', 4000, "start"),
        ('{"sample_rate": 16000, "encoding": "opus"}', 4003, "opus"),
        ('{"sample_rate": "16000"}', 4000, "sample_rate"),
        ('{"sample_rate": true}', 4000, "sample_rate"),
        ('{"sample_rate": 16000, "channels": 0}', 4000, "channels"),
        ('{"sample_rate": 16000, "label": 5}', 4000, "strings"),
        ("x" * 5000, 4000, "bytes"),
    ):
        with pytest.raises(ProtocolError) as caught:
            parse_start(text)
        assert caught.value.code == code and words in caught.value.reason, (text, caught.value)


def test_deepgram_query() -> None:
    start, options = deepgram_start(
        {
            "encoding": "linear16",
            "sample_rate": "16000",
            "interim_results": "true",
            "utterance_end_ms": "1000",
            "endpointing": "300",
        }
    )
    assert (start.sample_format, start.sample_rate_hz, start.channels) == ("s16le", 16000, 1)
    assert options["interim_results"] and not options["vad_events"]
    for query in ({}, {"encoding": "opus"}, {"encoding": "linear16", "sample_rate": "x"}):
        with pytest.raises(ProtocolError) as caught:
            deepgram_start(query)
        assert caught.value.code == 4003


def test_token_and_origin() -> None:
    options = GatewayOptions(host="0.0.0.0", token="s3cret")
    with_header = make_mocked_request("GET", "/", headers={"Authorization": "Bearer s3cret"})
    with_protocol = make_mocked_request(
        "GET", "/", headers={"Sec-WebSocket-Protocol": "token, s3cret"}
    )
    wrong = make_mocked_request("GET", "/", headers={"Authorization": "Token nope"})
    assert offered_token(with_header) == offered_token(with_protocol) == "s3cret"
    assert check_token(options, with_header) == check_token(options, with_protocol) == ""
    assert "wrong" in check_token(options, wrong)
    assert "required" in check_token(options, make_mocked_request("GET", "/"))
    own = make_mocked_request("GET", "/", headers={"Host": "a:1", "Origin": "http://a:1"})
    foreign = make_mocked_request("GET", "/", headers={"Host": "a:1", "Origin": "http://b"})
    assert check_origin(options, own) == "" and "not allowed" in check_origin(options, foreign)
    assert check_origin(GatewayOptions(allowed_origins=("http://b",)), foreign) == ""
    assert check_origin(options, make_mocked_request("GET", "/")) == ""  # not a browser


def test_options_refuse_an_open_address_without_a_token() -> None:
    with pytest.raises(GatewayError, match="token"):
        GatewayOptions(host="192.168.1.5")
    with pytest.raises(GatewayError, match="both"):
        GatewayOptions(tls_cert="cert.pem")
    assert GatewayOptions(host="::1").token == ""


def test_rate_limit() -> None:
    limit = RateLimit(10.0, burst_s=1.0)
    assert all(limit.allow(0.0) for _ in range(10))
    assert not limit.allow(0.0)
    assert limit.allow(0.15)  # 1.5 tokens back
    assert not limit.allow(0.15)


def test_the_daemon_never_imports_the_gateway() -> None:
    offenders = []
    for package in ("pipeline", "workers", "config"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path}: {n}" for n in names if n.split(".")[0] == "gateway"]
    for path in (REPO_ROOT / "gateway").rglob("*.py"):  # a client: sockets, not the daemon's code
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("workers")
            ):
                offenders.append(f"{path}: {node.module}")
    assert not offenders, offenders


def test_without_a_daemon_health_fails_and_clients_are_told(tmp_path) -> None:
    import asyncio
    import urllib.error
    import urllib.request

    import aiohttp

    from tests.gateway_harness import GatewayThread, free_port

    options = GatewayOptions(
        port=free_port(),
        control_endpoint=f"ipc://{tmp_path}/none.control",
        transcript_endpoint=f"ipc://{tmp_path}/none.transcript",
        status_interval_s=0.2,
    )
    gateway = GatewayThread(options)
    try:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{gateway.http}/healthz", timeout=10)
        assert caught.value.code == 503 and b"does not answer" in caught.value.read()
        with urllib.request.urlopen(f"{gateway.http}/metrics", timeout=10) as response:
            assert b"streamscribe_up 0.0" in response.read()

        async def close_of_a_client() -> tuple[int | None, str]:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(f"{gateway.ws}/v1/stream") as ws,
            ):
                await ws.send_json({"type": "start", "sample_rate": 16000})
                message = await ws.receive(timeout=10)
                return ws.close_code, str(message.extra)

        code, reason = asyncio.run(close_of_a_client())
    finally:
        gateway.stop()
    assert code == 1011 and "does not answer" in reason


def test_endpointing_becomes_the_streams_hangover_within_bounds() -> None:
    from gateway.protocol import ProtocolError, StartMessage, parse_endpointing

    assert parse_endpointing(None) is None and parse_endpointing("false") is None
    assert parse_endpointing("300") == 300 and parse_endpointing(3000) == 3000
    for bad, why in (("20", "outside 100..10000"), ("1.5", "milliseconds"), (True, "milliseconds")):
        with pytest.raises(ProtocolError, match=why):
            parse_endpointing(bad)
    start = StartMessage(16000, "s16le", 1, "", "", 300)
    assert start.overrides() == {"vad.hangover_ms": "300", "vad.pause_ms": "150"}
    assert StartMessage(16000, "s16le", 1, "", "", 3000).overrides() == {"vad.hangover_ms": "3000"}
    assert StartMessage(16000, "s16le", 1, "", "").overrides() == {}
    assert StartMessage(16000, "s16le", 1, "", "", 3000).end_silence_ms() == 3500
    assert StartMessage(16000, "s16le", 1, "", "", 300).end_silence_ms() == 0

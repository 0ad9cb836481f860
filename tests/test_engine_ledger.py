"""The workers' engine time per request kind, and the bench's reading of it from a daemon log."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.e2e_parts.cpu_breakdown import cpu_figures, engine_by_kind, role_name
from pipeline.engine_ledger import EngineLedger, parse_log_line, request_kind
from pipeline.scheduling.request_ids import (
    chunk_request_id,
    partial_request_id,
    session_id,
    window_request_id,
)


def test_request_kind_reads_every_id_form_the_scheduler_makes() -> None:
    assert request_kind(chunk_request_id("main", 3, 0, 2)) == "final"
    assert request_kind(window_request_id("main", 3, 4, 1)) == "window"
    assert request_kind(partial_request_id("main", 3, 12)) == "partial"
    assert request_kind(partial_request_id("main", 3, 12) + "e") == "early_final"
    assert request_kind(session_id("main", 3, 1)) == "other"
    assert request_kind("") == "other"
    assert request_kind("main/3/px") == "other"


def test_ledger_totals_round_trip_through_the_log_line() -> None:
    ledger = EngineLedger()
    short = {"encode_s": 0.2, "decode_s": 0.1, "audio_ctx": 500.0}
    ledger.record(partial_request_id("main", 1, 1), 0.3, 0.5, 2.0, short)
    ledger.record(partial_request_id("main", 1, 2), 0.4, 0.6, 3.0, short)
    retried = {"encode_s": 0.5, "decode_s": 0.2, "audio_ctx": 1500.0, "audio_ctx_retry_s": 0.3}
    ledger.record(chunk_request_id("main", 1, 0, 1), 1.0, 1.5, 4.0, retried)
    line = "2026-11-30 07:42:12,558 INFO asr-2[26396] pipeline.x: " + ledger.log_line()
    totals = parse_log_line(line)
    assert totals is not None and set(totals) == {"partial", "final"}  # kinds with requests only
    assert totals["partial"]["requests"] == 2
    assert totals["partial"]["cpu_s"] == pytest.approx(1.1)
    assert totals["partial"]["encoder_frames"] == 1000
    assert totals["partial"]["full_window_retries"] == 0
    assert totals["final"]["full_window_retries"] == 1
    assert totals["final"]["full_window_retry_s"] == pytest.approx(0.7)  # engine minus 1st pass
    assert parse_log_line("INFO asr-1[1] x: nothing here") is None
    # a replaced worker's second line adds to the same role
    assert engine_by_kind(line + "\n" + line)["asr-2"]["partial"]["requests"] == 4


def test_cpu_figures_split_start_up_roles_and_kinds() -> None:
    run = SimpleNamespace(
        cpu_s=10.0,
        cpu_s_by_role={"supervisor": 1.0, "asr-1": 7.0, "vad": 1.0, "capture": 0.5},
        cpu_s_start_by_role={"supervisor": 0.3, "asr-1": 2.0, "vad": 0.3, "capture": 0.2},
        engine_by_kind={"asr-1": {"partial": {"requests": 3, "cpu_s": 4.0}}},
    )
    figures = cpu_figures([run, run], offline_cpu_s=4.0)
    assert figures["cpu_s_by_role"]["asr-1"] == 14.0
    assert figures["cpu_s_unattributed"] == pytest.approx(1.0)  # 20 total - 19 sampled
    assert figures["cpu_s_after_start"] == pytest.approx(14.4)
    assert figures["cpu_overhead_ratio_after_start"] == pytest.approx(3.6)
    assert figures["engine_cpu_ratio_by_kind"] == {"partial": 2.0}
    assert figures["worker_idle_cpu_s"] == pytest.approx(10.0 - 8.0)
    assert role_name("asr-2") == "asr-2" and role_name("capture-main") == "capture"


def _burn_cpu(seconds: float) -> None:
    """Spend ``seconds`` of this process's CPU time (a fixed loop took under one clock tick)."""
    import time

    until_s = time.process_time() + seconds
    while time.process_time() < until_s:
        sum(i * i for i in range(10_000))


def test_sampler_marks_start_up_once_the_audio_flows_and_each_process_is_ready() -> None:
    import os

    from bench.e2e_parts.cpu_breakdown import CpuSampler

    pid = os.getpid()  # a real process: this one, read through psutil
    sampler = CpuSampler(pid)
    sampler.sample({pid: "asr-1"}, streaming=False, states={pid: "ready"})
    assert sampler.start_cpu_s == {} and sampler.cpu_s[pid] > 0
    sampler.sample({pid: "asr-1"}, streaming=True, states={pid: "starting"})  # loading its model
    assert sampler.start_cpu_s == {}
    _burn_cpu(0.05)  # some CPU between the samples
    sampler.sample({pid: "asr-1"}, streaming=True, states={pid: "ready"})
    marked = sampler.start_cpu_s[pid]
    _burn_cpu(0.05)  # well over the 10 ms clock tick and the sampler's rounding
    sampler.sample({pid: "asr-1"}, streaming=True, force=True, states={pid: "busy"})
    assert sampler.start_cpu_s[pid] == marked < sampler.cpu_s[pid]
    # (in a full test run this process may have other children: only the named one is checked)
    assert sampler.start_by_role()["asr-1"] == round(marked, 3)


def test_worker_service_records_real_requests_and_logs_them_at_close(tmp_path, caplog) -> None:
    """The real model on real audio in a real ring: the ledger sees the request's kind, CPU and
    encoder frames, and the close logs the line the bench parses."""
    import logging

    from pipeline.audio_format import SAMPLE_RATE_HZ
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.messages.work import TranscribeRequest, TranscribeResult
    from pipeline.ring import AudioRing
    from pipeline.transcription_service import TranscriptionService
    from tests.process_harness import converted_file

    audio = converted_file("jfk.flac")[: 4 * SAMPLE_RATE_HZ]
    ring = AudioRing.create("ledger", audio.size * 2, SAMPLE_RATE_HZ, tmp_path)
    ring.write(audio)
    service = TranscriptionService(WhisperBackend(options=WhisperOptions(blas_threads=1)))
    request = TranscribeRequest(
        request_id=partial_request_id("main", 1, 1), stream_id="main", segment_id=1,
        chunk_index=0, chunk_count=1, ring_name=ring.name, start_index=0,
        end_index=audio.size, is_partial=True,
    )  # fmt: skip
    reply = service.handle(request)
    assert isinstance(reply, TranscribeResult) and reply.text
    partial = service.ledger.kinds["partial"]
    assert partial.requests == 1 and partial.cpu_s > 0
    assert partial.audio_s == pytest.approx(4.0)
    assert 0 < partial.encoder_frames < 1500  # the shortened encoder
    with caplog.at_level(logging.INFO, logger="pipeline.transcription_service"):
        service.close()
    logged = [parse_log_line(r.getMessage()) for r in caplog.records]
    assert {"partial"} == set(next(t for t in logged if t))
    ring.close()

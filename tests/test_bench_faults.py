"""The fault run's proof logic: dispatch lines read from a growing log, what a kill hit, and a
verdict that fails when the claimed kill did not happen (unit tests of the bench's logic; the
real daemon is killed in tests/test_bench_daemon_e2e.py)."""

from __future__ import annotations

from pathlib import Path

from bench.e2e_parts.faults import Kill, KillController, LogTail, is_final_id

LINE = "2026-11-30 05:00:0{s},000 DEBUG MainProcess[1] pipeline.scheduling.scheduler: {rid} -> {role}\n"


def kill(**changes: object) -> Kill:
    fields = {
        "role": "asr-1", "victim_pid": 10, "killed_at_unix_s": 0.0, "restarts_before": 0,
        "retries_before": 0, "partials_failed_before": 0, "chosen_by": "test",
    } | changes  # fmt: skip
    return Kill(**fields)  # type: ignore[arg-type]


def test_log_tail_reads_dispatches_as_the_log_grows(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    log.write_text(LINE.format(s=1, rid="main/0/p0", role="asr-1") + "2026-11-30 05:00:02,000 DEB")
    tail = LogTail(log)
    tail.poll()
    assert [d[1] for d in tail.dispatches] == ["main/0/p0"]
    with log.open("a") as out:
        out.write(
            "UG MainProcess[1] other: text\n" + LINE.format(s=3, rid="main/0/c0.1", role="asr-1")
        )
    tail.poll()
    assert [d[1] for d in tail.dispatches] == ["main/0/p0", "main/0/c0.1"]
    assert tail.last_to("asr-1") == "main/0/c0.1" and tail.last_to("asr-2") is None


def test_final_ids() -> None:
    assert is_final_id("main/3/c0.1") and is_final_id("main/3/w2.1") and is_final_id("main/3/p4e")
    assert not is_final_id("main/3/p4") and not is_final_id(None)


def test_what_a_kill_hit() -> None:
    assert kill(in_flight_id="main/1/c0.1", resent_id="main/1/c0.2").hit == "final"
    assert kill(retries_after=1).hit == "final"
    assert kill(in_flight_id="main/1/p3e", resent_id="main/1/c0.1").hit == "final-early"
    assert kill(in_flight_id="main/1/p3e").hit == "early-not-replaced"
    assert kill(in_flight_id="main/1/p3", partials_failed_after=1).hit == "partial"
    assert kill(in_flight_id="main/1/c0.1", retries_after=0).hit == "none"


def test_verdict_fails_when_the_fault_did_not_happen(tmp_path: Path) -> None:
    controller = KillController(3, LogTail(tmp_path / "none.log"))
    assert controller.verify() == ["no asr worker was killed: no final request was seen in flight"]
    controller.kills.append(kill(in_flight_id="main/1/p2", partials_failed_after=1))
    problems = controller.verify()
    assert len(problems) == 2 and "no replacement" in problems[0] and "none hit" in problems[1]
    controller.kills.append(
        kill(
            victim_pid=11,
            in_flight_id="main/2/c0.1",
            resent_id="main/2/c0.2",
            replacement_pid=12,
            restarts_before=1,
            restarts_after=2,
        )
    )
    (problem,) = controller.verify()  # a final was hit; the first kill's restart is missing
    assert "(pid 10)" in problem and "no replacement" in problem
    controller.kills.pop(0)
    assert controller.verify() == []
    controller.kills[0].status_cli = {"pid": 11, "state": "ready", "restarts": 1}
    (problem,) = controller.verify()  # the CLI's view must agree
    assert "run.py status --json" in problem


def test_the_final_sent_again_after_a_kill(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    lines = [
        (1, "main/0/c0.1"), (2, "main/0/p3"), (3, "main/0/c0.2"),  # chunk 0 sent again
        (4, "main/1/p2e"), (5, "main/2/c0.1"), (6, "main/1/c0.1"),  # early final replaced
    ]  # fmt: skip
    log.write_text("".join(LINE.format(s=s, rid=rid, role="asr-1") for s, rid in lines))
    controller = KillController(3, LogTail(log))
    start = LogTail(log)
    start.poll()
    at = {rid: t for t, rid, _ in start.dispatches}
    controller.kills += [
        kill(in_flight_id="main/0/c0.1", killed_at_unix_s=at["main/0/c0.1"] + 0.5),
        kill(in_flight_id="main/1/p2e", killed_at_unix_s=at["main/1/p2e"] + 0.5),
        kill(in_flight_id="main/2/c0.1", killed_at_unix_s=at["main/2/c0.1"] + 0.5),
    ]
    controller.read_log("")
    assert [k.resent_id for k in controller.kills] == ["main/0/c0.2", "main/1/c0.1", None]
    assert [k.hit for k in controller.kills] == ["final", "final-early", "none"]

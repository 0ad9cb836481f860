"""``bench/results/REPORT.md``: the machine, one table of every figure against its target, plots."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from report_parts.targets import Check, check, flatten, lookup, reason_for, targets_for

# Nested parts of a bench's JSON that are detail, not headline figures (kept in <bench>.json).
DETAIL_KEYS = {
    "targets", "per_file", "profiles", "speedups", "kill", "kills", "proposed_overrides",
    "per_profile", "devset", "utterances", "lost_segments",
}  # fmt: skip
STATUS_OK = "ok"


@dataclass
class BenchOutcome:
    """One bench of the suite: how it ran and what it printed last."""

    name: str
    command: list[str]
    status: str = STATUS_OK  # ok, failed, timed out, not available
    exit_code: int | None = None
    wall_s: float = 0.0
    figures: dict[str, Any] | None = None  # the last JSON line
    error: str = ""  # why it failed, in words
    output_tail: str = ""  # stdout/stderr tail, for failures
    plots: list[str] = field(default_factory=list)  # PNGs, relative to the results dir

    def checks(self) -> list[Check]:
        """Targets first (missing figures count as failed), then every other scalar figure."""
        if self.figures is None:
            return []
        targets = targets_for(self.name, self.figures)
        rows = [check(name, lookup(self.figures, name), target) for name, target in targets.items()]
        for name, value in flatten(self.figures, DETAIL_KEYS).items():
            if name not in targets:
                rows.append(Check(name, value, "", None))
        return [
            replace(row, reason=reason_for(self.figures, row.figure)) if row.value is None else row
            for row in rows
        ]

    @property
    def targets_met(self) -> tuple[int, int]:
        with_target = [c for c in self.checks() if c.target]
        return sum(1 for c in with_target if c.passed), len(with_target)


def format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def result_cell(row: Check) -> str:
    if not row.target:
        return ""
    if row.value is None:
        return "**FAIL** (missing)"
    return "pass" if row.passed else "**FAIL**"


def render_report(
    outcomes: Sequence[BenchOutcome], machine: Mapping[str, Any], suite_command: list[str]
) -> str:
    lines = ["# streamscribe benchmarks", ""]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in machine.items()]
    lines += [f"- suite: `{shlex.join(suite_command)}`", ""]

    lines += [
        "## Summary",
        "",
        "| bench | status | wall s | targets met |",
        "| --- | --- | ---: | --- |",
    ]
    for outcome in outcomes:
        met, total = outcome.targets_met
        status = outcome.status if outcome.status == STATUS_OK else f"**{outcome.status.upper()}**"
        lines.append(
            f"| {outcome.name} | {status} | {outcome.wall_s:.1f} | "
            f"{f'{met}/{total}' if total else '—'} |"
        )

    lines += ["", "## Figures", "", "| bench | figure | value | target | result |"]
    lines.append("| --- | --- | ---: | --- | --- |")
    for outcome in outcomes:
        if outcome.status != STATUS_OK:
            lines.append(
                f"| {outcome.name} | — | — | — | **{outcome.status.upper()}**: "
                f"{_cell(outcome.error)} |"
            )
        for row in outcome.checks():
            value = format_value(row.value) + (f" ({_cell(row.reason)})" if row.reason else "")
            lines.append(
                f"| {outcome.name} | `{row.figure}` | {value} | "
                f"{_cell(row.target)} | {result_cell(row)} |"
            )

    notes = [
        (o.name, o.figures[key])
        for o in outcomes
        if o.figures
        for key in ("latency_note", "note", "notes")
        if isinstance(o.figures.get(key), str)
    ]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {name}: {text}" for name, text in notes]

    plots = [(o.name, plot) for o in outcomes for plot in o.plots]
    if plots:
        lines += ["", "## Plots", ""]
        for name, plot in plots:
            lines += [f"### {name}: {plot}", "", f"![{plot}]({plot})", ""]

    lines += ["", "## Commands", "", "Run from the project root; each bench's full JSON is in "
              "`bench/results/<bench>.json`, its output in `bench/results/<bench>.log`.", ""]  # fmt: skip
    lines += [f"- {o.name}: `{shlex.join(o.command)}`" for o in outcomes]

    failed = [o for o in outcomes if o.status != STATUS_OK]
    if failed:
        lines += ["", "## Failures", ""]
        for outcome in failed:
            lines += [f"### {outcome.name}: {outcome.status}", "", outcome.error, ""]
            if outcome.output_tail:
                lines += ["```", outcome.output_tail.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

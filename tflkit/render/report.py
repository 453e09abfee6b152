"""``tflkit check``: a Report as the JSON document and as a verdict line with the findings
grouped by rule; the rules as a table. Never computes: what it shows comes from the Report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tflkit.render._text import Message, NameLine, human_size, trimmed

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit.report import Finding, Report, Rule, VelaEstimate
    from tflkit.targets import TargetResult

__all__ = ["checked_summary", "report_renderables", "report_to_dict", "rules_renderables"]


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "message": f.message,
        "subgraph": f.subgraph,
        "tensor": f.tensor,
        "operator": f.operator,
    }


def _target_dict(t: TargetResult) -> dict[str, Any]:
    return {
        "target": t.target,
        "target_source": t.source,
        "target_summary": t.summary,
        "target_passed": t.passed,
        "segments": t.segments,
        "placement": [
            {
                "subgraph": p.subgraph,
                "operator": p.operator,
                "op": p.op,
                "output": p.output,
                "on": p.on,
                "reason": p.reason,
                "rule": p.rule,
            }
            for p in t.placement
        ],
        "memory": (
            {"arena_bytes": t.memory.arena_bytes, "flash_bytes": t.memory.flash_bytes}
            if t.memory is not None
            else None
        ),
    }


def _estimate_dict(e: VelaEstimate) -> dict[str, Any]:
    return {
        "tool": "vela",
        "vela_version": e.vela_version,
        "accelerator": e.accelerator,
        "system_config": e.system_config,
        "memory_mode": e.memory_mode,
        "clock_hz": e.clock_hz,
        "cycles": e.cycles,
        "npu_cycles": e.npu_cycles,
        "inference_seconds": e.inference_seconds,
        "macs": e.macs,
        "sram_bytes": e.sram_bytes,
        "dram_bytes": e.dram_bytes,
        "flash_bytes": e.flash_bytes,
        "npu_operators": e.npu_operators,
        "cpu_operators": e.cpu_operators,
    }


def _estimate_fields(report: Report) -> dict[str, Any]:
    """``estimate`` and ``estimate_note`` when an estimate was asked for (one of them set)."""
    if report.estimate is None and report.estimate_note is None:
        return {}
    return {
        "estimate": None if report.estimate is None else _estimate_dict(report.estimate),
        "estimate_note": report.estimate_note,
    }


def _seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale or unit == "us":
            return f"{s / scale:#.3g} {unit}"
    raise AssertionError("unreachable")


def _estimate_lines(e: VelaEstimate) -> list[str]:
    """Vela's estimate in three lines, labelled as Vela's: the accelerator and Vela's operator
    counts; cycles and time at the clock of its system config; the memory it used in its
    memory mode (areas left unused are not named)."""
    memory = [
        f"{name} {human_size(n)}"
        for name, n in (("SRAM", e.sram_bytes), ("DRAM", e.dram_bytes), ("flash", e.flash_bytes))
        if n
    ]
    return [
        f"Vela {e.vela_version} estimate ({e.accelerator}): "
        f"{e.npu_operators} NPU / {e.cpu_operators} CPU operators",
        f"{e.cycles:,} cycles, {_seconds(e.inference_seconds)} at {e.clock_hz / 1e6:g} MHz "
        f"({e.system_config})",
        f"{', '.join(memory) or 'no memory'} used ({e.memory_mode})",
    ]


def report_to_dict(report: Report) -> dict[str, Any]:
    """One ``tflkit check --json`` entry (``schemas/check.schema.json``); every finding."""
    return {
        "model": report.model,
        "profile": report.profile,
        "passed": report.passed,
        "options": dict(report.options),
        "quantization_kind": report.quantization_kind,
        "summary": report.summary,
        **(_target_dict(report.target) if report.target is not None else {}),
        **_estimate_fields(report),
        "violations": [_finding_dict(f) for f in report.violations],
        "warnings": [_finding_dict(f) for f in report.warnings],
    }


def _grouped(findings: tuple[Finding, ...]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.rule, []).append(f)
    return groups


# Rules that fire once per tensor when a model is another kind than the profile wants. When
# the report's summary says so in one line, they are counted, not listed.
_PER_TENSOR_RULES = frozenset(
    {"no-float-tensors", "int16-activations", "int8-weights", "float16-weights", "no-int8-weights"}
)


def rules_renderables(rules: Sequence[Rule]) -> list[RenderableType]:
    """What ``tflkit check --list-rules`` shows: one row per rule, its kind and source."""
    from rich.table import Table

    table = Table(title="Rules", title_justify="left")
    table.add_column("rule", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("checks (source)", overflow="fold", ratio=1)
    for rule in rules:
        kind = f"{rule.profile} profile" if rule.profile else "warning"  # "every profile"
        table.add_row(rule.id, kind, rule.doc)
    return trimmed([table])


def report_renderables(report: Report, *, limit: int = 10) -> list[RenderableType]:
    """A pass/fail line, then the findings grouped by rule (at most ``limit`` per rule).

    When the model is another kind than the profile wants (``report.summary``), that line
    comes second and the per-tensor rules are counted instead of listed. Long names are
    shortened in the middle; ``report_to_dict`` has every finding whole.
    """
    from rich.text import Text

    counts = "  " + "  ".join(
        part
        for part in (
            f"profile {report.profile}" if report.profile else "",
            f"target {report.target.target}" if report.target is not None else "",
        )
        if part
    )
    if report.violations or report.warnings:
        counts += f": {len(report.violations)} violations, {len(report.warnings)} warnings"
    word, style = ("PASS", "bold green") if report.passed else ("FAIL", "bold red")
    verdict = NameLine(
        report.model, before=[(word, style), "  "], after=[counts], path=True, style="bold"
    )
    out: list[RenderableType] = [verdict]
    if report.summary:
        out.append(Message(report.summary, indent=2))
    if report.target is not None:
        out.append(Message(report.target.summary, indent=2))
    if report.estimate is not None:
        vela_head, *figures = _estimate_lines(report.estimate)
        out += [Message(vela_head, indent=2), *(Message(x, indent=4) for x in figures)]
    elif report.estimate_note is not None:
        out.append(Message(f"no Vela estimate: {report.estimate_note}", indent=2))
    for kind, findings, style in (
        ("violation", report.violations, "red"),
        ("warning", report.warnings, "yellow"),
    ):
        for rule, group in _grouped(findings).items():
            head = Text.assemble("  ", (rule, style), f" ({kind}, {len(group)})")
            if report.summary and rule in _PER_TENSOR_RULES:
                head.append(": not listed (--json lists all)")
                out.append(head)
                continue
            out.append(head)
            for f in group[:limit]:
                out.append(Message(f.message))
            if len(group) > limit:
                more = f"... and {len(group) - limit} more (--json lists all)"
                out.append(Message(more))
    return trimmed(out)


def checked_summary(reports: Sequence[Report], *, unreadable: int = 0) -> str:
    """The last line of ``tflkit check`` on several models: ``3 checked: 2 passed, 1 failed``."""
    failed = sum(not r.passed for r in reports)
    summary = f"{len(reports)} checked: {len(reports) - failed} passed, {failed} failed"
    if unreadable:
        summary += f", {unreadable} unreadable"
    return summary

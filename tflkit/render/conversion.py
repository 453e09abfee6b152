"""``tflkit convert``: a Conversion as the JSON document and as what was made and how, the
check and the comparison (``render.report``, ``render.comparison``). Never computes."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tflkit.render._text import (
    Grid,
    Message,
    Name,
    NameLine,
    fmt,
    grid_renderables,
    header_grid,
    human_size,
    json_float,
    json_or_none,
    time_unit,
    trimmed,
)
from tflkit.render.comparison import comparison_renderables, comparison_to_dict
from tflkit.render.report import report_renderables, report_to_dict

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit._search import Search
    from tflkit.conversion import Conversion

__all__ = ["conversion_renderables", "conversion_to_dict"]


def _settings_lines(settings: dict[str, Any]) -> list[str]:
    """The converter settings as lines a user can copy into TFLiteConverter code."""
    # the kept operators are listed under the search (--json has the settings whole)
    skip = {
        "from",
        "path",
        "source",
        "to",
        "seconds",
        "tensorflow_version",
        "version",
        "denylisted_nodes",
    }
    lines = []
    for key, value in settings.items():
        if key in skip or value in (None, False, [], {}):
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            keys = sorted({str(v.get("algorithm_key", "")) for v in value} - {""})
            value = f"{len(value)} rule(s) {', '.join(keys)} (--json has them whole)"
        elif isinstance(value, dict):
            value = ", ".join(
                f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in value.items()
                if v not in (None, False)
            )
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{key}: {value}")
    return lines


def conversion_renderables(c: Conversion, *, source: str, output: str) -> list[RenderableType]:
    """What ``tflkit convert`` prints: what was made and how, the check, the comparison."""
    head = header_grid()
    made_by = c.settings.get("from", "")
    seconds = c.settings.get("seconds")
    head.add_row("source", Name(source, path=True))
    what = f" ({human_size(len(c.data))}), {c.kind}"
    what += f", {seconds:.2f} s" if seconds is not None else ""
    head.add_row("wrote", NameLine(output, after=[what], path=True))
    head.add_row("made by", str(made_by))
    for i, line in enumerate(_settings_lines(c.settings)):
        head.add_row("settings" if i == 0 else "", line)
    out: list[RenderableType] = [head]
    if c.report is not None:
        out += report_renderables(replace(c.report, model=output))
    else:
        verdict = "PASS" if c.kind_ok else "FAIL"
        out.append(Message(f"{verdict}  the result is {c.kind}", indent=0))
    if c.search is not None:
        out += search_renderables(c.search)
    elif c.kept_float:
        out.append(Message(f"kept out of int8: {', '.join(c.kept_float)}", indent=0))
    for note in c.notes:
        out.append(Message(f"note: {note}", indent=0))
    if c.comparison is not None:
        out.append(Message("Against the float32 conversion of the same source:", indent=0))
        out += comparison_renderables(c.comparison)
    return trimmed(out)


def search_grid(s: Search) -> Grid:
    """The search's steps: what was kept out of int8, size, accuracy / SNR, invoke time."""
    scale, unit = time_unit(max((st.invoke_ms for st in s.steps), default=1.0))
    rows = []
    for i, st in enumerate(s.steps):
        rows.append(
            [
                st.phase + (" *" if i == s.chosen else ""),
                str(len(st.kept)),
                human_size(st.size_bytes),
                fmt(None if st.accuracy is None else 100 * st.accuracy, ".1f", "%"),
                "inf" if st.snr_db == float("inf") else f"{st.snr_db:.1f}",
                f"{st.invoke_ms * scale:.3g}",
                "yes" if st.meets else "no",
            ]
        )
    if s.target == "max_drop" and s.reference_accuracy is not None:
        ref = s.reference_accuracy
        goal = f"accuracy >= {100 * ref - s.limit:.1f}% (float32 {100 * ref:.1f}% - {s.limit:g})"
    elif s.target == "min_snr":
        goal = f"SNR >= {s.limit:g} dB against float32"
    else:
        goal = "operators given with keep_float"
    title = f"Search ({s.route}, fallback {s.fallback}): {goal}"
    footer = (
        f"{s.conversions} models built and measured; * the result"
        + ("" if s.met else "; target not met"),
    )
    return Grid(
        title,
        ("step", "kept", "size", "acc", "SNR dB", f"invoke {unit}", "meets"),
        rows,
        footer=footer,
    )


def search_renderables(s: Search) -> list[RenderableType]:
    """The steps table, then the operators the result keeps out of int8."""
    out: list[RenderableType] = grid_renderables(search_grid(s))
    result = s.result
    word = "float" if s.fallback == "float" else "int16"
    for i, (name, kind) in enumerate(zip(result.kept, result.kept_types, strict=True)):
        label = f"kept {word}" if i == 0 else ""
        out.append(NameLine(name, before=[f"{label:<11}{kind} "]))
    return out


def search_to_dict(s: Search) -> dict[str, Any]:
    """The ``search`` member of ``tflkit convert --json``."""
    return {
        "target": s.target,
        "limit": json_or_none(None if s.target == "keep-float" else s.limit),
        "route": s.route,
        "fallback": s.fallback,
        "reference_accuracy": s.reference_accuracy,
        "met": s.met,
        "chosen": s.chosen,
        "conversions": s.conversions,
        "seconds": s.seconds,
        "ranking": [{"tensor": n, "snr_db": json_float(v)} for n, v in s.ranking],
        "steps": [
            {
                "phase": st.phase,
                "kept": list(st.kept),
                "kept_types": list(st.kept_types),
                "size_bytes": st.size_bytes,
                "accuracy": st.accuracy,
                "snr_db": json_float(st.snr_db),
                "invoke_ms": st.invoke_ms,
                "meets": st.meets,
            }
            for st in s.steps
        ],
    }


def conversion_to_dict(c: Conversion, *, source: str, output: str | None) -> dict[str, Any]:
    """The ``tflkit convert --json`` document (``schemas/convert.schema.json``)."""
    return {
        "source": source,
        "output": output,
        "to": c.to,
        "made_by": c.settings.get("from"),
        "size_bytes": len(c.data),
        "quantization_kind": c.kind,
        "kind_ok": c.kind_ok,
        "passed": c.passed,
        "settings": c.settings,
        "check": report_to_dict(replace(c.report, model=output or source))
        if c.report is not None
        else None,
        "comparison": comparison_to_dict(c.comparison) if c.comparison is not None else None,
        "notes": list(c.notes),
        "kept_float": list(c.kept_float),
        "search": search_to_dict(c.search) if c.search is not None else None,
    }

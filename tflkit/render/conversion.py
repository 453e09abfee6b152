"""``tflkit convert``: a Conversion as the JSON document and as what was made and how, the
check and the comparison (``render.report``, ``render.comparison``). Never computes."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tflkit.render._text import Message, Name, NameLine, header_grid, human_size, trimmed
from tflkit.render.comparison import comparison_renderables, comparison_to_dict
from tflkit.render.report import report_renderables, report_to_dict

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit.conversion import Conversion

__all__ = ["conversion_renderables", "conversion_to_dict"]


def _settings_lines(settings: dict[str, Any]) -> list[str]:
    """The converter settings as lines a user can copy into TFLiteConverter code."""
    skip = {"from", "path", "source", "to", "seconds", "tensorflow_version", "version"}
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
    for note in c.notes:
        out.append(Message(f"note: {note}", indent=0))
    if c.comparison is not None:
        out.append(Message("Against the float32 conversion of the same source:", indent=0))
        out += comparison_renderables(c.comparison)
    return trimmed(out)


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
    }

"""``tflkit diff``: a ModelDiff as the JSON document (``schemas/diff.schema.json``) and as
plain text lines within 80 columns; a contract as ``tflkit snapshot --json`` says what it wrote.

Plain strings, without rich's tables: ``tflkit diff`` runs without importing rich or typer
(``cli/_plain``); only a name that is not ASCII has its cells measured by rich. Never prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tflkit.render._text import cells, shorten_middle

if TYPE_CHECKING:
    from tflkit.differ import Change, ModelDiff

#: Changes listed per section unless ``--all``.
LIMIT = 20
_TITLES = {
    "interface": "Interface",
    "quantization": "Quantization",
    "operators": "Operators",
    "tensors": "Tensors",
    "size": "Size",
    "metadata": "Metadata",
}


def _side(facts: dict[str, Any]) -> dict[str, Any]:
    ops = facts["ops"]
    return {
        "model": facts.get("model", ""),
        "size_bytes": facts.get("size_bytes"),
        "quantization_kind": facts["quantization_kind"],
        "int8_check": facts["int8_check"],
        "signatures": sorted(facts["signatures"]),
        "ops": ops,
        "custom_ops": sorted({k.rsplit(" v", 1)[0] for k in ops if k.startswith("CUSTOM ")}),
        "flex_ops": sorted({k.rsplit(" v", 1)[0] for k in ops if k.startswith("CUSTOM 'Flex")}),
        "constant_bytes": facts.get("constant_bytes", {}),
        "metadata": sorted(facts.get("metadata", {})),
        "min_runtime_version": facts.get("min_runtime_version"),
    }


def diff_to_dict(d: ModelDiff) -> dict[str, Any]:
    """The ``tflkit diff --json`` document: both sides, the summary, every change."""
    from tflkit.differ import SECTIONS

    return {
        "old": _side(d.old_facts),
        "new": _side(d.new_facts),
        "same": d.same,
        "summary": d.summary,
        "counts": {s: len(d.section(s)) for s in SECTIONS},
        "changes": [c.to_dict() for c in d.changes],
    }


def snapshot_to_dict(
    facts: dict[str, Any], *, model: str, snapshot: str, size_bytes: int
) -> dict[str, Any]:
    """What ``tflkit snapshot --json`` says it wrote (``schemas/snapshot.schema.json``): the
    contract ``facts`` (``differ.contract``) counted, for a CI log."""
    return {
        "model": model,
        "snapshot": snapshot,
        "size_bytes": size_bytes,
        "tflkit_contract": facts["tflkit_contract"],
        "quantization_kind": facts["quantization_kind"],
        "int8_check": facts["int8_check"],
        "signatures": sorted(facts["signatures"]),
        "ops": sum(facts["ops"].values()),
        "tensors": sum(len(sg) for sg in facts["subgraphs"]),
    }


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "passes" if v else "fails"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _subject_and_rest(subject: str, rest: str, width: int) -> str:
    """``  subject: rest`` in ``width`` columns; when longer, the subject on its own line and
    the rest indented below it, each shortened in the middle if it alone is too long."""
    line = f"  {subject}: {rest}" if rest else f"  {subject}"
    if cells(line) <= width:
        return line
    subject = "  " + shorten_middle(subject, width - 2)
    return f"{subject}\n      {shorten_middle(rest, width - 6)}" if rest else subject


def change_line(c: Change, width: int = 80) -> str:
    """One change as one line of at most ``width`` columns."""
    if c.kind == "added" and not c.field:
        return _subject_and_rest(
            c.subject, f"added ({_value(c.new)})" if c.tensor is not None else "added", width
        )
    if c.kind == "removed" and not c.field:
        return _subject_and_rest(
            c.subject, f"removed ({_value(c.old)})" if c.tensor is not None else "removed", width
        )
    if c.field == "values":
        return _subject_and_rest(c.subject, "values changed", width)
    if c.section == "metadata" and c.field == "data":
        return _subject_and_rest(
            c.subject, {"added": "added", "removed": "removed"}.get(c.kind, "changed"), width
        )
    if c.section == "size":
        return _subject_and_rest(c.subject, f"{c.old:,} -> {c.new:,} bytes", width)
    if c.section == "operators":
        what = {"added": "added, ", "removed": "removed, "}.get(c.kind, "")
        return _subject_and_rest(c.subject, f"{what}{c.old} -> {c.new}", width)
    field = c.field.replace("_", " ")
    rest = f"{field} {_value(c.old)} -> {_value(c.new)}"
    if c.drift is not None:
        rest += f" (drift {c.drift:.2%})" if c.drift < 10 else f" (drift {c.drift:.3g}x)"
    return _subject_and_rest(c.subject, rest, width)


def diff_lines(d: ModelDiff, *, all_changes: bool = False, width: int = 80) -> list[str]:
    """The human ``tflkit diff``: the summary first, then each section with changes."""
    from tflkit.differ import SECTIONS

    a, b = d.old_facts, d.new_facts
    # wrapped between its parts, so that "2 op kinds added" stays on one line
    lines = [""]
    for part in d.summary.split(", "):
        if not lines[-1]:
            lines[-1] = part
        elif len(lines[-1]) + 2 + len(part) + 1 <= width:
            lines[-1] += ", " + part
        else:
            lines[-1] += ","
            lines.append("  " + part)
    lines = [shorten_middle(line, width) for line in lines]
    old, new = d.old_name, d.new_name
    if cells(f"{old} -> {new}") > width:  # each name gets half, or what the other leaves
        room = width - 4
        left = min(cells(old), max(room // 2, room - cells(new)))
        old, new = shorten_middle(old, left), shorten_middle(new, room - left)
    lines.append(f"{old} -> {new}")
    if "size_bytes" in a and "size_bytes" in b:
        lines.append(f"  file size {a['size_bytes']:,} -> {b['size_bytes']:,} bytes (layout)")
    for section in SECTIONS:
        changes = d.section(section)
        if not changes:
            continue
        lines.append("")
        lines.append(f"{_TITLES[section]} ({len(changes)})")
        shown = changes if all_changes else changes[:LIMIT]
        for c in shown:
            lines += change_line(c, width).split("\n")
        if len(changes) > len(shown):
            lines.append(f"  ... {len(changes) - len(shown)} more (--all lists them)")
    return lines

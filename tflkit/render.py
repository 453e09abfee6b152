"""Models and reports to JSON-ready dicts and rich renderables. Never prints.

The dicts follow ``tflkit/schemas/*.schema.json``; the rich tables fit an 80-column terminal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tflkit.model import (
    CastDequantization,
    Model,
    Quantization,
    Subgraph,
    Tensor,
    blockwise_text,
    cast_dequantized,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit.comparison import Comparison, OutputError, TensorError
    from tflkit.conversion import Conversion
    from tflkit.report import Finding, Report, Rule
    from tflkit.speed import Benchmark, Latency
    from tflkit.targets import TargetResult

__all__ = [
    "batch_axis_text",
    "benchmark_renderables",
    "comparison_markdown",
    "comparison_renderables",
    "comparison_to_dict",
    "conversion_renderables",
    "conversion_to_dict",
    "human_size",
    "inspect_renderables",
    "json_float",
    "model_to_dict",
    "report_renderables",
    "report_to_dict",
    "rules_renderables",
    "shorten_middle",
]


def json_float(x: float) -> float | str:
    """A float for ``json.dumps(allow_nan=False)``: non-finite values become strings.

    ``NaN``, ``Infinity`` and ``-Infinity``, the spelling JavaScript and Python's json use.
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _quant_dict(q: Quantization | None, sg: Subgraph | None = None) -> dict[str, Any] | None:
    if q is None:
        return None
    finite = all(map(math.isfinite, q.scales))  # the usual case, checked in C
    return {
        "scales": list(q.scales) if finite else [json_float(s) for s in q.scales],
        "zero_points": list(q.zero_points),
        "quantized_dimension": q.quantized_dimension,
        "per_channel": q.per_channel,
        "blockwise": _blockwise_dict(q, sg),
    }


def _blockwise_dict(q: Quantization, sg: Subgraph | None) -> dict[str, Any] | None:
    if not q.is_blockwise:
        return None
    out: dict[str, Any] = {
        "details": q.details,
        "block_size": q.block_size,
        "scales_tensor": q.scales_tensor,
        "zero_points_tensor": q.zero_points_tensor,
        "block_shape": list(q.block_shape),
        "quantized_dimensions": list(q.quantized_dimensions),
    }
    if sg is not None and 0 <= q.scales_tensor < len(sg.tensors):
        scales = sg.tensors[q.scales_tensor]
        out["scales_dtype"], out["scales_shape"] = scales.dtype, list(scales.shape)
    return out


def _range_list(t: Tensor) -> list[float | str] | None:
    rr = t.real_range
    return None if rr is None else [json_float(rr[0]), json_float(rr[1])]


def _in_graph_dict(sg: Subgraph, t: Tensor) -> dict[str, Any] | None:
    inner = sg.edge_quantization(t.index)
    if inner is None:
        return None
    return {
        "tensor_index": inner.index,
        "op": "QUANTIZE" if t.index in sg.inputs else "DEQUANTIZE",
        "dtype": inner.dtype,
        "quantization": _quant_dict(inner.quantization),
        "real_range": _range_list(inner),
    }


def _cast_dict(c: CastDequantization | None) -> dict[str, int] | None:
    if c is None:
        return None
    return {
        "cast_operator": c.cast_operator,
        "mul_operator": c.mul_operator,
        "scale_tensor": c.scale_tensor,
    }


def _tensor_dict(
    t: Tensor,
    sg: Subgraph,
    io: frozenset[int],
    cast: dict[int, CastDequantization],
) -> dict[str, Any]:
    return {
        "index": t.index,
        "name": t.name,
        "dtype": t.dtype,
        "shape": list(t.shape),
        "shape_signature": list(t.shape_signature),
        "is_constant": t.is_constant,
        "is_variable": t.is_variable,
        "is_sparse": t.is_sparse,
        "buffer": t.buffer,
        "buffer_size": t.buffer_size,
        "quantization": _quant_dict(t.quantization, sg),
        "real_range": _range_list(t),
        "quantized_in_graph": _in_graph_dict(sg, t) if t.index in io else None,
        "dequantized_in_graph": _cast_dict(cast.get(t.index)),
    }


def _subgraph_dict(sg: Subgraph) -> dict[str, Any]:
    io = frozenset(sg.inputs + sg.outputs)
    cast = cast_dequantized(sg)
    return {
        "index": sg.index,
        "name": sg.name,
        "inputs": list(sg.inputs),
        "outputs": list(sg.outputs),
        "batch_axis": sg.batch_axis,
        "tensors": [_tensor_dict(t, sg, io, cast) for t in sg.tensors],
        "operators": [
            {
                "index": op.index,
                "op": op.op,
                "builtin_code": op.builtin_code,
                "custom_code": op.custom_code,
                "version": op.version,
                "inputs": list(op.inputs),
                "outputs": list(op.outputs),
            }
            for op in sg.operators
        ],
        "op_counts": sg.op_counts(),
    }


def model_to_dict(model: Model, *, subgraph: int | None = None) -> dict[str, Any]:
    """The ``tflkit inspect --json`` document (``schemas/inspect.schema.json``).

    Args:
        model: the model.
        subgraph: only this subgraph in ``subgraphs`` (all when None).
    """
    from tflkit.kinds import quantization_kind

    subgraphs = model.subgraphs if subgraph is None else (model.subgraphs[subgraph],)
    return {
        "path": model.path,
        "size_bytes": model.size_bytes,
        "schema_version": model.schema_version,
        "description": model.description,
        "quantization_kind": quantization_kind(model),
        "min_runtime_version": model.min_runtime_version,
        "num_subgraphs": len(model.subgraphs),
        "subgraphs": [_subgraph_dict(sg) for sg in subgraphs],
        "signatures": [
            {
                "key": s.key,
                "subgraph_index": s.subgraph_index,
                "inputs": [{"name": x.name, "tensor_index": x.tensor_index} for x in s.inputs],
                "outputs": [{"name": x.name, "tensor_index": x.tensor_index} for x in s.outputs],
            }
            for s in model.signatures
        ],
        "metadata": [{"name": m.name, "size_bytes": m.size_bytes} for m in model.metadata],
    }


# ---------------------------------------------------------------- human output


def batch_axis_text(sg: Subgraph) -> str:
    """How a subgraph's inputs take data, in words (``Subgraph.batch_axis``)."""
    if sg.batch_axis is None:
        return "none: each input is fed at its own shape, one invoke per call"
    if any(t.shape_signature and t.shape_signature[0] >= 0 for t in sg.input_tensors):
        return "0, batch 1 in the model (the Runner runs N samples one by one)"
    return "0, dynamic (any number of samples per invoke)"


def human_size(n: int) -> str:
    """``5.1 KiB``, ``3.9 MiB``: binary units, one decimal."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


ELLIPSIS = "\u2026"


def shorten_middle(text: str, width: int) -> str:
    """``text`` if it fits ``width`` terminal cells, else its start, an ellipsis and its end.

    Tensor names are paths whose ends tell them apart (``.../dense_1/BiasAdd``), so both ends
    stay. Wide characters count two cells.

    Args:
        text: the name.
        width: the most cells the result may take (at least 1 is useful).

    Returns:
        The text, or a shortened copy exactly ``width`` cells wide (narrower by one when a
        wide character does not fit).

    Example:
        >>> shorten_middle("model_1/model/re_lu/Relu6;model_1/model/bn/FusedBatchNormV3", 24)
        'model_1/mode\u2026BatchNormV3'
    """
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[: max(width, 0)]
    room = width - 1
    head_room = (room + 1) // 2  # the start gets the odd cell: it says where the name lives
    head, used = "", 0
    for ch in text:
        w = cell_len(ch)
        if used + w > head_room:
            break
        head, used = head + ch, used + w
    tail_room, tail, used = room - used, "", 0
    for ch in reversed(text):
        w = cell_len(ch)
        if used + w > tail_room:
            break
        tail, used = ch + tail, used + w
    return head + ELLIPSIS + tail


class _Name:
    """A name in a table cell: whole when its column has room, else shortened in the middle.

    Rich asks a cell for its width range first, then renders it at the column's width;
    the column shrinks like a wrapping one, and the name never folds one letter per line.
    """

    def __init__(self, text: str, *, min_width: int = 12) -> None:
        self.text = text
        self.min_width = min_width

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.cells import cell_len
        from rich.measure import Measurement

        n = cell_len(self.text)
        return Measurement(min(n, self.min_width), n)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        yield Text(shorten_middle(self.text, options.max_width), no_wrap=True)


class _Trimmed:
    """A renderable without trailing whitespace on its lines (rich pads titles, grids, text)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.rstrip():
                line.pop()
            if line and not line[-1].control:
                last = line[-1]
                line[-1] = Segment(last.text.rstrip(), last.style)
            yield from line
            yield Segment.line()


def _g(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _shape(t: Tensor) -> str:
    dims = t.shape_signature if t.shape_signature else t.shape
    return "[" + ",".join(str(d) for d in dims) + "]"


def _quant_text(q: Quantization | None) -> tuple[str, str]:
    """(scale, zero point) cells; per-channel as count and range."""
    if q is None:
        return ("", "")
    if len(q.scales) == 1:
        zp = str(q.zero_points[0]) if q.zero_points else ""
        return (_g(q.scales[0]), zp)
    lo, hi = min(q.scales), max(q.scales)
    zps = set(q.zero_points)
    zp = str(next(iter(zps))) if len(zps) == 1 else f"{min(zps)}..{max(zps)}" if zps else ""
    return (f"{len(q.scales)}\u00d7ax{q.quantized_dimension} {lo:.2g}..{hi:.2g}", zp)


def _blockwise_cells(t: Tensor, sg: Subgraph) -> tuple[str, str]:
    """(scale, zero point) cells of a blockwise tensor:
    ``int4 blockwise, block 32, scales: tensor 3 float16 [1024, 32]`` and the zero points'
    tensor, if any."""
    q = t.quantization
    assert q is not None
    where = ""
    if 0 <= q.scales_tensor < len(sg.tensors):
        st = sg.tensors[q.scales_tensor]
        where = f"{st.dtype} [{', '.join(map(str, st.shape))}]"
    scale = f"{blockwise_text(t)}, scales: tensor {q.scales_tensor} {where}".rstrip()
    return (scale, "" if q.zero_points_tensor == -1 else f"t{q.zero_points_tensor}")


def _range_text(t: Tensor) -> str:
    rr = t.real_range
    if rr is None:
        return ""
    return f"[{_g(rr[0])}, {_g(rr[1])}]"


# Marks I/O whose quantization is the in-graph QUANTIZE/DEQUANTIZE's, explained under the table.
_IN_GRAPH_MARK = "*"
_IN_GRAPH_NOTE = (
    f"{_IN_GRAPH_MARK} quantized inside the graph (QUANTIZE after input, DEQUANTIZE before output)"
)


def _io_table(model: Model, sg: Subgraph) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    names = {
        "in": model.signature_names(sg.index, "input"),
        "out": model.signature_names(sg.index, "output"),
    }
    table = Table(title=f"Inputs and outputs (subgraph {sg.index})", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("name")
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("scale", overflow="fold")
    table.add_column("zp", no_wrap=True, justify="right")
    table.add_column("real range", no_wrap=True)
    marked = False
    for kind, indices in (("in", sg.inputs), ("out", sg.outputs)):
        for n, i in enumerate(indices):
            t = sg.tensors[i]
            q, rng, mark = t, _range_text(t), ""
            inner = sg.edge_quantization(i)
            if inner is not None:
                q, rng, mark = inner, _range_text(inner), _IN_GRAPH_MARK
                marked = True
            scale, zp = _quant_text(q.quantization)
            name = names[kind].get(i) or t.name
            table.add_row(
                f"{kind} {n}",
                _Name(name),
                t.dtype,
                _shape(t),
                scale + mark if scale else "",
                zp,
                rng + mark if rng else "",
            )
    out: list[RenderableType] = [table]
    if marked:
        out.append(Text(_IN_GRAPH_NOTE))
    return out


# Op names are short (the longest builtin has 30 characters) and shown whole; a custom op's
# code is the user's and can be any length.
_OP_WIDTH = 40


def _ops_table(model: Model, subgraphs: tuple[Subgraph, ...]) -> RenderableType:
    from rich.table import Table

    table = Table(title="Operators", title_justify="left")
    # The subgraph's name gives way (shortened in the middle), never the op names.
    table.add_column("subgraph")
    table.add_column("op", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    for sg in subgraphs:
        label = _Name(f"{sg.index} {sg.name}".strip())
        first = True
        for op, count in sg.op_counts().items():
            table.add_row(label if first else "", shorten_middle(op, _OP_WIDTH), str(count))
            first = False
        if first:
            table.add_row(label, "(no operators)", "0")
    return table


def _tensor_table(sg: Subgraph) -> RenderableType:
    from rich.table import Table

    table = Table(title=f"Tensors (subgraph {sg.index})", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("name")
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", overflow="fold")
    table.add_column("scale", overflow="fold")
    table.add_column("zp", no_wrap=True, justify="right")
    table.add_column("data", no_wrap=True, justify="right")
    cast = cast_dequantized(sg)
    for t in sg.tensors:
        if t.quantization is not None and t.quantization.is_blockwise:
            scale, zp = _blockwise_cells(t, sg)
        elif t.index in cast:
            c = cast[t.index]
            # No scales in the file: the graph applies them (weight-only quantization).
            scale, zp = f"weight-only, MUL by tensor {c.scale_tensor}", ""
        else:
            scale, zp = _quant_text(t.quantization)
        data = "var" if t.is_variable else ""
        if t.is_constant:
            data = ("sparse " if t.is_sparse else "") + human_size(t.buffer_size)
        table.add_row(str(t.index), _Name(t.name), t.dtype, _shape(t), scale, zp, data)
    return table


# Names in the header's lists are shortened to this many cells (full names in --json).
_HEADER_NAME_WIDTH = 40


def inspect_renderables(
    model: Model, *, subgraph: int | None = None, tensors: bool = False
) -> list[RenderableType]:
    """What ``tflkit inspect`` shows: header, I/O table, operator counts, tensors on request.

    Long names are shortened in the middle to fit the terminal; ``--json`` has them whole.
    """
    from rich.table import Table

    from tflkit.kinds import quantization_kind

    def short(name: str) -> str:
        return shorten_middle(name, _HEADER_NAME_WIDTH)

    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold", no_wrap=True)
    header.add_column(overflow="fold")
    header.add_row("file", model.path or "<bytes>")
    header.add_row("size", f"{human_size(model.size_bytes)} ({model.size_bytes:,} bytes)")
    header.add_row("quantization", quantization_kind(model))
    header.add_row("schema", f"version {model.schema_version}")
    if model.min_runtime_version:
        header.add_row("min runtime", model.min_runtime_version)
    if model.description:
        header.add_row("description", model.description)
    header.add_row(
        "subgraphs", ", ".join(f"{sg.index} {short(sg.name)}".strip() for sg in model.subgraphs)
    )
    sigs = ", ".join(f"{short(s.key)} (subgraph {s.subgraph_index})" for s in model.signatures)
    header.add_row("signatures", sigs or "none")
    header.add_row("batch axis", batch_axis_text(model.primary))
    if model.metadata:
        header.add_row("metadata", ", ".join(short(m.name) for m in model.metadata))

    shown = model.subgraphs if subgraph is None else (model.subgraphs[subgraph],)
    out: list[RenderableType] = [header]
    io_subgraphs = [model.subgraphs[subgraph]] if subgraph is not None else [model.primary]
    if subgraph is None:
        # Signature subgraphs other than 0 are entry points too: show their I/O.
        io_subgraphs += [
            model.subgraphs[i]
            for i in sorted({s.subgraph_index for s in model.signatures})
            if i != 0
        ]
    for sg in io_subgraphs:
        out.extend(_io_table(model, sg))
    out.append(_ops_table(model, shown))
    if tensors:
        out.extend(_tensor_table(sg) for sg in shown)
    return [_Trimmed(r) for r in out]


# ---------------------------------------------------------------- check reports


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
# A quoted name in a finding (``repr()`` quotes with " when the name holds a ').
_QUOTED = re.compile(r"'[^'\n]+'|\"[^\"\n]+\"")
# Shortened names keep at least this many cells, even if the message then takes two lines.
_MIN_NAME = 32


class _Message:
    """A finding's message, indented; quoted names shortened in the middle to fit one line."""

    def __init__(self, text: str, indent: int = 4) -> None:
        self.text = text
        self.indent = indent

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.cells import cell_len
        from rich.padding import Padding
        from rich.text import Text

        text = self.text
        width = options.max_width - self.indent
        names = _QUOTED.findall(text)
        if names and cell_len(text) > width:
            others = cell_len(text) - sum(cell_len(n) - 2 for n in names)
            room = max(_MIN_NAME, (width - others) // len(names))
            text = _QUOTED.sub(lambda m: m[0][0] + shorten_middle(m[0][1:-1], room) + m[0][0], text)
        # Padding indents the wrapped lines of a long message too.
        yield Padding(Text(text), (0, 0, 0, self.indent))


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
    return [_Trimmed(table)]


class _Verdict:
    """``PASS  path  profile int8: ...`` on one line: a long path is shortened in the middle."""

    def __init__(self, passed: bool, model: str, counts: str) -> None:
        self.passed, self.model, self.counts = passed, model, counts

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.cells import cell_len
        from rich.text import Text

        word, style = ("PASS", "bold green") if self.passed else ("FAIL", "bold red")
        room = max(20, options.max_width - cell_len(word) - 2 - cell_len(self.counts))
        yield Text.assemble(
            (word, style), "  ", (shorten_middle(self.model, room), "bold"), self.counts
        )


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
    out: list[RenderableType] = [_Verdict(report.passed, report.model, counts)]
    if report.summary:
        out.append(_Message(report.summary, indent=2))
    if report.target is not None:
        out.append(_Message(report.target.summary, indent=2))
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
                out.append(_Message(f.message))
            if len(group) > limit:
                more = f"... and {len(group) - limit} more (--json lists all)"
                out.append(_Message(more))
    return [_Trimmed(r) for r in out]


# ---------------------------------------------------------------- convert


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
    from rich.table import Table

    from tflkit.kinds import quantization_kind

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    made_by = c.settings.get("from", "")
    seconds = c.settings.get("seconds")
    head.add_row("source", shorten_middle(source, 60))
    head.add_row(
        "wrote",
        f"{shorten_middle(output, 40)} ({human_size(len(c.data))}), "
        f"{quantization_kind(c.model)}" + (f", {seconds:.2f} s" if seconds is not None else ""),
    )
    head.add_row("made by", str(made_by))
    for i, line in enumerate(_settings_lines(c.settings)):
        head.add_row("settings" if i == 0 else "", line)
    out: list[RenderableType] = [head]
    if c.report is not None:
        out += report_renderables(replace(c.report, model=output))
    else:
        verdict = "PASS" if c.kind_ok else "FAIL"
        out.append(_Message(f"{verdict}  the result is {quantization_kind(c.model)}", indent=0))
    for note in c.notes:
        out.append(_Message(f"note: {note}", indent=0))
    if c.comparison is not None:
        out.append(_Message("Against the float32 conversion of the same source:", indent=0))
        out += comparison_renderables(c.comparison)
    return [_Trimmed(r) for r in out]


def conversion_to_dict(c: Conversion, *, source: str, output: str | None) -> dict[str, Any]:
    """The ``tflkit convert --json`` document (``schemas/convert.schema.json``)."""
    from tflkit.kinds import quantization_kind

    return {
        "source": source,
        "output": output,
        "to": c.to,
        "made_by": c.settings.get("from"),
        "size_bytes": len(c.data),
        "quantization_kind": quantization_kind(c.model),
        "kind_ok": c.kind_ok,
        "passed": c.passed,
        "settings": c.settings,
        "check": report_to_dict(replace(c.report, model=output or source))
        if c.report is not None
        else None,
        "comparison": comparison_to_dict(c.comparison) if c.comparison is not None else None,
        "notes": list(c.notes),
    }


# ---------------------------------------------------------------- compare and bench


def _db(v: float) -> str:
    return ("inf" if v > 0 else "-inf") if math.isinf(v) else f"{v:.1f} dB"


def _ms(v: float) -> str:
    return f"{v:.3g}"


def _table(title: str) -> Any:
    from rich import box
    from rich.table import Table

    # No rules but the one under the header, two spaces between columns: eight columns of
    # numbers (compare's error tables) fit 80 columns.
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )


@dataclass(frozen=True)
class _Grid:
    """One table of text cells, drawn by rich for the terminal or as GitHub Markdown."""

    title: str
    headers: tuple[str, ...]
    rows: list[list[str]]
    left: int = 1  # how many leading columns are text (left-aligned); the rest are numbers
    footer: tuple[str, ...] = ()


def _fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "" if v is None else f"{v:{spec}}{suffix}"


def _against(c: Comparison) -> str:
    """What the errors are measured against: the reference model, or given outputs."""
    if c.reference_outputs == "given arrays":  # comparison.GIVEN_ARRAYS: not a file name
        return "reference outputs (given arrays)"
    if c.reference_outputs is not None:
        return f"reference outputs {c.reference_outputs}"
    return c.models[c.reference].name


def _comparison_grids(c: Comparison, *, tensors: int | None) -> list[_Grid]:
    """The tables of a comparison; at most ``tensors`` rows per per-tensor table (None: all)."""
    ref = c.models[c.reference]
    grids = [
        _Grid(
            "Size",
            ("model", "kind", "size", "bytes", "vs ref"),
            [
                [
                    m.name,
                    m.kind,
                    human_size(m.size_bytes),
                    f"{m.size_bytes:,}",
                    f"{m.size_ratio:.2f}x",
                ]
                for m in c.models
            ],
            left=2,
        )
    ]
    if all(m.latency is not None for m in c.models):
        grids.append(_speed_grid(c))
    for k, o in enumerate(ref.outputs):
        labels = c.label_output == o.name
        headers: tuple[str, ...] = ("model", "accuracy", "Δ pt") if labels else ("model",)
        rows = []
        for m in c.models:
            e = m.outputs[k]
            cells = [m.name]
            if labels:
                delta = None if m.accuracy_delta is None else m.accuracy_delta * 100
                cells += [_fmt(m.accuracy, ".1%"), _fmt(delta, "+.1f")]
            cells += [_fmt(e.top1_agreement, ".1%"), f"{e.max_abs:.3g}", f"{e.mse:.3g}"]
            rows.append([*cells, f"{e.rmse:.3g}", _db(e.snr_db)])
        headers += ("agree", "max err", "MSE", "RMSE", "SNR")
        grids.append(_Grid(f"Output {o.name!r} against {_against(c)}", headers, rows))
    for p in c.per_tensor or ():
        shown = p.tensors if tensors is None else p.tensors[:tensors]
        footer = []
        if len(shown) < len(p.tensors):
            footer.append(f"... and {len(p.tensors) - len(shown)} more (--json lists all)")
        if p.note:
            footer.append(p.note)
        grids.append(
            _Grid(
                f"Per-tensor error of {p.model} ({p.samples} samples), worst first",
                ("tensor", "SNR", "MSE", "RMSE", "max err"),
                [
                    [t.name, _db(t.snr_db), f"{t.mse:.3g}", f"{t.rmse:.3g}", f"{t.max_abs:.3g}"]
                    for t in shown
                ],
                footer=tuple(footer),
            )
        )
    return grids


#: What each latency answers, under the speed table of ``compare``.
INVOKE_MEANS = 'invoke: the runtime alone; it answers "is int8 faster on this machine?"'
CALL_MEANS = (
    "call: a whole Runner.predict = invoke + overhead (quantize, dequantize, copies): "
    "what an app pays per call"
)


def _speed_grid(c: Comparison) -> _Grid:
    """One sample's invoke, overhead and whole call (µs under 1 ms), and batched throughput."""
    models = [m for m in c.models if m.latency is not None]
    scale, unit = _unit(max(m.latency.p50_ms for m in models if m.latency is not None))

    def t(v: float | None) -> str:
        return "" if v is None else f"{v * scale:.3g}"

    rows = []
    for m in models:
        assert m.latency is not None
        rows.append(
            [
                m.name,
                t(m.invoke.p50_ms if m.invoke else None),
                _fmt(m.invoke_speedup, ".2f", "x"),
                t(m.overhead_ms),
                t(m.latency.p50_ms),
                _fmt(m.latency_speedup, ".2f", "x"),
                _fmt(m.samples_per_second, ",.0f"),
                _fmt(m.throughput_speedup, ".2f", "x"),
            ]
        )
    return _Grid(
        f"Speed: one sample, median ({unit}); the whole batch (samples/s)",
        ("model", "invoke", "vs ref", "overhead", "call", "vs ref", "samples/s", "vs ref"),
        rows,
        footer=(INVOKE_MEANS, CALL_MEANS),
    )


def comparison_renderables(c: Comparison, *, tensors: int = 10) -> list[RenderableType]:
    """Header, size table, speed table, one agreement table per output, per-tensor tables."""
    from rich.text import Text

    ref = c.models[c.reference]
    out: list[RenderableType] = [
        Text.assemble(("reference  ", "bold"), ref.name),
        Text.assemble(("data       ", "bold"), f"{c.data}, {c.samples} samples"),
    ]
    out += [Text("           " + line) for line in c.inputs]
    if c.reference_outputs is not None:
        out.append(Text.assemble(("against    ", "bold"), _against(c)))
    for g in _comparison_grids(c, tensors=tensors):
        out.append(Text(""))
        # A long title goes above the table: rich would wrap it to the table's width.
        long = len(g.title) > 60
        if long:
            out.append(Text(g.title))
        t = _table("" if long else g.title)
        for i, h in enumerate(g.headers):
            if i == 0:
                t.add_column(h, overflow="fold", ratio=1)
            else:
                t.add_column(h, justify="left" if i < g.left else "right", no_wrap=True)
        for row in g.rows:
            t.add_row(*row)
        if g.rows:
            out.append(t)
        out += [Text(line) for line in g.footer]
    out += [Text(f"note: {n}") for n in c.notes]
    return out


def comparison_markdown(c: Comparison) -> str:
    """The same tables as ``tflkit compare`` prints, in GitHub Markdown, every tensor listed."""

    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |"

    ref = c.models[c.reference]
    lines = [f"Reference: {ref.name}; {c.samples} samples; data: {c.data}"]
    if c.reference_outputs is not None:
        lines[0] += f"; errors against {_against(c)}"
    for g in _comparison_grids(c, tensors=None):
        lines += ["", f"{g.title}:", ""]
        if g.rows:
            align = [":--" if i < max(1, g.left) else "--:" for i in range(len(g.headers))]
            lines += [row(g.headers), row(align), *(row(r) for r in g.rows)]
        lines += [f"\n{f}" for f in g.footer]
    if c.notes:
        lines += [""] + [f"- {n}" for n in c.notes]
    return "\n".join(lines) + "\n"


def _json_or_none(v: float | None) -> float | str | None:
    return None if v is None else json_float(v)


def _errors_dict(e: OutputError | TensorError) -> dict[str, Any]:
    keys = ("max_abs", "mean_abs", "mse", "rmse", "snr_db")
    return {k: _json_or_none(getattr(e, k)) for k in keys}


def _latency_ms(lat: Latency | None) -> dict[str, float] | None:
    if lat is None:
        return None
    return {"p50": lat.p50_ms, "p90": lat.p90_ms, "min": lat.min_ms, "mean": lat.mean_ms}


def comparison_to_dict(c: Comparison) -> dict[str, Any]:
    """JSON-ready, following ``schemas/compare.schema.json``."""
    models = []
    for m in c.models:
        models.append(
            {
                "name": m.name,
                "path": m.path,
                "kind": m.kind,
                "size_bytes": m.size_bytes,
                "size_mib": m.size_mib,
                "size_ratio": json_float(m.size_ratio),
                "accuracy": m.accuracy,
                "accuracy_delta": m.accuracy_delta,
                "outputs": [
                    {"name": e.name, "top1_agreement": e.top1_agreement, **_errors_dict(e)}
                    for e in m.outputs
                ],
                "latency_ms": _latency_ms(m.latency),
                "latency_speedup": m.latency_speedup,
                "samples_per_second": m.samples_per_second,
                "throughput_speedup": m.throughput_speedup,
                "batching": m.batching,
                "invoke_ms": _latency_ms(m.invoke),
                "invoke_speedup": m.invoke_speedup,
                "overhead_ms": m.overhead_ms,
            }
        )
    per = None
    if c.per_tensor is not None:
        per = [
            {
                "model": p.model,
                "samples": p.samples,
                "unmatched": p.unmatched,
                "note": p.note,
                "tensors": [
                    {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), **_errors_dict(t)}
                    for t in p.tensors
                ],
            }
            for p in c.per_tensor
        ]
    return {
        "reference": c.reference,
        "samples": c.samples,
        "data": c.data,
        "inputs": list(c.inputs),
        "label_output": c.label_output,
        "notes": list(c.notes),
        "models": models,
        "per_tensor": per,
        "reference_outputs": c.reference_outputs,
    }


def _unit(ms: float) -> tuple[float, str]:
    """Milliseconds, or microseconds under one millisecond: (factor from ms, unit)."""
    return (1e3, "µs") if ms < 1 else (1.0, "ms")


def _percentiles(lat: Latency, scale: float, unit: str) -> str:
    return (
        "  ".join(
            f"{k} {v * scale:.3g}"
            for k, v in (("min", lat.min_ms), ("p50", lat.p50_ms), ("p90", lat.p90_ms))
        )
        + f"  p99 {lat.p99_ms * scale:.3g} {unit}"
    )


def benchmark_renderables(b: Benchmark) -> list[RenderableType]:
    """The benchmark as a two-column table, then what each latency answers."""
    from rich.text import Text

    head = Text(f"{b.model}: {b.calls} calls of {b.batch_size} sample(s) in {b.seconds:.2f} s")
    t = _table("")
    t.show_header = False
    t.add_column("", style="bold", no_wrap=True)
    t.add_column("", overflow="fold")
    rss = human_size(b.peak_rss_bytes) if b.peak_rss_bytes is not None else "unknown"
    scale, unit = _unit(b.latency.p50_ms)
    rows = [("latency per call", _percentiles(b.latency, scale, unit))]
    if b.invoke is not None:
        rows.append(("invoke alone", _percentiles(b.invoke, scale, unit)))
    if b.overhead_ms is not None:
        overhead = f"{b.overhead_ms * scale:.3g} {unit} per call (p50 call - p50 invoke)"
        rows.append(("overhead", overhead))
    rows += [
        ("throughput", f"{b.samples_per_second:,.0f} samples/s"),
        ("batching", b.batching),
        ("threads", "runtime default" if b.num_threads is None else str(b.num_threads)),
        ("peak RSS", f"{rss} (this process)"),
        ("warm-up", f"{b.warmup_calls} calls, not timed"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    out: list[RenderableType] = [head, Text(""), t, Text("")]
    out += [Text("inputs: " + line) for line in b.inputs]
    if b.invoke is not None:
        out += [
            Text('invoke alone: the runtime; it answers "is this model faster on this machine?"'),
            Text("latency per call: a whole Runner.predict, what an app pays per call"),
        ]
    return out

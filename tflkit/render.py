"""Models and reports to JSON-ready dicts and rich renderables. Never prints.

The dicts follow ``tflkit/schemas/*.schema.json``; the rich tables fit an 80-column terminal.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tflkit.model import Model, Quantization, Subgraph, Tensor

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit.checks import Finding, Report
    from tflkit.comparison import Comparison
    from tflkit.speed import Benchmark

__all__ = [
    "benchmark_renderables",
    "comparison_renderables",
    "human_size",
    "inspect_renderables",
    "json_float",
    "model_to_dict",
    "report_renderables",
    "report_to_dict",
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


def _quant_dict(q: Quantization | None) -> dict[str, Any] | None:
    if q is None:
        return None
    finite = all(map(math.isfinite, q.scales))  # the usual case, checked in C
    return {
        "scales": list(q.scales) if finite else [json_float(s) for s in q.scales],
        "zero_points": list(q.zero_points),
        "quantized_dimension": q.quantized_dimension,
        "per_channel": q.per_channel,
    }


def _tensor_dict(t: Tensor) -> dict[str, Any]:
    rr = t.real_range
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
        "quantization": _quant_dict(t.quantization),
        "real_range": None if rr is None else [json_float(rr[0]), json_float(rr[1])],
    }


def _subgraph_dict(sg: Subgraph) -> dict[str, Any]:
    return {
        "index": sg.index,
        "name": sg.name,
        "inputs": list(sg.inputs),
        "outputs": list(sg.outputs),
        "tensors": [_tensor_dict(t) for t in sg.tensors],
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
    from tflkit.checks import quantization_kind

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


def human_size(n: int) -> str:
    """``5.1 KiB``, ``3.9 MiB``: binary units, one decimal."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


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
    zp = str(next(iter(zps))) if len(zps) == 1 else f"{min(zps)}..{max(zps)}"
    return (f"{len(q.scales)}\u00d7ax{q.quantized_dimension} {lo:.2g}..{hi:.2g}", zp)


def _range_text(t: Tensor) -> str:
    rr = t.real_range
    if rr is None:
        return ""
    return f"[{_g(rr[0])}, {_g(rr[1])}]"


def _io_table(model: Model, sg: Subgraph) -> RenderableType:
    from rich.table import Table

    names = _signature_names(model, sg.index)
    table = Table(title=f"Inputs and outputs (subgraph {sg.index})", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("scale", overflow="fold")
    table.add_column("zp", no_wrap=True, justify="right")
    table.add_column("real range", no_wrap=True)
    for kind, indices in (("in", sg.inputs), ("out", sg.outputs)):
        for n, i in enumerate(indices):
            t = sg.tensors[i]
            scale, zp = _quant_text(t.quantization)
            name = names.get(i) or t.name
            table.add_row(f"{kind} {n}", name, t.dtype, _shape(t), scale, zp, _range_text(t))
    return table


def _signature_names(model: Model, subgraph: int) -> dict[int, str]:
    names: dict[int, str] = {}
    for sig in model.signatures:
        if sig.subgraph_index == subgraph:
            for x in sig.inputs + sig.outputs:
                names.setdefault(x.tensor_index, x.name)
    return names


def _ops_table(model: Model, subgraphs: tuple[Subgraph, ...]) -> RenderableType:
    from rich.table import Table

    table = Table(title="Operators", title_justify="left")
    table.add_column("subgraph", no_wrap=True)
    table.add_column("op", overflow="fold", ratio=1)
    table.add_column("count", justify="right", no_wrap=True)
    for sg in subgraphs:
        label = f"{sg.index} {sg.name}".strip()
        first = True
        for op, count in sg.op_counts().items():
            table.add_row(label if first else "", op, str(count))
            first = False
        if first:
            table.add_row(label, "(no operators)", "0")
    return table


def _tensor_table(sg: Subgraph) -> RenderableType:
    from rich.table import Table

    table = Table(title=f"Tensors (subgraph {sg.index})", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", overflow="fold")
    table.add_column("scale", overflow="fold")
    table.add_column("zp", no_wrap=True, justify="right")
    table.add_column("data", no_wrap=True, justify="right")
    for t in sg.tensors:
        scale, zp = _quant_text(t.quantization)
        data = "var" if t.is_variable else ""
        if t.is_constant:
            data = ("sparse " if t.is_sparse else "") + human_size(t.buffer_size)
        table.add_row(str(t.index), t.name, t.dtype, _shape(t), scale, zp, data)
    return table


def inspect_renderables(
    model: Model, *, subgraph: int | None = None, tensors: bool = False
) -> list[RenderableType]:
    """What ``tflkit inspect`` shows: header, I/O table, operator counts, tensors on request."""
    from rich.table import Table

    from tflkit.checks import quantization_kind

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
        "subgraphs", ", ".join(f"{sg.index} {sg.name}".strip() for sg in model.subgraphs)
    )
    sigs = ", ".join(f"{s.key} (subgraph {s.subgraph_index})" for s in model.signatures)
    header.add_row("signatures", sigs or "none")
    if model.metadata:
        header.add_row("metadata", ", ".join(m.name for m in model.metadata))

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
        out.append(_io_table(model, sg))
    out.append(_ops_table(model, shown))
    if tensors:
        out.extend(_tensor_table(sg) for sg in shown)
    return out


# ---------------------------------------------------------------- check reports


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "message": f.message,
        "subgraph": f.subgraph,
        "tensor": f.tensor,
        "operator": f.operator,
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """One ``tflkit check --json`` entry (``schemas/check.schema.json``)."""
    return {
        "model": report.model,
        "profile": report.profile,
        "passed": report.passed,
        "options": dict(report.options),
        "violations": [_finding_dict(f) for f in report.violations],
        "warnings": [_finding_dict(f) for f in report.warnings],
    }


def _grouped(findings: tuple[Finding, ...]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.rule, []).append(f)
    return groups


def report_renderables(report: Report, *, limit: int = 10) -> list[RenderableType]:
    """A pass/fail line, then the findings grouped by rule (at most ``limit`` per rule)."""
    from rich.padding import Padding
    from rich.text import Text

    verdict = Text("PASS", style="bold green") if report.passed else Text("FAIL", style="bold red")
    line = Text.assemble(verdict, "  ", (report.model, "bold"), f"  profile {report.profile}")
    counts = f": {len(report.violations)} violations, {len(report.warnings)} warnings"
    if report.violations or report.warnings:
        line.append(counts)
    out: list[RenderableType] = [line]
    for kind, findings, style in (
        ("violation", report.violations, "red"),
        ("warning", report.warnings, "yellow"),
    ):
        for rule, group in _grouped(findings).items():
            out.append(Text.assemble("  ", (rule, style), f" ({kind}, {len(group)})"))
            # Padding indents the wrapped lines of a long message too.
            for f in group[:limit]:
                out.append(Padding(Text(f.message), (0, 0, 0, 4)))
            if len(group) > limit:
                more = f"... and {len(group) - limit} more (--json lists all)"
                out.append(Padding(Text(more), (0, 0, 0, 4)))
    return out


# ---------------------------------------------------------------- compare and bench


def _db(v: float) -> str:
    return ("inf" if v > 0 else "-inf") if math.isinf(v) else f"{v:.1f} dB"


def _ms(v: float) -> str:
    return f"{v:.3g}"


def _table(title: str) -> Any:
    from rich import box
    from rich.table import Table

    # No vertical rules: seven columns of numbers fit 80 columns.
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def comparison_renderables(c: Comparison, *, tensors: int = 10) -> list[RenderableType]:
    """Header, size table, speed table, one agreement table per output, per-tensor tables."""
    from rich.text import Text

    ref = c.models[c.reference]
    out: list[RenderableType] = [
        Text.assemble(("reference  ", "bold"), ref.name),
        Text.assemble(("data       ", "bold"), f"{c.data}, {c.samples} samples"),
    ]
    out += [Text("           " + line) for line in c.inputs]

    size = _table("Size")
    size.add_column("model", overflow="fold", ratio=1)
    size.add_column("kind", no_wrap=True)
    size.add_column("size", justify="right", no_wrap=True)
    size.add_column("bytes", justify="right", no_wrap=True)
    size.add_column("vs ref", justify="right", no_wrap=True)
    for m in c.models:
        size.add_row(
            m.name, m.kind, human_size(m.size_bytes), f"{m.size_bytes:,}", f"{m.size_ratio:.2f}x"
        )
    out.append(size)

    if all(m.latency is not None for m in c.models):
        speed = _table("Speed: latency of one sample (ms), throughput of the batch")
        speed.add_column("model", overflow="fold", ratio=1)
        for col in ("p50", "p90", "vs ref", "samples/s", "vs ref"):
            speed.add_column(col, justify="right", no_wrap=True)
        for m in c.models:
            assert m.latency is not None
            speed.add_row(
                m.name,
                _ms(m.latency.p50_ms),
                _ms(m.latency.p90_ms),
                f"{m.latency_speedup:.2f}x" if m.latency_speedup else "",
                f"{m.samples_per_second:,.0f}" if m.samples_per_second else "",
                f"{m.throughput_speedup:.2f}x" if m.throughput_speedup else "",
            )
        out.append(speed)

    for k, o in enumerate(ref.outputs):
        labels = c.label_output == o.name
        t = _table(f"Output {o.name!r} against {ref.name}")
        t.add_column("model", overflow="fold", ratio=1)
        if labels:
            t.add_column("accuracy", justify="right", no_wrap=True)
            t.add_column("Δ pt", justify="right", no_wrap=True)
        for col in ("agree", "max err", "RMSE", "SNR"):
            t.add_column(col, justify="right", no_wrap=True)
        for m in c.models:
            e = m.outputs[k]
            row = [m.name]
            if labels:
                row += [
                    f"{m.accuracy:.1%}" if m.accuracy is not None else "",
                    f"{m.accuracy_delta * 100:+.1f}" if m.accuracy_delta is not None else "",
                ]
            row += [
                f"{e.top1_agreement:.1%}" if e.top1_agreement is not None else "",
                f"{e.max_abs:.3g}",
                f"{e.rmse:.3g}",
                _db(e.snr_db),
            ]
            t.add_row(*row)
        out.append(t)

    for p in c.per_tensor or ():
        out.append(Text(f"Per-tensor error of {p.model} ({p.samples} samples), worst first"))
        t = _table("")
        t.add_column("tensor", overflow="fold", ratio=1)
        t.add_column("SNR", justify="right", no_wrap=True)
        t.add_column("RMSE", justify="right", no_wrap=True)
        t.add_column("max err", justify="right", no_wrap=True)
        for te in p.tensors[:tensors]:
            t.add_row(te.name, _db(te.snr_db), f"{te.rmse:.3g}", f"{te.max_abs:.3g}")
        if p.tensors:
            out.append(t)
        if len(p.tensors) > tensors:
            out.append(Text(f"... and {len(p.tensors) - tensors} more (--json lists all)"))
        if p.note:
            out.append(Text(p.note))
    out += [Text(f"note: {n}") for n in c.notes]
    return out


def benchmark_renderables(b: Benchmark) -> list[RenderableType]:
    """The benchmark as a two-column table."""
    from rich.text import Text

    head = Text(f"{b.model}: {b.calls} calls of {b.batch_size} sample(s) in {b.seconds:.2f} s")
    t = _table("")
    t.show_header = False
    t.add_column("", style="bold", no_wrap=True)
    t.add_column("", overflow="fold")
    lat = b.latency
    rss = human_size(b.peak_rss_bytes) if b.peak_rss_bytes is not None else "unknown"
    rows = [
        (
            "latency per call",
            f"min {_ms(lat.min_ms)}  p50 {_ms(lat.p50_ms)}  p90 "
            f"{_ms(lat.p90_ms)}  p99 {_ms(lat.p99_ms)} ms",
        ),
        ("throughput", f"{b.samples_per_second:,.0f} samples/s"),
        ("batching", b.batching),
        ("threads", "runtime default" if b.num_threads is None else str(b.num_threads)),
        ("peak RSS", f"{rss} (this process)"),
        ("warm-up", f"{b.warmup_calls} calls, not timed"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return [head, t, *(Text("inputs: " + line) for line in b.inputs)]

"""``tflkit compare``: a Comparison as the JSON document, rich tables and GitHub Markdown. Never
computes: every figure comes from the Comparison."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tflkit.render._text import (
    Grid,
    NameLine,
    fmt,
    grid_markdown,
    grid_renderables,
    human_size,
    json_float,
    json_or_none,
    time_unit,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit.comparison import Comparison, OutputError, TensorError
    from tflkit.speed import Latency

__all__ = [
    "CALL_MEANS",
    "INVOKE_MEANS",
    "comparison_markdown",
    "comparison_renderables",
    "comparison_to_dict",
]


def _db(v: float) -> str:
    return ("inf" if v > 0 else "-inf") if math.isinf(v) else f"{v:.1f} dB"


def _against_parts(c: Comparison) -> tuple[str, str]:
    """What the errors are measured against, as (words, file): the reference model, or
    given outputs (a file, or arrays given in Python)."""
    if c.reference_outputs == "given arrays":  # comparison.GIVEN_ARRAYS: not a file name
        return "reference outputs (given arrays)", ""
    if c.reference_outputs is not None:
        return "reference outputs ", c.reference_outputs
    return c.models[c.reference].name, ""


def _against(c: Comparison) -> str:
    return "".join(_against_parts(c))


def _comparison_grids(c: Comparison, *, tensors: int | None) -> list[Grid]:
    """The tables of a comparison; at most ``tensors`` rows per per-tensor table (None: all)."""
    ref = c.models[c.reference]
    grids = [
        Grid(
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
        grids += [_speed_grid(c), _batch_grid(c)]
    for k, o in enumerate(ref.outputs):
        labels = c.label_output == o.name
        headers: tuple[str, ...] = ("model", "accuracy", "Δ pt") if labels else ("model",)
        rows = []
        for m in c.models:
            e = m.outputs[k]
            cells = [m.name]
            if labels:
                delta = None if m.accuracy_delta is None else m.accuracy_delta * 100
                cells += [fmt(m.accuracy, ".1%"), fmt(delta, "+.1f")]
            cells += [fmt(e.top1_agreement, ".1%"), f"{e.max_abs:.3g}", f"{e.mse:.3g}"]
            rows.append(
                [*cells, f"{e.rmse:.3g}", _db(e.snr_db) + (NONFINITE_MARK if e.nonfinite else "")]
            )
        headers += ("agree", "max err", "MSE", "RMSE", "SNR")
        title = f"Output {o.name!r} against {_against(c)}"
        marks = _nonfinite_lines(c, k)
        grids.append(Grid(title, headers, rows, footer=marks, title_name=_against_parts(c)[1]))
    for p in c.per_tensor or ():
        shown = p.tensors if tensors is None else p.tensors[:tensors]
        footer = []
        if len(shown) < len(p.tensors):
            footer.append(f"... and {len(p.tensors) - len(shown)} more (--json lists all)")
        if p.note:
            footer.append(p.note)
        grids.append(
            Grid(
                f"Per-tensor error of {p.model} ({p.samples} samples), worst first",
                ("tensor", "SNR", "MSE", "RMSE", "max err"),
                [
                    [t.name, _db(t.snr_db), f"{t.mse:.3g}", f"{t.rmse:.3g}", f"{t.max_abs:.3g}"]
                    for t in shown
                ],
                footer=tuple(footer),
                title_name=p.model,
            )
        )
    return grids


#: What each latency answers, under the speed table of ``compare``.
INVOKE_MEANS = 'invoke: the runtime alone; it answers "is int8 faster on this machine?"'
#: Two lines within 80 columns (one paragraph in Markdown).
CALL_MEANS = (
    "call: a whole Runner.predict = invoke + overhead (quantize, dequantize, copies):\n"
    "what an app pays per call"
)


#: After the SNR of an output whose errors measure nothing (NaN or inf in what was compared).
NONFINITE_MARK = " !"


def _nonfinite_lines(c: Comparison, k: int) -> tuple[str, ...]:
    """The lines under output ``k``'s table when errors in it measure nothing: which model
    gave how many NaN and inf (the reference outputs given: in the notes)."""
    errors = [m.outputs[k] for m in c.models]
    if not any(e.nonfinite for e in errors):
        return ()
    lines = [
        f"! {m.name}: {e.nan_count} NaN and {e.inf_count} inf in output {e.name!r}"
        for m, e in zip(c.models, errors, strict=True)
        if e.nan_count or e.inf_count
    ]
    if c.reference_outputs is not None and not lines:
        lines.append("! the reference outputs hold NaN or inf (see the notes)")
    lines.append("! marked: NaN or inf in the outputs compared; the errors measure nothing")
    return tuple(lines)


def _speed_grid(c: Comparison) -> Grid:
    """One sample: the runtime's invoke, tflkit's overhead, the whole call (µs under 1 ms)."""
    models = [m for m in c.models if m.latency is not None]
    scale, unit = time_unit(max(m.latency.p50_ms for m in models if m.latency is not None))

    def t(v: float | None) -> str:
        return "" if v is None else f"{v * scale:.3g}"

    rows = []
    for m in models:
        assert m.latency is not None
        rows.append(
            [
                m.name,
                t(m.invoke.p50_ms if m.invoke else None),
                fmt(m.invoke_speedup, ".2f", "x"),
                t(m.overhead_ms),
                t(m.latency.p50_ms),
                fmt(m.latency_speedup, ".2f", "x"),
            ]
        )
    return Grid(
        f"Speed: one sample, median ({unit})",
        ("model", "invoke", "vs ref", "overhead", "call", "vs ref"),
        rows,
    )


def _batch_grid(c: Comparison) -> Grid:
    """The whole batch in samples/s: the runtime's invokes alone, and the whole call."""
    rows = [
        [
            m.name,
            fmt(m.invoke_samples_per_second, ",.0f"),
            fmt(m.invoke_throughput_speedup, ".2f", "x"),
            fmt(m.samples_per_second, ",.0f"),
            fmt(m.throughput_speedup, ".2f", "x"),
        ]
        for m in c.models
        if m.latency is not None
    ]
    return Grid(
        "Speed: the whole batch (samples/s)",
        ("model", "invoke", "vs ref", "call", "vs ref"),
        rows,
        footer=(INVOKE_MEANS, CALL_MEANS),
    )


def comparison_renderables(c: Comparison, *, tensors: int = 10) -> list[RenderableType]:
    """Header, size table, speed table, one agreement table per output, per-tensor tables."""
    from rich.text import Text

    ref = c.models[c.reference]
    out: list[RenderableType] = [
        NameLine(ref.name, before=[("reference  ", "bold")]),
        NameLine(
            c.data, before=[("data       ", "bold")], after=[f", {c.samples} samples"], path=True
        ),
    ]
    out += [Text("           " + line) for line in c.inputs]
    if c.reference_outputs is not None:
        words, path = _against_parts(c)
        out.append(NameLine(path, before=[("against    ", "bold"), words], path=True))
    for g in _comparison_grids(c, tensors=tensors):
        out.append(Text(""))
        out += grid_renderables(g)
    out += [Text(f"note: {n}") for n in c.notes]
    return out


def comparison_markdown(c: Comparison) -> str:
    """The same tables as ``tflkit compare`` prints, in GitHub Markdown, every tensor listed."""

    ref = c.models[c.reference]
    lines = [f"Reference: {ref.name}; {c.samples} samples; data: {c.data}"]
    if c.reference_outputs is not None:
        lines[0] += f"; errors against {_against(c)}"
    for g in _comparison_grids(c, tensors=None):
        lines += grid_markdown(g)
    if c.notes:
        lines += [""] + [f"- {n}" for n in c.notes]
    return "\n".join(lines) + "\n"


def _errors_dict(e: OutputError | TensorError) -> dict[str, Any]:
    keys = ("max_abs", "mean_abs", "mse", "rmse", "snr_db")
    return {k: json_or_none(getattr(e, k)) for k in keys}


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
                    {
                        "name": e.name,
                        "top1_agreement": e.top1_agreement,
                        **_errors_dict(e),
                        "nonfinite": {"nan": e.nan_count, "inf": e.inf_count},
                    }
                    for e in m.outputs
                ],
                "latency_ms": _latency_ms(m.latency),
                "latency_speedup": m.latency_speedup,
                "samples_per_second": m.samples_per_second,
                "throughput_speedup": m.throughput_speedup,
                "invoke_samples_per_second": m.invoke_samples_per_second,
                "invoke_throughput_speedup": m.invoke_throughput_speedup,
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
        "crashed": list(c.crashed),
        "models": models,
        "per_tensor": per,
        "reference_outputs": c.reference_outputs,
        "has_nonfinite": c.has_nonfinite,
    }

"""``tflkit inspect``: a Model as the JSON document and as the header, I/O, operator and tensor
tables. Never computes: what it shows comes from the Model."""

from __future__ import annotations

import math
import re
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
from tflkit.render._text import (
    Name,
    g4,
    header_grid,
    human_size,
    json_float,
    shorten_middle,
    trimmed,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["batch_axis_text", "inspect_renderables", "model_to_dict"]


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
    return "0, dynamic (any number of samples per invoke)"


def _shape(t: Tensor) -> str:
    dims = t.shape_signature if t.shape_signature else t.shape
    return "[" + ",".join(str(d) for d in dims) + "]"


def _quant_text(q: Quantization | None) -> tuple[str, str]:
    """(scale, zero point) cells; per-channel as count and range."""
    if q is None:
        return ("", "")
    if len(q.scales) == 1:
        zp = str(q.zero_points[0]) if q.zero_points else ""
        return (g4(q.scales[0]), zp)
    # NaN shown as the range (nan..nan): Python's min and max would hide it by its position
    lo, hi = (
        (math.nan, math.nan) if any(map(math.isnan, q.scales)) else (min(q.scales), max(q.scales))
    )
    zps = set(q.zero_points)
    zp = str(next(iter(zps))) if len(zps) == 1 else f"{min(zps)}..{max(zps)}" if zps else ""
    return (f"{len(q.scales)}\u00d7ax{q.quantized_dimension} {_g2(lo)}..{_g2(hi)}", zp)


def _g2(x: float) -> str:
    """Two significant digits, the exponent without padding (``2.2e-6``, not ``2.2e-06``): a
    per-channel range then fits its column at 80 columns without a number broken."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{x:.2g}")


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
    return f"[{g4(rr[0])}, {g4(rr[1])}]"


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
    table.add_column("scale", no_wrap=True)  # a number, or a channel count and range
    table.add_column("zp", no_wrap=True, justify="right")
    table.add_column("real range")  # wraps after its comma, never inside a number
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
                Name(name),
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
        label = Name(f"{sg.index} {sg.name}".strip())
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
        table.add_row(str(t.index), Name(t.name), t.dtype, _shape(t), scale, zp, data)
    return table


# Names in the header's lists are shortened to this many cells (full names in --json).
_HEADER_NAME_WIDTH = 40


def inspect_renderables(
    model: Model, *, subgraph: int | None = None, tensors: bool = False
) -> list[RenderableType]:
    """What ``tflkit inspect`` shows: header, I/O table, operator counts, tensors on request.

    Long names are shortened in the middle to fit the terminal; ``--json`` has them whole.
    """
    from tflkit.kinds import quantization_kind

    def short(name: str) -> str:
        return shorten_middle(name, _HEADER_NAME_WIDTH)

    header = header_grid()
    header.add_row("file", Name(model.path, path=True) if model.path else "<bytes>")
    header.add_row("size", f"{human_size(model.size_bytes)} ({model.size_bytes:,} bytes)")
    kind = quantization_kind(model)
    header.add_row("quantization", kind)
    if kind == "int8-float-islands":
        from tflkit.kinds import float_operators

        header.add_row(
            "float ops", ", ".join(f"{op.op} {short(name)}" for op, name in float_operators(model))
        )
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
    return trimmed(out)

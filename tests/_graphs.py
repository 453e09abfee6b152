"""Small tflkit.Model graphs built by hand, for target rules worked out on paper.

A ``T`` is one tensor (the same object in two operators is the same tensor); ``build`` lays
the operators out in order in subgraph 0: inputs are the non-constant tensors no operator
produces, outputs the produced tensors no operator consumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflkit.model import Model, Operator, Quantization, Subgraph, Tensor


@dataclass
class _Bytes:
    data: bytes


@dataclass(eq=False)
class T:
    dtype: str
    shape: tuple[int, ...]
    const: bool = False
    scales: int = 1  # scales of an int8/uint8/int16/int32 tensor (0: none)
    sig: tuple[int, ...] | None = None
    values: list[int] | None = None  # constant data (axes, paddings; int32 unless int8/...)
    zero_point: int = 0
    name: str = field(default="")


@dataclass
class Op:
    op: str
    inputs: list[T | None]
    outputs: list[T]
    version: int = 1
    custom: str | None = None


def build(*ops: Op, more: tuple[tuple[Op, ...], ...] = ()) -> Model:
    subgraphs = tuple(_subgraph(i, list(g)) for i, g in enumerate((ops, *more)))
    return Model(None, 0, 3, None, subgraphs, (), ())


def _subgraph(index: int, ops: list[Op]) -> Subgraph:
    order: dict[int, int] = {}
    specs: list[T] = []
    for op in ops:
        for t in [*op.inputs, *op.outputs]:
            if t is not None and id(t) not in order:
                order[id(t)] = len(specs)
                specs.append(t)
    tensors = tuple(_tensor(index, i, t) for i, t in enumerate(specs))
    produced = {order[id(t)] for op in ops for t in op.outputs}
    consumed = {order[id(t)] for op in ops for t in op.inputs if t is not None}
    inputs = tuple(i for i, t in enumerate(specs) if not t.const and i not in produced)
    outputs = tuple(i for i in sorted(produced) if i not in consumed)
    operators = tuple(
        Operator(
            j,
            "CUSTOM" if op.custom else op.op,
            32 if op.custom else 0,
            op.custom,
            op.version,
            tuple(order[id(t)] if t is not None else -1 for t in op.inputs),
            tuple(order[id(t)] for t in op.outputs),
        )
        for j, op in enumerate(ops)
    )
    return Subgraph(index, f"sg{index}", inputs, outputs, tensors, operators)


def _tensor(sg: int, i: int, t: T) -> Tensor:
    q = None
    if t.scales and t.dtype in ("int8", "uint8", "int16", "int32", "int4"):
        q = Quantization((0.1,) * t.scales, (t.zero_point,) * t.scales)
    data = b""
    if t.values is not None:
        kind = t.dtype if t.dtype in ("int8", "uint8", "int16", "int32", "int64") else "int32"
        data = np.asarray(t.values, dtype=kind).tobytes()
    source = _Bytes(data) if t.const else None
    return Tensor(
        index=i,
        name=t.name or f"t{i}",
        dtype=t.dtype,
        shape=tuple(max(d, 1) for d in t.shape),
        shape_signature=t.sig if t.sig is not None else t.shape,
        quantization=q,
        is_constant=t.const,
        buffer=i + 1 if t.const else 0,
        buffer_size=len(data),
        subgraph_index=sg,
        _data_offset=0 if t.const else -1,
        _source=source,
    )

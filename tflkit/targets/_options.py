"""Operators' builtin options (padding, strides, filter sizes, fused activation, ...), read
from the model's bytes through the ``tflite`` bindings for the target rules that need them;
``tflkit.Model`` does not carry them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tflkit.model import Model

__all__ = ["Options", "read_options"]


@dataclass(frozen=True, slots=True)
class Options:
    """What target rules read from an operator's builtin options (defaults when absent)."""

    padding: int = -1  # 0 SAME, 1 VALID, -1 none
    stride_w: int = 1
    stride_h: int = 1
    dilation_w: int = 1
    dilation_h: int = 1
    filter_w: int = 0
    filter_h: int = 0
    activation: int = 0
    depth_multiplier: int = 1
    num_splits: int = 0
    align_corners: bool = False
    half_pixel_centers: bool = False
    extra: dict[str, int] = field(default_factory=dict)


# getter on the tflite options class -> Options field
_GETTERS = {
    "Padding": "padding",
    "StrideW": "stride_w",
    "StrideH": "stride_h",
    "DilationWFactor": "dilation_w",
    "DilationHFactor": "dilation_h",
    "FilterWidth": "filter_w",
    "FilterHeight": "filter_h",
    "FusedActivationFunction": "activation",
    "DepthMultiplier": "depth_multiplier",
    "NumSplits": "num_splits",
    "AlignCorners": "align_corners",
    "HalfPixelCenters": "half_pixel_centers",
}


def read_options(model: Model) -> dict[tuple[int, int], Options]:
    """(subgraph, operator) -> its builtin options, read from the model's bytes.

    ``tflkit.load`` has validated the file's structure; a table the bindings still cannot read
    gives no entry (the rules that need it then pass), never an exception.
    """
    source = model._source
    if source is None:
        return {}
    import tflite  # the bindings; loaded by tflkit.load already

    from tflkit._flatbuffer import READER_ERRORS

    out: dict[tuple[int, int], Options] = {}
    try:
        root = tflite.Model.GetRootAs(source.data, 0)  # the mapped file, not a copy
        classes = {v: k for k, v in vars(tflite.BuiltinOptions).items() if isinstance(v, int)}
    except READER_ERRORS:
        return {}
    for s, sg in enumerate(model.subgraphs):
        try:
            fsg = root.Subgraphs(s)
        except READER_ERRORS:
            continue
        for i in range(len(sg.operators)):
            try:
                fop = fsg.Operators(i)
                cls = getattr(tflite, classes.get(fop.BuiltinOptionsType(), ""), None)
                table = fop.BuiltinOptions()
                if cls is None or table is None:
                    continue
                opts = cls()
                opts.Init(table.Bytes, table.Pos)
                values: dict[str, Any] = {}
                for getter, name in _GETTERS.items():
                    fn = getattr(opts, getter, None)
                    if fn is not None:
                        values[name] = fn()
                out[(s, i)] = Options(**values)
            except READER_ERRORS:
                continue
    return out

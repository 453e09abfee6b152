"""LiteRT's interpreter fed BY HAND: the truth the Runner is measured against
(tests/test_corpus_runner.py, bench/runner_corpus.py).

Nothing here goes through tflkit's Runner, feeds or quantization: inputs are quantized and
outputs dequantized by hand with the scale and zero point the interpreter reports, one sample at
a time on a fresh interpreter (resize, allocate, set_tensor, invoke, get_tensor; a signature on
another subgraph through its signature runner). Samples join on axis 0: 0-d outputs stacked,
the others concatenated (an output without a batch axis, SUM's (2, 3), gives (2 n, 3)).
Random inputs come from ``tflkit._inputs.random_inputs`` (seed 0), strings from a fixed list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def join(group: list[np.ndarray]) -> np.ndarray:
    """Samples' values of one output on axis 0: 0-d stacked, others concatenated."""
    return np.stack(group) if group[0].ndim == 0 else np.concatenate(group)


def get(interp: Any, index: int) -> np.ndarray:
    """get_tensor; for an output of zero elements (get_tensor raises "Invalid tensor size")
    an empty array of the shape and dtype get_output_details() reports."""
    try:
        return np.asarray(interp.get_tensor(index))
    except ValueError:
        for d in interp.get_output_details():
            if d["index"] == index and 0 in d["shape"]:
                return np.zeros(tuple(d["shape"]), d["dtype"])
        raise


def quantize_by_hand(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Real values to the input's integers as the QUANTIZE reference kernel does: the float32
    quotient ``val / static_cast<float>(scale)`` rounded half away from zero, plus the zero
    point, saturated (LiteRT@f67457790c9c tflite/kernels/internal/reference/quantize.h:46)."""
    qp = detail["quantization_parameters"]
    dtype = np.dtype(detail["dtype"])
    scales, zps = np.asarray(qp["scales"], np.float32), np.asarray(qp["zero_points"], np.int64)
    if len(scales) > 1:  # per channel along quantized_dimension
        shape = [1] * x.ndim
        shape[qp["quantized_dimension"]] = len(scales)
        scales, zps = scales.reshape(shape), zps.reshape(shape)
    v = (x.astype(np.float32) / scales).astype(np.float64)
    v = np.sign(v) * np.floor(np.abs(v) + 0.5) + zps
    info = np.iinfo(dtype)
    return np.clip(v, info.min, info.max).astype(dtype)


def dequantize_by_hand(q: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    qp = detail["quantization_parameters"]
    scales, zps = np.asarray(qp["scales"], np.float64), np.asarray(qp["zero_points"], np.int64)
    if len(scales) > 1:
        shape = [1] * q.ndim
        shape[qp["quantized_dimension"]] = len(scales)
        scales, zps = scales.reshape(shape), zps.reshape(shape)
    return ((q.astype(np.int64) - zps) * scales).astype(np.float32)


def quantized(detail: dict[str, Any]) -> bool:
    """Whether the Runner (de)quantizes this tensor: an integer dtype with a scale."""
    kind = np.dtype(detail["dtype"]).kind
    return kind in "iu" and len(detail["quantization_parameters"]["scales"]) > 0


def real_by_hand(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if quantized(detail):
        return dequantize_by_hand(value, detail)
    if value.dtype.kind == "f" and value.dtype != np.float32:
        return value.astype(np.float32)
    return value


def open_by_hand(path: Path, delegate: bool) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"model_path": str(path)}
    if not delegate:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(**kwargs)


def truth_subgraph0(
    path: Path, delegate: bool, feeds: list[np.ndarray], n: int | None, raw: bool
) -> list[np.ndarray]:
    """Sample by sample on one fresh interpreter (state carries from sample to sample, as a
    stateful model's does in the Runner)."""
    interp = open_by_hand(path, delegate)
    ins, outs = interp.get_input_details(), interp.get_output_details()
    feeds = [quantize_by_hand(f, d) if quantized(d) else f for f, d in zip(feeds, ins, strict=True)]
    # a 0-d string as 0-d bytes: set_tensor reads a 0-d object array's pointer as the string
    feeds = [np.array(f.item()) if f.ndim == 0 and f.dtype.hasobject else f for f in feeds]
    samples = [None] if n is None else list(range(n))
    results: list[list[np.ndarray]] = []
    for s in samples:
        one = [f if (s is None or f.ndim == 0) else f[s : s + 1] for f in feeds]
        for d, f in zip(ins, one, strict=True):
            interp.resize_tensor_input(d["index"], list(f.shape), strict=False)
        interp.allocate_tensors()
        for d, f in zip(ins, one, strict=True):
            interp.set_tensor(d["index"], f)
        interp.invoke()
        results.append([get(interp, d["index"]) for d in interp.get_output_details()])
    outs_real = []
    for k, d in enumerate(outs):
        group = [r[k] for r in results]
        v = (
            group[0]
            if n is None
            else (np.stack(group) if group[0].ndim == 0 else np.concatenate(group))
        )
        outs_real.append(v if raw else real_by_hand(v, d))
    return outs_real


def truth_signature(
    path: Path, delegate: bool, key: str, feeds: dict[str, np.ndarray], n: int | None, raw: bool
) -> dict[str, np.ndarray]:
    interp = open_by_hand(path, delegate)
    runner = interp.get_signature_runner(key)
    ins, outs = runner.get_input_details(), runner.get_output_details()
    feeds = {k: quantize_by_hand(f, ins[k]) if quantized(ins[k]) else f for k, f in feeds.items()}
    samples = [None] if n is None else list(range(n))
    results = []
    for s in samples:
        one = {k: (f if (s is None or f.ndim == 0) else f[s : s + 1]) for k, f in feeds.items()}
        results.append({k: np.asarray(v) for k, v in runner(**one).items()})
    out: dict[str, np.ndarray] = {}
    for name, d in outs.items():
        group = [r[name] for r in results]
        v = (
            group[0]
            if n is None
            else (np.stack(group) if group[0].ndim == 0 else np.concatenate(group))
        )
        out[name] = v if raw else real_by_hand(v, d)
    return out


# ---------------------------------------------------------------------- comparing


def compare(got: list[np.ndarray], want: list[np.ndarray]) -> dict[str, Any]:
    if len(got) != len(want):
        return {"outcome": "differs", "detail": f"{len(got)} outputs, truth has {len(want)}"}
    worst = 0.0
    close = False
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return {"outcome": "differs", "detail": f"output {k}: shape {g.shape}, truth {w.shape}"}
        if w.dtype.kind in "OSU" or g.dtype.kind in "OSU":
            if g.dtype != w.dtype or not np.array_equal(g, w):
                return {
                    "outcome": "differs",
                    "detail": f"output {k}: {g.dtype} values differ from {w.dtype}",
                }
            continue
        if g.dtype != w.dtype:
            return {"outcome": "differs", "detail": f"output {k}: dtype {g.dtype}, truth {w.dtype}"}
        if not g.size:
            continue
        gf, wf = g.astype(np.float64), w.astype(np.float64)
        same_nan = np.isnan(gf) == np.isnan(wf)
        if not same_nan.all():
            return {"outcome": "differs", "detail": f"output {k}: NaN where the truth has none"}
        finite = ~np.isnan(wf)
        both_inf = np.isinf(wf) & (gf == wf)
        diff = np.where(finite & ~both_inf, np.abs(gf - wf), 0.0)
        d = float(diff.max())
        if d == 0:
            continue
        scale = float(np.abs(np.where(finite & ~np.isinf(wf), wf, 0)).max())
        worst = max(worst, d)
        if d <= 1e-5 * max(1.0, scale):
            close = True
        else:
            return {
                "outcome": "differs",
                "max_abs_diff": d,
                "detail": f"output {k}: max abs diff {d:.6g}",
            }
    if close:
        return {"outcome": "close", "max_abs_diff": worst}
    return {"outcome": "equal"}


def random_feeds(
    tensors: Any, names: list[str], n: int, batch_axis: int | None
) -> list[np.ndarray]:
    from tflkit._inputs import random_inputs

    rng = np.random.default_rng(0)
    feeds = []
    for t, name in zip(tensors, names, strict=True):
        if t.dtype == "string":
            dims = [1 if d < 0 else d for d in t.shape_signature]
            shape = tuple(dims) if batch_axis is None else ((n, *dims[1:]) if dims else ())
            words = [b"", b"a", b"hello", b"caf\xc3\xa9", b"xyz"]
            flat = [words[i] for i in rng.integers(0, len(words), int(np.prod(shape)))]
            feeds.append(np.array(flat, dtype=object).reshape(shape))
            continue
        arrays, _ = random_inputs([t], [name], n, seed=0, batch_axis=batch_axis)
        feeds.append(arrays[name])
    return feeds


def raw_feeds(path: Path, delegate: bool, feeds: list[np.ndarray]) -> list[np.ndarray]:
    ins = open_by_hand(path, delegate).get_input_details()
    return [quantize_by_hand(f, d) if quantized(d) else f for f, d in zip(feeds, ins, strict=True)]


def raw_sig_feeds(
    path: Path, delegate: bool, key: str, named: dict[str, np.ndarray]
) -> list[np.ndarray]:
    ins = open_by_hand(path, delegate).get_signature_runner(key).get_input_details()
    return [quantize_by_hand(f, ins[k]) if quantized(ins[k]) else f for k, f in named.items()]

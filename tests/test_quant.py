"""quant.quantize / dequantize: bit-exact against TFLite's QUANTIZE / DEQUANTIZE kernels.

The fixtures quantize_{int8,uint8,int16}.tflite and dequantize_int8.tflite hold a single op; the
tests run them in LiteRT on edge values and compare every element. The reference kernel
(BUILTIN_REF) is the one that follows the spec (ties away from zero); on x86 the optimized
kernel and XNNPACK round exact ties to even, so against them ties are compared apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MODELS, edited

from tflkit.quant import (
    PerTensor,
    dequantize,
    quantize,
    quantize_with_stats,
    round_half_away,
)

RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _run(model: bytes | str, x: np.ndarray, resolver: str = "BUILTIN_REF") -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"experimental_op_resolver_type": getattr(OpResolverType, resolver)}
    if isinstance(model, bytes):
        kwargs["model_content"] = model
    else:
        kwargs["model_path"] = model
    interp = Interpreter(**kwargs)
    idx = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(idx, list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(idx, x)
    interp.invoke()
    return np.asarray(interp.get_tensor(interp.get_output_details()[0]["index"]))


def _edge_values(scale: float, zp: int, dtype: str) -> np.ndarray:
    qmin, qmax = RANGES[dtype]
    k = np.arange(qmin - zp - 40, qmax - zp + 40, dtype=np.float64)
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            k * scale,  # exact steps
            (k + 0.5) * scale,  # exact ties (when representable)
            (k - 0.5) * scale,
            (k + 0.49999) * scale,
            (k + 0.50001) * scale,
            [0.0, -0.0, 1e-30, -1e-30],
            # far out of range, yet |x / scale| < 2**31 (beyond that the C++ cast is undefined)
            np.array([1, -1, 1e-2, -1e-2])
            * min(1e5, 2**30 / (qmax - qmin))
            * (qmax - qmin)
            * scale,
            rng.uniform(qmin - zp - 300, qmax - zp + 300, 2000) * scale,
        ]
    )
    x = values.astype(np.float32)
    width = 64
    pad = (-len(x)) % width
    return np.concatenate([x, np.zeros(pad, np.float32)]).reshape(-1, width)


def _with_scale(dtype: str, scale: float, zp: int) -> bytes:
    def edit(m: Any) -> None:
        q = m.subgraphs[0].tensors[1].quantization
        q.scale, q.zeroPoint = [scale], [zp]

    return edited(f"quantize_{dtype}.tflite", edit)


def _case(dtype: str, scale: float | None, zp: int | None) -> tuple[bytes | str, float, int]:
    """The QUANTIZE model for a case, with its scale and zero point (None: the fixture's own)."""
    if scale is None or zp is None:
        facts = MODELS[f"quantize_{dtype}.tflite"]["quantize"]
        return str(FIXTURES / f"quantize_{dtype}.tflite"), facts["scale"], facts["zero_point"]
    return _with_scale(dtype, scale, zp), scale, zp


CASES = [
    ("int8", None, None),  # the fixture's own (0.5, -3)
    ("uint8", None, None),  # (0.25, 128)
    ("int16", None, None),  # (1/4096, 0)
    ("int8", 1 / 255, -128),  # the usual image input
    ("int8", 0.1, 5),  # not a power of two: float32 division matters
    ("int8", 3.3, -7),
    ("uint8", 1e-7, 3),  # tiny scale
    ("int16", 0.0007, 0),
    ("int16", 2.5e-9, 0),
]


@pytest.mark.parametrize(("dtype", "scale", "zp"), CASES)
def test_quantize_is_bit_exact_with_the_reference_kernel(
    dtype: str, scale: float | None, zp: int | None
) -> None:
    model, scale, zp = _case(dtype, scale, zp)
    x = _edge_values(float(np.float32(scale)), zp, dtype)
    want = _run(model, x)
    got = quantize(x, scale, zp, dtype)
    assert got.dtype == want.dtype == np.dtype(dtype)
    mismatch = np.flatnonzero(got.ravel() != want.ravel())
    assert mismatch.size == 0, (
        x.ravel()[mismatch][:5],
        got.ravel()[mismatch][:5],
        want.ravel()[mismatch][:5],
    )
    qmin, qmax = RANGES[dtype]
    assert (got == qmin).any() and (got == qmax).any()  # saturation was exercised
    # Small arrays and large ones take different code paths (one shot / chunks): check both.
    reps = 2 * (1 << 15) // x.size + 1
    assert np.array_equal(
        quantize(np.tile(x, (reps, 1)), scale, zp, dtype), np.tile(want, (reps, 1))
    )
    assert np.array_equal(quantize(x[:1], scale, zp, dtype), want[:1])


@pytest.mark.parametrize(("dtype", "scale", "zp"), CASES)
def test_the_runners_per_tensor_path_is_bit_exact_too(
    dtype: str, scale: float | None, zp: int | None
) -> None:
    # PerTensor (what Runner.predict uses) has its own path for a sample or two: row by row
    # (64 values), every row against the reference kernel, in range or not
    model, scale, zp = _case(dtype, scale, zp)
    x = _edge_values(float(np.float32(scale)), zp, dtype)
    want = _run(model, x)
    fast = PerTensor(scale, zp, dtype)
    qmin, qmax = RANGES[dtype]
    for row, expected in zip(x, want, strict=True):
        got, stats = fast.quantize(row[None])
        assert got.dtype == np.dtype(dtype) and got.shape == (1, row.size)
        np.testing.assert_array_equal(got[0], expected, err_msg=str(row[got[0] != expected]))
        r = row / np.float32(scale) + zp  # by hand; a value exactly on qmin - 0.5 may go
        low = (np.count_nonzero(r < qmin - 0.5), np.count_nonzero(r <= qmin - 0.5))  # either way
        high = (np.count_nonzero(r > qmax + 0.5), np.count_nonzero(r >= qmax + 0.5))
        assert (
            low[0] <= stats.saturated_low <= low[1] and high[0] <= stats.saturated_high <= high[1]
        )
    nan = x[:1].copy()
    nan[0, 3] = np.nan
    got, stats = fast.quantize(nan)
    assert stats.nan == 1 and got[0, 3] == np.clip(zp, qmin, qmax)


def test_the_runners_dequantize_table_is_bit_exact() -> None:
    facts = MODELS["dequantize_int8.tflite"]["quantize"]
    q = np.tile(np.arange(-128, 128, dtype=np.int8), 2).reshape(-1, 64)
    want = _run(str(FIXTURES / "dequantize_int8.tflite"), q)
    got = PerTensor(facts["scale"], facts["zero_point"], "int8").dequantize(q)
    assert got.dtype == np.float32 and np.array_equal(got, want)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_default_kernels_differ_only_on_exact_ties(dtype: str) -> None:
    facts = MODELS[f"quantize_{dtype}.tflite"]["quantize"]
    scale, zp = facts["scale"], facts["zero_point"]
    x = _edge_values(scale, zp, dtype)
    want = _run(str(FIXTURES / f"quantize_{dtype}.tflite"), x, resolver="AUTO")
    got = quantize(x, scale, zp, dtype)
    scaled = x.astype(np.float32) / np.float32(scale)
    tie = np.abs(scaled - np.trunc(scaled)) == 0.5
    assert np.array_equal(got[~tie], want[~tie])
    assert tie.any()


def test_dequantize_is_bit_exact_with_the_kernel() -> None:
    facts = MODELS["dequantize_int8.tflite"]["quantize"]
    q = np.tile(np.arange(-128, 128, dtype=np.int8), 2).reshape(-1, 64)
    for resolver in ("BUILTIN_REF", "AUTO"):
        want = _run(str(FIXTURES / "dequantize_int8.tflite"), q, resolver)
        got = dequantize(q, facts["scale"], facts["zero_point"])
        assert got.dtype == np.float32
        assert np.array_equal(got, want)


def test_values_worked_out_by_hand() -> None:
    # onnx's QuantizeLinear example: scale 2, zero point 128, uint8
    assert quantize([0, 2, 3, 1000, -254, -1000], 2.0, 128, "uint8").tolist() == [
        128,
        129,
        130,
        255,
        1,
        0,
    ]
    # ties go away from zero, not to even as np.round would
    assert quantize([0.5, 1.5, 2.5, -0.5, -2.5], 1.0, 0, "int8").tolist() == [1, 2, 3, -1, -3]
    assert np.round([0.5, 2.5]).tolist() == [0.0, 2.0]
    assert round_half_away(np.array([0.49999997, -0.49999997], np.float32)).tolist() == [0.0, -0.0]
    # NaN goes to the zero point, infinities saturate
    assert quantize([np.nan, np.inf, -np.inf], 0.1, 7, "int8").tolist() == [7, 127, -128]
    # a tie beside a NaN or an infinity still goes away from zero (the kernel rounds each value
    # alone): 1.25 / 0.5 = 2.5 -> 3 - 3 = 0, -1.25 -> -3 - 3 = -6; small arrays and chunked ones
    assert quantize([2.5, -2.5, np.nan], 1.0, 0, "int8").tolist() == [3, -3, 0]
    assert quantize([1.25, -1.25, np.inf], 0.5, -3, "int8").tolist() == [0, -6, 127]
    big = np.tile(np.array([1.25, -1.25, np.nan, -np.inf], np.float32), 1 << 14)
    assert quantize(big, 0.5, -3, "int8")[:4].tolist() == [0, -6, -3, -128]
    assert round_half_away(np.array([2.5, -2.5, np.nan], np.float32))[:2].tolist() == [3.0, -3.0]
    assert dequantize(np.array([-128, 0, 127], np.int8), 0.5, -3).tolist() == [-62.5, 1.5, 65.0]


def test_per_channel_matches_channel_by_channel() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 5)).astype(np.float32)
    scales, zps = [0.01, 0.02, 0.05], [0, 3, -4]
    q = quantize(x, scales, zps, "int8", axis=1)
    for c in range(3):
        assert np.array_equal(q[:, c], quantize(x[:, c], scales[c], zps[c], "int8"))
    back = dequantize(q, scales, zps, axis=-2)
    for c in range(3):
        assert np.array_equal(back[:, c], dequantize(q[:, c], scales[c], zps[c]))
    with pytest.raises(ValueError, match="need an axis"):
        quantize(x, scales, zps, "int8")


def test_saturation_stats() -> None:
    _, stats = quantize_with_stats([0.0, 1.0, 300.0, -300.0, np.nan], 1.0, 0, "int8")
    assert (stats.total, stats.saturated_high, stats.saturated_low, stats.nan) == (5, 1, 1, 1)
    assert stats.fraction == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="integer dtype"):
        quantize([1.0], 1.0, 0, "float32")

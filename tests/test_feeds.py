"""The Runner's input handling (``_feeds``) and batching strategy (``_batching``) without the
runtime: tensor descriptions from ``tflkit.load``, values worked out by hand."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT

import tflkit
from tflkit._batching import Batcher, join, slice_feeds
from tflkit._feeds import Feeds, real_values
from tflkit.errors import InputError, SaturationWarning
from tflkit.model import Quantization, Subgraph

# scale 0.5, zero point -3: q = clamp(round_half_away(x / 0.5) - 3, -128, 127)
HALF = Quantization(scales=(0.5,), zero_points=(-3,))


def _changed(sg: Subgraph, index: int, **changes: Any) -> Subgraph:
    """The subgraph with tensor ``index`` changed (dtype, shape, quantization ...)."""
    tensors = list(sg.tensors)
    tensors[index] = dataclasses.replace(tensors[index], **changes)
    return dataclasses.replace(sg, tensors=tuple(tensors))


def _int8_input() -> Subgraph:
    """mlp_int8's subgraph with its input int8 (-1, 6), scale 0.5, zero point -3."""
    sg = tflkit.load(FIXTURES / "mlp_int8.tflite").primary
    return _changed(sg, sg.inputs[0], shape=(1, 6), shape_signature=(-1, 6), quantization=HALF)


def test_quantized_input_rounds_half_away_saturates_and_warns_once() -> None:
    feeds = Feeds(_int8_input(), ["x"])
    # 1.25 / 0.5 = 2.5 -> 3 (away from zero) -> 3 - 3 = 0; -1.25 -> -3 - 3 = -6;
    # 0.75 -> 1.5 -> 2 - 3 = -1; 100 -> 200 - 3 = 197 -> 127; -100 -> -203 -> -128; NaN -> -3
    x = np.array([[1.25, -1.25, 0.75, 100.0, -100.0, np.nan]], dtype=np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, n = feeds.prepare(x, raw=False)
        feeds.prepare(x, raw=False)
    assert n == 1 and got[0].dtype == np.int8
    np.testing.assert_array_equal(got[0], [[0, -6, -1, 127, -128, -3]])
    stats = feeds.saturation["x"]
    assert (stats.total, stats.saturated_low, stats.saturated_high, stats.nan) == (6, 1, 1, 1)
    assert (
        [str(w.message) for w in caught if w.category is SaturationWarning]
        == [
            "input 'x': 50.0% of 6 values (1 NaN) fell outside what int8 can hold and were "
            "clipped; the model expects real values in [-62.5, 65]"  # ((-128 + 3) * 0.5, (127 + 3) * 0.5)
        ]
    )
    # The one-sample path converts the same way.
    one = feeds.convert_one(x)
    assert one is not None
    np.testing.assert_array_equal(one, got[0])
    # raw: the stored dtype, cast only where no value changes
    raw = feeds.prepare(np.array([[1, 2, 3, 4, 5, 6]]), raw=True)[0][0]
    np.testing.assert_array_equal(raw, [[1, 2, 3, 4, 5, 6]])
    assert raw.dtype == np.int8  # the stored dtype, not the int64 given


def test_dequantized_outputs_are_the_hand_values() -> None:
    t = _int8_input().input_tensors[0]
    # (q - (-3)) * 0.5
    got = real_values(t, np.array([0, -6, 127, -128], dtype=np.int8))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [1.5, -1.5, 65.0, -62.5])


def test_edge_quantization_counts_what_the_quantize_op_inside_clips() -> None:
    sg = tflkit.load(FIXTURES / "mlp_int8_float_io.tflite").primary
    inner = sg.edge_quantization(sg.inputs[0])
    assert inner is not None
    feeds = Feeds(_changed(sg, inner.index, quantization=HALF), ["x"])
    # saturation points: (-128 + 3 - 0.5) * 0.5 = -62.75 and (127 + 3 + 0.5) * 0.5 = 65.25
    x = np.zeros((1, 32))
    x[0, :5] = [-62.75, -62.7, 65.2, 65.25, 70.0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, _ = feeds.prepare(x, raw=False)
    assert got[0].dtype == np.float32  # the input stays float: the graph quantizes it
    stats = feeds.saturation["x"]
    assert (stats.total, stats.saturated_low, stats.saturated_high, stats.nan) == (32, 1, 2, 0)
    assert "QUANTIZE op inside the model" in str(caught[0].message)


def test_shapes_names_and_casts_are_checked() -> None:
    feeds = Feeds(_int8_input(), ["x"])
    with pytest.raises(InputError, match=r"with the batch on axis 0, got \(6,\); for one sample"):
        feeds.prepare(np.zeros(6), raw=False)
    with pytest.raises(InputError, match=r"expected shape \(-1, 6\), got \(2, 5\)"):
        feeds.prepare(np.zeros((2, 5)), raw=False)
    with pytest.raises(InputError, match="unknown input 'y'"):
        feeds.prepare({"y": np.zeros((1, 6))}, raw=False)
    sg = tflkit.load(FIXTURES / "mlp_int8.tflite").primary
    plain = Feeds(_changed(sg, sg.inputs[0], quantization=None), ["ids"])  # int8, not quantized
    with pytest.raises(InputError, match="got non-integer value 2.5"):
        plain.prepare(np.full((1, 32), 2.5), raw=False)
    with pytest.raises(InputError, match=r"values 1\.\.300 do not fit int8 \(-128\.\.127\)"):
        plain.prepare(np.array([[1] * 31 + [300]]), raw=False)
    assert plain.prepare(np.ones((2, 32)), raw=False)[0][0].dtype == np.int8


class _FakeSession:
    """Doubles the inputs; records the batch of each invoke."""

    def __init__(self) -> None:
        self.invokes: list[int] = []

    def invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        self.invokes.append(len(feeds[0]))
        return [feeds[0] * 2]

    def per_sample(self, feeds: list[np.ndarray], start: int, stop: int) -> list[np.ndarray]:
        self.invokes.extend([1] * (stop - start))
        return [feeds[0][start:stop] * 2]

    def run_signature(self, named: dict[str, np.ndarray]) -> dict[str, Any]:
        raise AssertionError("no signature here")


@pytest.mark.parametrize(
    ("fixed", "batch_size", "invokes"),
    [(None, 3, [3, 3, 1]), (1, None, [1] * 7), (None, None, [7])],
)
def test_batcher_chunks_pads_and_joins(
    fixed: int | None, batch_size: int | None, invokes: list[int]
) -> None:
    session = _FakeSession()
    batcher = Batcher(
        session,
        batching="batched",
        batch_size=batch_size,
        batch_axis=0,
        fixed=fixed,
        stateful=False,
        signature=None,
    )
    x = np.arange(14.0).reshape(7, 2)
    (out,) = batcher.run([x], 7)
    np.testing.assert_array_equal(out, x * 2)
    assert session.invokes == invokes
    assert batcher.mode == ("fixed-batch" if fixed else "batched")


def test_slice_pads_a_fixed_batch_and_join_stacks_scalars() -> None:
    a = np.arange(6).reshape(3, 2)
    padded, scalar = slice_feeds([a, np.array(5)], 2, 3, 2)
    np.testing.assert_array_equal(padded, [[4, 5], [0, 0]])
    assert scalar.ndim == 0
    joined = join([[np.ones((1, 2)), np.array(1.0)], [np.zeros((2, 2)), np.array(2.0)]])
    np.testing.assert_array_equal(joined[0], [[1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(joined[1], [1.0, 2.0])


def test_feeds_and_batching_do_not_import_the_runtime() -> None:
    code = (
        "import sys, warnings, numpy as np, tflkit\n"
        "from tflkit._feeds import Feeds\n"
        "import tflkit._batching\n"
        f"sg = tflkit.load({str(FIXTURES / 'mlp_int8.tflite')!r}).primary\n"
        "warnings.simplefilter('ignore')\n"
        "q, n = Feeds(sg, ['x']).prepare(np.zeros((2, 32)), raw=False)\n"
        "assert n == 2 and q[0].dtype == np.int8\n"
        "print(sorted(m for m in ('ai_edge_litert', 'tensorflow') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"

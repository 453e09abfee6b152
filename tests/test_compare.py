"""tflkit.compare / tflkit.benchmark against hand-written interpreter loops, numpy and the manifest."""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MANIFEST, Cli

import tflkit
from tflkit import InputError

MLP = ["mlp_float32", "mlp_dynamic_range", "mlp_float16", "mlp_int8"]
EVAL = MANIFEST["data"]["mlp_eval"]


def _path(name: str) -> str:
    return str(FIXTURES / f"{name}.tflite")


def _hand_outputs(path: str, x: np.ndarray) -> np.ndarray:
    """Our users' loop, written out: one sample at a time, quantize and dequantize by hand."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for s in range(len(x)):
        xs = x[s : s + 1]
        scale, zp = i["quantization"]
        if scale:
            info = np.iinfo(i["dtype"])
            xs = np.clip(np.round(xs / np.float32(scale)) + zp, info.min, info.max)
            xs = xs.astype(i["dtype"])
        interp.set_tensor(i["index"], xs)
        interp.invoke()
        y = interp.get_tensor(o["index"])[0]
        oscale, ozp = o["quantization"]
        rows.append((y.astype(np.float64) - ozp) * oscale if oscale else y.astype(np.float64))
    return np.stack(rows)


@pytest.fixture(scope="module")
def eval_set() -> tuple[np.ndarray, np.ndarray]:
    return np.load(FIXTURES / "mlp_eval_x.npy"), np.load(FIXTURES / "mlp_eval_y.npy")


@pytest.fixture(scope="module")
def mlp_comparison(eval_set: tuple[np.ndarray, np.ndarray]) -> tflkit.Comparison:
    x, y = eval_set
    return tflkit.compare([_path(n) for n in MLP], x, y, latency_repeat=5, throughput_repeat=2)


def test_sizes_are_the_file_sizes(mlp_comparison: tflkit.Comparison) -> None:
    sizes = [os.path.getsize(_path(n)) for n in MLP]
    assert [m.size_bytes for m in mlp_comparison.models] == sizes
    assert [m.size_ratio for m in mlp_comparison.models] == pytest.approx(
        [s / sizes[0] for s in sizes]
    )
    assert [m.kind for m in mlp_comparison.models] == [
        MANIFEST["models"][f"{n}.tflite"]["quantization_kind"] for n in MLP
    ]


def test_accuracy_equals_the_manifest(mlp_comparison: tflkit.Comparison) -> None:
    """fixtures/build.py measured each MLP's accuracy with LiteRT, one sample at a time."""
    truth = EVAL["top1_accuracy"]
    for name, m in zip(MLP, mlp_comparison.models, strict=True):
        assert m.accuracy == pytest.approx(truth[f"{name}.tflite"], abs=1 / EVAL["samples"])
        assert m.accuracy_delta == pytest.approx(m.accuracy - mlp_comparison.models[0].accuracy)
    assert mlp_comparison.models[0].accuracy > 0.5  # the MLP learned its task


def test_accuracy_computed_by_hand_on_a_small_labelled_set() -> None:
    rng = np.random.default_rng(7)
    x = rng.random((40, 32), dtype=np.float32)
    y = rng.integers(0, 10, 40)
    hand = [
        float(np.mean(_hand_outputs(_path(n), x).argmax(axis=1) == y))
        for n in ("mlp_float32", "mlp_int8")
    ]
    c = tflkit.compare([_path("mlp_float32"), _path("mlp_int8")], x, y, speed=False)
    assert [m.accuracy for m in c.models] == hand
    one_hot = np.eye(10)[y]
    c2 = tflkit.compare([_path("mlp_float32"), _path("mlp_int8")], x, one_hot, speed=False)
    assert [m.accuracy for m in c2.models] == hand


def test_agreement_and_errors_match_numpy_on_hand_loop_outputs() -> None:
    x = np.random.default_rng(3).random((64, 32), dtype=np.float32)
    ref = _hand_outputs(_path("mlp_float32"), x)
    c = tflkit.compare([_path(n) for n in MLP], x, speed=False)
    for name, m in zip(MLP, c.models, strict=True):
        out = _hand_outputs(_path(name), x)
        d = out - ref
        (e,) = m.outputs
        assert e.name == "output_0"
        assert e.top1_agreement == pytest.approx(np.mean(out.argmax(1) == ref.argmax(1)))
        assert e.max_abs == pytest.approx(np.abs(d).max(), abs=1e-6)
        assert e.mean_abs == pytest.approx(np.abs(d).mean(), abs=1e-7)
        assert e.rmse == pytest.approx(np.sqrt((d**2).mean()), abs=1e-7)
        assert e.mse == pytest.approx((d**2).mean(), rel=1e-3, abs=1e-12)
        if name == "mlp_float32":
            assert e.snr_db == math.inf
        else:
            assert e.snr_db == pytest.approx(10 * np.log10((ref**2).sum() / (d**2).sum()), abs=0.05)


def test_a_model_compared_with_itself() -> None:
    c = tflkit.compare([_path("mlp_int8"), _path("mlp_int8")], latency_repeat=3)
    for m in c.models:
        (e,) = m.outputs
        assert (e.top1_agreement, e.max_abs, e.mean_abs, e.rmse, e.snr_db) == (
            1.0,
            0.0,
            0.0,
            0.0,
            math.inf,
        )
        assert m.size_ratio == 1.0
    assert [m.name for m in c.models] == ["mlp_int8 [0]", "mlp_int8 [1]"]


def test_random_inputs_use_the_quantized_range_and_say_so() -> None:
    c = tflkit.compare([_path("mlp_float32"), _path("mlp_int8")], samples=32, speed=False)
    assert c.samples == 32 and "random" in c.data and "seed 0" in c.data
    rr = tflkit.load(_path("mlp_int8")).inputs[0].real_range
    assert rr is not None
    assert c.inputs == (f"keras_tensor: uniform real values in [{rr[0]:.4g}, {rr[1]:.4g}]",)


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (["mlp_float32", "multi_io"], "does not take the reference's inputs"),
        (["mlp_float32", "cnn_uint8_io"], "has shape"),
        (["multi_io", "mlp_float32"], "does not take the reference's inputs"),
    ],
)
def test_mismatched_models_are_refused(models: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        tflkit.compare([_path(n) for n in models], speed=False)


def test_bad_labels_and_reference_are_refused() -> None:
    x = np.zeros((4, 32), np.float32)
    with pytest.raises(InputError, match=r"labels must be class indices of shape \(4,\)"):
        tflkit.compare([_path("mlp_float32")], x, np.zeros(3), speed=False)
    with pytest.raises(
        InputError, match="one-hot labels have 32 columns, output 'output_0' has 10"
    ):
        tflkit.compare([_path("mlp_float32")], x, np.zeros((4, 32)), speed=False)
    with pytest.raises(InputError, match=r"labels run 0..10, output 'output_0' has 10 classes"):
        tflkit.compare([_path("mlp_float32")], x, np.array([0, 1, 2, 10]), speed=False)
    with pytest.raises(InputError, match="reference must be in 0..0"):
        tflkit.compare([_path("mlp_float32")], x, reference=1)


def test_per_tensor_errors_against_preserved_interpreter_tensors() -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    x = np.random.default_rng(5).random((16, 32), dtype=np.float32)
    c = tflkit.compare([_path("mlp_float32"), _path("mlp_int8")], x, speed=False, per_tensor=True)
    assert c.per_tensor is not None
    (p,) = c.per_tensor
    assert p.model == "mlp_int8" and p.samples == 16 and p.unmatched == 0

    def tensors(name: str, feed: np.ndarray) -> dict[str, np.ndarray]:
        interp = Interpreter(
            model_path=_path(name),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
        d = interp.get_input_details()[0]
        interp.resize_tensor_input(d["index"], list(feed.shape))
        interp.allocate_tensors()
        interp.set_tensor(d["index"], feed)
        interp.invoke()
        out = {}
        for t in interp.get_tensor_details():
            try:
                v = interp.get_tensor(t["index"])
            except ValueError:
                continue
            scale, zp = t["quantization"]
            out[t["name"]] = (v.astype(np.float64) - zp) * scale if scale else v
        return out

    d = tflkit.load(_path("mlp_int8")).inputs[0].quantization
    assert d is not None
    q = np.clip(np.round(x / np.float32(d.scale)) + d.zero_point, -128, 127).astype(np.int8)
    ref, got = tensors("mlp_float32", x), tensors("mlp_int8", q)
    assert [t.name for t in p.tensors] != []
    snrs = [t.snr_db for t in p.tensors]
    assert snrs == sorted(snrs)  # worst first
    for t in p.tensors:
        diff = got[t.name] - ref[t.name].astype(np.float64)
        assert t.rmse == pytest.approx(np.sqrt((diff**2).mean()), rel=1e-4, abs=1e-7)
        assert t.mse == pytest.approx((diff**2).mean(), rel=1e-3, abs=1e-12)
        assert t.max_abs == pytest.approx(np.abs(diff).max(), rel=1e-4, abs=1e-7)


def test_per_tensor_says_when_names_do_not_match() -> None:
    c = tflkit.compare(
        [_path("mlp_float32"), _path("mlp_fixed_batch1")], samples=4, speed=False, per_tensor=True
    )
    assert c.per_tensor is not None
    (p,) = c.per_tensor
    assert p.tensors == () and p.note is not None and "no tensor" in p.note
    assert any("names differ" in n for n in c.notes)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_a_png(tmp_path: Path, mlp_comparison: tflkit.Comparison) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "compare.png"
    mlp_comparison.plot(out)
    width, height = _png_size(out)
    assert width >= 600 and height >= 300
    assert out.stat().st_size > 10_000
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_markdown_and_dict(mlp_comparison: tflkit.Comparison) -> None:
    md = mlp_comparison.to_markdown()
    for name in MLP:
        size = os.path.getsize(_path(name))
        assert f"| {name} | {MANIFEST['models'][f'{name}.tflite']['quantization_kind']} |" in md
        assert f"| {size:,} |" in md
    d = mlp_comparison.to_dict()
    assert [m["size_bytes"] for m in d["models"]] == [os.path.getsize(_path(n)) for n in MLP]
    assert d["models"][0]["outputs"][0]["snr_db"] == "Infinity"  # the reference against itself


def test_benchmark_percentiles_are_positive_and_ordered() -> None:
    b = tflkit.benchmark(_path("mlp_int8"), batch_size=8, seconds=0.05)
    lat = b.latency
    assert 0 < lat.min_ms <= lat.p50_ms <= lat.p90_ms <= lat.p99_ms <= lat.max_ms
    assert lat.min_ms <= lat.mean_ms <= lat.max_ms
    assert b.calls >= 10 and b.samples_per_second > 0
    assert b.samples_per_second == pytest.approx(b.calls * 8 / b.seconds)
    assert b.batching in ("batched", "per-sample")
    assert b.peak_rss_bytes is None or b.peak_rss_bytes > 10 * 2**20


def test_invoke_is_apart_from_the_whole_call(mlp_comparison: tflkit.Comparison) -> None:
    ref = mlp_comparison.models[0]
    for m in mlp_comparison.models:
        assert m.invoke is not None and m.latency is not None and m.overhead_ms is not None
        assert 0 < m.invoke.min_ms <= m.invoke.p50_ms <= m.invoke.p90_ms
        assert math.isfinite(m.invoke.max_ms) and math.isfinite(m.latency.max_ms)
        # The whole call runs one invoke and the Runner's work around it; but the two are timed
        # apart, so their medians can come out either way on a loaded machine: that invoke's
        # median stays below the call's is measured in bench/speed_bench.py, not here.
        assert m.overhead_ms == pytest.approx(m.latency.p50_ms - m.invoke.p50_ms)
        assert ref.invoke is not None
        assert m.invoke_speedup == pytest.approx(ref.invoke.p50_ms / m.invoke.p50_ms)
    no_speed = tflkit.compare([_path("mlp_float32")], samples=4, speed=False).models[0]
    assert (no_speed.invoke, no_speed.invoke_speedup, no_speed.overhead_ms) == (None, None, None)


def test_batch_invoke_rate_is_the_runtime_alone(mlp_comparison: tflkit.Comparison) -> None:
    """The batch has a runtime-only rate beside the whole call's, as one sample has ``invoke``
    beside ``latency``; each with its ratio to the reference's, in the JSON document too."""
    ref = mlp_comparison.models[0]
    assert ref.invoke_samples_per_second is not None
    rows = mlp_comparison.to_dict()["models"]
    for m, row in zip(mlp_comparison.models, rows, strict=True):
        assert m.invoke_samples_per_second is not None and m.invoke_samples_per_second > 0
        assert m.invoke_throughput_speedup == pytest.approx(
            m.invoke_samples_per_second / ref.invoke_samples_per_second
        )
        assert row["invoke_samples_per_second"] == m.invoke_samples_per_second
        assert row["invoke_throughput_speedup"] == m.invoke_throughput_speedup
    assert ref.invoke_throughput_speedup == 1.0
    no_speed = tflkit.compare([_path("mlp_float32")], samples=4, speed=False).models[0]
    assert (no_speed.invoke_samples_per_second, no_speed.invoke_throughput_speedup) == (None, None)
    encode = tflkit.Runner(FIXTURES / "two_signatures.tflite", signature="encode")
    apart = tflkit.compare([encode, encode], samples=4, latency_repeat=1, throughput_repeat=1)
    assert all(m.samples_per_second and m.invoke_samples_per_second is None for m in apart.models)


class _CountingInterpreter:
    """The Runner's interpreter, with invoke() counted and advancing a fake clock by 1 s."""

    def __init__(self, interp: object, clock: list[float]) -> None:
        self._interp, self._clock, self.invokes = interp, clock, 0

    def invoke(self) -> None:
        self.invokes += 1
        self._clock[0] += 1.0
        self._interp.invoke()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._interp, name)


def test_time_invoke_times_the_invoke_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake clock moves 1 s per invoke and 100 s per quantize: only invokes may be timed."""
    import time

    from tflkit.quant import PerTensor

    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    quantized = []
    real_quantize = PerTensor.quantize

    def slow_quantize(self: PerTensor, a: np.ndarray) -> object:
        quantized.append(a.shape)
        clock[0] += 100.0
        return real_quantize(self, a)

    monkeypatch.setattr(PerTensor, "quantize", slow_quantize)
    runner = tflkit.Runner(_path("mlp_int8"))
    session = runner._session
    counting = _CountingInterpreter(session.interp, clock)
    session.interp = counting
    x = np.random.default_rng(0).random((1, 32), dtype=np.float32)
    times = runner.time_invoke(x, repeat=5, warmup=3)
    assert times == [1.0] * 5
    assert quantized == [(1, 32)]  # the input is quantized once, before the timed invokes
    assert counting.invokes == 1 + 3 + 5  # the preparing call, the warm-up, the timed ones
    # The interpreter really ran on the quantized sample: its output is the Runner's.
    out = counting.get_tensor(session.out_index[0])
    np.testing.assert_array_equal(
        out, tflkit.Runner(_path("mlp_int8")).predict(tflkit.quantize(x, *_qparams()), raw=True)
    )


def _qparams() -> tuple[float, int, type]:
    q = tflkit.load(_path("mlp_int8")).inputs[0].quantization
    assert q is not None
    return q.scale, q.zero_point, np.int8


def test_time_invoke_refuses_what_it_cannot_time_alone() -> None:
    with pytest.raises(InputError, match="fixed batch of 1, got 3 samples"):
        tflkit.Runner(_path("mlp_fixed_batch1")).time_invoke(np.zeros((3, 32)), repeat=1)
    encode = tflkit.Runner(FIXTURES / "two_signatures.tflite", signature="encode")
    with pytest.raises(tflkit.UnsupportedModelError, match="subgraph 1"):
        encode.time_invoke(np.zeros((1, 6), np.float32), repeat=1)
    b = tflkit.benchmark(encode, seconds=0.01)  # timed as a whole call, invoke unknown
    assert b.invoke is None and b.overhead_ms is None and b.calls >= 10
    c = tflkit.compare([encode, encode], samples=4, latency_repeat=2, throughput_repeat=1)
    assert all(m.latency is not None and m.invoke is None for m in c.models)
    assert "| two_signatures [0] |  | " in c.to_markdown()  # the invoke cells left empty


def test_invoke_plan_counts_the_invokes_of_one_call() -> None:
    from tflkit.speed import invoke_plan

    x = np.zeros((10, 32), np.float32)
    feed, k = invoke_plan(tflkit.Runner(_path("mlp_float32"), batching="per-sample"), x, 10)
    assert (feed.shape, k) == ((1, 32), 10)
    feed, k = invoke_plan(tflkit.Runner(_path("mlp_float32"), batching="batched"), x, 10)
    assert (feed.shape, k) == ((10, 32), 1)
    capped = tflkit.Runner(_path("mlp_float32"), batching="batched", batch_size=4)
    feed, k = invoke_plan(capped, x, 10)
    assert (feed.shape, k) == ((4, 32), 3)  # 4 + 4 + 2
    feed, k = invoke_plan(tflkit.Runner(_path("mlp_fixed_batch1")), x, 10)
    assert (feed.shape, k) == ((1, 32), 10)


def test_benchmark_reports_invoke_and_overhead() -> None:
    runner = tflkit.Runner(_path("mlp_int8"), batching="per-sample")
    b = tflkit.benchmark(runner, batch_size=3, seconds=0.05)
    assert b.invoke is not None and b.overhead_ms is not None
    assert 0 < b.invoke.min_ms <= b.invoke.p50_ms <= b.invoke.p99_ms <= b.invoke.max_ms
    assert math.isfinite(b.invoke.max_ms) and math.isfinite(b.latency.max_ms)
    # Three invokes are part of each call, but invoke against call is two separate timings:
    # bench/speed_bench.py compares them.
    assert b.overhead_ms == pytest.approx(b.latency.p50_ms - b.invoke.p50_ms)
    d = b.to_dict()
    assert d["invoke"]["p50_ms"] == b.invoke.p50_ms and d["overhead_ms"] == b.overhead_ms


def test_benchmark_fixed_batch_and_errors() -> None:
    b = tflkit.benchmark(_path("mlp_fixed_batch1"), batch_size=3, seconds=0.01)
    assert b.batching == "fixed-batch"
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        tflkit.benchmark(_path("mlp_int8"), batch_size=0)


def test_intermediates_of_a_fixed_batch_model_keep_the_first_batch() -> None:
    runner = tflkit.Runner(_path("mlp_fixed_batch1"))
    x = np.random.default_rng(0).random((5, 32), dtype=np.float32)
    got = runner.intermediates(x)
    out = got["StatefulPartitionedCall_1:0"]
    assert out.shape == (1, 10)
    want = _hand_outputs(_path("mlp_fixed_batch1"), x[:1])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_assert_agrees_passes_and_fails_with_measured_values(
    eval_set: tuple[np.ndarray, np.ndarray],
) -> None:
    from tflkit.testing import assert_agrees

    x, y = eval_set
    i8, f32 = _path("mlp_int8"), _path("mlp_float32")
    assert_agrees(i8, f32, x, y, min_top1_agreement=0.99, max_accuracy_drop=0.01, min_snr_db=30)
    ref, out = _hand_outputs(f32, x[:200]), _hand_outputs(i8, x[:200])
    snr = 10 * np.log10((ref**2).sum() / ((out - ref) ** 2).sum())
    agree = np.mean(out.argmax(1) == ref.argmax(1))
    with pytest.raises(AssertionError) as info:
        assert_agrees(i8, f32, x[:200], min_snr_db=60, min_top1_agreement=1.0, max_abs_error=1e-3)
    text = str(info.value)
    assert "mlp_int8 does not agree with mlp_float32 on 200 samples" in text
    assert f"SNR {snr:.1f} dB < 60 dB" in text
    assert f"top-1 agreement {agree:.2%} < 100.00%" in text
    assert f"max abs error {np.abs(out - ref).max():.4g} > 0.001" in text
    assert "(3 problems)" in text
    with pytest.raises(ValueError, match="at least one limit"):
        assert_agrees(i8, f32)


# ------------------------------------------------------------------ reference outputs as arrays

# The output name the arrays are keyed by: the signature's, as build.py read it from the file.
OUT = MANIFEST["models"]["mlp_float32.tflite"]["signatures"]["serving_default"]["outputs"][0]


@pytest.fixture(scope="module")
def hand_refs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64 seeded inputs, and the float32 and int8 MLPs' outputs on them by hand-written loops."""
    x = np.random.default_rng(5).random((64, 32), dtype=np.float32)
    return x, _hand_outputs(_path("mlp_float32"), x), _hand_outputs(_path("mlp_int8"), x)


def test_against_reference_outputs_equals_numpy_on_hand_loop_outputs(
    hand_refs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, f32, i8 = hand_refs
    c = tflkit.compare(
        [_path("mlp_float32"), _path("mlp_int8")], x, reference_outputs=f32, speed=False
    )
    assert c.reference_outputs == "given arrays"
    (own,), (q,) = c.models[0].outputs, c.models[1].outputs
    # the float32 model against its own outputs, computed one sample at a time
    assert (own.name, own.top1_agreement, own.snr_db) == (OUT, 1.0, math.inf)
    d = i8 - f32
    assert q.top1_agreement == pytest.approx(np.mean(i8.argmax(1) == f32.argmax(1)))
    assert q.mse == pytest.approx((d**2).mean(), rel=1e-3, abs=1e-12)
    assert q.max_abs == pytest.approx(np.abs(d).max(), abs=1e-6)
    assert q.snr_db == pytest.approx(10 * np.log10((f32**2).sum() / (d**2).sum()), abs=0.05)


def test_the_reference_model_itself_is_measured_against_the_given_outputs(
    hand_refs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Given the int8 model's outputs, the float32 reference model gets the errors, not zeros;
    size and accuracy stay relative to the reference model."""
    x, f32, i8 = hand_refs
    y = f32.argmax(1)
    c = tflkit.compare(
        [_path("mlp_float32"), _path("mlp_int8")], x, y, reference_outputs={OUT: i8}, speed=False
    )
    (e,) = c.models[0].outputs
    assert e.mse == pytest.approx(((f32 - i8) ** 2).mean(), rel=1e-3, abs=1e-12)
    assert e.snr_db == pytest.approx(
        10 * np.log10((i8**2).sum() / ((f32 - i8) ** 2).sum()), abs=0.05
    )
    assert c.models[1].outputs[0].snr_db == math.inf  # the int8 model against its own outputs
    assert c.models[0].accuracy == 1.0  # labels are the float32 model's argmax
    assert c.models[1].size_ratio == pytest.approx(
        os.path.getsize(_path("mlp_int8")) / os.path.getsize(_path("mlp_float32"))
    )


def test_reference_outputs_from_files_and_cut_with_samples(
    tmp_path: Path, hand_refs: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    x, f32, i8 = hand_refs
    npz, npy = tmp_path / "ref.npz", tmp_path / "ref.npy"
    np.savez(npz, **{OUT: f32})
    np.save(npy, f32)
    models = [_path("mlp_int8")]
    for source in (npz, str(npy)):
        c = tflkit.compare(models, x, reference_outputs=source, speed=False, samples=16)
        assert c.reference_outputs == os.fspath(source) and c.samples == 16
        d = (i8 - f32)[:16]  # the first 16 rows of the arrays, as of the data
        assert c.models[0].outputs[0].mse == pytest.approx((d**2).mean(), rel=1e-3, abs=1e-12)
    assert (
        f"Output '{OUT}' against reference outputs {npz}"
        in tflkit.compare(models, x, reference_outputs=npz, speed=False).to_markdown()
    )


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (lambda f: f[:, :9], r"output 'output_0': expected shape \(64, 10\) .*got \(64, 9\)"),
        (lambda f: f[:50], "output 'output_0' has 50 samples, the data has 64"),
        (lambda f: f[0, 0], "output 'output_0' has no sample axis, the data has 64"),
        (lambda f: {"logits": f, OUT: f}, "no output named 'logits'; the outputs are 'output_0'"),
        (lambda f: f.astype(str), "output 'output_0': expected numbers, got <U"),
    ],
)
def test_reference_outputs_that_do_not_fit_are_refused(
    hand_refs: tuple[np.ndarray, np.ndarray, np.ndarray],
    refs: Callable[[np.ndarray], Any],
    message: str,
) -> None:
    x, f32, _ = hand_refs
    with pytest.raises(InputError, match=message):
        tflkit.compare([_path("mlp_int8")], x, reference_outputs=refs(f32), speed=False)


def test_one_array_for_a_model_of_several_outputs_is_refused() -> None:
    r = tflkit.Runner(str(FIXTURES / "multi_io.tflite"))
    assert len(r.output_names) > 1
    inputs = zip(r.input_names, r.inputs, strict=True)
    x = {n: np.zeros((2, *t.shape[1:]), np.float32) for n, t in inputs}
    many = f"one array given, the models have {len(r.output_names)} outputs"
    with pytest.raises(InputError, match=many):
        tflkit.compare([r], x, reference_outputs=np.zeros((2, 3)), speed=False)
    with pytest.raises(InputError, match=f"no array for output {r.output_names[1]!r}"):
        tflkit.compare([r], x, reference_outputs={r.output_names[0]: np.zeros((2, 3))}, speed=False)


def test_cli_reference_outputs(
    tmp_path: Path, hand_refs: tuple[np.ndarray, np.ndarray, np.ndarray], cli: Cli
) -> None:
    import json
    from importlib import resources

    import jsonschema

    x, f32, i8 = hand_refs
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "ref.npz", **{OUT: f32})
    args = ["compare", _path("mlp_float32"), _path("mlp_int8"), "-d", str(tmp_path / "x.npy")]
    args += ["--reference-outputs", str(tmp_path / "ref.npz"), "--no-speed"]
    result = cli.invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    schema = resources.files("tflkit").joinpath("schemas/compare.schema.json").read_text()
    jsonschema.Draft202012Validator(json.loads(schema)).validate(doc)
    assert doc["reference_outputs"] == str(tmp_path / "ref.npz")
    assert doc["models"][0]["outputs"][0]["snr_db"] == "Infinity"
    mse = doc["models"][1]["outputs"][0]["mse"]
    assert mse == pytest.approx(((i8 - f32) ** 2).mean(), rel=1e-3, abs=1e-12)

    # The files named relative to the working directory, so that the title's length does not
    # depend on the machine's temporary path.
    relative = [*args[:4], "x.npy", "--reference-outputs", "ref.npz", "--no-speed"]
    human = cli.invoke(*relative, cwd=tmp_path)
    assert human.exit_code == 0 and max(map(len, human.stdout.splitlines())) <= 80
    assert not human.broken, human.broken  # no name, number or path broken to fit
    flat = " ".join(human.stdout.split())  # a long title may wrap between words
    assert f"Output '{OUT}' against reference outputs ref.npz" in flat

    np.savez(tmp_path / "bad.npz", **{OUT: f32[:, :3]})
    bad = cli.invoke(*args, "--reference-outputs", str(tmp_path / "bad.npz"))
    assert bad.exit_code == 2 and bad.stdout == ""
    (line,) = bad.stderr.splitlines()
    assert line.startswith("tflkit: error: reference outputs: output 'output_0': expected shape")

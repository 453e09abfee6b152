"""tflkit.Runner against a hand-written LiteRT interpreter loop (set_tensor / invoke / get_tensor)."""

from __future__ import annotations

import pickle
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MODELS

import tflkit
from tflkit import InputError, SaturationWarning, UnsupportedModelError

RUNNABLE = sorted(
    n
    for n, m in MODELS.items()
    if m["runs_in_litert"]
    and m["family"] != "no_batch"  # tests/test_batch_axis.py
    and not m["stateful"]
    and not m["signatures"].keys() - {"serving_default"}
)
NP = {
    "float32": np.float32,
    "float16": np.float16,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


def _interp(path: Path) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path))


def _raw_inputs(path: Path, batch: int, seed: int = 0) -> list[np.ndarray]:
    """Stored-dtype inputs in get_input_details() order, from what the interpreter reports."""
    rng = np.random.default_rng(seed)
    out = []
    for d in _interp(path).get_input_details():
        sig = list(d["shape_signature"])
        shape = [batch if (i == 0 and s in (-1, 1)) else s for i, s in enumerate(sig)]
        dtype = np.dtype(d["dtype"])
        if len(sig) == 0:
            out.append(np.array(3, dtype))  # scalar inputs (loop counts)
        elif dtype.kind == "f":
            out.append(rng.random(shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype))
    return out


def _reference(path: Path, raw_inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Our users' loop, done right: resize when the batch is dynamic, else one sample at a time."""
    interp = _interp(path)
    details = interp.get_input_details()
    dynamic = all(d["shape_signature"][0] == -1 for d in details if len(d["shape_signature"]))
    batched = [x for x in raw_inputs if x.ndim]
    n = batched[0].shape[0]
    if dynamic:
        for d, x in zip(details, raw_inputs, strict=True):
            interp.resize_tensor_input(d["index"], list(x.shape))
        interp.allocate_tensors()
        for d, x in zip(details, raw_inputs, strict=True):
            interp.set_tensor(d["index"], x)
        interp.invoke()
        return [interp.get_tensor(o["index"]) for o in interp.get_output_details()]
    interp.allocate_tensors()
    rows: list[list[np.ndarray]] = []
    for i in range(n):
        for d, x in zip(details, raw_inputs, strict=True):
            interp.set_tensor(d["index"], x[i : i + 1] if x.ndim else x)
        interp.invoke()
        rows.append([interp.get_tensor(o["index"]) for o in interp.get_output_details()])
    return [np.concatenate(col) for col in zip(*rows, strict=True)]


def _real(t: tflkit.Tensor, q: np.ndarray) -> np.ndarray:
    """Real values a quantized tensor holds, by hand: (q - zero_point) * scale."""
    assert t.quantization is not None
    s, z = t.quantization.scales[0], t.quantization.zero_points[0]
    return ((q.astype(np.float64) - z) * s).astype(np.float32)


def _as_list(result: Any, runner: tflkit.Runner) -> list[np.ndarray]:
    if isinstance(result, dict):
        assert list(result) == list(runner.output_names)
        return list(result.values())
    return [result]


@pytest.mark.parametrize("batch", [1, 3, 64])
@pytest.mark.parametrize("name", RUNNABLE)
def test_predict_equals_the_reference_loop(name: str, batch: int) -> None:
    path = FIXTURES / name
    runner = tflkit.Runner(path)
    raw_in = _raw_inputs(path, batch)
    want = _reference(path, raw_in)

    got_raw = _as_list(runner.predict(list(raw_in), raw=True), runner)
    for g, w in zip(got_raw, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)

    # Real values in: quantized inputs get their exact real values, which must quantize back
    real_in = [
        _real(t, x) if (t.quantization and x.dtype.kind in "iu") else x
        for t, x in zip(runner.inputs, raw_in, strict=True)
    ]
    got = _as_list(runner.predict(real_in if len(real_in) > 1 else real_in[0]), runner)
    for t, g, w in zip(runner.outputs, got, want, strict=True):
        if t.quantization and w.dtype.kind in "iu":
            np.testing.assert_array_equal(g, _real(t, w))
            assert g.dtype == np.float32
        elif w.dtype.kind == "f":
            np.testing.assert_array_equal(g, w.astype(np.float32))
            assert g.dtype == np.float32
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("mode", ["batched", "per-sample", "auto"])
def test_batching_modes_equal_the_reference_loop(mode: str) -> None:
    path = FIXTURES / "mlp_int8.tflite"
    raw = _raw_inputs(path, 50, seed=3)
    (want,) = _reference(path, raw)
    runner = tflkit.Runner(path, batching=mode)
    np.testing.assert_array_equal(runner.predict(raw[0], raw=True), want)
    chunked = tflkit.Runner(path, batching=mode, batch_size=7)
    np.testing.assert_array_equal(chunked.predict(raw[0], raw=True), want)
    assert runner.batching == mode if mode != "auto" else runner.batching != "auto"


def test_dict_list_and_single_array_inputs_and_signature_names() -> None:
    path = FIXTURES / "multi_io.tflite"
    runner = tflkit.Runner(path)
    details = _interp(path).get_input_details()
    assert [t.index for t in runner.inputs] == [d["index"] for d in details]  # interpreter order
    assert set(runner.input_names) == {"features", "mask"}
    rng = np.random.default_rng(0)
    feats, mask = rng.random((5, 8), dtype=np.float32), rng.random((5, 4), dtype=np.float32)
    by_name = runner.predict({"features": feats, "mask": mask})
    ordered = [feats if n == "features" else mask for n in runner.input_names]
    by_list = runner.predict(ordered)
    assert list(by_name) == list(runner.output_names)  # get_output_details() order
    assert set(by_name) == {"logits", "score"}
    for k in by_name:
        np.testing.assert_array_equal(by_name[k], by_list[k])
    tensor_names = {
        t.name: (feats if n == "features" else mask)
        for t, n in zip(runner.inputs, runner.input_names, strict=True)
    }
    np.testing.assert_array_equal(runner.predict(tensor_names)["logits"], by_name["logits"])
    # logits = features @ w1 (by hand from the constant in the file)
    w1 = next(
        t for t in runner.model.primary.tensors if t.is_constant and t.shape == (3, 8)
    ).numpy()
    np.testing.assert_allclose(by_name["logits"], feats @ w1.T, rtol=1e-5)


def test_signatures() -> None:
    path = FIXTURES / "two_signatures.tflite"
    x = np.random.default_rng(0).random((4, 6), dtype=np.float32)
    enc = tflkit.Runner(path, signature="encode")
    dec = tflkit.Runner(path, signature="decode")
    ref = _interp(path)
    want = ref.get_signature_runner("encode")(x=x)["code"]
    code = enc.predict(x)
    np.testing.assert_array_equal(code, want)
    np.testing.assert_array_equal(
        dec.predict(code), ref.get_signature_runner("decode")(code=want)["x_hat"]
    )
    assert (enc.input_names, enc.output_names) == (("x",), ("code",))
    default = tflkit.Runner(path)  # no signature chosen: subgraph 0, named by its signature
    assert default.input_names == (
        MODELS["two_signatures.tflite"]["signatures"]["decode"]["inputs"][0],
    )
    with pytest.raises(InputError, match="no signature 'nope'"):
        tflkit.Runner(path, signature="nope")


def test_fixed_batch_loop_with_a_scalar_input() -> None:
    path = FIXTURES / "while_loop.tflite"
    runner = tflkit.Runner(path)
    x = np.random.default_rng(0).random((5, 1, 4), dtype=np.float32)[:, 0]
    y = runner.predict([x, np.array(3, np.int32)])
    # y_{k+1} = 0.5 y_k + x, y_0 = x, three times, by hand
    want = x.copy()
    for _ in range(3):
        want = 0.5 * want + x
    np.testing.assert_allclose(y, want, rtol=1e-6)
    assert runner.batching == "fixed-batch"
    np.testing.assert_array_equal(runner.predict([x, 3.0]), y)  # integral float -> int32
    with pytest.raises(InputError, match="non-integer value 2.5"):
        runner.predict([x, 2.5])


def test_stateful_model_runs_in_order_and_resets() -> None:
    runner = tflkit.Runner(FIXTURES / "stateful_counter.tflite")
    ones = np.ones((3, 4), np.float32)
    # constructing never invoked: the first sample sees the initial (zero) total
    np.testing.assert_array_equal(runner.predict(ones)[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(runner.predict(ones[:1])[:, 0], [4])
    runner.reset()
    np.testing.assert_array_equal(runner.predict(ones[:1])[:, 0], [1])


def test_int8_mlp_agrees_with_float32() -> None:
    x = np.random.default_rng(42).random((1000, 32), dtype=np.float32)
    f32 = tflkit.Runner(FIXTURES / "mlp_float32.tflite").predict(x)
    i8 = tflkit.Runner(FIXTURES / "mlp_int8.tflite").predict(x)
    f16 = tflkit.Runner(FIXTURES / "mlp_float16.tflite").predict(x)
    top2 = np.sort(f32, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 / 256  # more than two int8 output steps apart
    agree = f32.argmax(1) == i8.argmax(1)
    assert clear.sum() > 100 and agree[clear].mean() >= 0.99
    # The MLP is trained (81% on fixtures/mlp_eval_*.npy): its int8 probabilities differ from
    # float32 by half an output step (1/256) on average, 99% within 0.02; a few of the 10,000 by up
    # to ~0.03, where the input's 1/255 steps move a confident logit.
    err = np.abs(i8 - f32)
    assert err.mean() <= 1 / 256 and np.quantile(err, 0.99) <= 0.02 and err.max() <= 0.05
    assert np.abs(f16 - f32).max() <= 1e-3


def test_saturation_warns_once_naming_the_input_and_range() -> None:
    runner = tflkit.Runner(FIXTURES / "mlp_int8.tflite")
    pixels = np.random.default_rng(0).integers(0, 256, (20, 32)).astype(np.float32)
    with pytest.warns(
        SaturationWarning, match=r"input 'keras_tensor': .* expects real values in \[0, 0.99"
    ):
        runner.predict(pixels)
    assert runner.saturation["keras_tensor"].fraction > 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner.predict(pixels)  # once per input
        runner.predict(pixels / 255)


def test_input_errors() -> None:
    mlp = tflkit.Runner(FIXTURES / "mlp_float32.tflite")
    with pytest.raises(
        InputError,
        match=r"expected shape \(-1, 32\) with the batch on axis 0, got \(32,\); for one sample pass x\[None\]",
    ):
        mlp.predict(np.zeros(32))
    with pytest.raises(
        InputError,
        match=r"input 'keras_tensor' \(index 0\): expected shape \(-1, 32\), got \(8, 31\)",
    ):
        mlp.predict(np.zeros((8, 31)))
    with pytest.raises(InputError, match="expected rank 2"):
        mlp.predict(np.zeros((2, 3, 32)))
    with pytest.raises(InputError, match="unknown input 'x'"):
        mlp.predict({"x": np.zeros((1, 32))})
    multi = tflkit.Runner(FIXTURES / "multi_io.tflite")
    with pytest.raises(InputError, match="expected 2 inputs"):
        multi.predict([np.zeros((1, 8))] * 3)
    with pytest.raises(InputError, match="missing input"):
        multi.predict({"features": np.zeros((1, 8))})
    with pytest.raises(InputError, match="pass a list or a dict"):
        multi.predict(np.zeros((1, 8)))
    with pytest.raises(InputError, match="different batch sizes"):
        multi.predict({"features": np.zeros((2, 8)), "mask": np.zeros((3, 4))})
    with pytest.raises(InputError, match=r"strings \(<U1\), not numbers"):
        mlp.predict(np.array([["a"] * 32]))
    assert isinstance(InputError("x"), ValueError)


def test_raw_int8_in_and_out() -> None:
    runner = tflkit.Runner(FIXTURES / "mlp_int8.tflite")
    q = np.zeros((2, 32), np.int8)
    out = runner.predict(q, raw=True)
    assert out.dtype == np.int8
    with pytest.raises(InputError, match="do not fit int8"):
        runner.predict(np.full((1, 32), 300), raw=True)


def test_unsupported_flex_model_names_the_op() -> None:
    with pytest.raises(
        UnsupportedModelError,
        match=r"operator 0 \(CUSTOM 'FlexCumprod'\): Flex ops need the TensorFlow runtime",
    ):
        tflkit.Runner(FIXTURES / "flex_cumprod.tflite")


def test_empty_batch_keeps_trailing_shape() -> None:
    out = tflkit.Runner(FIXTURES / "mlp_int8.tflite").predict(np.zeros((0, 32), np.float32))
    assert out.shape == (0, 10) and out.dtype == np.float32


def test_pickle_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(5).random((9, 32), dtype=np.float32)
    for source in (FIXTURES / "mlp_int8.tflite", (FIXTURES / "mlp_int8.tflite").read_bytes()):
        runner = tflkit.Runner(source)
        want = runner.predict(x)
        clone = pickle.loads(pickle.dumps(runner))
        np.testing.assert_array_equal(clone.predict(x), want)


def test_threads_share_a_runner() -> None:
    runner = tflkit.Runner(FIXTURES / "mlp_int8.tflite")
    rng = np.random.default_rng(7)
    batches = [rng.random((int(rng.integers(1, 40)), 32), dtype=np.float32) for _ in range(8)]
    want = [tflkit.Runner(FIXTURES / "mlp_int8.tflite").predict(b) for b in batches]
    got: list[Any] = [None] * 8
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(20):
            got[i] = runner.predict(batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _predict_in_child(runner: tflkit.Runner, x: np.ndarray) -> np.ndarray:
    return runner.predict(x)  # type: ignore[return-value]


def test_runner_works_in_a_process_pool() -> None:
    import concurrent.futures
    import multiprocessing

    runner = tflkit.Runner(FIXTURES / "mlp_int8.tflite")
    x = np.random.default_rng(2).random((16, 32), dtype=np.float32)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        got = pool.submit(_predict_in_child, runner, x).result(timeout=120)
    np.testing.assert_array_equal(got, runner.predict(x))

"""Models without a batch axis get the runtime's answer, never a silently different one.

Fixtures nb_*.tflite (fixtures/build.py, family "no_batch") reproduce the models where axis 0 is
not a count of samples: PAD (2, 4), UNPACK (2, 10) and (2, 3, 4), GATHER_ND, conv + FC on
(3, 4, 4, 1), ADD + RESHAPE of two inputs, a constant output, broadcasting inputs, a scatter
update with its indices, TILE with its multiples, a 0-sized input, a streaming step with its
state. Truth: the same arrays through set_tensor / invoke / get_tensor by hand, and the output
shapes the interpreter gave when build.py made them (MANIFEST.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MODELS, Cli

import tflkit
from tflkit import InputError

NO_BATCH = sorted(n for n, m in MODELS.items() if m["family"] == "no_batch")


def _interp(path: Path) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path))


def _arrays(path: Path, seed: int = 0) -> list[np.ndarray]:
    """Arrays at the stored input shapes, in get_input_details() order (valid indices and
    multiples for integer inputs)."""
    rng = np.random.default_rng(seed)
    out = []
    for d in _interp(path).get_input_details():
        dtype = np.dtype(d["dtype"])
        if dtype.kind == "f":
            out.append(rng.standard_normal(d["shape"]).astype(dtype))
        else:
            out.append(rng.integers(0, 2, d["shape"]).astype(dtype))
    return out


def _by_hand(path: Path, arrays: list[np.ndarray]) -> list[np.ndarray]:
    interp = _interp(path)
    details = interp.get_input_details()
    for d, a in zip(details, arrays, strict=True):
        if tuple(d["shape"]) != a.shape:
            interp.resize_tensor_input(d["index"], list(a.shape))
    interp.allocate_tensors()
    for d, a in zip(details, arrays, strict=True):
        interp.set_tensor(d["index"], a)
    interp.invoke()
    return [interp.get_tensor(o["index"]) for o in interp.get_output_details()]


def _outputs(result: Any) -> list[np.ndarray]:
    return list(result.values()) if isinstance(result, dict) else [result]


def test_the_fixtures_have_the_shapes_of_the_issue() -> None:
    # the table of the issue, as the interpreter reported it when the fixtures were built
    expected = {
        "nb_pad.tflite": [[4, 8]],
        "nb_unpack_2x10.tflite": [[10], [10]],
        "nb_unpack_2x3x4.tflite": [[3, 4], [3, 4]],
        "nb_gather_nd.tflite": [[3, 4, 1]],
        "nb_conv_fc.tflite": [[48]],
        "nb_add_reshape.tflite": [[60]],
        "nb_constant_output.tflite": [[2], [4]],
    }
    for name, shapes in expected.items():
        assert MODELS[name]["runtime_output_shapes"] == shapes, name


def _rule(entry: dict[str, Any]) -> int | None:
    """The documented rule, applied by hand to what the interpreter reported (the manifest)."""
    lead = [(i["shape_signature"][0], i["shape"][0]) for i in entry["inputs"] if i["shape"]]
    return 0 if lead and all(sig == -1 or stored == 1 for sig, stored in lead) else None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batch_axis_follows_the_documented_rule(name: str) -> None:
    if not MODELS[name]["runs_in_litert"] and MODELS[name]["family"] != "dynamic":
        pytest.skip("the runtime cannot open it")
    entry = MODELS[name]
    assert tflkit.load(FIXTURES / name).primary.batch_axis == _rule(entry)
    if entry["family"] == "no_batch":
        assert _rule(entry) is None


@pytest.mark.parametrize("name", NO_BATCH)
def test_predict_returns_what_the_runtime_returns(name: str) -> None:
    path = FIXTURES / name
    runner = tflkit.Runner(path)
    assert runner.batch_axis is None and runner.batching == "none"
    arrays = _arrays(path)
    want = _by_hand(path, arrays)
    for raw in (True, False):
        got = _outputs(runner.predict(arrays if len(arrays) > 1 else arrays[0], raw=raw))
        assert [g.shape for g in got] == [w.shape for w in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    assert [list(w.shape) for w in want] == MODELS[name]["runtime_output_shapes"] or name in (
        "nb_tile.tflite",  # output shape from the multiples, which differ here
        "nb_scatter.tflite",
    )


@pytest.mark.parametrize("name", NO_BATCH)
def test_a_batch_of_inputs_is_refused_by_name_never_split(name: str) -> None:
    path = FIXTURES / name
    runner = tflkit.Runner(path)
    arrays = _arrays(path)
    stacked = [np.stack([a, a]) for a in arrays]  # what a batch of two would look like
    with pytest.raises(InputError) as err:
        runner.predict(stacked if len(stacked) > 1 else stacked[0])
    message = str(err.value)
    first = runner.inputs[0]
    assert f"input {runner.input_names[0]!r} (index 0)" in message
    assert "no batch axis" in message and "one array of that shape per call" in message
    assert str(tuple(first.shape_signature)) in message


def test_wrong_shape_names_input_expected_and_given() -> None:
    runner = tflkit.Runner(FIXTURES / "nb_pad.tflite")
    with pytest.raises(
        InputError,
        match=r"input 'x' \(index 0\): expected shape \(2, 4\), got \(8, 4\) \(the model has no "
        r"batch axis: its inputs are \(2, 4\)\)$",
    ):
        runner.predict(np.zeros((8, 4), np.float32))


def test_tile_output_shape_comes_from_the_data() -> None:
    path = FIXTURES / "nb_tile.tflite"
    runner = tflkit.Runner(path)
    names = list(runner.input_names)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    feed = {"x": x, "multiples": np.array([3, 2], np.int32)}
    got = runner.predict(feed)
    want = _by_hand(path, [feed[n] for n in names])
    np.testing.assert_array_equal(got, want[0])
    np.testing.assert_array_equal(got, np.tile(x, (3, 2)))  # and by hand with numpy


def test_constant_output_comes_back_as_the_runtime_gives_it() -> None:
    path = FIXTURES / "nb_constant_output.tflite"
    got = tflkit.Runner(path).predict(np.array([1.5, -2.0], np.float32))
    assert isinstance(got, dict)
    table = next(v for v in got.values() if v.shape == (4,))
    np.testing.assert_array_equal(table, [1.0, 2.0, 3.0, 4.0])  # tf.constant in build.py


def test_streaming_step_feeds_the_state_back() -> None:
    path = FIXTURES / "nb_streaming_state.tflite"
    runner = tflkit.Runner(path)
    rng = np.random.default_rng(3)
    state = np.zeros((2, 64), np.float32)
    hand_state = state.copy()
    for _ in range(3):
        frame = rng.standard_normal((1, 40)).astype(np.float32)
        out = runner.predict({"frame": frame, "state": state})
        assert isinstance(out, dict)
        state = out["new_state"]
        names = list(runner.input_names)
        feeds = {"frame": frame, "state": hand_state}
        hand = dict(
            zip(runner.output_names, _by_hand(path, [feeds[n] for n in names]), strict=True)
        )
        hand_state = hand["new_state"]
        np.testing.assert_array_equal(out["output"], hand["output"])
    np.testing.assert_array_equal(state, hand_state)


# ------------------------------------------------------------------ still batched


def test_batch_one_inputs_of_other_shapes_are_a_batch_axis() -> None:
    # two inputs of batch 1, (1, 335, 80) and (1, 10): a batch axis, run sample by sample
    path = FIXTURES / "nb_conformer_like.tflite"
    runner = tflkit.Runner(path)
    assert runner.batch_axis == 0 and runner.batching == "fixed-batch"
    rng = np.random.default_rng(5)
    feats = rng.standard_normal((3, 335, 80)).astype(np.float32)
    lengths = rng.standard_normal((3, 10)).astype(np.float32)
    got = runner.predict({"features": feats, "lengths": lengths})
    names = list(runner.input_names)
    for s in range(3):
        feeds = {"features": feats[s : s + 1], "lengths": lengths[s : s + 1]}
        (want,) = _by_hand(path, [feeds[n] for n in names])
        np.testing.assert_array_equal(got[s : s + 1], want)


@pytest.mark.parametrize(
    ("name", "batching"),
    [
        ("mlp_float32.tflite", {"batched", "per-sample"}),
        ("mlp_fixed_batch1.tflite", {"fixed-batch"}),
    ],
)
def test_classic_models_keep_their_batch_axis(name: str, batching: set[str]) -> None:
    path = FIXTURES / name
    runner = tflkit.Runner(path)
    assert runner.batch_axis == 0
    x = np.random.default_rng(6).random((5, 32), dtype=np.float32)
    got = runner.predict(x)
    assert runner.batching in batching
    for s in range(5):
        (want,) = _by_hand(path, [x[s : s + 1]])
        np.testing.assert_allclose(got[s : s + 1], want, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ inspect and run say so


def test_inspect_and_run_say_which_case_applies(tmp_path: Path, cli: Cli) -> None:
    text = cli.invoke("inspect", str(FIXTURES / "nb_pad.tflite")).stdout
    assert "batch axis    none: each input is fed at its own shape" in text
    text = cli.invoke("inspect", str(FIXTURES / "mlp_int8.tflite")).stdout
    assert "batch axis    0, dynamic" in text
    doc = json.loads(cli.invoke("inspect", "--json", str(FIXTURES / "nb_pad.tflite")).stdout)
    assert doc["subgraphs"][0]["batch_axis"] is None

    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    result = cli.invoke(
        "run", str(FIXTURES / "nb_pad.tflite"), "-i", str(tmp_path / "x.npy"), "--json"
    )
    summary = json.loads(result.stdout)
    assert summary["batch_axis"] is None and summary["samples"] == 1
    assert summary["outputs"][0]["shape"] == [4, 8]
    human = cli.invoke("run", str(FIXTURES / "nb_pad.tflite"), "-i", str(tmp_path / "x.npy"))
    assert "one call" in human.stdout and "no batch axis" in human.stdout


def test_compare_and_benchmark_run_a_model_without_batch_axis_in_one_call() -> None:
    path = FIXTURES / "nb_broadcast.tflite"
    c = tflkit.compare([path, path], speed=True, latency_repeat=3, throughput_repeat=1)
    assert c.samples == 1 and all(r.batching == "none" for r in c.models)
    assert all(o.max_abs == 0 for o in c.models[1].outputs)
    b = tflkit.benchmark(path, seconds=0.02, warmup=1)
    assert b.batching == "none" and b.calls >= 1
    with pytest.raises(InputError, match="no batch axis"):
        tflkit.benchmark(path, batch_size=4, seconds=0.02)


@pytest.mark.parametrize("mode", ["batched", "per-sample", "auto"])
def test_an_output_that_is_an_input_comes_back_as_the_runtime_gives_it(mode: str) -> None:
    path = FIXTURES / "passthrough_output.tflite"
    sg = tflkit.load(path).primary
    assert set(sg.inputs) & set(sg.outputs)  # the fixture has one: checked on the file
    runner = tflkit.Runner(path, batching=mode)
    rng = np.random.default_rng(9)
    feeds = {"x": rng.random((5, 4), np.float32), "side": rng.random((5, 3), np.float32)}
    got = runner.predict(feeds)
    assert isinstance(got, dict)
    want = dict(
        zip(
            runner.output_names,
            _by_hand(path, [feeds[n] for n in runner.input_names]),
            strict=True,
        )
    )
    for k in runner.output_names:
        np.testing.assert_array_equal(got[k], want[k])
    np.testing.assert_array_equal(got["side_out"], feeds["side"])


def test_a_passthrough_tensor_keeps_its_input_and_output_names(cli: Cli) -> None:
    from tflkit.testing import assert_io

    path = FIXTURES / "passthrough_output.tflite"
    sigs = MODELS["passthrough_output.tflite"]["signatures"]["serving_default"]
    assert "side" in sigs["inputs"] and "side_out" in sigs["outputs"]  # from the object API
    runner = tflkit.Runner(path)
    assert "side" in runner.input_names and "side_out" in runner.output_names
    text = cli.invoke("inspect", str(path)).stdout
    assert "│ in 1  │ side " in text and "│ out 1 │ side_out " in text
    assert_io(
        path, inputs={"side": {"dtype": "float32"}}, outputs={"side_out": {"dtype": "float32"}}
    )
    with pytest.raises(AssertionError, match="no output named 'side'"):
        assert_io(path, outputs={"side": {"dtype": "float32"}})

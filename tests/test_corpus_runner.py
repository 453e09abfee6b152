"""The Runner on published models of each kind bench/runner_corpus.py found, against LiteRT's
interpreter fed by hand (tests/_by_hand.py: resize, allocate, set_tensor, invoke, get_tensor
one sample at a time, quantized and dequantized by hand with the interpreter's own scale and
zero point). The files are in tests/corpus/models, their sources in tests/corpus/MANIFEST.json.

Each fix of the sweep has a model here that failed before it: a model without inputs never
allocated (2_subgraphs), 0-d outputs came back as numpy scalars (call_once_mul) and as () for
one sample but (3,) for three (reshape_with_empty_shape), outputs without a batch axis were
cut to row 0 of each sample or returned for the whole batch as if per sample (single_sum,
gather_nd, single_broadcast_to), and an int8 SVDF aborted the process (keyword_scrambled_8bit).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _by_hand import (
    compare,
    random_feeds,
    raw_feeds,
    raw_sig_feeds,
    truth_signature,
    truth_subgraph0,
)
from conftest import ROOT

import tflkit
from tflkit import RuntimeCrashError, UnsupportedModelError

MODELS = ROOT / "tests" / "corpus" / "models"

# (file, signature on another subgraph or None, the kind it stands for)
CASES = [
    ("litert__string_input_model.tflite", None, "strings"),
    ("litert__call_once_mul.tflite", None, "0-d input and output, CALL_ONCE, no batch axis"),
    ("aeq__reshape_with_empty_shape.tflite", None, "0-d output with a batch axis"),
    ("litert__add_unknown_dimensions.tflite", None, "dynamic dimensions"),
    ("litert__multi_signatures.tflite", "sub", "a signature on subgraph 1"),
    ("aeq__two_signatures.tflite", "multiply", "a signature on subgraph 1"),
    ("litert__multi_signature_def.tflite", "sub", "signature, two inputs, no batch axis"),
    ("litert__single_add_default_a16w8_recipe_quantized.tflite", None, "int16 I/O"),
    ("litert__add_quantized.tflite", None, "uint8 I/O"),
    ("litert__simple_logical_or_op.tflite", None, "bool I/O"),
    ("litert__int64.tflite", None, "int64 I/O"),
    ("litert__argmax.tflite", None, "int64 output"),
    ("litert__resource_vars_calibrated.tflite", None, "stateful (resource variables)"),
    ("litert__lstm.tflite", None, "stateful (variable tensors)"),
    ("litert__multi_subgraphs_while.tflite", None, "control flow (WHILE)"),
    ("litert__nested_while.tflite", None, "control flow (nested WHILE)"),
    ("aeq__single_sum.tflite", None, "an output without a batch axis (SUM)"),
    ("litert__gather_nd.tflite", None, "an output without a batch axis (GATHER_ND)"),
    ("aeq__single_broadcast_to.tflite", None, "fixed batch 1, output (2, 3) per sample"),
    ("litert__2_subgraphs.tflite", None, "no inputs, no outputs"),
]


def _feeds_and_truth(
    path: object, key: str | None, runner: tflkit.Runner, n: int | None, raw: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    sg = runner.model.subgraphs[runner._subgraph]
    feeds = random_feeds(sg.input_tensors, list(runner.input_names), n or 1, sg.batch_axis)
    if key is None:
        want = truth_subgraph0(path, True, feeds, n, raw)  # type: ignore[arg-type]
        x = raw_feeds(path, True, feeds) if raw else feeds  # type: ignore[arg-type]
    else:
        named = dict(zip(runner.input_names, feeds, strict=True))
        by_name = truth_signature(path, True, key, named, n, raw)  # type: ignore[arg-type]
        want = [by_name[name] for name in runner.output_names]
        x = raw_sig_feeds(path, True, key, named) if raw else feeds  # type: ignore[arg-type]
    return x, want


def _outputs(y: object) -> list[np.ndarray]:
    assert isinstance(y, (np.ndarray, dict)), f"predict returned {type(y).__name__}"
    return list(y.values()) if isinstance(y, dict) else [y]


@pytest.mark.parametrize(("name", "key", "kind"), CASES, ids=[c[0][:-7] for c in CASES])
def test_the_runner_matches_the_interpreter_fed_by_hand(
    name: str, key: str | None, kind: str
) -> None:
    path = MODELS / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = tflkit.Runner(path, signature=key)
        sg = probe.model.subgraphs[probe._subgraph]
        ns: list[int | None] = [1, 3] if sg.batch_axis == 0 else [None]
        for n in ns:
            for raw in (False, True):
                x, want = _feeds_and_truth(path, key, probe, n, raw)
                for batching in ("auto", "batched", "per-sample"):
                    runner = tflkit.Runner(path, signature=key, batching=batching)
                    if batching == "batched" and n == 3 and "without a batch axis" in kind:
                        with pytest.raises(UnsupportedModelError, match=r"expected 3 samples"):
                            runner.predict(list(x), raw=raw)
                        continue
                    got = _outputs(runner.predict(list(x), raw=raw))
                    result = compare(got, want)
                    assert result["outcome"] in ("equal", "close"), (
                        f"{kind}: n={n} raw={raw} batching={batching}: {result}"
                    )


def test_a_batch_of_strings_in_an_isolated_runner_matches() -> None:
    path = MODELS / "litert__string_input_model.tflite"
    with tflkit.Runner(path, isolated=True, batching="per-sample") as runner:
        x, want = _feeds_and_truth(path, None, runner, 3, False)
        try:
            got = _outputs(runner.predict(list(x)))
        except RuntimeCrashError as exc:  # the per-sample loop wrote strings through tensor()
            pytest.fail(f"the string model crashed the runtime: {exc}")
    assert compare(got, want)["outcome"] == "equal"


def test_a_zero_d_output_is_an_array_of_one_value_per_sample() -> None:
    path = MODELS / "aeq__reshape_with_empty_shape.tflite"  # (1, 1) int32 -> RESHAPE -> ()
    runner = tflkit.Runner(path)
    for n in (1, 3):
        x = np.arange(n, dtype=np.int32).reshape(n, 1)
        y = runner.predict(x)
        assert isinstance(y, np.ndarray)
        np.testing.assert_array_equal(y, np.arange(n))  # RESHAPE keeps the value


def test_a_zero_d_output_without_a_batch_axis_is_a_zero_d_array() -> None:
    runner = tflkit.Runner(MODELS / "litert__call_once_mul.tflite")  # x * 2 after CALL_ONCE
    y = runner.predict(np.array(2.0, np.float32))
    assert type(y) is np.ndarray and y.shape == ()


def test_an_output_without_a_batch_axis_joins_whole_per_sample() -> None:
    # SUM over axis 0 of (-1, 2, 3): (2, 3) whatever the batch. A batched invoke of 3 gives one
    # (2, 3) for all three: wrong per sample, refused; auto runs sample by sample.
    path = MODELS / "aeq__single_sum.tflite"
    x = np.arange(3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
    y = tflkit.Runner(path).predict(x)
    np.testing.assert_array_equal(y, x.reshape(6, 3))  # each sample's sum is itself
    with pytest.raises(UnsupportedModelError, match=r"output 0: expected 3 samples on axis 0"):
        tflkit.Runner(path, batching="batched").predict(x)
    # chunks of 2: SUM's (2, 3) looks like 2 samples; the file fixes that axis at 2
    with pytest.raises(
        UnsupportedModelError, match=r"got shape \(2, 3\) \(the file says it is no batch\)"
    ):
        tflkit.Runner(path, batching="batched", batch_size=2).predict(x)
    np.testing.assert_array_equal(tflkit.Runner(path, batch_size=2).predict(x), x.reshape(6, 3))


def test_a_model_without_inputs_runs() -> None:
    runner = tflkit.Runner(MODELS / "litert__2_subgraphs.tflite")
    assert runner.predict([]) == {}


def test_an_int8_svdf_is_refused_before_the_runtime_aborts() -> None:
    # tflite-micro's int8 SVDF: weights_time and state int8, read as int16 by LiteRT's kernel
    path = MODELS / "tflm__keyword_scrambled_8bit.tflite"
    with pytest.raises(UnsupportedModelError, match=r"\(SVDF\): input 2 \(weights_time\)"):
        tflkit.Runner(path)


def test_an_output_of_zero_elements_is_an_empty_array() -> None:
    # WHERE on (-1, 4) bool: (found, 2) int64 per sample. LiteRT's get_tensor and tensor()
    # raise "Invalid tensor size" for a sample that finds nothing; the truth is np.argwhere.
    path = MODELS / "litert__where.tflite"
    x = np.array([[0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=bool)
    want = np.concatenate([np.argwhere(x[k : k + 1]) for k in range(len(x))])
    got = tflkit.Runner(path, batching="per-sample").predict(x)
    np.testing.assert_array_equal(got, want)
    # a batched invoke finds 3 items in 3 samples, their rows numbered 0..2: no batch axis
    np.testing.assert_array_equal(tflkit.Runner(path).predict(x), want)
    with pytest.raises(UnsupportedModelError, match=r"the file says it is no batch"):
        tflkit.Runner(path, batching="batched").predict(x)
    empty = tflkit.Runner(path).predict(x[:1])
    assert isinstance(empty, np.ndarray) and empty.shape == (0, 2) and empty.dtype == np.int64


def test_xnnpack_failing_at_invoke_falls_back_to_the_builtin_kernels() -> None:
    # XNNPACK reshapes at invoke: "XNNPack delegate failed to reshape runtime" on this model,
    # which the builtin kernels run (the truth: the interpreter without default delegates)
    path = MODELS / "litert__dynamic_shapes.tflite"
    runner = tflkit.Runner(path)
    feeds = random_feeds(runner.inputs, list(runner.input_names), 1, None)
    with pytest.warns(tflkit.DelegateWarning, match=r"failed to run the model"):
        got = runner.predict(list(feeds))
    assert runner.delegate is None
    want = truth_subgraph0(path, False, feeds, None, False)
    assert compare(_outputs(got), want)["outcome"] == "equal"

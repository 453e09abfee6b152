"""String tensors through the Runner, on LiteRT's own string test models (tests/corpus/models,
source and commit in tests/corpus/MANIFEST.json).

Truth: LiteRT's interpreter fed by hand with what its ``set_tensor`` reads right (arrays of
rank 1 and more, and 0-d ``bytes`` arrays). Two ways tflkit went wrong on these files: the
per-sample loop wrote strings through ``tensor()`` views (a segmentation fault of the whole
process), and a 0-d object or str array reached ``set_tensor``, which reads the object's
pointer (or UTF-32 code units) as the string's bytes. The call that used to crash runs in an
isolated Runner first, so that a regression fails this test instead of ending the run.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import ROOT

import tflkit
from tflkit import InputError, RuntimeCrashError

MODELS = ROOT / "tests" / "corpus" / "models"
SIGNATURE = MODELS / "litert__string_input_model_with_signature.tflite"  # (-1, 3) string
SCALAR = MODELS / "litert__string_scalar.tflite"  # () string -> RESHAPE -> [1]


def _by_hand(path: object, value: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    index = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(index, list(value.shape), strict=False)
    interp.allocate_tensors()
    interp.set_tensor(index, value)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])  # type: ignore[no-any-return]


@pytest.mark.parametrize("batching", ["auto", "per-sample", "batched"])
def test_a_batch_of_strings_runs_in_every_batching(batching: str) -> None:
    x = np.array([["ab", "c", "d"], ["é", "", "f"], ["g", "h", "i"]], dtype=object)
    want = np.concatenate([_by_hand(SIGNATURE, x[k : k + 1]) for k in range(len(x))])
    assert want[1, 0] == "é".encode()  # str goes in as UTF-8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tflkit.Runner(SIGNATURE, isolated=True, batching=batching) as there:
            try:
                got = there.predict(x)
            except RuntimeCrashError as exc:  # the per-sample loop wrote through tensor()
                pytest.fail(f"the string model crashed the runtime: {exc}")
        np.testing.assert_array_equal(got, want)
        assert got.dtype == object
        here = tflkit.Runner(SIGNATURE, batching=batching)
        np.testing.assert_array_equal(here.predict(x), want)


@pytest.mark.parametrize(
    "value",
    [
        np.array(b"hello", dtype=object),
        np.array("héllo", dtype=object),
        np.array("héllo"),
        "héllo",
        b"hello",
    ],
    ids=["object-bytes", "object-str", "unicode", "str", "bytes"],
)
def test_a_scalar_string_input_is_its_utf8_bytes(value: object) -> None:
    raw = np.asarray(value).item()
    encoded = raw.encode() if isinstance(raw, str) else raw
    want = _by_hand(SCALAR, np.array(encoded))  # 0-d bytes: what set_tensor reads right
    assert want.tolist() == [encoded]
    for isolated in (False, True):
        with tflkit.Runner(SCALAR, isolated=isolated) as runner:
            np.testing.assert_array_equal(runner.predict(value), want)


def test_a_scalar_string_input_refuses_a_number() -> None:
    with pytest.raises(InputError, match=r"'Placeholder' .*expected bytes or str .*got int"):
        tflkit.Runner(SCALAR).predict(np.array(3, dtype=object))

"""tflkit.testing: assertions pass on what the manifest says and list every problem otherwise."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, MODELS

import tflkit
from tflkit.testing import assert_fully_int8, assert_io, assert_ops, assert_quantization

INT8 = FIXTURES / "mlp_int8.tflite"
FACTS = MODELS["mlp_int8.tflite"]


def test_assert_fully_int8() -> None:
    assert_fully_int8(INT8)
    assert_fully_int8(INT8.read_bytes())
    assert_fully_int8(FIXTURES / "cnn_uint8_io.tflite", allow_uint8_io=True)
    with pytest.raises(AssertionError) as info:
        assert_fully_int8(FIXTURES / "mlp_float32.tflite")
    text = str(info.value)
    report = tflkit.check(tflkit.load(FIXTURES / "mlp_float32.tflite"))
    assert f"({len(report.violations)} problems)" in text
    assert text.count("\n  - ") == len(report.violations)  # every violation, not the first
    assert "[int8-io-dtype]" in text and "[no-float-tensors]" in text


def test_assert_io_against_the_manifest() -> None:
    x, y = FACTS["inputs"][0], FACTS["outputs"][0]
    assert_io(
        INT8,
        inputs=[
            {
                "dtype": x["dtype"],
                "shape": x["shape_signature"],
                "scale": x["scale"],
                "zero_point": x["zero_point"],
            }
        ],
        outputs={"output_0": {"dtype": "int8", "scale": y["scale"], "zero_point": y["zero_point"]}},
        dtype="int8",
    )
    assert_io(INT8, inputs=[{"shape": (None, 32)}])


def test_assert_io_lists_every_mismatch() -> None:
    with pytest.raises(AssertionError) as info:
        assert_io(
            FIXTURES / "mlp_float32.tflite",
            dtype="int8",
            inputs=[{"shape": (-1, 31)}],
            outputs={"nope": {"dtype": "int8"}},
        )
    text = str(info.value)
    assert "input 0 'keras_tensor': dtype is float32, expected int8" in text
    assert "output 0 'output_0': dtype is float32, expected int8" in text
    assert "shape is [-1, 32], expected [-1, 31]" in text
    assert "no output named 'nope'" in text
    assert "(4 problems)" in text


def test_assert_quantization() -> None:
    model = tflkit.load(INT8)
    weights = model.primary.tensors[4]  # dense_1/MatMul, per-channel on axis 0
    assert weights.quantization is not None
    assert_quantization(
        model,
        weights.name,
        dtype="int8",
        per_channel=True,
        quantized_dimension=0,
        zero_point=[0] * 64,
    )
    assert_quantization(
        model,
        "keras_tensor",
        scale=FACTS["inputs"][0]["scale"],
        zero_point=FACTS["inputs"][0]["zero_point"],
    )
    with pytest.raises(AssertionError) as info:
        assert_quantization(model, 4, per_channel=False, quantized_dimension=3, scale=0.5)
    text = str(info.value)
    assert "(3 problems)" in text and "expected per-tensor" in text
    with pytest.raises(KeyError):
        assert_quantization(model, "no such tensor")


def test_assert_ops() -> None:
    assert_ops(INT8, allowed=["FULLY_CONNECTED", "SOFTMAX"])
    assert_ops(INT8, forbidden=["CUSTOM", "FLEX"])
    flex = FIXTURES / "flex_cumprod.tflite"
    for forbidden in (["FLEX"], ["CUSTOM"], ["FlexCumprod"]):
        with pytest.raises(
            AssertionError, match=r"operator 0 \(CUSTOM 'FlexCumprod'\): is forbidden"
        ):
            assert_ops(flex, forbidden=forbidden)
    with pytest.raises(AssertionError) as info:
        assert_ops(INT8, allowed=["SOFTMAX"])
    assert str(info.value).count("is not in the allowed list") == 2

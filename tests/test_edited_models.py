"""Valid but unusual files, made by editing a fixture: load() describes them, never crashes."""

from __future__ import annotations

from typing import Any

from conftest import edited

import tflkit


def test_op_code_is_max_of_deprecated_and_new_field() -> None:
    # Old files: only deprecated_builtin_code is set, builtin_code is 0 (ADD).
    def old_style(m: Any) -> None:
        for oc in m.operatorCodes:
            oc.deprecatedBuiltinCode, oc.builtinCode = oc.builtinCode, 0

    model = tflkit.load(edited("mlp_int8.tflite", old_style))
    assert [op.op for op in model.primary.operators] == [
        "FULLY_CONNECTED",
        "FULLY_CONNECTED",
        "SOFTMAX",
    ]


def test_builtin_code_newer_than_the_schema_is_named_not_fatal() -> None:
    # Codes over 127: deprecated field 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) + the new field.
    def newer(m: Any) -> None:
        m.operatorCodes[0].deprecatedBuiltinCode = 127
        m.operatorCodes[0].builtinCode = 213

    model = tflkit.load(edited("mlp_int8.tflite", newer))
    ops = [op.op for op in model.primary.operators]
    assert ops == ["BUILTIN_213", "BUILTIN_213", "SOFTMAX"]
    assert model.primary.operators[0].builtin_code == 213


def test_code_known_to_litert_but_not_to_the_tflite_package() -> None:
    def case(m: Any) -> None:
        m.operatorCodes[1].deprecatedBuiltinCode = 127
        m.operatorCodes[1].builtinCode = 209  # STABLEHLO_CASE, after tflite 2.18

    model = tflkit.load(edited("mlp_int8.tflite", case))
    assert model.primary.operators[2].op == "STABLEHLO_CASE"


def test_custom_op_keeps_its_custom_code() -> None:
    def custom(m: Any) -> None:
        m.operatorCodes[1].builtinCode = 32
        m.operatorCodes[1].deprecatedBuiltinCode = 32
        m.operatorCodes[1].customCode = b"MyFancySoftmax"

    op = tflkit.load(edited("mlp_int8.tflite", custom)).primary.operators[2]
    assert (op.op, op.custom_code, op.is_custom, op.is_flex) == (
        "CUSTOM",
        "MyFancySoftmax",
        True,
        False,
    )
    assert op.display_name == "CUSTOM 'MyFancySoftmax'"


def test_tensor_without_a_shape_reports_empty_shape() -> None:
    def no_shape(m: Any) -> None:
        t = m.subgraphs[0].tensors[3]
        t.shape = None
        t.shapeSignature = None

    data = edited("mlp_int8.tflite", no_shape)
    t = tflkit.load(data).primary.tensors[3]
    assert t.shape == () and t.shape_signature == ()

    from conftest import litert_interpreter

    interp = litert_interpreter(data)
    if interp is not None:  # the interpreter reports the same
        d = interp.get_tensor_details()[3]
        assert d["shape"].tolist() == [] and d["shape_signature"].tolist() == []


def test_unknown_tensor_type_is_named() -> None:
    def newer_type(m: Any) -> None:
        m.subgraphs[0].tensors[3].type = 23

    t = tflkit.load(edited("mlp_int8.tflite", newer_type)).primary.tensors[3]
    assert t.dtype == "TYPE_23"


def test_type_known_to_litert_but_not_to_the_tflite_package() -> None:
    def fp8(m: Any) -> None:
        m.subgraphs[0].tensors[3].type = 21

    assert tflkit.load(edited("mlp_int8.tflite", fp8)).primary.tensors[3].dtype == "float8_e4m3fn"

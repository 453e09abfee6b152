"""tflkit.check: verdicts against the manifest, every rule on real files broken on purpose.

Failing cases are fixtures edited with LiteRT's flatbuffer object API (an input turned float32, a
custom op, a bias zero point, a negative scale, ...) or converted the wrong way on purpose
(float32, dynamic range, float16, int8 with float I/O, int16x8, Flex).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import ALL_FIXTURES, MODELS, edited, fixture_path

import tflkit
from tflkit.checks import RULES, check
from tflkit.report import Finding

Edit = Callable[[Any], None]


def _load(name: str, edit: Edit | None = None) -> tflkit.Model:
    return tflkit.load(edited(name, edit) if edit else fixture_path(name))


def _rules(findings: tuple[Finding, ...]) -> set[str]:
    return {f.rule for f in findings}


# ------------------------------------------------------------------ verdicts vs the manifest


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_int8_verdict_matches_the_manifest(name: str) -> None:
    model = _load(name)
    assert check(model, "int8").passed == MODELS[name]["fully_int8"]
    allow = check(model, "int8", allow_uint8_io=True).passed
    assert allow == MODELS[name]["fully_int8_allow_uint8_io"]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_other_profiles_match_the_manifest_kind(name: str) -> None:
    model = _load(name)
    kind = MODELS[name]["quantization_kind"]
    assert check(model, "int16x8").passed == (kind == "int16x8")
    assert check(model, "float16").passed == (kind == "float16")


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_converter_output_raises_no_warning(name: str) -> None:
    # A rule that trips on valid converter output is a bug.
    for profile in ("int8", "int16x8", "float16"):
        assert check(_load(name), profile).warnings == ()


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_finding_names_its_tensor_or_operator(name: str) -> None:
    model = _load(name)
    for profile in ("int8", "int16x8", "float16"):
        report = check(model, profile)
        for f in report.violations + report.warnings:
            assert f.rule in RULES
            if f.tensor is not None:
                assert f.subgraph is not None
                t = model.subgraphs[f.subgraph].tensors[f.tensor]
                assert f"tensor {t.index} {t.name!r}" in f.message
            if f.operator is not None:
                assert f.subgraph is not None
                op = model.subgraphs[f.subgraph].operators[f.operator]
                assert f"operator {op.index} ({op.display_name})" in f.message
            assert f.tensor is not None or f.operator is not None or "no float16" in f.message


# ------------------------------------------------------------------ profile rules


def test_models_converted_the_wrong_way_fail_int8() -> None:
    expected = {
        "mlp_float32.tflite": {"int8-io-dtype", "no-float-tensors"},
        "mlp_dynamic_range.tflite": {"int8-io-dtype", "no-float-tensors"},
        "mlp_float16.tflite": {"int8-io-dtype", "no-float-tensors"},
        "mlp_int8_float_io.tflite": {"int8-io-dtype", "no-float-tensors"},
        "mlp_int16x8.tflite": {"int8-io-dtype"},
        "flex_cumprod.tflite": {"int8-io-dtype", "no-float-tensors", "builtin-ops-only"},
        "cnn_uint8_io.tflite": {"int8-io-dtype"},
    }
    for name, rules in expected.items():
        report = check(_load(name), "int8")
        assert not report.passed and _rules(report.violations) == rules, name


def test_int8_float_io_names_the_float_input() -> None:
    model = _load("mlp_int8_float_io.tflite")
    report = check(model, "int8")
    first = [f for f in report.violations if f.rule == "int8-io-dtype"][0]
    assert f"tensor 0 {model.inputs[0].name!r}" in first.message
    assert "dtype is float32, expected int8" in first.message


def _input_to_float32(m: Any) -> None:
    t = m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]]
    t.type, t.quantization = 0, None


def _softmax_to_custom(m: Any) -> None:
    code = m.operatorCodes[m.subgraphs[0].operators[2].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = 32
    code.customCode = b"MySoftmax"


def _hidden_to_float32(m: Any) -> None:
    t = m.subgraphs[0].tensors[5]
    t.type, t.quantization = 0, None


def _input_two_scales(m: Any) -> None:
    q = m.subgraphs[0].tensors[0].quantization
    q.scale, q.zeroPoint = [q.scale[0], q.scale[0]], [q.zeroPoint[0]] * 2


@pytest.mark.parametrize(
    ("edit", "rule", "where"),
    [
        (_input_to_float32, "int8-io-dtype", "tensor 0 "),
        (_input_two_scales, "io-per-tensor", "tensor 0 "),
        (_softmax_to_custom, "builtin-ops-only", "operator 2 (CUSTOM 'MySoftmax')"),
        (_hidden_to_float32, "no-float-tensors", "tensor 5 "),
    ],
)
def test_int8_profile_rules_on_edited_files(edit: Edit, rule: str, where: str) -> None:
    assert check(_load("mlp_int8.tflite"), "int8").passed  # the unedited file passes
    report = check(_load("mlp_int8.tflite", edit), "int8")
    assert not report.passed
    hits = [f for f in report.violations if f.rule == rule]
    assert hits and where in hits[0].message


def test_uint8_io_needs_the_option() -> None:
    model = _load("cnn_uint8_io.tflite")
    report = check(model, "int8")
    assert _rules(report.violations) == {"int8-io-dtype"}
    assert all("allow_uint8_io=True" in f.message for f in report.violations)
    assert check(model, "int8", allow_uint8_io=True).passed


def test_int16x8_profile() -> None:
    assert check(_load("mlp_int16x8.tflite"), "int16x8").passed
    report = check(_load("mlp_int8.tflite"), "int16x8")
    assert "int16-activations" in _rules(report.violations)

    def zero_point(m: Any) -> None:
        m.subgraphs[0].tensors[5].quantization.zeroPoint = [3]

    report = check(_load("mlp_int16x8.tflite", zero_point), "int16x8")
    assert _rules(report.violations) == {"int16-activations"}
    assert "zero point 3, expected 0" in report.violations[0].message

    def int16_weights(m: Any) -> None:
        m.subgraphs[0].tensors[3].type = 7  # INT16

    report = check(_load("mlp_int16x8.tflite", int16_weights), "int16x8")
    assert "int8-weights" in _rules(report.violations)


def test_float16_profile() -> None:
    assert check(_load("mlp_float16.tflite"), "float16").passed
    assert "no-int8-weights" in _rules(
        check(_load("mlp_dynamic_range.tflite"), "float16").violations
    )
    assert "float16-weights" in _rules(check(_load("mlp_float32.tflite"), "float16").violations)
    assert "float-io" in _rules(check(_load("mlp_int8.tflite"), "float16").violations)


# ------------------------------------------------------------------ conformance rules


def _set_q(tensor: int, **fields: Any) -> Edit:
    def edit(m: Any) -> None:
        q = m.subgraphs[0].tensors[tensor].quantization
        for k, v in fields.items():
            setattr(q, k, v(getattr(q, k)) if callable(v) else v)

    return edit


def _opcode(op_index: int, code: int) -> Edit:
    def edit(m: Any) -> None:
        new = type(m.operatorCodes[0])()
        new.builtinCode = code
        new.deprecatedBuiltinCode = min(code, 127)
        new.version = 1
        m.operatorCodes.append(new)
        m.subgraphs[0].operators[op_index].opcodeIndex = len(m.operatorCodes) - 1

    return edit


def _both(*edits: Edit) -> Edit:
    def edit(m: Any) -> None:
        for e in edits:
            e(m)

    return edit


def _weight_value_minus_128(m: Any) -> None:
    buf = m.buffers[m.subgraphs[0].tensors[4].buffer]
    data = np.array(buf.data, dtype=np.uint8)
    data[0] = 128  # int8 -128
    buf.data = data


LOGISTIC, TANH, L2_NORMALIZATION, LOG_SOFTMAX, TRANSPOSE_CONV = 14, 28, 11, 50, 67

# (fixture, edit, rule, text the message must contain)
BROKEN = [
    ("mlp_int8.tflite", _set_q(5, scale=[-0.5]), "scale-positive-finite", "tensor 5 "),
    ("mlp_int8.tflite", _set_q(6, zeroPoint=[300]), "zero-point-in-range", "zero point 300"),
    (
        "mlp_int8.tflite",
        _set_q(4, zeroPoint=lambda z: [3] * len(z)),
        "weight-symmetric",
        "tensor 4 ",
    ),
    ("mlp_int8.tflite", _weight_value_minus_128, "weight-range", "hold -128"),
    ("cnn_uint8_io.tflite", _set_q(8, quantizedDimension=3), "conv-weight-axis", "expected 0"),
    ("cnn_uint8_io.tflite", _set_q(4, quantizedDimension=0), "depthwise-weight-axis", "expected 3"),
    (
        "cnn_uint8_io.tflite",
        _both(_opcode(1, TRANSPOSE_CONV), _set_q(8, quantizedDimension=3)),
        "transpose-conv-weight-axis",
        "expected 0",
    ),
    ("mlp_int8.tflite", _set_q(4, quantizedDimension=1), "fc-weight-axis", "expected 0"),
    (
        "mlp_int8.tflite",
        _set_q(4, scale=lambda s: s[:-1], zeroPoint=lambda z: z[:-1]),
        "per-channel-count",
        "63 scales",
    ),
    ("mlp_int8.tflite", _set_q(3, zeroPoint=lambda z: [1] * len(z)), "bias-dtype", "tensor 3 "),
    (
        "mlp_int8.tflite",
        _set_q(3, scale=lambda s: [x * 1.5 for x in s]),
        "bias-scale",
        "expected input scale x weight scale",
    ),
    (
        "mlp_int8.tflite",
        _set_q(3, scale=lambda s: [x * 5000 for x in s]),
        "bias-scale",
        "kernel refuses",
    ),
    (
        "mlp_int8.tflite",
        _set_q(5, scale=lambda s: list(s) * 2, zeroPoint=lambda z: list(z) * 2),
        "activation-per-tensor",
        "2 scales",
    ),
    ("cnn_uint8_io.tflite", _set_q(12, scale=lambda s: [s[0] * 2]), "same-scale", "operator 3 "),
    ("mlp_int8.tflite", _set_q(7, scale=[1 / 128]), "softmax-output", "expected scale 0.00390625"),
    (
        "mlp_int8.tflite",
        _both(_opcode(2, LOGISTIC), _set_q(7, zeroPoint=[0])),
        "logistic-output",
        "zero point -128",
    ),
    ("mlp_int8.tflite", _opcode(2, TANH), "tanh-output", "expected scale 0.0078125"),
    ("mlp_int8.tflite", _opcode(2, L2_NORMALIZATION), "l2norm-output", "zero point 0"),
    ("mlp_int8.tflite", _opcode(2, LOG_SOFTMAX), "log-softmax-output", "zero point 127"),
    ("mlp_int16x8.tflite", _set_q(6, zeroPoint=[5]), "int16-symmetric", "zero point 5"),
    (
        "cnn_uint8_io.tflite",
        lambda m: setattr(m.subgraphs[0].tensors[13], "type", 3),
        "uint8-legacy",
        "tensor 13 ",
    ),
]

# The same ops with the quantization the spec asks for: no finding.
FIXED = [
    ("mlp_int8.tflite", _opcode(2, LOGISTIC), "logistic-output"),
    (
        "mlp_int8.tflite",
        _both(_opcode(2, TANH), _set_q(7, scale=[1 / 128], zeroPoint=[0])),
        "tanh-output",
    ),
    (
        "mlp_int8.tflite",
        _both(_opcode(2, L2_NORMALIZATION), _set_q(7, scale=[1 / 128], zeroPoint=[0])),
        "l2norm-output",
    ),
    (
        "mlp_int8.tflite",
        _both(_opcode(2, LOG_SOFTMAX), _set_q(7, scale=[16 / 256], zeroPoint=[127])),
        "log-softmax-output",
    ),
    ("cnn_uint8_io.tflite", _opcode(1, TRANSPOSE_CONV), "transpose-conv-weight-axis"),
]


def test_every_conformance_rule_has_a_failing_case() -> None:
    covered = {rule for _, _, rule, _ in BROKEN}
    assert len(BROKEN) >= len(covered)
    assert covered == {r.id for r in RULES.values() if r.profile is None}


@pytest.mark.parametrize(("name", "edit", "rule", "text"), BROKEN, ids=[b[2] for b in BROKEN])
def test_conformance_rule_fires_on_an_edited_file(
    name: str, edit: Edit, rule: str, text: str
) -> None:
    assert rule not in _rules(check(_load(name), "int8").warnings)  # unedited: clean
    model = _load(name, edit)
    report = check(model, "int8", allow_uint8_io=True)
    hits = [f for f in report.warnings if f.rule == rule]
    assert hits, _rules(report.warnings)
    assert text in hits[0].message
    assert rule not in _rules(report.violations)  # a warning, not a violation...
    strict = check(model, "int8", allow_uint8_io=True, strict=True)
    assert rule in _rules(strict.violations) and not strict.passed  # ...unless --strict
    assert strict.warnings == ()


@pytest.mark.parametrize(("name", "edit", "rule"), FIXED, ids=[f[2] for f in FIXED])
def test_conformance_rule_passes_when_the_spec_is_met(name: str, edit: Edit, rule: str) -> None:
    assert rule not in _rules(check(_load(name, edit), "int8").warnings)


# ------------------------------------------------------------------ options


def test_select_and_ignore() -> None:
    model = _load("mlp_int8_float_io.tflite")
    only = check(model, "int8", select=["no-float-tensors"])
    assert _rules(only.violations) == {"no-float-tensors"}
    assert check(model, "int8", ignore=["int8-io-dtype", "no-float-tensors"]).passed
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        check(model, "int8", select=["nope"])
    with pytest.raises(ValueError, match="unknown profile"):
        check(model, "int4")


def test_rules_have_ids_docs_and_sources() -> None:
    import re

    for rule in RULES.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id)
        assert rule.doc and "[" in rule.doc  # every doc line cites its source


# ------------------------------------------------------------------ what the model is


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_summary_says_what_the_model_is_when_it_is_another_kind(name: str) -> None:
    kind = MODELS[name]["quantization_kind"]
    for profile in ("int8", "int16x8", "float16"):
        report = check(_load(name), profile)
        assert report.quantization_kind == kind
        if kind == profile:
            assert report.summary is None, (name, profile)
        elif kind == "mixed":
            # Named: an int8 graph whose float I/O is quantized inside it (the manifest's
            # int8-float-io conversion, and the hand-built int8 QUANTIZE and DEQUANTIZE
            # files); other mixes (int16, uint8) are listed finding by finding.
            expected = profile == "int8" and (
                MODELS[name]["conversion"] == "int8-float-io"
                or name in ("quantize_int8.tflite", "dequantize_int8.tflite")
            )
            assert (report.summary is not None) == expected, (name, profile)
        elif kind == "int8-float-islands":  # the float operators named, whatever the profile
            assert report.summary is not None
            assert report.summary.startswith("int8 with "), report.summary
        else:
            assert report.summary is not None
            assert report.summary.startswith(f"{kind} model: "), report.summary


def test_float32_model_summary_names_the_conversion_of_each_profile() -> None:
    model = _load("mlp_float32.tflite")
    assert check(model, "int8").summary == (
        "float32 model: nothing is quantized; convert with full-integer quantization "
        "(a representative dataset, TFLITE_BUILTINS_INT8)"
    )
    int16 = check(model, "int16x8").summary
    assert int16 is not None and "16x8 quantization" in int16
    assert "ACTIVATIONS_INT16_WEIGHTS_INT8" in int16
    f16 = check(model, "float16").summary
    assert f16 is not None and "supported_types=[tf.float16]" in f16
    dr = check(_load("mlp_dynamic_range.tflite"), "int8").summary
    assert dr is not None and dr.startswith("dynamic-range model: int8 weights, float32 act")
    assert "convert the float model with full-integer quantization" in dr


def test_int8_float_io_says_how_to_get_int8_io() -> None:
    model = _load("mlp_int8_float_io.tflite")
    report = check(model, "int8")
    assert report.summary == (
        "int8 model with float inputs and outputs: quantized inside the graph; convert with "
        "inference_input_type and inference_output_type = tf.int8"
    )
    q = check(_load("quantize_int8.tflite"), "int8").summary
    assert q is not None and q.startswith("int8 model with float inputs:")
    assert q.endswith("convert with inference_input_type = tf.int8")
    io = [f for f in report.violations if f.rule == "int8-io-dtype"]
    assert [f.tensor for f in io] == [model.primary.inputs[0], model.primary.outputs[0]]
    inp, out = io
    assert "quantized to int8 inside the graph" in inp.message
    assert "set TFLiteConverter.inference_input_type = tf.int8" in inp.message
    assert "set TFLiteConverter.inference_output_type = tf.int8" in out.message
    # An int8 input made float by an edit has no QUANTIZE after it: no such advice.
    plain = check(_load("mlp_int8.tflite", _input_to_float32), "int8")
    assert not any("inside the graph" in f.message for f in plain.violations)


def test_float16_profile_words_int8_weights_by_what_the_model_is() -> None:
    def messages(name: str) -> list[str]:
        report = check(_load(name), "float16")
        return [f.message for f in report.violations if f.rule == "no-int8-weights"]

    fully = messages("mlp_int8.tflite")
    assert fully and all("weights of a fully integer (int8) model" in m for m in fully)
    assert not any("dynamic range" in m for m in fully)
    dr = messages("mlp_dynamic_range.tflite")
    assert dr and all("dynamic range quantized weights" in m for m in dr)
    assert all("fully integer (int16x8)" in m for m in messages("mlp_int16x8.tflite"))
    mixed = messages("mlp_int8_float_io.tflite")
    assert mixed and all("integer-quantized graph" in m for m in mixed)

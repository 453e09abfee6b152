"""tflkit.targets.gpu: cases worked out by hand from the GPU delegate's source.

The truth is the source text at google-ai-edge/LiteRT@f67457790c9c2ab67347d6fe53270e8d3df20868
(the GPU delegate cannot run on a machine without a GPU): each test quotes the line of
``tflite/tools/versioning/gpu_compatibility.cc`` (CheckGpuDelegateCompatibility, "compat"
below) or ``tflite/delegates/gpu/common/model_builder.cc`` ("builder") it checks, or says
which of tflkit's own decisions it checks. Line numbers are at that commit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from _graphs import Op, T, build
from conftest import fixture_path

import tflkit
from tflkit.model import Model
from tflkit.targets import gpu, place


def _where(model: Model) -> list[tuple[str, str, str]]:
    return [(p.op, p.on, p.rule) for p in gpu.place(model, "gpu")]


def _options(model: Model, index: int, **options: Any) -> Model:
    """``model`` with builtin options on operator ``index`` of subgraph 0 (as load() reads
    them: schema.fbs names, enums as codes)."""
    sg = model.subgraphs[0]
    ops = list(sg.operators)
    ops[index] = dataclasses.replace(ops[index], options=tuple(options.items()))
    sg = dataclasses.replace(sg, operators=tuple(ops))
    return dataclasses.replace(model, subgraphs=(sg, *model.subgraphs[1:]))


def _f(*shape: int) -> T:
    return T("float32", shape)


def test_no_parser_means_cpu() -> None:
    # builder NewOperationParser (L3080-3286) has no case for ARG_MAX: UnsupportedOperationParser,
    # "Operation is not supported."; the ADD before it is taken.
    x, y, z = _f(1, 8, 8, 4), _f(1, 8, 8, 4), T("int32", (1, 8, 8))
    axis = T("int32", (1,), const=True, scales=0, values=[3])
    m = build(Op("ADD", [x, x], [y]), Op("ARG_MAX", [y, axis], [z]))
    assert _where(m) == [("ADD", "target", ""), ("ARG_MAX", "cpu", "gpu-op")]


def test_a_case_in_the_switch_without_a_parser_is_cpu() -> None:
    # compat L1145 "case kTfLiteBuiltinCeil:" (one-argument element-wise) but no
    # "case kTfLiteBuiltinCeil" in NewOperationParser: CEIL stays on the CPU, FLOOR does not.
    for op, on, rule in (("CEIL", "cpu", "gpu-op"), ("FLOOR", "target", "")):
        assert _where(build(Op(op, [_f(1, 4)], [_f(1, 4)]))) == [(op, on, rule)]


def test_gather_nd_is_not_supported() -> None:
    # Neither file has a case for GATHER_ND. fixtures/nb_gather_nd.tflite: GATHER_ND, then MUL
    # by a constant scalar (MUL: two inputs, ranks differ but one is a scalar: no broadcast
    # check, compat L923).
    m = tflkit.load(fixture_path("nb_gather_nd.tflite"))
    assert _where(m) == [("GATHER_ND", "cpu", "gpu-op"), ("MUL", "target", "")]


def test_custom_ops_by_name() -> None:
    # builder L3269-3284: the four custom ops MediaPipe's models use; compat L423
    # Convolution2DTransposeBias: "CheckTensorIsAvailable(op_sig, 1)" (a second input).
    x, w, y = _f(1, 4, 4, 2), T("float32", (2, 3, 3, 2), const=True), _f(1, 8, 8, 2)
    known = build(Op("CUSTOM", [x, w], [y], custom="Convolution2DTransposeBias"))
    alone = build(Op("CUSTOM", [x], [y], custom="Convolution2DTransposeBias"))
    other = build(Op("CUSTOM", [x], [y], custom="MyOp"))
    assert _where(known) == [("CUSTOM 'Convolution2DTransposeBias'", "target", "")]
    assert _where(alone) == [("CUSTOM 'Convolution2DTransposeBias'", "cpu", "gpu-inputs")]
    assert _where(other) == [("CUSTOM 'MyOp'", "cpu", "gpu-op")]


def test_resampler_shapes() -> None:
    # compat L444-458 Resampler: 2 runtime inputs, src and warp 4-D, "warp.c < 2" refused.
    src = _f(1, 8, 8, 3)
    for c, on, rule in ((2, "target", ""), (1, "cpu", "gpu-shape")):
        warp, out = _f(1, 8, 8, c), _f(1, 8, 8, 3)
        m = build(Op("CUSTOM", [src, warp], [out], custom="Resampler"))
        assert _where(m) == [("CUSTOM 'Resampler'", on, rule)]


def test_versions_above_the_parser() -> None:
    # builder L621 Conv2D "CheckMaxSupportedOpVersion(registration, 6)"; L1069 element-wise
    # "operation_type_ == OperationType::MUL ? 3 : 2"; L2025 Reshape 1; UnpackOperationParser
    # (L2817-2823) checks no version at all.
    x4, w, b = (
        _f(1, 8, 8, 3),
        T("float32", (4, 3, 3, 3), const=True),
        T("float32", (4,), const=True),
    )
    shape = T("int32", (2,), const=True, scales=0, values=[2, 4])
    cases = [
        (lambda v: Op("CONV_2D", [x4, w, b], [_f(1, 8, 8, 4)], version=v), 6),
        (lambda v: Op("SUB", [_f(1, 4), _f(1, 4)], [_f(1, 4)], version=v), 2),
        (lambda v: Op("MUL", [_f(1, 4), _f(1, 4)], [_f(1, 4)], version=v), 3),
        (lambda v: Op("RESHAPE", [_f(1, 8), shape], [_f(2, 4)], version=v), 1),
    ]
    for make, top in cases:
        op = make(top).op
        assert _where(build(make(top))) == [(op, "target", "")]
        assert _where(build(make(top + 1))) == [(op, "cpu", "gpu-op-version")]
    unpack = Op("UNPACK", [_f(2, 4)], [_f(4), _f(4)], version=9)
    assert _where(build(unpack)) == [("UNPACK", "target", "")]


def test_fully_connected_with_a_constant_input() -> None:
    # compat L813 FullyConnected: "FullyConnected doesn't support constant input."
    x, w, y = T("float32", (1, 4), const=True), T("float32", (2, 4), const=True), _f(1, 2)
    assert _where(build(Op("FULLY_CONNECTED", [x, w, None], [y]))) == [
        ("FULLY_CONNECTED", "cpu", "gpu-inputs")
    ]


def test_one_argument_op_on_a_constant() -> None:
    # compat L1162 one-argument element-wise: CheckInputsConstsOutputs(op_sig, 1, 0, 1).
    c, y = T("float32", (1, 4), const=True), _f(1, 4)
    assert _where(build(Op("LOGISTIC", [c], [y]))) == [("LOGISTIC", "cpu", "gpu-inputs")]


def test_relu_parser_does_not_call_the_switch() -> None:
    # builder L1956-1960 ReLUOperationParser::IsSupported: only CheckMaxSupportedOpVersion(2),
    # so a RELU of a constant (which the one-argument rule would refuse) is taken.
    c, y = T("float32", (1, 4), const=True), _f(1, 4)
    assert _where(build(Op("RELU", [c], [y]))) == [("RELU", "target", "")]


def test_two_argument_ops_need_a_runtime_input() -> None:
    # compat L1189-1198: 2 runtime inputs, or 1 runtime and 1 constant: "Op can only handle 1
    # or 2 operand(s)." Two constants are neither.
    a, b = T("float32", (1, 4), const=True), T("float32", (1, 4), const=True)
    assert _where(build(Op("SUB", [a, b], [_f(1, 4)]))) == [("SUB", "cpu", "gpu-inputs")]
    x = _f(1, 4)
    assert _where(build(Op("SUB", [x, b], [_f(1, 4)]))) == [("SUB", "target", "")]


def test_mean_axes_must_be_constant_int32() -> None:
    # compat L909-915 Mean: CheckInputsConstsOutputs(op_sig, 1, 1, 1), then
    # CheckAxesAreInt32Const: "supports int32 tensor for axes".
    x, y = _f(1, 4, 4, 8), _f(1, 8)
    runtime = T("int32", (2,), scales=0)
    wide = T("int64", (2,), const=True, scales=0, values=[1, 2])
    good = T("int32", (2,), const=True, scales=0, values=[1, 2])
    assert _where(build(Op("MEAN", [x, runtime], [y]))) == [("MEAN", "cpu", "gpu-inputs")]
    assert _where(build(Op("MEAN", [x, wide], [y]))) == [("MEAN", "cpu", "gpu-dtype")]
    assert _where(build(Op("MEAN", [x, good], [y]))) == [("MEAN", "target", "")]


def test_reshape_with_a_computed_shape() -> None:
    # compat L953-956 Reshape: CheckInputsOutputs(op_sig, 1, 1): a shape computed at run time
    # is a second runtime input.
    x, y = _f(1, 8), _f(2, 4)
    shape = T("int32", (2,), scales=0)
    assert _where(build(Op("RESHAPE", [x, shape], [y]))) == [("RESHAPE", "cpu", "gpu-inputs")]


def test_add_n_takes_two_inputs() -> None:
    # compat L552-556: "ADD_N only supports 2 inputs."
    x = _f(1, 4)
    assert _where(build(Op("ADD_N", [x, x], [_f(1, 4)]))) == [("ADD_N", "target", "")]
    assert _where(build(Op("ADD_N", [x, x, x], [_f(1, 4)]))) == [("ADD_N", "cpu", "gpu-inputs")]


def test_add_broadcasting_with_standard_flags() -> None:
    # compat L484-527 CheckAddMulBroadcastCompatibility, kStandard (model_builder.cc passes no
    # flags): "Broadcasting 2D [b, c] to 4D [b, x, y, c] works"; [8, 4] against [1, 8, 8, 4]
    # is none of the three cases.
    x = _f(1, 8, 8, 4)
    ok, bad = _f(1, 4), _f(8, 4)
    assert _where(build(Op("ADD", [x, ok], [_f(1, 8, 8, 4)]))) == [("ADD", "target", "")]
    assert _where(build(Op("ADD", [x, bad], [_f(1, 8, 8, 4)]))) == [("ADD", "cpu", "gpu-shape")]


def test_slice_needs_3_or_4_dimensions() -> None:
    # compat L968-972: "SLICE supports for 3 or 4 dimensional tensors only".
    def sl(shape: tuple[int, ...]) -> Model:
        n = len(shape)
        begin = T("int32", (n,), const=True, scales=0, values=[0] * n)
        size = T("int32", (n,), const=True, scales=0, values=list(shape))
        return build(Op("SLICE", [_f(*shape), begin, size], [_f(*shape)]))

    assert _where(sl((1, 4, 4, 2))) == [("SLICE", "target", "")]
    assert _where(sl((4, 8))) == [("SLICE", "cpu", "gpu-shape")]


def test_pad_paddings_shape() -> None:
    # compat L1120-1131: "Invalid paddings tensor shape: expected 4x2 or 3x2".
    def pad(rank: int) -> Model:
        p = T("int32", (rank, 2), const=True, scales=0, values=[0] * 2 * rank)
        return build(Op("PAD", [_f(*([2] * rank)), p], [_f(*([2] * rank))]))

    assert _where(pad(4)) == [("PAD", "target", "")]
    assert _where(pad(2)) == [("PAD", "cpu", "gpu-shape")]


def test_depthwise_conv_shapes_and_runtime_weights() -> None:
    # compat L262-300: CheckConvolutionInputOutput (1 or 2 runtime inputs), 4-D input, filter
    # and output, "filter.i != output.c", "bias.size != output.c".
    x, y = _f(1, 8, 8, 4), _f(1, 8, 8, 4)
    w, b = _f(1, 3, 3, 4), T("float32", (4,), const=True)
    assert _where(build(Op("DEPTHWISE_CONV_2D", [x, w, b], [y]))) == [
        ("DEPTHWISE_CONV_2D", "target", "")
    ]
    assert _where(build(Op("DEPTHWISE_CONV_2D", [x, _f(1, 3, 3, 4), _f(4)], [y]))) == [
        ("DEPTHWISE_CONV_2D", "cpu", "gpu-inputs")
    ]
    b8 = T("float32", (8,), const=True)
    assert _where(build(Op("DEPTHWISE_CONV_2D", [x, w, b8], [y]))) == [
        ("DEPTHWISE_CONV_2D", "cpu", "gpu-shape")
    ]


def test_gather_indices() -> None:
    # compat L833-850 Gather: 2 runtime inputs or 1 runtime + 1 constant; "Only support 1D
    # indices"; GetOpsToReplace (builder L3340) lets GATHER read a runtime int32 input.
    x = _f(8, 4)
    assert _where(build(Op("GATHER", [x, T("int32", (2,), scales=0)], [_f(2, 4)]))) == [
        ("GATHER", "target", "")
    ]
    i2 = T("int32", (2, 1), scales=0)
    assert _where(build(Op("GATHER", [x, i2], [_f(2, 1, 4)]))) == [("GATHER", "cpu", "gpu-shape")]


def test_int16_tensors_are_not_taken() -> None:
    # builder L3308-3316: runtime tensors float32/float16, int8/uint8 with quantized inference
    # (on by default, delegate_options.cc L29); int16 is none of them.
    # fixtures/mlp_int16x8.tflite: int16 activations everywhere.
    m = tflkit.load(fixture_path("mlp_int16x8.tflite"))
    assert [r for _, _, r in _where(m)] == ["gpu-dtype"] * 3


def test_int8_model_runs_quantized() -> None:
    # FULLY_CONNECTED v4 <= 9, SOFTMAX v2 <= 2; int8 runtime tensors allowed (allow_quant_ops).
    # fixtures/mlp_int8.tflite has a dynamic batch only (-1 in dimension 0).
    result = place(tflkit.load(fixture_path("mlp_int8.tflite")), "gpu")
    assert result.passed and result.segments == 1


def test_runtime_int32_only_where_get_ops_to_replace_allows_it() -> None:
    # builder L3312 "Since we only check non-constant tensors, type cannot be Int32": ADD may
    # not read a runtime int32, CAST may (L3321-3327); compat L633-655 CAST takes int32 ->
    # float32 but not float32 -> uint8.
    x, y = T("int32", (1, 4), scales=0), T("int32", (1, 4), scales=0)
    assert _where(build(Op("ADD", [x, x], [y]))) == [("ADD", "cpu", "gpu-dtype")]
    i = T("int32", (1, 4), scales=0)
    assert _where(build(Op("CAST", [i], [_f(1, 4)]))) == [("CAST", "target", "")]
    u = T("uint8", (1, 4), scales=0)
    assert _where(build(Op("CAST", [_f(1, 4)], [u]))) == [("CAST", "cpu", "gpu-dtype")]


def test_dequantize_int16() -> None:
    # compat L709-711: "Unsupported dequantization type." for an int16 input; int8 is taken.
    for dtype, on, rule in (("int8", "target", ""), ("int16", "cpu", "gpu-dtype")):
        x = T(dtype, (1, 4), const=True)
        assert _where(build(Op("DEQUANTIZE", [x], [_f(1, 4)]))) == [("DEQUANTIZE", on, rule)]


def test_fused_sign_bit_activation() -> None:
    # compat L83-98 IsActivationSupported: kTfLiteActSignBit is refused (schema code 5); Conv2d
    # calls it (L671), RELU6 (code 3) passes.
    x, y = _f(1, 8, 8, 3), _f(1, 8, 8, 4)
    w, b = T("float32", (4, 3, 3, 3), const=True), T("float32", (4,), const=True)
    m = build(Op("CONV_2D", [x, w, b], [y]))
    assert _where(_options(m, 0, fused_activation_function=5)) == [
        ("CONV_2D", "cpu", "gpu-options")
    ]
    assert _where(_options(m, 0, fused_activation_function=3)) == [("CONV_2D", "target", "")]


def test_resize_bilinear_align_corners_and_half_pixel() -> None:
    # compat L1069-1072: "If half_pixel_centers is True, align_corners must be False."
    size = T("int32", (2,), const=True, scales=0, values=[8, 8])
    m = build(Op("RESIZE_BILINEAR", [_f(1, 4, 4, 2), size], [_f(1, 8, 8, 2)]))
    both = _options(m, 0, align_corners=True, half_pixel_centers=True)
    one = _options(m, 0, align_corners=False, half_pixel_centers=True)
    assert _where(both) == [("RESIZE_BILINEAR", "cpu", "gpu-options")]
    assert _where(one) == [("RESIZE_BILINEAR", "target", "")]


def test_options_tflkit_does_not_load_are_checked_when_present() -> None:
    # compat L1013-1023 StridedSlice: "StridedSlice does not support shrink_axis_mask
    # parameter."; L979-981 Softmax: "Softmax.beta != 1 is not supported." Options set on the
    # Operator here; that tflkit.load reads them from a file: tests/test_loader.py.
    n = 4
    ints = [
        T("int32", (n,), const=True, scales=0, values=v) for v in ([0] * 4, [1, 4, 4, 2], [1] * 4)
    ]
    ss = build(Op("STRIDED_SLICE", [_f(1, 4, 4, 2), *ints], [_f(1, 4, 4, 2)]))
    assert _where(ss) == [("STRIDED_SLICE", "target", "")]
    assert _where(_options(ss, 0, shrink_axis_mask=1)) == [("STRIDED_SLICE", "cpu", "gpu-options")]
    sm = build(Op("SOFTMAX", [_f(1, 10)], [_f(1, 10)]))
    assert _where(_options(sm, 0, beta=2.0)) == [("SOFTMAX", "cpu", "gpu-options")]
    assert _where(_options(sm, 0, beta=1.0)) == [("SOFTMAX", "target", "")]


def test_comparisons_only_before_a_cast_or_select_to_float() -> None:
    # builder L1073-1092: a comparison's output must have one consumer, a CAST / SELECT /
    # SELECT_V2 whose output is float16/float32, else "Not supported logical op case".
    # L398-403: the CAST's output needs a consumer: "Cast from bool not supported for outputs".
    a, b = _f(1, 4), _f(1, 4)
    mask, f, out = T("bool", (1, 4)), _f(1, 4), _f(1, 4)
    cast = build(Op("GREATER", [a, b], [mask]), Op("CAST", [mask], [f]), Op("MUL", [f, a], [out]))
    assert _where(cast) == [
        ("GREATER", "target", ""),
        ("CAST", "target", ""),
        ("MUL", "target", ""),
    ]
    mask2, last = T("bool", (1, 4)), _f(1, 4)
    to_output = build(Op("GREATER", [a, b], [mask2]), Op("CAST", [mask2], [last]))
    assert _where(to_output) == [("GREATER", "target", ""), ("CAST", "cpu", "gpu-consumer")]
    alone = build(Op("GREATER", [a, b], [T("bool", (1, 4))]))
    assert _where(alone) == [("GREATER", "cpu", "gpu-consumer")]
    m2, both, other = T("bool", (1, 4)), T("bool", (1, 4)), T("bool", (1, 4))
    anded = build(Op("LESS", [a, b], [m2]), Op("LOGICAL_AND", [m2, other], [both]))
    assert [r for _, _, r in _where(anded)][0] == "gpu-consumer"


def test_bool_cast_needs_a_producer_and_a_consumer() -> None:
    # builder L383-403 CastOperationParser: a bool -> float CAST whose input has no producer
    # (a graph input) is "Not supported cast case".
    flag, out = T("bool", (1, 4)), _f(1, 4)
    assert _where(build(Op("CAST", [flag], [out]))) == [("CAST", "cpu", "gpu-consumer")]


def test_select_shapes() -> None:
    # compat L367-418 CheckSelectV2GpuDelegateCompatibility: the condition broadcasts to the
    # output; "if, else tensors must either be the same shape as output or constant, scalar".
    c, a, b, y = T("bool", (1, 4, 4, 2)), _f(1, 4, 4, 2), _f(1, 4, 4, 2), _f(1, 4, 4, 2)
    assert _where(build(Op("SELECT", [c, a, b], [y]))) == [("SELECT", "target", "")]
    narrow = _f(1, 4, 1, 2)
    assert _where(build(Op("SELECT_V2", [c, narrow, b], [y]))) == [
        ("SELECT_V2", "cpu", "gpu-shape")
    ]


def test_unpack_and_relu_0_to_1_have_parsers() -> None:
    # builder L3212 Relu0To1 -> ReLUOperationParser, L3267 Unpack -> UnpackOperationParser,
    # whose IsSupported returns OkStatus.
    assert _where(build(Op("UNPACK", [_f(2, 4)], [_f(4), _f(4)]))) == [("UNPACK", "target", "")]
    r = build(Op("RELU_0_TO_1", [_f(1, 4)], [_f(1, 4)]))
    assert _where(r) == [("RELU_0_TO_1", "target", "")]


def test_five_dimensions() -> None:
    # builder L3062 IsAllAllowedTensors: "if (t->dims && t->dims->size >= 5) return false".
    assert _where(build(Op("RELU", [_f(1, 2, 2, 2, 2)], [_f(1, 2, 2, 2, 2)]))) == [
        ("RELU", "cpu", "gpu-rank")
    ]


def test_dynamic_shapes_are_tflkits_assumption() -> None:
    # tflkit's decision (gpu-dynamic-shape): a dynamic batch is kept (run at the stored batch);
    # another dynamic dimension means the caller resizes, which undoes the delegate
    # (tflite/core/subgraph.cc ResizeInputTensor: UndoAllDelegates()).
    xb, yb = T("float32", (-1, 4)), T("float32", (-1, 4))
    assert _where(build(Op("RELU", [xb], [yb]))) == [("RELU", "target", "")]
    xd, yd = T("float32", (1, -1)), T("float32", (1, -1))
    assert _where(build(Op("RELU", [xd], [yd]))) == [("RELU", "cpu", "gpu-dynamic-shape")]


def test_only_the_largest_partition_is_delegated() -> None:
    # delegate_options.cc L30 max_delegated_partitions = 1; builder L3367-3371 "we simply get
    # 1st largest partition". ADD, ADD | GATHER_ND | MUL: partitions of 2 and 1 nodes.
    x, a, b = _f(8, 4), _f(8, 4), _f(8, 4)
    idx = T("int32", (2, 1), const=True, scales=0, values=[0, 1])
    g, out = _f(2, 4), _f(2, 4)
    two = T("float32", (), const=True)
    m = build(
        Op("ADD", [x, x], [a]),
        Op("ADD", [a, x], [b]),
        Op("GATHER_ND", [b, idx], [g]),
        Op("MUL", [g, two], [out]),
    )
    assert _where(m) == [
        ("ADD", "target", ""),
        ("ADD", "target", ""),
        ("GATHER_ND", "cpu", "gpu-op"),
        ("MUL", "cpu", "gpu-partition"),
    ]
    assert place(m, "gpu").segments == 1


def test_blockwise_weights_are_refused() -> None:
    # tflkit's decision under gpu-dtype: the delegate reads per-tensor / per-channel scales.
    # fixtures/fc_blockwise_int8.tflite: FULLY_CONNECTED with int8 weights scaled per block.
    m = tflkit.load(fixture_path("fc_blockwise_int8.tflite"))
    assert _where(m) == [("FULLY_CONNECTED", "cpu", "gpu-dtype")]


def test_every_placement_names_a_rule_of_the_module() -> None:
    m = tflkit.load(fixture_path("nb_scatter.tflite"))
    for p in gpu.place(m, "gpu"):
        assert (p.on == "target") == (p.rule == "") and (not p.rule or p.rule in gpu.RULES)


def test_float16_weights_are_read_as_constants() -> None:
    # delegates/utils.cc FP16GraphPartitionHelper: an operator reading a DEQUANTIZE of float16
    # constants is checked as if it read the constants (RemapFp16InputTensors), and "Scenario 1:
    # Full Delegation" takes the DEQUANTIZEs too. fixtures/mlp_float16.tflite: 4 DEQUANTIZE of
    # float16 weights and biases, 2 FULLY_CONNECTED, SOFTMAX (MANIFEST: float16 weights).
    m = tflkit.load(fixture_path("mlp_float16.tflite"))
    assert all(on == "target" for _, on, _ in _where(m))
    # "Scenario 2: Partial Delegation ... devoid of any FP16 DEQUANT ops": with an operator the
    # delegate refuses (ARG_MAX, no parser), the DEQUANTIZE stays on the CPU, the FC does not.
    x, y = _f(1, 8), _f(1, 4)
    w16, w = T("float16", (4, 8), const=True), _f(4, 8)
    axis = T("int32", (1,), const=True, scales=0, values=[1])
    m2 = build(
        Op("DEQUANTIZE", [w16], [w]),
        Op("FULLY_CONNECTED", [x, w, None], [y]),
        Op("ARG_MAX", [y, axis], [T("int32", (1,))]),
    )
    assert _where(m2) == [
        ("DEQUANTIZE", "cpu", "gpu-fp16-dequantize"),
        ("FULLY_CONNECTED", "target", ""),
        ("ARG_MAX", "cpu", "gpu-op"),
    ]


def test_cumsum_densify_one_hot_pool_cases() -> None:
    # compat L307-322 Cumsum: "Input/output must be float type and indices must be constant
    # int32 type"; L677-679 Densify: CheckInputsOutputs(op_sig, 0, 1) (a constant input only);
    # L324-369 OneHot: "on/off tensors must be constant, scalar, float type"; L224-229
    # CheckKernelsAndStrides: "Incorrect stride values" for a stride of 0.
    axis = T("int32", (), const=True, scales=0, values=[1])
    i32 = T("int32", (1, 4), scales=0)
    assert _where(build(Op("CUMSUM", [_f(1, 4), axis], [_f(1, 4)]))) == [("CUMSUM", "target", "")]
    assert _where(build(Op("CUMSUM", [i32, axis], [T("int32", (1, 4), scales=0)]))) == [
        ("CUMSUM", "cpu", "gpu-dtype")
    ]
    dense = T("float32", (4, 4), const=True)
    assert _where(build(Op("DENSIFY", [dense], [_f(4, 4)]))) == [("DENSIFY", "target", "")]
    assert _where(build(Op("DENSIFY", [_f(4, 4)], [_f(4, 4)]))) == [
        ("DENSIFY", "cpu", "gpu-inputs")
    ]
    idx, depth = T("int32", (1, 1, 4), scales=0), T("int32", (), const=True, scales=0, values=[8])
    on, off = T("float32", (), const=True), T("float32", (), const=True)
    hot = build(Op("ONE_HOT", [idx, depth, on, off], [_f(1, 1, 4, 8)]))
    assert _where(hot) == [("ONE_HOT", "target", "")]
    cold = build(Op("ONE_HOT", [idx, depth, _f(), off], [_f(1, 1, 4, 8)]))
    assert _where(cold) == [("ONE_HOT", "cpu", "gpu-inputs")]
    pool = build(Op("AVERAGE_POOL_2D", [_f(1, 8, 8, 4)], [_f(1, 4, 4, 4)]))
    assert _where(_options(pool, 0, filter_height=2, filter_width=2, stride_h=2, stride_w=2)) == [
        ("AVERAGE_POOL_2D", "target", "")
    ]
    assert _where(_options(pool, 0, filter_height=2, filter_width=2, stride_h=0, stride_w=2)) == [
        ("AVERAGE_POOL_2D", "cpu", "gpu-options")
    ]

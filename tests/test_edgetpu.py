"""tflkit.targets.edgetpu: cases worked out by hand from coral.ai/docs/edgetpu/models-intro.

The Edge TPU compiler cannot run here (an x86 Debian package from Coral's apt repository), so
the truth is the documentation's text: each test quotes the line of "Model requirements" or
"Supported operations" it checks, from where the module's docstring says it was read (the
page, Axis's ARTPEC-7 copy of the current table, the older table in
dgist-datalab/Datalab_Intern@6b78cf3f, google-coral/edgetpu CHANGES.md), or names tflkit's
own decision.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from _graphs import Op, T, build
from conftest import fixture_path

import tflkit
from tflkit.model import Model
from tflkit.targets import edgetpu, place


def _where(model: Model) -> list[tuple[str, str, str]]:
    return [(p.op, p.on, p.rule) for p in edgetpu.place(model, "edgetpu")]


def _options(model: Model, index: int, **options: Any) -> Model:
    """``model`` with builtin options on operator ``index`` of subgraph 0 (schema names)."""
    sg = model.subgraphs[0]
    ops = list(sg.operators)
    ops[index] = dataclasses.replace(ops[index], options=tuple(options.items()))
    return dataclasses.replace(model, subgraphs=(dataclasses.replace(sg, operators=tuple(ops)),))


def _fc(x: T, y: T, *, bias: str = "int32") -> Op:
    w = T("int8", (y.shape[-1], x.shape[-1]), const=True)
    b = T(bias, (y.shape[-1],), const=True)
    return Op("FULLY_CONNECTED", [x, w, b], [y])


def test_int8_graph_of_fixed_size_maps_entirely() -> None:
    # All five requirements hold: int8 tensors, fixed sizes, constant weights, 2-D, ops listed
    # (FullyConnected; Softmax on a 1-D input of 10 elements after the batch of 1).
    x, h, y, p = (T("int8", s) for s in [(1, 32), (1, 64), (1, 10), (1, 10)])
    result = place(build(_fc(x, h), _fc(h, y), Op("SOFTMAX", [y], [p])), "edgetpu")
    assert result.passed and result.segments == 1


def test_float_model_stays_on_the_cpu() -> None:
    # "Tensor parameters are quantized (8-bit fixed-point numbers; int8 or uint8)."
    # fixtures/mlp_fixed_batch1.tflite is float32: the first op is not mapped, nor what follows.
    m = tflkit.load(fixture_path("mlp_fixed_batch1.tflite"))
    assert _where(m) == [
        ("FULLY_CONNECTED", "cpu", "edgetpu-dtype"),
        ("FULLY_CONNECTED", "cpu", "edgetpu-after-unsupported"),
        ("SOFTMAX", "cpu", "edgetpu-after-unsupported"),
    ]


def test_a_dynamic_batch_compiles_at_its_stored_batch_but_other_dynamic_sizes_do_not() -> None:
    # "Tensor sizes are constant at compile-time (no dynamic sizes)." The compiler reads the
    # stored shape: fixtures/mlp_int8.tflite keeps the converter's batch -1 in its shape
    # signature and 1 in its shape, and maps whole; the audio front-end's [-1, -1] does not.
    m = tflkit.load(fixture_path("mlp_int8.tflite"))
    assert [r for _, _, r in _where(m)] == ["", "", ""]
    from conftest import edited

    def both_dynamic(model: Any) -> None:
        sg = model.subgraphs[0]
        sg.tensors[sg.inputs[0]].shapeSignature = [-1, -1]

    dynamic = tflkit.load(edited("mlp_int8.tflite", both_dynamic))
    assert [r for _, _, r in _where(dynamic)][0] == "edgetpu-dynamic-shape"


def test_everything_after_the_first_unsupported_op_runs_on_the_cpu() -> None:
    # "as soon as an unsupported operation occurs, that operation and everything after it
    # executes on the CPU, even if supported operations occur later": FC | TILE | ADD.
    x, h, t, y = T("int8", (1, 8)), T("int8", (1, 8)), T("int8", (2, 8)), T("int8", (2, 8))
    reps = T("int32", (2,), const=True, scales=0, values=[2, 1])
    m = build(_fc(x, h), Op("TILE", [h, reps], [t]), Op("ADD", [t, t], [y]))
    assert _where(m) == [
        ("FULLY_CONNECTED", "target", ""),
        ("TILE", "cpu", "edgetpu-op"),
        ("ADD", "cpu", "edgetpu-after-unsupported"),
    ]
    assert place(m, "edgetpu").segments == 1


def test_four_dimensions_only_with_outer_size_one() -> None:
    # "If a tensor has more than 3 dimensions, then only the 3 innermost dimensions may have a
    # size greater than 1": (1, 8, 8, 4) maps, (2, 8, 8, 4) does not.
    def add(shape: tuple[int, ...]) -> Model:
        x, y = T("int8", shape), T("int8", shape)
        return build(Op("ADD", [x, x], [y]))

    assert _where(add((1, 8, 8, 4))) == [("ADD", "target", "")]
    assert _where(add((2, 8, 8, 4))) == [("ADD", "cpu", "edgetpu-rank")]


def test_bias_must_be_32_bit() -> None:
    # Model requirements: quantized tensors, bias 32-bit (int16x8 models carry int64 bias).
    x, y = T("int8", (1, 8)), T("int8", (1, 4))
    assert _where(build(_fc(x, y, bias="int64"))) == [("FULLY_CONNECTED", "cpu", "edgetpu-dtype")]


def test_weights_must_be_constant() -> None:
    # "Model parameters (such as bias tensors) are constant at compile-time."
    x, y = T("int8", (1, 4, 4, 3)), T("int8", (1, 4, 4, 2))
    w, b = T("int8", (2, 1, 1, 3)), T("int32", (2,), const=True)
    m = build(Op("CONV_2D", [x, w, b], [y]))
    assert _where(m) == [("CONV_2D", "cpu", "edgetpu-constant")]


def test_softmax_one_dimension_at_most_16000() -> None:
    # Softmax: "Supports only 1-D input tensor with a max of 16,000 elements."
    def softmax(shape: tuple[int, ...]) -> Model:
        x, y = T("int8", shape), T("int8", shape)
        return build(Op("SOFTMAX", [x], [y]))

    assert _where(softmax((1, 16000))) == [("SOFTMAX", "target", "")]
    assert _where(softmax((1, 16001))) == [("SOFTMAX", "cpu", "edgetpu-op-limit")]
    assert _where(softmax((1, 4, 10))) == [("SOFTMAX", "cpu", "edgetpu-op-limit")]


def test_mean_not_in_the_batch_and_z_in_fours() -> None:
    # Mean (Axis's copy of the current table): "No reduction in batch dimension. If a
    # z-reduction, the z-dimension must be multiple of 4." Axes [1, 2] of NHWC map; [3] maps
    # over 8 channels and not over 6; [0] (batch) does not.
    def mean(axes: list[int], channels: int = 8) -> Model:
        x, y = T("int8", (1, 4, 4, channels)), T("int8", (1, 4, 4))
        a = T("int32", (len(axes),), const=True, scales=0, values=axes)
        return build(Op("MEAN", [x, a], [y]))

    assert _where(mean([1, 2])) == [("MEAN", "target", "")]
    assert _where(mean([3])) == [("MEAN", "target", "")]
    assert _where(mean([3], channels=6)) == [("MEAN", "cpu", "edgetpu-op-limit")]
    assert _where(mean([0])) == [("MEAN", "cpu", "edgetpu-op-limit")]


def test_pools_and_concatenation_without_fused_activation() -> None:
    # AveragePool2d, MaxPool2d, Concatenation: "No fused activation function." (schema code 1
    # is RELU, 0 NONE)
    x, y = T("int8", (1, 8, 8, 4)), T("int8", (1, 4, 4, 4))
    pool = build(Op("MAX_POOL_2D", [x], [y]))
    assert _where(_options(pool, 0, fused_activation_function=0)) == [("MAX_POOL_2D", "target", "")]
    assert _where(_options(pool, 0, fused_activation_function=1)) == [
        ("MAX_POOL_2D", "cpu", "edgetpu-op-limit")
    ]
    a, b = T("int8", (1, 4)), T("int8", (1, 8))
    cat = build(Op("CONCATENATION", [a, a], [b]))
    assert _where(_options(cat, 0, fused_activation_function=3)) == [
        ("CONCATENATION", "cpu", "edgetpu-op-limit")
    ]


def test_same_dilation_in_x_and_y() -> None:
    # Conv2d and DepthwiseConv2d: "Must use the same dilation in x and y dimensions." (2, 2)
    # maps, (2, 1) does not.
    x, y = T("int8", (1, 8, 8, 4)), T("int8", (1, 8, 8, 4))
    w, b = T("int8", (1, 3, 3, 4), const=True), T("int32", (4,), const=True)
    m = build(Op("DEPTHWISE_CONV_2D", [x, w, b], [y]))
    same = _options(m, 0, dilation_h_factor=2, dilation_w_factor=2)
    apart = _options(m, 0, dilation_h_factor=2, dilation_w_factor=1)
    assert _where(same) == [("DEPTHWISE_CONV_2D", "target", "")]
    assert _where(apart) == [("DEPTHWISE_CONV_2D", "cpu", "edgetpu-op-limit")]


def test_prelu_alpha_one_dimensional_and_constant() -> None:
    # PReLU: "Alpha must be 1-dimensional (only the innermost dimension can be >1 size)"; and
    # "Model parameters ... are constant at compile-time."
    x, y = T("int8", (1, 4, 4, 8)), T("int8", (1, 4, 4, 8))
    flat = T("int8", (1, 1, 8), const=True)
    full = T("int8", (4, 4, 8), const=True)
    runtime = T("int8", (1, 1, 8))
    assert _where(build(Op("PRELU", [x, flat], [y]))) == [("PRELU", "target", "")]
    assert _where(build(Op("PRELU", [x, full], [y]))) == [("PRELU", "cpu", "edgetpu-op-limit")]
    assert _where(build(Op("PRELU", [x, runtime], [y]))) == [("PRELU", "cpu", "edgetpu-constant")]


def test_squeeze_only_leading_ones() -> None:
    # Squeeze (older table): "input tensor with [y][x][z] = 1,1,10 or 1,5,10 is ok. But
    # [y][x][z] = 5,1,10 is not supported."
    def squeeze(before: tuple[int, ...], after: tuple[int, ...]) -> Model:
        return build(Op("SQUEEZE", [T("int8", before)], [T("int8", after)]))

    assert _where(squeeze((1, 1, 10), (10,))) == [("SQUEEZE", "target", "")]
    assert _where(squeeze((1, 5, 10), (5, 10))) == [("SQUEEZE", "target", "")]
    assert _where(squeeze((5, 1, 10), (5, 10))) == [("SQUEEZE", "cpu", "edgetpu-op-limit")]


def test_notes_that_need_options_tflkit_does_not_load() -> None:
    # Pack: "No packing in batch dimension."; FullyConnected: "Only the default format is
    # supported for fully-connected weights."; StridedSlice: "ellipsis-axis-mask == 0". tflkit
    # does not load these options yet: checked when an Operator carries them.
    a, out = T("int8", (1, 4)), T("int8", (1, 2, 4))
    pack = build(Op("PACK", [a, a], [out]))
    assert _where(pack) == [("PACK", "target", "")]
    assert _where(_options(pack, 0, axis=1)) == [("PACK", "target", "")]
    assert _where(_options(pack, 0, axis=0)) == [("PACK", "cpu", "edgetpu-op-limit")]
    fc = build(_fc(T("int8", (1, 8)), T("int8", (1, 4))))
    assert _where(_options(fc, 0, weights_format=1)) == [
        ("FULLY_CONNECTED", "cpu", "edgetpu-op-limit")
    ]
    x, y = T("int8", (1, 8)), T("int8", (1, 8))
    ints = [T("int32", (2,), const=True, scales=0, values=v) for v in ([0, 0], [1, 8], [1, 1])]
    ss = build(Op("STRIDED_SLICE", [x, *ints], [y]))
    assert _where(_options(ss, 0, ellipsis_mask=1)) == [
        ("STRIDED_SLICE", "cpu", "edgetpu-op-limit")
    ]


def test_pad_not_in_the_batch_dimension() -> None:
    # Pad: "No padding in batch dimension." paddings [[1, 1], [0, 0]] pad the batch of (2, 4).
    def pad(first: list[int]) -> Model:
        x, y = T("int8", (2, 4)), T("int8", (2 + sum(first), 4))
        p = T("int32", (2, 2), const=True, scales=0, values=[*first, 0, 0])
        return build(Op("PAD", [x, p], [y]))

    assert _where(pad([0, 0])) == [("PAD", "target", "")]
    assert _where(pad([1, 1])) == [("PAD", "cpu", "edgetpu-op-limit")]


def test_float_io_edges_run_on_the_cpu_without_cutting() -> None:
    # tflkit's decision (edgetpu-float-io): full-integer model with float I/O; QUANTIZE and
    # DEQUANTIZE on the CPU, the int8 FULLY_CONNECTED between them mapped.
    x, q, h, y = T("float32", (1, 8)), T("int8", (1, 8)), T("int8", (1, 4)), T("float32", (1, 4))
    m = build(Op("QUANTIZE", [x], [q]), _fc(q, h), Op("DEQUANTIZE", [h], [y]))
    assert _where(m) == [
        ("QUANTIZE", "cpu", "edgetpu-float-io"),
        ("FULLY_CONNECTED", "target", ""),
        ("DEQUANTIZE", "cpu", "edgetpu-float-io"),
    ]
    assert place(m, "edgetpu").segments == 1


def test_other_subgraphs_stay_on_the_cpu() -> None:
    # tflkit's decision (edgetpu-subgraph): the compiler maps subgraph 0 only.
    x, y = T("int8", (1, 4)), T("int8", (1, 4))
    u, v = T("int8", (1, 4)), T("int8", (1, 4))
    m = build(Op("ADD", [x, x], [y]), more=((Op("ADD", [u, u], [v]),),))
    assert _where(m) == [("ADD", "target", ""), ("ADD", "cpu", "edgetpu-subgraph")]


def test_blockwise_quantization_is_not_8_bit_fixed_point() -> None:
    # "Tensor parameters are quantized (8-bit fixed-point numbers; int8 or uint8)": one scale
    # per tensor or channel. fixtures/add_blockwise_int8.tflite adds a constant scaled per block.
    m = tflkit.load(fixture_path("add_blockwise_int8.tflite"))
    assert _where(m) == [("ADD", "cpu", "edgetpu-dtype")]


def test_strided_slice_only_with_all_strides_1() -> None:
    # StridedSlice: "Supported only when all strides are equal to 1 (that is, effectively a
    # Stride op)". (1, 8) -> begin [0, 0], end [1, 8]: strides [1, 1] keep 8 values and map;
    # strides [1, 2] keep 4 (indices 0, 2, 4, 6) and do not.
    def strided(strides: list[int]) -> Model:
        x, y = T("int8", (1, 8)), T("int8", (1, 8 // strides[1]))
        begin = T("int32", (2,), const=True, scales=0, values=[0, 0])
        end = T("int32", (2,), const=True, scales=0, values=[1, 8])
        step = T("int32", (2,), const=True, scales=0, values=strides)
        return build(Op("STRIDED_SLICE", [x, begin, end, step], [y]))

    assert _where(strided([1, 1])) == [("STRIDED_SLICE", "target", "")]
    assert _where(strided([1, 2])) == [("STRIDED_SLICE", "cpu", "edgetpu-op-limit")]


def test_fully_connected_output_is_one_dimensional() -> None:
    # FullyConnected: "Output tensor is one-dimensional." 8 inputs -> 4 units: (1, 4) has one
    # dimension greater than 1 and maps; a batch of 2 rows, (2, 4), has two and does not.
    assert _where(build(_fc(T("int8", (1, 8)), T("int8", (1, 4))))) == [
        ("FULLY_CONNECTED", "target", "")
    ]
    assert _where(build(_fc(T("int8", (2, 8)), T("int8", (2, 4))))) == [
        ("FULLY_CONNECTED", "cpu", "edgetpu-op-limit")
    ]


def test_concatenation_constant_input_only_as_zero_padding() -> None:
    # Concatenation: "If any input is a compile-time constant tensor, there must be only 2
    # inputs, and this constant tensor must be all zeroes (effectively, a zero-padding op)."
    # (1, 4) ++ constant (1, 2) -> (1, 6); with zero point 3, a stored 3 is the real 0.
    def concat(pad: list[int], *, extra: bool = False) -> Model:
        x, y = T("int8", (1, 4)), T("int8", (1, 6 + 4 * extra))
        c = T("int8", (1, 2), const=True, values=pad, zero_point=3)
        return build(Op("CONCATENATION", [x, c, *([x] if extra else [])], [y]))

    assert _where(concat([3, 3])) == [("CONCATENATION", "target", "")]
    assert _where(concat([3, 4])) == [("CONCATENATION", "cpu", "edgetpu-op-limit")]
    assert _where(concat([3, 3], extra=True)) == [("CONCATENATION", "cpu", "edgetpu-op-limit")]
    # Without a constant, three inputs are fine: (1, 4) ++ (1, 4) ++ (1, 4) -> (1, 12).
    x, y = T("int8", (1, 4)), T("int8", (1, 12))
    assert _where(build(Op("CONCATENATION", [x, x, x], [y]))) == [("CONCATENATION", "target", "")]


def test_four_dimensional_filters_are_not_activations() -> None:
    # The rank requirement is about activations: Conv2d filters are [O, H, W, I] with O > 1 and
    # the compiler maps Conv2d ("CONV_2D 11 Mapped to Edge TPU" in an Edge TPU Compiler 14.1
    # log, rajansaini691/retinanet-model-tflite tiny_yolo_edgetpu.log).
    x, y = T("int8", (1, 8, 8, 3)), T("int8", (1, 8, 8, 4))
    w, b = T("int8", (4, 3, 3, 3), const=True), T("int32", (4,), const=True)
    assert _where(build(Op("CONV_2D", [x, w, b], [y]))) == [("CONV_2D", "target", "")]

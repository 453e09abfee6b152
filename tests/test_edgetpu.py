"""tflkit.targets.edgetpu: cases worked out by hand from coral.ai/docs/edgetpu/models-intro.

Each test quotes the line of "Model requirements" or "Supported operations" it checks (as the
module's docstring cites them, with where each was read), or names tflkit's own decision.
"""

from __future__ import annotations

from typing import Any

from _graphs import Op, T, build
from conftest import fixture_path

import tflkit
from tflkit.model import Model
from tflkit.targets import edgetpu, place


def _where(model: Model) -> list[tuple[str, str, str]]:
    return [(p.op, p.on, p.rule) for p in edgetpu.place(model, "edgetpu")]


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


def test_mean_along_x_and_y_only() -> None:
    # Mean: "No reduction in batch dimension. Supports reduction along x- and/or y-dimensions
    # only." Axes [1, 2] of NHWC map; [3] (channels) and [0] (batch) do not.
    def mean(axes: list[int]) -> Model:
        x, y = T("int8", (1, 4, 4, 8)), T("int8", (1, 8))
        a = T("int32", (len(axes),), const=True, scales=0, values=axes)
        return build(Op("MEAN", [x, a], [y]))

    assert _where(mean([1, 2])) == [("MEAN", "target", "")]
    assert _where(mean([3])) == [("MEAN", "cpu", "edgetpu-op-limit")]
    assert _where(mean([0])) == [("MEAN", "cpu", "edgetpu-op-limit")]


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

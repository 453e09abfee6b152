"""tflkit.targets.gpu: cases worked out by hand from the GPU delegate's rules.

Each test names the rule it checks: a case of ``CheckGpuDelegateCompatibility`` in
``tflite/tools/versioning/gpu_compatibility.cc`` (google-ai-edge/LiteRT), a tensor check of
``delegates/gpu/common/model_builder.cc`` or the default ``max_delegated_partitions = 1`` of
``delegates/gpu/delegate_options.cc``, as the module's docstring cites them (checked against
google-ai-edge/LiteRT at f67457790c9c2ab67347d6fe53270e8d3df20868).
"""

from __future__ import annotations

from _graphs import Op, T, build
from conftest import fixture_path

import tflkit
from tflkit.model import Model
from tflkit.targets import gpu, place


def _where(model: Model) -> list[tuple[str, str, str]]:
    return [(p.op, p.on, p.rule) for p in gpu.place(model, "gpu")]


def test_arg_max_has_no_case_in_the_switch() -> None:
    # gpu_compatibility.cc: ARG_MAX falls to "Not supported op"; the ADD before it is taken.
    x, y, z = T("float32", (1, 8, 8, 4)), T("float32", (1, 8, 8, 4)), T("int32", (1, 8, 8))
    axis = T("int32", (1,), const=True, scales=0, values=[3])
    m = build(Op("ADD", [x, x], [y]), Op("ARG_MAX", [y, axis], [z]))
    assert _where(m) == [("ADD", "target", ""), ("ARG_MAX", "cpu", "gpu-op")]


def test_gather_nd_is_not_supported() -> None:
    # gpu_compatibility.cc: no case for GATHER_ND. fixtures/nb_gather_nd.tflite: GATHER_ND,
    # then MUL by a constant scalar (a two-argument element-wise op, one runtime input).
    m = tflkit.load(fixture_path("nb_gather_nd.tflite"))
    assert _where(m) == [("GATHER_ND", "cpu", "gpu-op"), ("MUL", "target", "")]


def test_int16_tensors_are_not_read() -> None:
    # model_builder.cc: float32, float16, int32, int8/uint8 (quantized), bool; not int16.
    # fixtures/mlp_int16x8.tflite: int16 activations everywhere.
    m = tflkit.load(fixture_path("mlp_int16x8.tflite"))
    assert [r for _, _, r in _where(m)] == ["gpu-dtype"] * 3


def test_int8_model_runs_quantized() -> None:
    # Quantized inference is on by default; FULLY_CONNECTED v4 <= 9, SOFTMAX v2 <= 2.
    # fixtures/mlp_int8.tflite has a dynamic batch only (-1 in dimension 0).
    m = tflkit.load(fixture_path("mlp_int8.tflite"))
    result = place(m, "gpu")
    assert result.passed and result.segments == 1


def test_conv_2d_version_above_the_parser() -> None:
    # CheckMaxSupportedOpVersion(op_sig, 6) for CONV_2D: version 7 is refused, 6 taken.
    def conv(version: int) -> Model:
        x, y = T("float32", (1, 8, 8, 3)), T("float32", (1, 8, 8, 4))
        w, b = T("float32", (4, 3, 3, 3), const=True), T("float32", (4,), const=True)
        return build(Op("CONV_2D", [x, w, b], [y], version=version))

    assert _where(conv(6)) == [("CONV_2D", "target", "")]
    assert _where(conv(7)) == [("CONV_2D", "cpu", "gpu-op-version")]


def test_fully_connected_with_a_constant_input() -> None:
    # FULLY_CONNECTED: "FullyConnected doesn't support constant input."
    x, w, y = (
        T("float32", (1, 4), const=True),
        T("float32", (2, 4), const=True),
        T("float32", (1, 2)),
    )
    assert _where(build(Op("FULLY_CONNECTED", [x, w, None], [y]))) == [
        ("FULLY_CONNECTED", "cpu", "gpu-inputs")
    ]


def test_one_argument_op_on_a_constant() -> None:
    # One-argument element-wise ops: CheckInputsConstsOutputs(op_sig, 1, 0, 1).
    c, y = T("float32", (1, 4), const=True), T("float32", (1, 4))
    assert _where(build(Op("LOGISTIC", [c], [y]))) == [("LOGISTIC", "cpu", "gpu-inputs")]


def test_mean_axes_must_be_constant() -> None:
    # MEAN: CheckInputsConstsOutputs(op_sig, 1, 1, 1): the axes are the one constant.
    x, y = T("float32", (1, 4, 4, 8)), T("float32", (1, 8))
    axes = T("int32", (2,), scales=0)
    assert _where(build(Op("MEAN", [x, axes], [y]))) == [("MEAN", "cpu", "gpu-inputs")]


def test_five_dimensions_and_dynamic_shapes() -> None:
    # model_builder.cc: BHWC tensors, at most 4 dims; shapes fixed at Prepare except the batch.
    x5, y5 = T("float32", (1, 2, 2, 2, 2)), T("float32", (1, 2, 2, 2, 2))
    assert _where(build(Op("RELU", [x5], [y5]))) == [("RELU", "cpu", "gpu-rank")]
    xb, yb = T("float32", (-1, 4)), T("float32", (-1, 4))
    assert _where(build(Op("RELU", [xb], [yb]))) == [("RELU", "target", "")]
    xd, yd = T("float32", (1, -1)), T("float32", (1, -1))
    assert _where(build(Op("RELU", [xd], [yd]))) == [("RELU", "cpu", "gpu-dynamic-shape")]


def test_only_the_largest_partition_is_delegated() -> None:
    # delegate_options.cc: max_delegated_partitions = 1. ADD, ADD | GATHER_ND | MUL: two
    # partitions of 2 and 1 nodes; the MUL runs on the CPU although the switch accepts it.
    x, a, b = T("float32", (8, 4)), T("float32", (8, 4)), T("float32", (8, 4))
    idx = T("int32", (2, 1), const=True, scales=0, values=[0, 1])
    g, out = T("float32", (2, 4)), T("float32", (2, 4))
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


def test_custom_ops_by_name() -> None:
    # The switch's CUSTOM case: MediaPipe's Convolution2DTransposeBias and three more.
    x, y = T("float32", (1, 4, 4, 2)), T("float32", (1, 8, 8, 2))
    known = build(Op("CUSTOM", [x], [y], custom="Convolution2DTransposeBias"))
    other = build(Op("CUSTOM", [x], [y], custom="MyOp"))
    assert _where(known) == [("CUSTOM 'Convolution2DTransposeBias'", "target", "")]
    assert _where(other) == [("CUSTOM 'MyOp'", "cpu", "gpu-op")]


def test_every_placement_names_a_rule_of_the_module() -> None:
    m = tflkit.load(fixture_path("nb_scatter.tflite"))
    for p in gpu.place(m, "gpu"):
        assert (p.on == "target") == (p.rule == "") and (not p.rule or p.rule in gpu.RULES)


def test_blockwise_weights_are_refused() -> None:
    # tflkit's decision under gpu-dtype: the delegate reads per-tensor / per-channel scales.
    # fixtures/fc_blockwise_int8.tflite: FULLY_CONNECTED with int8 weights scaled per block.
    m = tflkit.load(fixture_path("fc_blockwise_int8.tflite"))
    assert _where(m) == [("FULLY_CONNECTED", "cpu", "gpu-dtype")]


def test_elementwise_and_reshape_versions() -> None:
    # model_builder.cc: ElementwiseOperationParser checks version 2 (MUL 3) for SUB as for
    # ADD; ReshapeOperationParser checks version 1.
    def sub(version: int) -> Model:
        x, y = T("float32", (1, 4)), T("float32", (1, 4))
        return build(Op("SUB", [x, x], [y], version=version))

    def reshape(version: int) -> Model:
        x, y = T("float32", (1, 8)), T("float32", (2, 4))
        shape = T("int32", (2,), const=True, scales=0, values=[2, 4])
        return build(Op("RESHAPE", [x, shape], [y], version=version))

    assert _where(sub(2)) == [("SUB", "target", "")]
    assert _where(sub(3)) == [("SUB", "cpu", "gpu-op-version")]
    assert _where(reshape(1)) == [("RESHAPE", "target", "")]
    assert _where(reshape(2)) == [("RESHAPE", "cpu", "gpu-op-version")]


def test_gather_indices_at_run_time() -> None:
    # gpu_compatibility.cc GATHER: 2 runtime inputs or 1 runtime + 1 constant; 1D int32
    # indices. GetOpsToReplace lets GATHER read a runtime int32 input.
    x, i1, y1 = T("float32", (8, 4)), T("int32", (2,), scales=0), T("float32", (2, 4))
    assert _where(build(Op("GATHER", [x, i1], [y1]))) == [("GATHER", "target", "")]
    i2, y2 = T("int32", (2, 1), scales=0), T("float32", (2, 1, 4))
    assert _where(build(Op("GATHER", [x, i2], [y2]))) == [("GATHER", "cpu", "gpu-inputs")]


def test_depthwise_conv_with_runtime_weights() -> None:
    # CheckConvoultionInputOutput: at most 2 runtime inputs, so the weights may be computed.
    x, w, y = T("float32", (1, 8, 8, 4)), T("float32", (1, 3, 3, 4)), T("float32", (1, 8, 8, 4))
    b = T("float32", (4,), const=True)
    assert _where(build(Op("DEPTHWISE_CONV_2D", [x, w, b], [y]))) == [
        ("DEPTHWISE_CONV_2D", "target", "")
    ]
    w3 = T("float32", (1, 3, 3, 4))
    b3 = T("float32", (4,))
    assert _where(build(Op("DEPTHWISE_CONV_2D", [x, w3, b3], [y]))) == [
        ("DEPTHWISE_CONV_2D", "cpu", "gpu-inputs")
    ]


def test_select_unpack_relu_0_to_1_have_parsers() -> None:
    # NewOperationParser: SELECT shares SelectV2OperationParser (bool condition allowed),
    # UNPACK and RELU_0_TO_1 have parsers whose IsSupported accepts them.
    c, a, b, y = (
        T("bool", (1, 4, 4, 2)),
        T("float32", (1, 4, 4, 2)),
        T("float32", (1, 4, 4, 2)),
        T("float32", (1, 4, 4, 2)),
    )
    assert _where(build(Op("SELECT", [c, a, b], [y]))) == [("SELECT", "target", "")]
    x, u0, u1 = T("float32", (2, 4)), T("float32", (4,)), T("float32", (4,))
    assert _where(build(Op("UNPACK", [x], [u0, u1]))) == [("UNPACK", "target", "")]
    r, s = T("float32", (1, 4)), T("float32", (1, 4))
    assert _where(build(Op("RELU_0_TO_1", [r], [s]))) == [("RELU_0_TO_1", "target", "")]


def test_runtime_int32_only_where_get_ops_to_replace_allows_it() -> None:
    # GetOpsToReplace: runtime tensors float32/float16 (int8/uint8 quantized); CAST may read
    # and write int32, ADD may not.
    x, y = T("int32", (1, 4), scales=0), T("int32", (1, 4), scales=0)
    assert _where(build(Op("ADD", [x, x], [y]))) == [("ADD", "cpu", "gpu-dtype")]
    i, f = T("int32", (1, 4), scales=0), T("float32", (1, 4))
    assert _where(build(Op("CAST", [i], [f]))) == [("CAST", "target", "")]

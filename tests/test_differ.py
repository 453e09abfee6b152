"""tflkit.diff: pairs of models whose differences are listed by hand (from MANIFEST.json or
from the edit made), layout twins that must compare equal, and the model against itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import ALL_FIXTURES, FIXTURES, MODELS, edited, litert_interpreter

import tflkit
from tflkit.differ import diff

MLP_INPUT = "signature 'serving_default' input 'keras_tensor'"
MLP_OUTPUT = "signature 'serving_default' output 'output_0'"


def _fields(d: Any, section: str) -> set[tuple[str, str, str]]:
    return {(c.kind, c.subject, c.field) for c in d.section(section)}


# --- the edits (LiteRT's object API) ---------------------------------------------------------


def _input_to_float32(m: Any) -> None:
    from ai_edge_litert import schema_py_generated as schema

    t = m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]]
    t.type, t.quantization = schema.TensorType.FLOAT32, None


def _output_scale_times(factor: float) -> Any:
    def edit(m: Any) -> None:
        t = m.subgraphs[0].tensors[m.subgraphs[0].outputs[0]]
        t.quantization.scale = [float(np.float32(t.quantization.scale[0] * factor))]

    return edit


def _drop_signature(key: str) -> Any:
    def edit(m: Any) -> None:
        m.signatureDefs = [s for s in m.signatureDefs if s.signatureKey.decode() != key]

    return edit


def _append_flex_op(m: Any) -> None:
    """A FlexCumprod after the output, writing a new tensor 'flex_out' (not an output)."""
    from ai_edge_litert import schema_py_generated as schema

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode, code.version = "FlexCumprod", 1
    m.operatorCodes.append(code)
    sg = m.subgraphs[0]
    out = schema.TensorT()
    out.name, out.shape, out.type = b"flex_out", [1, 10], schema.TensorType.FLOAT32
    out.buffer = len(m.buffers)
    m.buffers.append(schema.BufferT())
    sg.tensors.append(out)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = (
        len(m.operatorCodes) - 1,
        [sg.outputs[0]],
        [len(sg.tensors) - 1],
    )
    sg.operators.append(op)


def _bump_bias(m: Any) -> None:
    t = m.subgraphs[0].tensors[1]  # 'sequential_1/dense_1_2/BiasAdd', 10 float32
    data = np.frombuffer(bytes(m.buffers[t.buffer].data), np.float32).copy()
    data[0] += 1.0
    m.buffers[t.buffer].data = np.frombuffer(data.tobytes(), np.uint8)


# --- pairs with their changes listed by hand --------------------------------------------------


def test_float32_vs_int8_mlp() -> None:
    old, new = MODELS["mlp_float32.tflite"], MODELS["mlp_int8.tflite"]
    d = diff(FIXTURES / "mlp_float32.tflite", FIXTURES / "mlp_int8.tflite")
    assert not d.same
    # MANIFEST: float32 I/O on one side, int8 with these scales and zero points on the other
    assert _fields(d, "interface") == {
        ("changed", MLP_INPUT, "dtype"),
        ("changed", MLP_INPUT, "quantization"),
        ("changed", MLP_OUTPUT, "dtype"),
        ("changed", MLP_OUTPUT, "quantization"),
    }
    by = {(c.subject, c.field): c for c in d.section("interface")}
    assert (by[MLP_INPUT, "dtype"].old, by[MLP_INPUT, "dtype"].new) == ("float32", "int8")
    assert by[MLP_INPUT, "quantization"].new == (
        f"scale {new['inputs'][0]['scale']:.6g} zero point {new['inputs'][0]['zero_point']}"
    )
    quant = {c.field: (c.old, c.new) for c in d.section("quantization")}
    assert quant == {
        "quantization_kind": (old["quantization_kind"], new["quantization_kind"]),
        "int8_check": (old["fully_int8"], new["fully_int8"]),
    }
    # Same op kinds (MANIFEST ops); only their versions differ, so no kind added or removed.
    assert not [c for c in d.section("operators") if c.kind != "changed"]
    # Every tensor of the float model is float32; the int8 model quantizes all 8 of them.
    retyped = {c.subject for c in d.section("tensors") if c.field == "dtype"}
    requantized = {c.subject for c in d.section("tensors") if c.field == "quantization"}
    assert len(retyped) == len(requantized) == 8
    assert not [c for c in d.section("tensors") if c.kind != "changed"]
    assert d.summary.startswith("4 changes to the interface, quantization float32 -> int8")
    assert "8 tensors requantized" in d.summary
    assert "op kind added" not in d.summary


def test_int8_with_one_input_turned_float32() -> None:
    d = diff(FIXTURES / "mlp_int8.tflite", edited("mlp_int8.tflite", _input_to_float32))
    assert _fields(d, "interface") == {
        ("changed", MLP_INPUT, "dtype"),
        ("changed", MLP_INPUT, "quantization"),
    }
    assert {c.field: (c.old, c.new) for c in d.section("quantization")} == {
        "quantization_kind": ("int8", "mixed"),  # float input, int8 elsewhere
        "int8_check": (True, False),
    }
    name = MODELS["mlp_int8.tflite"]["inputs"][0]["name"]
    assert _fields(d, "tensors") == {
        ("changed", f"tensor {name!r}", "dtype"),
        ("changed", f"tensor {name!r}", "quantization"),
    }
    assert d.section("operators") == d.section("size") == d.section("metadata") == ()


def test_changed_output_scale_is_a_drift() -> None:
    scale = MODELS["mlp_int8.tflite"]["outputs"][0]["scale"]  # 1/256: times 1.5 is exact
    d = diff(FIXTURES / "mlp_int8.tflite", edited("mlp_int8.tflite", _output_scale_times(1.5)))
    name = MODELS["mlp_int8.tflite"]["outputs"][0]["name"]
    assert [(c.section, c.subject, c.field, c.old, c.new, c.drift) for c in d.changes] == [
        ("interface", MLP_OUTPUT, "scales", scale, scale * 1.5, 0.5),
        ("tensors", f"tensor {name!r}", "scales", scale, scale * 1.5, 0.5),
    ]
    assert d.summary == "1 change to the interface, 1 tensor requantized"
    assert diff(FIXTURES / "mlp_int8.tflite", edited("mlp_int8.tflite", _output_scale_times(1.5)),
                rtol=0.6).same  # fmt: skip


def test_removed_signature() -> None:
    d = diff(FIXTURES / "two_signatures.tflite", edited("two_signatures.tflite",
             _drop_signature("encode")))  # fmt: skip
    assert [(c.section, c.kind, c.subject) for c in d.changes] == [
        ("interface", "removed", "signature 'encode'")
    ]


def test_added_flex_op() -> None:
    d = diff(FIXTURES / "mlp_float32.tflite", edited("mlp_float32.tflite", _append_flex_op))
    assert [(c.section, c.kind, c.subject) for c in d.changes] == [
        ("operators", "added", "CUSTOM 'FlexCumprod'"),
        ("tensors", "added", "tensor 'flex_out'"),
    ]
    assert d.new_facts["ops"]["CUSTOM 'FlexCumprod' v1"] == 1
    assert "1 op kind added" in d.summary


def test_changed_weights_are_changed_not_listed() -> None:
    d = diff(FIXTURES / "mlp_float32.tflite", edited("mlp_float32.tflite", _bump_bias))
    assert [(c.subject, c.field, c.new) for c in d.changes] == [
        ("tensor 'sequential_1/dense_1_2/BiasAdd'", "values", "changed")
    ]


def test_renamed_activation_is_matched_by_position() -> None:
    def rename(m: Any) -> None:
        m.subgraphs[0].tensors[5].name = b"hidden"

    d = diff(FIXTURES / "mlp_float32.tflite", edited("mlp_float32.tflite", rename))
    assert [(c.kind, c.subject, c.field) for c in d.changes] == [
        ("changed", "tensor 'hidden'", "name")
    ]


def test_buffer_offset_fixture_differs_only_in_metadata() -> None:
    # Same graph and weights (MANIFEST: the float32 MLP written with buffers after the
    # flatbuffer); its metadata lacks CONVERSION_METADATA, and buffer_location is layout.
    d = diff(FIXTURES / "mlp_float32.tflite", FIXTURES / "buffer_offset.tflite")
    a = set(MODELS["mlp_float32.tflite"]["metadata"])
    b = set(MODELS["buffer_offset.tflite"]["metadata"]) - {"buffer_location"}
    assert a - b == {"CONVERSION_METADATA"} and not b - a
    assert [(c.section, c.kind, c.subject) for c in d.changes] == [
        ("metadata", "removed", "entry 'CONVERSION_METADATA'")
    ]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_model_against_itself_has_no_change(name: str) -> None:
    path = FIXTURES / name
    d = diff(path, path.read_bytes())
    assert d.same and d.changes == () and d.summary == "no changes"


# --- layout twins: the same model written otherwise -------------------------------------------


def _same_outputs(a: bytes, b: bytes) -> None:
    """The runtime computes the same on both (the independent truth that they are twins)."""
    x = np.random.default_rng(0).random((1, 32), dtype=np.float32)
    outs = []
    for blob in (a, b):
        interp = litert_interpreter(blob)
        assert interp is not None
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        outs.append(interp.get_tensor(interp.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[0], outs[1])


def _renumber(m: Any) -> None:
    """Buffers 1.. in reverse order, every reference remapped."""
    n = len(m.buffers)
    new_index = {0: 0, **{i: n - i for i in range(1, n)}}
    buffers = [None] * n
    for i, b in enumerate(m.buffers):
        buffers[new_index[i]] = b
    m.buffers = buffers
    for sg in m.subgraphs:
        for t in sg.tensors:
            t.buffer = new_index[t.buffer]
    for md in m.metadata or []:
        md.buffer = new_index[md.buffer]


def _with_bias_copy(shared: bool) -> Any:
    """An ADD of a constant equal to tensor 1's data after the output: in its own buffer, or
    sharing tensor 1's (as a deduplicating writer stores it)."""

    def edit(m: Any) -> None:
        from ai_edge_litert import schema_py_generated as schema

        sg = m.subgraphs[0]
        bias = sg.tensors[1]
        const = schema.TensorT()
        const.name, const.shape, const.type = b"bias_copy", [10], schema.TensorType.FLOAT32
        if shared:
            const.buffer = bias.buffer
        else:
            copy = schema.BufferT()
            copy.data = np.array(m.buffers[bias.buffer].data, np.uint8).copy()
            m.buffers.append(copy)
            const.buffer = len(m.buffers) - 1
        out = schema.TensorT()
        out.name, out.shape, out.type = b"sum", [1, 10], schema.TensorType.FLOAT32
        out.shapeSignature = [-1, 10]
        m.buffers.append(schema.BufferT())
        out.buffer = len(m.buffers) - 1
        sg.tensors += [const, out]
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
        code.version = 1
        m.operatorCodes.append(code)
        op = schema.OperatorT()
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.inputs, op.outputs = [sg.outputs[0], len(sg.tensors) - 2], [len(sg.tensors) - 1]
        sg.operators.append(op)
        old_out = sg.outputs[0]
        sg.outputs = [len(sg.tensors) - 1]
        for sig in m.signatureDefs:
            for o in sig.outputs:
                if o.tensorIndex == old_out:
                    o.tensorIndex = len(sg.tensors) - 1

    return edit


def _buffers_after_flatbuffer(m: Any) -> None:
    """Marks every buffer with data for the end of the file (see _external)."""
    for b in m.buffers:
        if b.data is not None and len(b.data):
            b.size, b.offset = len(b.data), 1 << 40  # placeholders: the fields are written


def _external(name: str) -> tuple[bytes, int]:
    """The fixture with its buffers stored after the flatbuffer, 64-byte aligned; and the
    flatbuffer's size."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray((FIXTURES / name).read_bytes()))
    datas = [bytes(b.data) if b.data is not None else b"" for b in model.buffers]
    _buffers_after_flatbuffer(model)
    for b in model.buffers:
        if b.offset:
            b.data = None
    size = len(flatbuffer_utils.convert_object_to_bytearray(model))
    tail = bytearray()
    for b, data in zip(model.buffers, datas, strict=True):
        if b.offset:
            tail += b"\0" * (-(size + len(tail)) % 64)
            b.offset = size + len(tail)
            tail += data
    head = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    assert len(head) == size  # same fields, same size: the offsets hold
    return head + bytes(tail), size


@pytest.mark.parametrize(
    "how",
    ["rewritten", "renumbered", "deduplicated", "external"],
)
def test_layout_twin_is_the_same_model(how: str) -> None:
    base = (FIXTURES / "mlp_float32.tflite").read_bytes()
    if how == "rewritten":  # the object API's writer: its own order and alignment
        a, b = base, edited("mlp_float32.tflite", lambda m: None)
    elif how == "renumbered":
        a, b = base, edited("mlp_float32.tflite", _renumber)
    elif how == "deduplicated":
        a = edited("mlp_float32.tflite", _with_bias_copy(shared=False))
        b = edited("mlp_float32.tflite", _with_bias_copy(shared=True))
        assert tflkit.load(a).num_buffers == tflkit.load(b).num_buffers + 1
    else:
        a, (b, head) = base, _external("mlp_float32.tflite")
        constants = [t for t in tflkit.load(b).primary.tensors if t.is_constant]
        assert len(constants) == 4 and all(t._data_offset >= head for t in constants)
    assert a != b
    _same_outputs(a, b)
    d = diff(a, b)
    assert d.same, d.changes


def test_deduplicated_twin_still_sees_other_models() -> None:
    # the control: the edit above is a change against the plain MLP
    d = diff(FIXTURES / "mlp_float32.tflite", edited("mlp_float32.tflite",
             _with_bias_copy(shared=True)))  # fmt: skip
    assert ("added", "ADD") in {(c.kind, c.subject) for c in d.section("operators")}


def test_subgraphs_in_another_order_are_paired_by_signature() -> None:
    def swap(m: Any) -> None:
        m.subgraphs.reverse()
        for sig in m.signatureDefs:
            sig.subgraphIndex = 1 - sig.subgraphIndex

    d = diff(FIXTURES / "two_signatures.tflite", edited("two_signatures.tflite", swap))
    # MANIFEST: decode runs subgraph 0, encode subgraph 1; swapped, only the primary changed
    sigs = MODELS["two_signatures.tflite"]["signatures"]
    assert sigs["decode"]["subgraph_index"] == 0 and sigs["encode"]["subgraph_index"] == 1
    assert [(c.section, c.subject, c.old, c.new) for c in d.changes] == [
        ("interface", "primary subgraph", ["decode"], ["encode"])
    ]


def test_float32_vs_float16_mlp_pairs_weights_with_weights() -> None:
    truth = MODELS["mlp_float16.tflite"]
    d = diff(FIXTURES / "mlp_float32.tflite", FIXTURES / "mlp_float16.tflite")
    interp = litert_interpreter(FIXTURES / "mlp_float16.tflite")
    assert interp is not None
    f16 = {t["name"] for t in interp.get_tensor_details() if t["dtype"] == np.float16}
    assert len(f16) == truth["ops"][0].count("DEQUANTIZE") == 4
    assert d.section("interface") == ()
    assert [(c.field, c.old, c.new) for c in d.section("quantization")] == [
        ("quantization_kind", "float32", truth["quantization_kind"])
    ]
    assert [(c.kind, c.subject, c.new) for c in d.section("operators")] == [
        ("added", "DEQUANTIZE", 4)
    ]
    # the float16 weights are the float32 weights retyped; the DEQUANTIZE outputs are new
    retyped = {(c.subject, c.old, c.new) for c in d.section("tensors") if c.field == "dtype"}
    assert retyped == {(f"tensor {n!r}", "float32", "float16") for n in f16}
    added = [c for c in d.section("tensors") if c.kind == "added"]
    assert len(added) == 4 and all(c.new == "float32" for c in added)
    assert len(d.section("tensors")) == 8


def test_dequantized_weights_do_not_pair_with_an_activation_of_the_same_name() -> None:
    # MobileNetV2 float16 reuses names: a DEQUANTIZE output of weights carries the name an
    # activation has in the int8 model. Made here: the float16 MLP's first DEQUANTIZE output
    # takes the name of the float32 MLP's hidden activation (tensor 5).
    hidden = "sequential_1/dense_1/MatMul;sequential_1/dense_1/Relu;sequential_1/dense_1/BiasAdd"

    def rename(m: Any) -> None:
        sg = m.subgraphs[0]
        dq = next(op for op in sg.operators if m.operatorCodes[op.opcodeIndex].builtinCode == 6)
        sg.tensors[dq.outputs[0]].name = hidden.encode()

    d = diff(FIXTURES / "mlp_float32.tflite", edited("mlp_float16.tflite", rename))
    assert not [c for c in d.section("tensors") if c.field.startswith("shape")]
    assert sum(c.kind == "added" for c in d.section("tensors")) == 4


# --- diff --json: what changed as data, for jq ------------------------------------------------


def _diff_doc(old: Any, new: Any) -> dict[str, Any]:
    import json
    from importlib import resources

    import jsonschema

    from tflkit.render import diff_to_dict

    doc = json.loads(json.dumps(diff_to_dict(diff(old, new)), allow_nan=False))
    schema = resources.files("tflkit").joinpath("schemas/diff.schema.json").read_text()
    jsonschema.Draft202012Validator(json.loads(schema)).validate(doc)
    return dict(doc)


def _requantize_hidden_and_reshape_output(m: Any) -> None:
    sg = m.subgraphs[0]
    q = sg.tensors[6].quantization  # the activation between the two FULLY_CONNECTED
    q.scale = [float(np.float32(q.scale[0] * 2))]
    q.zeroPoint = [q.zeroPoint[0] + 1]
    sg.tensors[sg.outputs[0]].shape = [3, 10]  # its shape signature stays [-1, 10]


def test_json_changes_are_selected_by_name_and_hold_the_files_values() -> None:
    old_bytes = (FIXTURES / "mlp_int8.tflite").read_bytes()
    new_bytes = edited("mlp_int8.tflite", _requantize_hidden_and_reshape_output)
    doc = _diff_doc(old_bytes, new_bytes)
    # Truth: the LiteRT interpreter's view of each file.
    old_i, new_i = litert_interpreter(old_bytes), litert_interpreter(new_bytes)
    old_t = {d["name"]: d for d in old_i.get_tensor_details()}
    new_t = {d["name"]: d for d in new_i.get_tensor_details()}
    hidden = new_i.get_tensor_details()[6]
    name = hidden["name"]
    # jq: .changes[] | select(.tensor == NAME)
    by_field = {c["field"]: c for c in doc["changes"] if c["tensor"] == name}
    assert set(by_field) == {"scales", "zero_points"}
    scales = by_field["scales"]
    assert scales["old"] == float(old_t[name]["quantization_parameters"]["scales"][0])
    assert scales["new"] == float(new_t[name]["quantization_parameters"]["scales"][0])
    assert scales["drift"] == 1.0
    zps = by_field["zero_points"]
    assert zps["old"] == int(old_t[name]["quantization_parameters"]["zero_points"][0])
    assert zps["new"] == int(new_t[name]["quantization_parameters"]["zero_points"][0])
    for c in (scales, zps):
        assert (c["section"], c["kind"], c["subgraph"], c["index"]) == (
            "tensors",
            "changed",
            0,
            hidden["index"],
        )
        assert c["signature"] is c["input"] is c["output"] is c["op"] is None
        assert name in c["subject"]  # the sentence stays beside the data
    # The output's shape, in both sections: jq select(.output == "output_0") and by tensor.
    sigs = new_i.get_signature_list()
    (key,) = sigs
    (output,) = sigs[key]["outputs"]
    out = new_i.get_output_details()[0]
    (iface,) = [c for c in doc["changes"] if c["output"] == output]
    assert (iface["section"], iface["signature"], iface["field"]) == ("interface", key, "shape")
    assert iface["old"] == old_i.get_output_details()[0]["shape"].tolist()
    assert iface["new"] == out["shape"].tolist() == [3, 10]
    (tensor,) = [c for c in doc["changes"] if c["tensor"] == out["name"]]
    assert (tensor["field"], tensor["index"], tensor["new"]) == ("shape", out["index"], [3, 10])
    assert doc["counts"] == {
        "interface": 1,
        "quantization": 0,
        "operators": 0,
        "tensors": 3,
        "size": 0,
        "metadata": 0,
    }


def test_json_non_finite_scale_and_each_kind_of_thing() -> None:
    def inf_output_scale(m: Any) -> None:
        m.subgraphs[0].tensors[m.subgraphs[0].outputs[0]].quantization.scale = [float("inf")]

    doc = _diff_doc(FIXTURES / "mlp_int8.tflite", edited("mlp_int8.tflite", inf_output_scale))
    scales = [c for c in doc["changes"] if c["field"] == "scales"]
    assert [(c["section"], c["new"], c["drift"]) for c in scales] == [
        ("interface", "Infinity", None),
        ("tensors", "Infinity", None),
    ]
    # An op kind added (the edit), a metadata entry removed (MANIFEST), a signature removed.
    flex = _diff_doc(FIXTURES / "mlp_float32.tflite", edited("mlp_float32.tflite", _append_flex_op))
    (op,) = [c for c in flex["changes"] if c["section"] == "operators"]
    assert (op["op"], op["version"], op["kind"], op["new"]) == (
        "CUSTOM 'FlexCumprod'",
        None,
        "added",
        1,
    )
    (added,) = [c for c in flex["changes"] if c["tensor"] == "flex_out"]
    appended = len(litert_interpreter(FIXTURES / "mlp_float32.tflite").get_tensor_details())
    assert (added["kind"], added["new"], added["index"]) == ("added", "float32", appended)
    meta = _diff_doc(FIXTURES / "mlp_float32.tflite", FIXTURES / "buffer_offset.tflite")
    assert [(c["metadata"], c["kind"]) for c in meta["changes"]] == [
        ("CONVERSION_METADATA", "removed")
    ]
    sig = _diff_doc(
        FIXTURES / "two_signatures.tflite",
        edited("two_signatures.tflite", _drop_signature("encode")),
    )
    assert [(c["signature"], c["kind"], c["input"]) for c in sig["changes"]] == [
        ("encode", "removed", None)
    ]

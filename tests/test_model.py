"""tflkit.load against independent truths: the LiteRT interpreter and fixtures/MANIFEST.json."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from conftest import (
    FIXTURES,
    MODELS,
    fixture_path,
    litert_interpreter,
    need_fixture,
    np_dtype_name,
)

import tflkit

# Types whose numpy dtype the interpreter reports differently from the TFLite name.
# int4 has no numpy type: the interpreter reports its tensors as int8.
_INTERPRETER_DTYPE = {
    "string": "bytes8",
    "resource": "object",
    "variant": "object",
    "int4": "int8",
}


def test_every_tensor_matches_the_interpreter(fixture_name: str) -> None:
    path = fixture_path(fixture_name)
    model = tflkit.load(path)
    interp = litert_interpreter(path)
    if interp is None:
        pytest.skip("the LiteRT runtime cannot open this model (Flex ops)")
    assert interp.num_subgraphs() == len(model.subgraphs)
    for sg in model.subgraphs:
        details = interp.get_tensor_details(subgraph_index=sg.index)
        assert [d["index"] for d in details] == [t.index for t in sg.tensors]
        for d, t in zip(details, sg.tensors, strict=True):
            where = f"{fixture_name} subgraph {sg.index} tensor {t.index} {t.name!r}"
            assert t.name == d["name"], where
            expected_dtype = np_dtype_name(d["dtype"]) if d["dtype"] is not object else "object"
            assert _INTERPRETER_DTYPE.get(t.dtype, t.dtype) in (expected_dtype, t.dtype), where
            if t.dtype not in _INTERPRETER_DTYPE:
                assert t.dtype == expected_dtype, where
            assert list(t.shape) == d["shape"].tolist(), where
            assert list(t.shape_signature) == d["shape_signature"].tolist(), where
            qp = d["quantization_parameters"]
            if len(qp["scales"]) == 0:
                assert t.quantization is None, where
            else:
                assert t.quantization is not None, where
                assert list(t.quantization.scales) == qp["scales"].astype(float).tolist(), where
                assert list(t.quantization.zero_points) == qp["zero_points"].tolist(), where
                assert t.quantization.quantized_dimension == qp["quantized_dimension"], where


def test_constant_data_matches_the_interpreter(fixture_name: str) -> None:
    path = fixture_path(fixture_name)
    model = tflkit.load(path)
    interp = litert_interpreter(path)
    if interp is None:
        pytest.skip("the LiteRT runtime cannot open this model (Flex ops)")
    checked = 0
    for t in model.primary.tensors:
        if not t.is_constant or t.is_sparse or t.dtype in ("string", "resource", "variant"):
            continue
        if t.dtype == "int4":  # no numpy type: test_blockwise.py unpacks it by hand
            continue
        got = t.numpy()
        assert got.flags.writeable is False
        np.testing.assert_array_equal(got, interp.get_tensor(t.index), err_msg=t.name)
        assert got.dtype == interp.get_tensor(t.index).dtype
        checked += 1
    if MODELS[fixture_name]["family"] in ("mlp", "cnn"):
        assert checked >= 4  # two weights and two biases at least


def test_io_and_ops_match_the_manifest(fixture_name: str) -> None:
    facts = MODELS[fixture_name]
    model = tflkit.load(fixture_path(fixture_name))
    assert model.size_bytes == facts["size_bytes"] == fixture_path(fixture_name).stat().st_size
    assert len(model.subgraphs) == facts["num_subgraphs"]
    assert [t.dtype for t in model.inputs] == [x["dtype"] for x in facts["inputs"]]
    assert [t.dtype for t in model.outputs] == [x["dtype"] for x in facts["outputs"]]
    assert [list(t.shape_signature) for t in model.inputs] == [
        x["shape_signature"] for x in facts["inputs"]
    ]
    assert [list(t.shape) for t in model.outputs] == [x["shape"] for x in facts["outputs"]]
    for t, x in zip(model.inputs + model.outputs, facts["inputs"] + facts["outputs"], strict=True):
        if x.get("scale"):
            assert t.quantization is not None and t.quantization.scale == pytest.approx(x["scale"])
            assert t.quantization.zero_point == x["zero_point"]
    assert [[op.op for op in sg.operators] for sg in model.subgraphs] == facts["ops"]
    custom = sorted({op.custom_code for op in model.operators if op.is_custom})
    assert custom == sorted(facts.get("custom_codes", []))
    sigs = {s.key: s for s in model.signatures}
    assert sorted(sigs) == sorted(facts["signatures"])
    for key, want in facts["signatures"].items():
        assert sigs[key].subgraph_index == want["subgraph_index"]
        assert sorted(x.name for x in sigs[key].inputs) == sorted(want["inputs"])
        assert sorted(x.name for x in sigs[key].outputs) == sorted(want["outputs"])
    assert [m.name for m in model.metadata] == facts["metadata"]
    assert model.description == facts["description"]
    assert (
        any(
            t.quantization and t.quantization.per_channel
            for sg in model.subgraphs
            for t in sg.tensors
        )
        == facts["per_channel"]
    )


def test_quantization_kind_matches_the_manifest(fixture_name: str) -> None:
    model = tflkit.load(fixture_path(fixture_name))
    assert tflkit.quantization_kind(model) == MODELS[fixture_name]["quantization_kind"]


def test_signatures_match_the_interpreter(fixture_name: str) -> None:
    path = fixture_path(fixture_name)
    interp = litert_interpreter(path)
    if interp is None:
        pytest.skip("the LiteRT runtime cannot open this model (Flex ops)")
    model = tflkit.load(path)
    want = interp.get_signature_list()
    assert sorted(want) == sorted(s.key for s in model.signatures)
    for sig in model.signatures:
        assert sorted(want[sig.key]["inputs"]) == sorted(x.name for x in sig.inputs)
        assert sorted(want[sig.key]["outputs"]) == sorted(x.name for x in sig.outputs)
        runner = interp.get_signature_runner(sig.key)
        in_details = runner.get_input_details()
        for x in sig.inputs:
            assert in_details[x.name]["index"] == x.tensor_index


def test_load_from_bytes_equals_load_from_path() -> None:
    path = FIXTURES / "mlp_int8.tflite"
    a, b = tflkit.load(path), tflkit.load(path.read_bytes())
    assert a.path == str(path) and b.path is None
    assert a.subgraphs == b.subgraphs and a.signatures == b.signatures
    assert a.metadata == b.metadata


def test_model_pickles_and_reads_weights_after() -> None:
    model = tflkit.load(FIXTURES / "mlp_int8.tflite")
    clone = pickle.loads(pickle.dumps(model))
    assert clone == model
    weights = [t for t in model.primary.tensors if t.is_constant]
    for t, c in zip(weights, [t for t in clone.primary.tensors if t.is_constant], strict=True):
        np.testing.assert_array_equal(t.numpy(), c.numpy())
    from_bytes = tflkit.load((FIXTURES / "mlp_int8.tflite").read_bytes())
    assert pickle.loads(pickle.dumps(from_bytes)) == from_bytes


def test_weights_are_views_of_the_mapped_file_not_copies() -> None:
    model = tflkit.load(FIXTURES / "mlp_float32.tflite")
    t = next(t for t in model.primary.tensors if t.is_constant and t.buffer_size > 1000)
    arr = t.numpy()
    assert arr.flags.owndata is False
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[...] = 0


def test_activation_has_no_data() -> None:
    model = tflkit.load(FIXTURES / "mlp_float32.tflite")
    act = model.inputs[0]
    assert not act.is_constant and act.buffer_size == 0
    with pytest.raises(tflkit.TflkitError, match="no constant data"):
        act.numpy()


def test_real_range_of_int8_input_by_hand() -> None:
    model = tflkit.load(FIXTURES / "mlp_int8.tflite")
    t = model.inputs[0]
    q = t.quantization
    assert q is not None
    lo, hi = t.real_range  # type: ignore[misc]
    assert lo == pytest.approx((-128 - q.zero_point) * q.scale)
    assert hi == pytest.approx((127 - q.zero_point) * q.scale)
    # calibrated on rng.random() data in [0, 1): the representable range covers it
    assert lo <= 0.0 + q.scale and hi >= 0.99 - q.scale


def test_metadata_entry_written_by_build_script() -> None:
    path = need_fixture("with_metadata.tflite")
    model = tflkit.load(path)
    assert model.metadata_bytes("tflkit_fixture") == b'{"made_by": "fixtures/build.py"}'
    assert model.description == "tflkit fixture with metadata"
    assert model.min_runtime_version is not None
    with pytest.raises(KeyError):
        model.metadata_bytes("nope")


def test_flex_op_has_its_custom_code() -> None:
    model = tflkit.load(need_fixture("flex_cumprod.tflite"))
    flex = [op for op in model.operators if op.is_flex]
    assert flex and all(op.op == "CUSTOM" for op in flex)
    assert {op.custom_code for op in flex} == set(MODELS["flex_cumprod.tflite"]["custom_codes"])


def test_while_model_has_several_subgraphs() -> None:
    model = tflkit.load(need_fixture("while_loop.tflite"))
    assert len(model.subgraphs) == MODELS["while_loop.tflite"]["num_subgraphs"] >= 3
    assert "WHILE" in [op.op for op in model.primary.operators]


def test_sparse_tensor_is_flagged() -> None:
    path = need_fixture("mlp_sparse.tflite")
    model = tflkit.load(path)
    sparse = [t for sg in model.subgraphs for t in sg.tensors if t.is_sparse]
    assert sparse
    with pytest.raises(tflkit.TflkitError, match="sparse"):
        sparse[0].numpy()


def test_buffers_stored_after_the_flatbuffer() -> None:
    path = need_fixture("buffer_offset.tflite")
    assert MODELS["buffer_offset.tflite"]["external_buffers"] >= 4
    model = tflkit.load(path)
    # Same trained MLP as mlp_float32.tflite, only stored differently: same weights.
    reference = tflkit.load(FIXTURES / "mlp_float32.tflite")
    want = {t.name: t.numpy() for t in reference.primary.tensors if t.is_constant}
    got = {t.name: t.numpy() for t in model.primary.tensors if t.is_constant}
    assert sorted(got) == sorted(want) and len(got) >= 4
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


# ---------------------------------------------------------------- the reader against LiteRT
# tflkit reads the flatbuffer with the `tflite` package's bindings, each read bounds-checked;
# LiteRT's object API (`ai_edge_litert.tools.flatbuffer_utils`, its own generated schema, newer
# than the `tflite` package's), run on the same file, is an independent reading of every field
# the interpreter does not report (shape signatures, opcode versions, custom codes, min/max,
# buffers, metadata).


def _litert_blockwise(
    m: Any, sg: Any, q: Any
) -> tuple[list[float], list[int], tuple[Any, ...]] | None:
    """(scales, zero points, raw facts) of a BlockwiseQuantization / MultiAxisQuantization from
    the object API: the scales are the scales tensor's buffer as numpy reads its type."""
    from ai_edge_litert import schema_py_generated as schema

    if q is None or q.details is None:
        return None
    kinds = {
        schema.QuantizationDetails.BlockwiseQuantization: "blockwise",
        schema.QuantizationDetails.MultiAxisQuantization: "multi_axis",
    }
    if q.detailsType not in kinds:
        return None
    d = q.details

    def values(index: int, dtype: Any) -> list[Any]:
        data = m.buffers[sg.tensors[index].buffer].data
        return (
            np.asarray(data, np.uint8)
            .view(dtype)
            .astype(np.float32 if dtype == np.float16 else dtype)
            .tolist()
        )

    stype = sg.tensors[d.scales].type
    scales = values(d.scales, np.float16 if stype == schema.TensorType.FLOAT16 else np.float32)
    zero_points = [] if d.zeroPoints == -1 else values(d.zeroPoints, np.int32)
    kind = kinds[q.detailsType]
    extra = getattr(d, "blockShape" if kind == "blockwise" else "quantizedDimensions", None)
    extra_list = [] if extra is None else [int(v) for v in extra]
    raw = (
        kind,
        d.blockSize,
        d.scales,
        d.zeroPoints,
        extra_list if kind == "blockwise" else [],
        extra_list if kind == "multi_axis" else [],
    )
    return scales, zero_points, raw


def _litert_reading(data: bytes) -> dict[str, object]:
    from ai_edge_litert.tools import flatbuffer_utils

    # the plain object API (read_model_from_bytearray also rewrites buffers)
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))

    def ints(values: object) -> list[int]:
        return [] if values is None else [int(v) for v in values]  # type: ignore[attr-defined]

    def floats(values: object) -> list[float]:
        # float32 in the file; numpy's tolist() gives the same doubles tflkit holds
        return [] if values is None else np.asarray(values, np.float32).tolist()

    def text(raw: bytes | None) -> str | None:
        return None if raw is None else raw.decode()

    codes = [
        (max(oc.deprecatedBuiltinCode, oc.builtinCode), text(oc.customCode), oc.version)
        for oc in m.operatorCodes or []
    ]
    subgraphs = []
    for sg in m.subgraphs:
        tensors = []
        for t in sg.tensors or []:
            q = t.quantization
            quant = None
            blockwise = _litert_blockwise(m, sg, q)
            if blockwise is not None:
                scales, zero_points, raw = blockwise
                quant = (scales, zero_points, q.quantizedDimension, floats(q.min), floats(q.max))
                quant += raw
            elif q is not None and q.scale is not None and len(q.scale):
                quant = (
                    floats(q.scale),
                    ints(q.zeroPoint),
                    q.quantizedDimension,
                    floats(q.min),
                    floats(q.max),
                    *("", 0, -1, -1, [], []),
                )
            tensors.append(
                (
                    text(t.name) or "",
                    t.type,
                    ints(t.shape),
                    ints(t.shapeSignature) or ints(t.shape),
                    t.buffer,
                    bool(t.isVariable),
                    t.sparsity is not None,
                    quant,
                )
            )
        ops = [
            (codes[op.opcodeIndex], ints(op.inputs), ints(op.outputs)) for op in sg.operators or []
        ]
        subgraphs.append((text(sg.name) or "", ints(sg.inputs), ints(sg.outputs), tensors, ops))
    signatures = [
        (
            text(sd.signatureKey),
            sd.subgraphIndex,
            [(text(x.name), x.tensorIndex) for x in sd.inputs or []],
            [(text(x.name), x.tensorIndex) for x in sd.outputs or []],
        )
        for sd in m.signatureDefs or []
    ]
    return {
        "version": m.version,
        "description": text(m.description),
        "buffers": len(m.buffers or []),
        "subgraphs": subgraphs,
        "signatures": signatures,
        "metadata": [(text(e.name), e.buffer) for e in m.metadata or []],
    }


def _tflkit_reading(model: tflkit.Model) -> dict[str, object]:
    from tflkit import dtypes

    subgraphs = []
    for sg in model.subgraphs:
        tensors = [
            (
                t.name,
                dtypes.by_name(t.dtype).code if not t.dtype.startswith("TYPE_") else -1,
                list(t.shape),
                list(t.shape_signature),
                t.buffer,
                t.is_variable,
                t.is_sparse,
                None
                if t.quantization is None
                else (
                    list(t.quantization.scales),
                    list(t.quantization.zero_points),
                    t.quantization.quantized_dimension,
                    list(t.quantization.min),
                    list(t.quantization.max),
                    t.quantization.details,
                    t.quantization.block_size,
                    t.quantization.scales_tensor,
                    t.quantization.zero_points_tensor,
                    list(t.quantization.block_shape),
                    list(t.quantization.quantized_dimensions),
                ),
            )
            for t in sg.tensors
        ]
        ops = [
            (
                (op.builtin_code, op.custom_code if op.is_custom else None, op.version),
                list(op.inputs),
                list(op.outputs),
            )
            for op in sg.operators
        ]
        subgraphs.append((sg.name, list(sg.inputs), list(sg.outputs), tensors, ops))
    return {
        "version": model.schema_version,
        "description": model.description,
        "buffers": model.num_buffers,
        "subgraphs": subgraphs,
        "signatures": [
            (
                s.key,
                s.subgraph_index,
                [(x.name, x.tensor_index) for x in s.inputs],
                [(x.name, x.tensor_index) for x in s.outputs],
            )
            for s in model.signatures
        ],
        "metadata": [(e.name, e.buffer) for e in model.metadata],
    }


def test_reader_agrees_with_litert_object_api(fixture_name: str) -> None:
    path = fixture_path(fixture_name)
    want = _litert_reading(path.read_bytes())
    # custom codes are only kept for CUSTOM ops by tflkit: drop them elsewhere in the truth too
    for sg in want["subgraphs"]:  # type: ignore[attr-defined]
        sg[4][:] = [((c, custom if c == 32 else None, v), i, o) for (c, custom, v), i, o in sg[4]]
    assert _tflkit_reading(tflkit.load(path)) == want


def test_op_names_match_litert_schema() -> None:
    """Every BuiltinOperator code of LiteRT's schema (newer than the tflite package) is named."""
    from ai_edge_litert import schema_py_generated as litert_schema

    from tflkit._flatbuffer import op_name

    names = {v: k for k, v in vars(litert_schema.BuiltinOperator).items() if isinstance(v, int)}
    for code, name in names.items():
        assert op_name(code) == name
    assert op_name(209) == "STABLEHLO_CASE"  # LiteRT's schema.fbs, after tflite 2.18
    newest = max(names)
    assert op_name(newest + 1) == f"BUILTIN_{newest + 1}"
    assert op_name(-1) == "BUILTIN_-1"


def test_tensor_type_names_match_litert_schema() -> None:
    """dtypes' table names every TensorType of LiteRT's schema, the newer ones too."""
    from ai_edge_litert import schema_py_generated as litert_schema

    from tflkit import dtypes

    types = {v: k for k, v in vars(litert_schema.TensorType).items() if isinstance(v, int)}
    for code, name in types.items():
        assert dtypes.by_code(code).name == name.lower()
    assert dtypes.by_code(max(types) + 1).name == f"TYPE_{max(types) + 1}"


def test_operator_output_names_match_the_interpreter(fixture_name: str) -> None:
    path = fixture_path(fixture_name)
    interp = litert_interpreter(path)
    if interp is None:
        pytest.skip("the LiteRT runtime cannot open this model (Flex ops)")
    names = {d["index"]: d["name"] for d in interp.get_tensor_details()}
    want: dict[str, None] = {}  # subgraph 0's operators in the interpreter's order, each once
    for op in interp._get_ops_details():
        for i in op["outputs"]:
            if i >= 0:
                want.setdefault(names[int(i)], None)
    assert tflkit.load(path).subgraphs[0].operator_output_names() == tuple(want)

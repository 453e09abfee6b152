"""Subgraph.edge_quantization: float I/O that the graph quantizes inside (QUANTIZE after the
input, DEQUANTIZE before the output), checked against the LiteRT interpreter's op and tensor
details, the manifest, and files edited so the edge is no longer a QUANTIZE."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ALL_FIXTURES, MODELS, edited, fixture_path, litert_interpreter

import tflkit


def _interpreter_edges(name: str) -> dict[int, dict[str, Any]]:
    """{float I/O tensor index: interpreter details of the integer tensor across the edge}."""
    interp = litert_interpreter(fixture_path(name))
    assert interp is not None
    details = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    inputs = [d["index"] for d in interp.get_input_details()]
    outputs = [d["index"] for d in interp.get_output_details()]
    edges = {}
    for i in inputs:
        consumers = [op for op in ops if i in list(op["inputs"])]
        if consumers and all(op["op_name"] == "QUANTIZE" for op in consumers):
            edges[i] = details[int(consumers[0]["outputs"][0])]
    for i in outputs:
        producers = [op for op in ops if i in list(op["outputs"])]
        if producers and producers[0]["op_name"] == "DEQUANTIZE":
            src = details[int(producers[0]["inputs"][0])]
            if src["quantization_parameters"]["scales"].size:  # not a float16 weight
                edges[i] = src
    return {i: d for i, d in edges.items() if details[i]["dtype"].__name__.startswith("float")}


@pytest.mark.parametrize(
    "name",
    [n for n in ALL_FIXTURES if MODELS[n]["runs_in_litert"] and MODELS[n]["num_subgraphs"] == 1],
)
def test_edge_quantization_matches_the_interpreter(name: str) -> None:
    sg = tflkit.load(fixture_path(name)).primary
    truth = _interpreter_edges(name)
    for i in sg.inputs + sg.outputs:
        inner = sg.edge_quantization(i)
        if i not in truth:
            assert inner is None, (name, i)
            continue
        d = truth[i]
        assert inner is not None, (name, i)
        assert inner.index == d["index"] and inner.name == d["name"]
        assert inner.dtype == d["dtype"].__name__
        assert inner.quantization is not None
        assert inner.quantization.scales == pytest.approx(
            [float(s) for s in d["quantization_parameters"]["scales"]], rel=1e-7
        )
        assert list(inner.quantization.zero_points) == [
            int(z) for z in d["quantization_parameters"]["zero_points"]
        ]


def test_int8_float_io_fixture_has_both_edges_and_others_none() -> None:
    # The manifest: conversion "int8-float-io" quantizes at both edges; the float16 model's
    # DEQUANTIZE ops widen weights, not an output; integer I/O has no edge.
    for name, facts in MODELS.items():
        sg = tflkit.load(fixture_path(name)).primary
        edges = [sg.edge_quantization(i) for i in sg.inputs + sg.outputs]
        if facts["conversion"] == "int8-float-io":
            assert all(e is not None and e.dtype == "int8" for e in edges), name
        elif facts["conversion"] in ("float32", "float16", "dynamic-range", "int8", "uint8-io"):
            assert edges == [None] * len(edges), name


def test_hand_built_quantize_and_dequantize() -> None:
    # fixtures/build.py: scale 0.5 and zero point -3 on the int8 side of both files.
    q = tflkit.load(fixture_path("quantize_int8.tflite")).primary
    inner = q.edge_quantization(q.inputs[0])
    assert inner is not None and inner.index == q.outputs[0]
    assert inner.quantization is not None
    assert (inner.quantization.scales, inner.quantization.zero_points) == ((0.5,), (-3,))
    assert inner.real_range == ((-128 + 3) * 0.5, (127 + 3) * 0.5)
    assert q.edge_quantization(q.outputs[0]) is None  # an int8 output
    d = tflkit.load(fixture_path("dequantize_int8.tflite")).primary
    inner = d.edge_quantization(d.outputs[0])
    assert inner is not None and inner.index == d.inputs[0]
    assert d.edge_quantization(d.inputs[0]) is None


def test_not_an_edge_when_the_consumer_is_not_quantize() -> None:
    def quantize_to_relu(m: Any) -> None:
        op = m.subgraphs[0].operators[0]  # the QUANTIZE after the input
        code = m.operatorCodes[op.opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = 19  # RELU

    def dequantize_to_relu(m: Any) -> None:
        op = m.subgraphs[0].operators[-1]  # the DEQUANTIZE before the output
        code = m.operatorCodes[op.opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = 19

    sg = tflkit.load(edited("mlp_int8_float_io.tflite", quantize_to_relu)).primary
    assert sg.edge_quantization(sg.inputs[0]) is None
    assert sg.edge_quantization(sg.outputs[0]) is not None
    sg = tflkit.load(edited("mlp_int8_float_io.tflite", dequantize_to_relu)).primary
    assert sg.edge_quantization(sg.inputs[0]) is not None
    assert sg.edge_quantization(sg.outputs[0]) is None


def test_not_an_edge_for_inner_tensors_and_bad_indices() -> None:
    sg = tflkit.load(fixture_path("mlp_int8_float_io.tflite")).primary
    inner = {i for op in sg.operators for i in op.outputs} - set(sg.outputs)
    assert all(sg.edge_quantization(i) is None for i in inner)
    assert sg.edge_quantization(-1) is None and sg.edge_quantization(len(sg.tensors)) is None

"""tflkit's TFLM verdict follows the kernels' Prepare checks, not only their type tables.

Two truths per rule: a small test model of that kind from LiteRT's own suites (in the
published-model corpus, tests/corpus/models, source and commit in its MANIFEST.json), run
through tflite-micro's Python interpreter in a child (tests/_tflm_probe.py) where TFLM names
the failing node; and graphs built here (tests/_graphs.py) worked out on paper from the kernel
line each rule cites (tflite-micro 90b983c).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from _graphs import Op, T, build
from _tflm_probe import NODE, in_child
from conftest import ROOT

import tflkit
from tflkit.model import Model
from tflkit.targets import tflm

CORPUS = ROOT / "tests" / "corpus" / "models"
# LiteRT test models, each failing one kernel check in TFLM (the rule tflkit must follow)
CASES = {
    "litert__add_unknown_dimensions.tflite": "an output no operator resolves",
    "litert__argmax.tflite": "ARG_MAX with an int64 output (arg_min_max.cc:85)",
    "litert__static_w8_a16_quantized_k_einsum.tflite": "BATCH_MATMUL int16 x int8",
    "litert__broadcast_to.tflite": "BROADCAST_TO above 5 dimensions (broadcast_to.cc:47)",
    "litert__unidirectional_sequence_lstm.tflite": "LSTM with projection (lstm_eval.cc)",
    "litert__string.tflite": "a string tensor",
    "litert__single_rsqrt_default_a16w8_recipe_quantized.tflite": "RSQRT int16 (runs)",
    "litert__simple_squeeze.tflite": "SQUEEZE of a scalar (squeeze.cc:74)",
    "litert__svdf_calibrated.tflite": "SVDF output units (svdf_common.cc:411)",
    "litert__transpose.tflite": "TRANSPOSE permutation (transpose_common.cc:43)",
}


def run_in_tflm(name: str) -> dict[str, Any]:
    return in_child(CORPUS / name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_is_tflms(name: str) -> None:
    pytest.importorskip("tflite_micro")
    truth = run_in_tflm(name)
    placement = tflm.place(tflkit.load(CORPUS / name))
    refused = [p for p in placement if p.on == "none"]
    if truth["stage"] == "ok":
        assert not refused, refused
        return
    assert refused, (truth["stage"], truth["log"][-400:])
    named = NODE.search(truth["log"])
    if named:
        # the node TFLM names is the one tflkit refuses, for a Prepare or type reason
        p = next(p for p in placement if p.subgraph == 0 and p.operator == int(named[2]))
        assert (p.op, p.on) == (named[1], "none")
        assert p.rule in ("tflm-prepare", "tflm-dtype"), p


def _one(model: Model) -> tuple[str, str]:
    (p,) = tflm.place(model)
    return p.rule, p.reason


def _with_options(model: Model, **options: int) -> Model:
    sg = model.subgraphs[0]
    op = dataclasses.replace(sg.operators[0], options=tuple(options.items()))
    return dataclasses.replace(model, subgraphs=(dataclasses.replace(sg, operators=(op,)),))


def test_batch_matmul_inputs_of_one_type() -> None:
    # batch_matmul.cc:198: int16 activations by int8 weights fail, int8 by int8 runs
    mixed = build(
        Op(
            "BATCH_MATMUL",
            [T("int16", (1, 4, 8)), T("int8", (8, 3), const=True)],
            [T("int16", (1, 4, 3))],
        )
    )
    same = build(
        Op(
            "BATCH_MATMUL",
            [T("int8", (1, 4, 8)), T("int8", (8, 3), const=True)],
            [T("int8", (1, 4, 3))],
        )
    )
    assert _one(mixed)[0] == "tflm-prepare"
    assert _one(same) == ("", "")


def test_lstm_variants_refused() -> None:
    # lstm_eval.cc:90-101: inputs 9-11 (peephole), 16-17 (projection), 20-23 (layer norm)
    def lstm(extra: set[int]) -> Model:
        ins: list[T | None] = [T("float32", (1, 2, 2))]
        ins += [T("float32", (2, 2), const=True) for _ in range(1, 24)]
        ins = [
            t if i in extra or i not in tflm._LSTM_VARIANT_INPUTS else None
            for i, t in enumerate(ins)
        ]
        return build(Op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [T("float32", (1, 2, 2))]))

    assert _one(lstm(set()))[0] == ""
    for i in (9, 16, 20):
        assert _one(lstm({i}))[0] == "tflm-prepare", i


def test_svdf_units_from_filters_and_rank() -> None:
    # svdf_common.cc:411: output dims[1] == num_filters / rank; 6 filters, rank 2: 3 units
    def svdf(units: int) -> Model:
        ins = [
            T("float32", (1, 4)),
            T("float32", (6, 4), const=True),
            T("float32", (6, 7), const=True),
        ]
        return _with_options(build(Op("SVDF", ins, [T("float32", (1, units))])), rank=2)

    assert _one(svdf(3))[0] == ""
    assert _one(svdf(6))[0] == "tflm-prepare"


def test_transpose_permutation_is_1d_over_every_dimension() -> None:
    # transpose_common.cc:43-44
    def transpose(perm: tuple[int, ...]) -> Model:
        ins = [T("float32", (2, 3)), T("int32", perm, const=True)]
        return build(Op("TRANSPOSE", ins, [T("float32", (3, 2))]))

    assert _one(transpose((2,)))[0] == ""
    assert _one(transpose(()))[0] == "tflm-prepare"
    assert _one(transpose((3,)))[0] == "tflm-prepare"


def test_broadcast_to_at_most_5d() -> None:
    # broadcast_to.cc:47-48
    def to(rank: int) -> Model:
        ins = [T("float32", (2,)), T("int32", (rank,), const=True)]
        return build(Op("BROADCAST_TO", ins, [T("float32", (1,) * (rank - 1) + (2,))]))

    assert _one(to(5))[0] == ""
    assert _one(to(6))[0] == "tflm-prepare"


def test_arg_max_writes_int32_only() -> None:
    # arg_min_max.cc:85-90, at the first invoke
    def argmax(out: str) -> Model:
        ins = [T("float32", (1, 4)), T("int32", (1,), const=True)]
        return build(Op("ARG_MAX", ins, [T(out, (1,))]))

    assert _one(argmax("int32"))[0] == ""
    assert _one(argmax("int64"))[0] == "tflm-prepare"


def test_elementwise_output_shape_is_the_broadcast() -> None:
    # TFLM never resizes an output: (1, 3) + (2, 1) is (2, 3); an output stored as (1,) aborts
    def add(out: tuple[int, ...]) -> Model:
        return build(Op("ADD", [T("float32", (1, 3)), T("float32", (2, 1))], [T("float32", out)]))

    assert _one(add((2, 3)))[0] == ""
    assert _one(add((1,)))[0] == "tflm-prepare"


def test_string_tensors_refused() -> None:
    model = build(
        Op("RESHAPE", [T("string", (2,)), T("int32", (1,), const=True)], [T("string", (2,))])
    )
    assert _one(model)[0] == "tflm-dtype"


def test_rsqrt_int16_runs() -> None:
    # the PyPI build runs it (a corpus model in test_verdict_is_tflms: single_rsqrt_..._a16w8)
    model = build(Op("RSQRT", [T("int16", (1, 4))], [T("int16", (1, 4))]))
    assert _one(model) == ("", "")

"""tflkit's TFLM verdict follows the kernels' Prepare checks, not only their type tables.

Two truths per rule: a small test model of that kind from LiteRT's own suites (copied into
fixtures/tflm/, Apache-2.0, source and commit in fixtures/MANIFEST.json "third_party"), run
through tflite-micro's Python interpreter in a child (tests/_tflm_probe.py) where TFLM names
the failing node; and graphs built here (tests/_graphs.py) worked out on paper from the kernel
line each rule cites (tflite-micro 90b983c).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _graphs import Op, T, build
from conftest import FIXTURES, MANIFEST, ROOT

import tflkit
from tflkit.model import Model
from tflkit.targets import tflm

PROBE = Path(__file__).with_name("_tflm_probe.py")
THIRD_PARTY: dict[str, dict[str, Any]] = MANIFEST["third_party"]
NODE = re.compile(r"Node (\w+) \(number (\d+)\) failed to (prepare|invoke)")


@functools.cache
def run_in_tflm(name: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(PROBE), str(FIXTURES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"stage": "crash", "log": proc.stderr, "arena_total": None}
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("name", sorted(THIRD_PARTY))
def test_copied_model_is_what_the_manifest_records(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    entry = THIRD_PARTY[name]
    assert entry["license"] == "Apache-2.0" and len(data) < 50_000
    assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size_bytes"], entry["sha256"])


@pytest.mark.parametrize("name", sorted(THIRD_PARTY))
def test_verdict_is_tflms(name: str) -> None:
    pytest.importorskip("tflite_micro")
    truth = run_in_tflm(name)
    placement = tflm.place(tflkit.load(FIXTURES / name))
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
    # the PyPI build runs it (fixtures/tflm/rsqrt_int16.tflite, test_verdict_is_tflms)
    model = build(Op("RSQRT", [T("int16", (1, 4))], [T("int16", (1, 4))]))
    assert _one(model) == ("", "")

"""tflkit's ``check --target`` on published models other people made, against the tools' truths.

``tests/corpus/`` is written by ``python bench/corpus.py truth`` and ``commit`` (issue 22):
``MANIFEST.json`` lists every corpus model (id ``source:path``, sha256, source at its commit or
package version, licence, whether the file is committed), ``truths.json`` what the tools did
with each (Vela 5.2 for ethos-u55-128 / u65-256 / u85-256: the operators that stay CPU
operators in the .tflite Vela writes; the tflite-micro interpreter: allocate + invoke on zeros
and its arena total; the LiteRT interpreter: the nodes inside XNNPACK's DELEGATE partitions),
and ``models/`` the models whose licence and size allow committing them. No tool runs here:
each test compares tflkit's placement (and its number of segments) with the committed truth,
one test per model and target.

``KNOWN`` lists what disagrees today (bench/corpus_report.md has every disagreement of the whole
corpus with its reason); those tests are strict xfails, so a fix shows up as an XPASS to remove
from the list, and a new disagreement fails.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import tflkit
from tflkit.targets import place, xnnpack

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "MANIFEST.json").read_text())["models"]
TRUTHS: dict[str, Any] = json.loads((CORPUS / "truths.json").read_text())["models"]
COMMITTED = {m["file"]: m for m in MANIFEST if m["committed"]}
TARGETS = ["xnnpack", "ethos-u55", "ethos-u65", "ethos-u85", "tflm", "tflm-arena"]

# (committed model, target) -> why tflkit disagrees with the tool today (bench/corpus_report.md);
# written by `python bench/corpus.py report --known`
# fmt: off
KNOWN: dict[tuple[str, str], str] = {
    ("litert__string_input_model_with_signature.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
}
# fmt: on


def _where(text: str) -> set[tuple[int, int]]:
    """(subgraph, operator) of Vela's CPU operators, from "0:3-5,9 1:0"."""
    return {
        (int(sg), i)
        for part in text.split()
        for sg in [part.split(":")[0]]
        for i in _delegated(part.split(":")[1])
    }


def _delegated(text: str) -> set[int]:
    """The operators inside XNNPACK's partitions, from their ranges ("0-2,5")."""
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


@functools.cache
def _load(name: str) -> tflkit.Model | str:
    """The model, or why tflkit refuses the file (a model without subgraphs)."""
    try:
        return tflkit.load(CORPUS / "models" / name)
    except tflkit.TflkitError as exc:
        return str(exc)


def _cases() -> list[Any]:
    cases = []
    for name in sorted(COMMITTED):
        for target in TARGETS:
            marks = []
            if (name, target) in KNOWN:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[(name, target)]))
            cases.append(pytest.param(name, target, marks=marks, id=f"{name}-{target}"))
    return cases


@pytest.mark.parametrize(("name", "target"), _cases())
def test_tflkit_agrees_with_the_tool(name: str, target: str) -> None:
    truth = TRUTHS[COMMITTED[name]["sha256"]]["tflm" if target.startswith("tflm") else target]
    if "error" in truth:
        pytest.skip(f"the tool gave no answer: {truth['error'][:100]}")
    model = _load(name)
    if isinstance(model, str):
        pytest.skip(f"tflkit refuses the file: {model}")
    result = place(model, "tflm" if target.startswith("tflm") else target)
    if target == "xnnpack":
        sg0 = [p for p in result.placement if p.subgraph == 0]  # the interpreter shows only it
        assert len(sg0) == truth["ops"]
        ours = {p.operator for p in sg0 if p.on == "target"}
        assert ours == _delegated(truth["delegated"]), [
            (p.operator, p.op, p.on, p.rule) for p in sg0
        ]
        assert xnnpack.segments(model, tuple(sg0)) == truth["partitions"]
    elif target.startswith("ethos-u"):
        ours_cpu = {(p.subgraph, p.operator) for p in result.placement if p.on == "cpu"}
        vela_cpu = _where(truth["cpu"])
        assert not truth.get("unmatched"), "Vela left CPU operators the model does not have"
        assert ours_cpu == vela_cpu, (
            f"tflkit only {ours_cpu - vela_cpu}, Vela only {vela_cpu - ours_cpu}"
        )
        assert result.segments == truth["npu_ops"]  # one ethos-u operator per NPU segment
    elif target == "tflm":
        assert result.passed == (truth["stage"] == "ok"), truth.get("message", "")
    else:
        if truth["stage"] != "ok":
            pytest.skip("TFLM does not run it: no arena to compare")
        assert result.memory is not None
        estimate, total = result.memory.arena_bytes, truth["arena_total"]
        assert total <= estimate <= total * 1.05, f"tflkit {estimate}, TFLM {total}"


def test_committed_models_are_the_manifest_ones() -> None:
    on_disk = {p.name for p in (CORPUS / "models").glob("*")}
    assert on_disk == set(COMMITTED)
    for name, entry in COMMITTED.items():
        data = (CORPUS / "models" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["size"] < 300_000, name
        assert entry["licence"] == "Apache-2.0", name
    assert sum(e["size"] for e in COMMITTED.values()) <= 6_000_000


def test_truths_cover_the_manifest() -> None:
    assert {m["sha256"] for m in MANIFEST} == set(TRUTHS)
    assert len(MANIFEST) >= 150
    assert len({m["sha256"] for m in MANIFEST}) == len(MANIFEST)  # deduplicated
    for m in MANIFEST:
        assert TRUTHS[m["sha256"]]["id"] == m["id"]
        assert set(TRUTHS[m["sha256"]]) == {"id", "tflm", "xnnpack", *TARGETS[1:4]}


def test_known_disagreements_name_committed_models() -> None:
    assert all(name in COMMITTED and target in TARGETS for name, target in KNOWN)

"""tests/_tflm_probe.py, the TFLM truth of the tflm target tests: when tflite-micro fails, its
log names the Python call that failed and, when TFLM itself said nothing, the model's facts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _tflm_probe import in_child
from conftest import FIXTURES, ROOT

import tflkit

pytest.importorskip("tflite_micro")

PROBE = Path(__file__).resolve().parent / "_tflm_probe.py"


def test_a_silent_allocation_failure_names_the_call_and_the_model() -> None:
    # a string tensor with a dynamic dimension and no operators: TFLM's AllocateTensors fails
    # and logs nothing (measured: the log held only "TFLM failed to allocate tensors")
    path = ROOT / "tests/corpus/models/litert__string_input_model_with_signature.tflite"
    model = tflkit.load(path)  # the facts, read by tflkit rather than tflite-micro
    sg = model.subgraphs[0]
    assert len(model.subgraphs) == 1 and not sg.operators
    assert [t.dtype for t in sg.tensors] == ["string"] and sg.tensors[0].shape_signature[0] == -1
    truth = in_child(path)
    assert truth["stage"] == "allocate"
    call = f"Interpreter.from_file('{path.name}', arena_size=67108864) raised RuntimeError: "
    assert call in truth["log"], truth["log"]
    facts = (
        f"TFLM logged nothing; the model: {path.name}: 1 subgraph(s), 0 operator(s), "
        "1 tensor(s) of type STRING, 1 of them with a dynamic dimension"
    )
    assert facts in truth["log"], truth["log"]


def test_a_failure_tflm_explains_keeps_its_words_and_adds_the_call() -> None:
    proc = subprocess.run(
        [sys.executable, str(PROBE), str(FIXTURES / "mlp_int8.tflite"), "1000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = proc.stdout.splitlines()[-1]
    assert '"stage": "allocate"' in log and "Failed to allocate tail memory" in log, log
    assert "Interpreter.from_file('mlp_int8.tflite', arena_size=1000) raised" in log, log
    assert "TFLM logged nothing" not in log, log

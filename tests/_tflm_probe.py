"""Run one .tflite file in tflite-micro's Python interpreter; print one JSON line.

Usage: python tests/_tflm_probe.py MODEL [ARENA_BYTES]

Allocates with a big arena (a small arena is not a support failure), sets every input to
zeros, invokes once, prints the arena report. TFLM writes its messages (and
``print_allocations``) to the C-level stderr, so fd 2 goes to a file for the run; after them
the Python call that failed and what it raised, and, when TFLM said nothing, what the model
asks it to allocate (subgraphs, operators, tensor types, dynamic shapes). An arena of
256 bytes or less, and some models, abort the process: run this in a child.
Output: {"stage": "ok" | "allocate" | "invoke", "log": "...", "arena_total": int | null}.
From a test: ``in_child(path)`` runs this in a child and reads that line ("crash" when the
child dies); ``NODE`` finds the node TFLM names in the log.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

NODE = re.compile(r"Node (\w+) \(number (\d+)\) failed to (prepare|invoke)")


@functools.cache
def in_child(path: Path) -> dict[str, Any]:
    """What tflite-micro does with the model: stage "ok", "allocate", "invoke" or "crash"."""
    proc = subprocess.run(
        [sys.executable, __file__, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"stage": "crash", "log": proc.stderr, "arena_total": None, "rc": proc.returncode}
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _said(call: str, exc: Exception) -> None:
    """The call that failed and what it raised, after TFLM's own messages (fd 2)."""
    os.write(2, f"\npython: {call} raised {type(exc).__name__}: {exc}\n".encode())


def run(path: str, arena: int) -> str:
    """The stage reached; TFLM's messages, then the Python call that failed, go to fd 2."""
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    call = f"Interpreter.from_file({Path(path).name!r}, arena_size={arena})"  # allocates
    try:
        interp = runtime.Interpreter.from_file(path, arena_size=arena)
    except (RuntimeError, ValueError) as exc:  # set_input raises ValueError too
        _said(call, exc)
        return "allocate"
    with open(path, "rb") as f:
        inputs = runtime.convert_bytearray_to_object(f.read()).subgraphs[0].inputs
    try:
        for i in range(0 if inputs is None else len(inputs)):
            call = f"get_input_details({i})"
            d = interp.get_input_details(i)
            call = f"set_input(zeros {list(d['shape'])} {np.dtype(d['dtype']).name}, {i})"
            interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
        call = "invoke()"
        interp.invoke()
    except (RuntimeError, ValueError) as exc:  # set_input raises ValueError too
        _said(call, exc)
        return "invoke"
    interp.print_allocations()
    return "ok"


def model_facts(path: str) -> str:
    """What the model asks TFLM to allocate, read with tflite-micro's own schema: for a failure
    TFLM logs nothing about (its AllocateTensors returns an error without a message)."""
    from tflite_micro.python.tflite_micro import runtime

    with open(path, "rb") as f:
        model = runtime.convert_bytearray_to_object(f.read())
    names = {v: k for k, v in vars(runtime.schema_fb.TensorType).items() if not k.startswith("_")}
    subgraphs = model.subgraphs or []
    tensors = [t for sg in subgraphs for t in sg.tensors or []]
    types = sorted({names.get(t.type, f"TYPE_{t.type}") for t in tensors})
    dynamic = sum(1 for t in tensors if t.shapeSignature is not None and -1 in t.shapeSignature)
    ops = sum(len(sg.operators or []) for sg in subgraphs)
    return (
        f"{Path(path).name}: {len(subgraphs)} subgraph(s), {ops} operator(s), "
        f"{len(tensors)} tensor(s) of type {', '.join(types) or 'none'}, {dynamic} of them "
        "with a dynamic dimension"
    )


def main() -> None:
    path = sys.argv[1]
    arena = int(sys.argv[2]) if len(sys.argv) > 2 else 64 * 1024 * 1024
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            stage = run(path, arena)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
        log.seek(0)
        text = log.read().decode(errors="replace")
    if stage != "ok" and not text.split("\npython: ")[0].strip():
        text += f"python: TFLM logged nothing; the model: {model_facts(path)}\n"
    total = re.search(r"Arena allocation total (\d+) bytes", text)
    found = int(total[1]) if total else None
    print(json.dumps({"stage": stage, "log": text[-4000:], "arena_total": found}))


if __name__ == "__main__":
    main()

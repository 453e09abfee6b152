"""Run one .tflite file in tflite-micro's Python interpreter; print one JSON line.

Usage: python tests/_tflm_probe.py MODEL [ARENA_BYTES]

Allocates with a big arena (a small arena is not a support failure), sets every input to
zeros, invokes once, prints the arena report. TFLM writes its messages (and
``print_allocations``) to the C-level stderr, so fd 2 goes to a file for the run. An arena of
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


def run(path: str, arena: int) -> str:
    """The stage reached; TFLM's messages go to fd 2."""
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    try:
        interp = runtime.Interpreter.from_file(path, arena_size=arena)
    except RuntimeError as exc:
        os.write(2, f"\npython: {exc}\n".encode())
        return "allocate"
    with open(path, "rb") as f:
        inputs = runtime.convert_bytearray_to_object(f.read()).subgraphs[0].inputs
    try:
        for i in range(0 if inputs is None else len(inputs)):
            d = interp.get_input_details(i)
            interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
        interp.invoke()
    except RuntimeError as exc:
        os.write(2, f"\npython: {exc}\n".encode())
        return "invoke"
    interp.print_allocations()
    return "ok"


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
    total = re.search(r"Arena allocation total (\d+) bytes", text)
    found = int(total[1]) if total else None
    print(json.dumps({"stage": stage, "log": text[-4000:], "arena_total": found}))


if __name__ == "__main__":
    main()

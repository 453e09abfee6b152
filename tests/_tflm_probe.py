"""Run one .tflite file in tflite-micro's Python interpreter; print one JSON line.

Usage: python tests/_tflm_probe.py MODEL [ARENA_BYTES]

Allocates with a big arena (a small arena is not a support failure), sets every input to
zeros, invokes once, prints the arena report. TFLM writes its messages (and
``print_allocations``) to the C-level stderr, so fd 2 goes to a file for the run. An arena of
256 bytes or less, and some models, abort the process: run this in a child.
Output: {"stage": "ok" | "allocate" | "invoke", "log": "...", "arena_total": int | null}.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile


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

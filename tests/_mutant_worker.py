"""Worker for test_runner_mutants.py: Runner(bytes) + one predict on zeros, per mutant.

    python _mutant_worker.py START MODEL...

Prints one JSON line before each mutant ({"start": i}) and one after ({"done": i, "outcome":
...}), flushed, so that the parent knows which mutant a crash or a hang belongs to and can go on
from the next one in a new process.
"""

from __future__ import annotations

import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np

PER_MODEL = 40


def mutants(paths: list[str]) -> list[bytes]:
    """1-4 random bytes changed in the first 4 KiB or the last 2 KiB, seeded by file name."""
    out = []
    for path in paths:
        data = Path(path).read_bytes()
        rng = random.Random(Path(path).name)
        for _ in range(PER_MODEL):
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                if rng.random() < 0.5:
                    pos = rng.randrange(min(4096, len(b)))
                else:
                    pos = len(b) - 1 - rng.randrange(min(2048, len(b)))
                b[pos] = rng.randrange(256)
            out.append(bytes(b))
    return out


def zeros(t: object) -> np.ndarray:
    """Zeros at the input's stored shape (the shape a runtime allocates first), float32 for
    quantized and float inputs, the stored dtype otherwise."""
    from tflkit import dtypes

    shape = [max(int(d), 1) for d in t.shape]  # type: ignore[attr-defined]
    dtype = t.dtype  # type: ignore[attr-defined]
    if t.quantization is not None or dtype.startswith(("float", "bfloat")):  # type: ignore[attr-defined]
        return np.zeros(shape, np.float32)
    return np.zeros(shape, dtypes.numpy_dtype(dtype) or np.float32)


def main() -> None:
    import tflkit

    warnings.simplefilter("ignore")
    start, paths = int(sys.argv[1]), sys.argv[2:]
    cases = mutants(paths)
    for i in range(start, len(cases)):
        print(json.dumps({"start": i}), flush=True)
        try:
            runner = tflkit.Runner(cases[i])
            feeds = {n: zeros(t) for n, t in zip(runner.input_names, runner.inputs, strict=True)}
            if sum(a.size for a in feeds.values()) > 1 << 24:
                outcome = "ok: input too big to feed"
            else:
                runner.predict(feeds)
                outcome = "ok"
        except tflkit.TflkitError as exc:
            outcome = f"TflkitError: {type(exc).__name__}"
        except BaseException as exc:  # noqa: BLE001 - what the test looks for
            outcome = f"ESCAPED {type(exc).__name__}: {exc}"
        print(json.dumps({"done": i, "outcome": outcome}), flush=True)


if __name__ == "__main__":
    main()

"""Worker for test_isolated.py: _mutant_worker.py's run (Runner(bytes) + one predict on zeros
per mutant), in process, with the Runner's refusal of known crashes switched off: what each
mutant does to a process that runs it unprotected.

    python _unrefused_worker.py START MODEL...

Prints {"start": i} before each mutant and {"done": i, "outcome": ...} after it, flushed: a
mutant that kills the worker is the last one started (the parent goes on from the next).
"""

from __future__ import annotations

import json
import sys
import warnings

from _mutant_worker import mutants, zeros


def outcome(runner_class: type, data: bytes) -> str:
    """ "ok", or the TflkitError's class name."""
    import tflkit

    try:
        runner = runner_class(data)
        feeds = {n: zeros(t) for n, t in zip(runner.input_names, runner.inputs, strict=True)}
        if sum(a.size for a in feeds.values()) <= 1 << 24:
            runner.predict(feeds)
        close = getattr(runner, "close", None)
        if close is not None:
            close()
        return "ok"
    except tflkit.TflkitError as exc:
        return type(exc).__name__


def main() -> None:
    import tflkit
    import tflkit.runner

    tflkit.runner.runtime_hazards = lambda model: iter(())  # type: ignore[assignment]
    warnings.simplefilter("ignore")
    start, paths = int(sys.argv[1]), sys.argv[2:]
    cases = mutants(paths)
    for i in range(start, len(cases)):
        print(json.dumps({"start": i}), flush=True)
        print(json.dumps({"done": i, "outcome": outcome(tflkit.Runner, cases[i])}), flush=True)


if __name__ == "__main__":
    main()

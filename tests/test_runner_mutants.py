"""Corrupt files through the Runner: every outcome is a result or a TflkitError.

160 seeded mutants of four small models (1-4 random bytes changed in the first 4 KiB or the last
2 KiB), each through ``Runner(bytes)`` and one ``predict`` on zeros, in subprocesses: no other
exception, no crash (a signal ends the worker), no hang (a mutant gets 60 s). Beside
test_invalid_models.py, which does the same for ``tflkit.load``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from conftest import FIXTURES, ROOT

MODELS = ["mlp_int8.tflite", "mlp_float16.tflite", "cnn_uint8_io.tflite", "multi_io.tflite"]
WORKER = Path(__file__).with_name("_mutant_worker.py")
PER_MUTANT_SECONDS = 60


def _run_from(start: int, outcomes: dict[int, str]) -> int | None:
    """Run mutants from ``start`` in one worker; the index to go on from after a crash or a
    hang (recorded as such), or None when the worker got through them all."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(start), *(str(FIXTURES / m) for m in MODELS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    current = None
    watchdog = threading.Timer(PER_MUTANT_SECONDS, proc.kill)
    watchdog.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        watchdog.cancel()
        watchdog = threading.Timer(PER_MUTANT_SECONDS, proc.kill)  # a new one per mutant
        watchdog.start()
        if "start" in event:
            current = event["start"]
        else:
            outcomes[event["done"]] = event["outcome"]
            current = None
    proc.wait()
    watchdog.cancel()
    if current is None:
        assert proc.returncode == 0, f"worker exited {proc.returncode} between mutants"
        return None
    outcomes[current] = f"CRASHED or HUNG (exit {proc.returncode})"
    return current + 1


def _run_all() -> dict[int, str]:
    outcomes: dict[int, str] = {}
    start: int | None = 0
    while start is not None and start < 40 * len(MODELS):
        start = _run_from(start, outcomes)
    return outcomes


def test_runner_on_160_mutants_gives_a_result_or_a_tflkit_error() -> None:
    outcomes = _run_all()
    assert len(outcomes) == 160
    bad = {i: o for i, o in outcomes.items() if not o.startswith(("ok", "TflkitError"))}
    assert not bad, "\n".join(
        f"{MODELS[i // 40]} mutant {i % 40}: {o}" for i, o in sorted(bad.items())
    )
    # The mutants must exercise both ends: some still run, some are refused
    assert sum(o.startswith("ok") for o in outcomes.values()) >= 20
    assert sum(o.startswith("TflkitError") for o in outcomes.values()) >= 20

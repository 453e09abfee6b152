"""The Runner on every published model of tests/corpus/models, against LiteRT fed by hand.

    python bench/runner_corpus.py [--only SUBSTR] [-j 2] [--timeout 120] [--json F]

For each model a child process (a crash of the runtime must not end the sweep) first opens and
allocates the model with LiteRT's interpreter by hand (default delegate; if that fails, the
builtin kernels alone, as the Runner falls back). Then, for the default entry (subgraph 0) and
each signature on another subgraph, random inputs (``tflkit._inputs.random_inputs``, seed 0;
string inputs as short random byte strings) go

- to the interpreter BY HAND, one sample at a time on a fresh interpreter: resize, allocate,
  set_tensor, invoke, get_tensor (a signature on another subgraph through its signature
  runner), inputs quantized by hand and outputs dequantized by hand with the scale and zero
  point the interpreter reports (round half away from zero, saturate): the truth;
- to ``tflkit.Runner(path, batching=B).predict(x)`` for B in auto / batched / per-sample and
  n in (1, 3) where the model has a batch axis (else one call), and with ``raw=True`` (the
  quantized integers in, the stored outputs out).

Every case is one line of ``--json``: equal, close (max abs diff within 1e-5 of the largest
value), differs (max abs diff, or what differs in shape, dtype or count), tflkit error (type
and message), crash (the signal; the child starts again after the case) or both refuse (the
runtime cannot open the model and the Runner refuses it with a TflkitError). The summary table
counts models by their worst case and cases by outcome.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the by-hand truth the tests use
from _by_hand import (  # noqa: E402
    compare,
    open_by_hand,
    random_feeds,
    raw_feeds,
    raw_sig_feeds,
    truth_signature,
    truth_subgraph0,
)

MODELS = ROOT / "tests" / "corpus" / "models"
BATCHINGS = ("auto", "batched", "per-sample")
#: worst first: a model's outcome is that of its worst case
ORDER = (
    "crash",
    "differs",
    "tflkit error",
    "timeout",
    "close",
    "batched refused",
    "equal",
    "refused, runtime crashes",
    "both fail",
    "both refuse",
    "runtime only",
)


# ---------------------------------------------------------------------- the child


class Log:
    def __init__(self, path: Path) -> None:
        self.f = path.open("a")

    def write(self, obj: dict[str, Any]) -> None:
        self.f.write(json.dumps(obj) + "\n")
        self.f.flush()


def error_row(exc: BaseException) -> dict[str, Any]:
    import tflkit

    kind = "tflkit error" if isinstance(exc, tflkit.TflkitError) else "tflkit error"
    row = {
        "outcome": kind,
        "error": type(exc).__name__,
        "message": " ".join(str(exc).split())[:300],
    }
    if not isinstance(exc, tflkit.TflkitError):
        row["traceback"] = traceback.format_exc(limit=-3)[-800:]
    return row


def _truth(
    path: Path,
    delegate: bool,
    key: str | None,
    names: list[str],
    out_names: list[str],
    feeds: list[np.ndarray],
    n: int | None,
    raw: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The outputs by hand, and the quantized integers the raw Runner takes."""
    if key is None:
        return truth_subgraph0(path, delegate, feeds, n, raw), raw_feeds(path, delegate, feeds)
    named = dict(zip(names, feeds, strict=True))
    wd = truth_signature(path, delegate, key, named, n, raw)
    return [wd[o] for o in out_names], raw_sig_feeds(path, delegate, key, named)


def _names(sg: Any) -> list[str]:
    return [t.name for t in sg.input_tensors]


def child(path: Path, log_path: Path, skip: set[str]) -> None:
    warnings.simplefilter("ignore")
    import tflkit

    log = Log(log_path)

    def step(name: str) -> bool:
        if name in skip:
            return False
        log.write({"start": name})
        return True

    delegate = True
    if step("probe"):
        try:
            interp = open_by_hand(path, True)
            try:
                interp.allocate_tensors()
            except RuntimeError:
                delegate = False
                interp = open_by_hand(path, False)
                interp.allocate_tensors()
            log.write({"step": "probe", "outcome": "ok", "delegate": delegate})
        except Exception as exc:  # the runtime refuses: does the Runner?
            log.write({"step": "probe", "outcome": "runtime refuses", "message": str(exc)[:300]})
            skip.add("probe:refused")
    if "probe:refused" in skip:
        if step("open"):
            try:
                tflkit.Runner(path)
                row = {
                    "outcome": "runtime only",
                    "detail": "the Runner opened what the runtime refused",
                }
            except tflkit.TflkitError as e:
                row = {"outcome": "both refuse", "error": type(e).__name__, "message": str(e)[:300]}
            except Exception as e:
                row = error_row(e)
            log.write({"step": "open", **row})
        return
    if "probe" in skip:
        delegate = "probe:builtin" not in skip
    model = tflkit.load(path)
    entries: list[str | None] = [None] + [s.key for s in model.signatures if s.subgraph_index != 0]
    for key in entries:
        sig = model.signature(key) if key is not None else None
        sg = model.subgraphs[sig.subgraph_index if sig else 0]
        try:
            r0 = tflkit.Runner(path, signature=key, batching="per-sample")
            names = list(r0.input_names)
            out_names = list(r0.output_names)
        except Exception as exc:
            log.write({"step": f"runner:{key}", **error_row(exc)})
            # refused though the runtime opens it: does the runtime run it by hand?
            tname = f"truth-refused:{key}"
            if key is None and f"crashed:{tname}" not in skip and step(tname):
                try:
                    feeds = random_feeds(sg.input_tensors, _names(sg), 1, sg.batch_axis)
                    truth_subgraph0(path, delegate, feeds, 1 if sg.batch_axis == 0 else None, False)
                    log.write({"step": tname, "outcome": "ok"})
                except Exception as e:
                    log.write({"step": tname, "outcome": "truth fails", "message": str(e)[:300]})
            continue
        ns: list[int | None] = [1, 3] if sg.batch_axis == 0 else [None]
        for n in ns:
            try:
                feeds = random_feeds(sg.input_tensors, names, n or 1, sg.batch_axis)
            except Exception as exc:
                log.write(
                    {"step": f"inputs:{key}:{n}", "outcome": "no inputs", "message": str(exc)}
                )
                continue
            for raw in (False, True):
                tname = f"truth:{key}:{n}:{raw}"
                if f"crashed:{tname}" in skip:
                    continue
                log.write({"start": tname})  # again after a restart: the cases need it
                try:
                    want, x_raw = _truth(path, delegate, key, names, out_names, feeds, n, raw)
                except Exception as first:  # XNNPACK failing at invoke: the builtin kernels
                    try:
                        want, x_raw = _truth(path, False, key, names, out_names, feeds, n, raw)
                    except Exception:
                        exc = first
                        log.write(
                            {
                                "step": tname,
                                "outcome": "truth fails",
                                "message": " ".join(str(exc).split())[:300],
                            }
                        )
                        # the runtime fails on these samples by hand: does the Runner say so?
                        cname = f"tflkit:{key}:auto:{n}:{raw}"
                        if step(cname):
                            try:
                                runner = tflkit.Runner(path, signature=key)
                                runner.predict(list(feeds), raw=raw)
                                row = {
                                    "outcome": "runtime only",
                                    "detail": "ran what failed by hand",
                                }
                            except tflkit.TflkitError as e:
                                row = {
                                    "outcome": "both fail",
                                    "error": type(e).__name__,
                                    "message": " ".join(str(e).split())[:300],
                                }
                            except Exception as e:
                                row = error_row(e)
                            log.write({"step": cname, **row})
                        continue
                log.write({"step": tname, "outcome": "ok"})
                x = x_raw if raw else feeds
                for batching in BATCHINGS if n is not None else ("auto",):
                    cname = f"tflkit:{key}:{batching}:{n}:{raw}"
                    if not step(cname):
                        continue
                    try:
                        runner = tflkit.Runner(path, signature=key, batching=batching)
                        y = runner.predict(list(x), raw=raw)
                        if isinstance(y, dict):
                            row = compare(list(y.values()), want)
                        elif not isinstance(y, np.ndarray):
                            row = {
                                "outcome": "differs",
                                "detail": f"predict returned {type(y).__name__}, not an ndarray",
                            }
                        else:
                            row = compare([y], want)
                    except Exception as exc:
                        row = error_row(exc)
                        if batching == "batched" and "batching='per-sample'" in row["message"]:
                            row["outcome"] = "batched refused"  # by design: not a batch axis
                    log.write({"step": cname, **row})


# ---------------------------------------------------------------------- the parent


def sweep_one(path: Path, timeout: float) -> list[dict[str, Any]]:
    """Run the child until it has done every case; a case that kills it is a crash."""
    rows: list[dict[str, Any]] = []
    skip: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "log.jsonl"
        for _attempt in range(40):
            log_path.write_text("")
            cmd = [sys.executable, __file__, "--child", str(path), "--log", str(log_path)]
            cmd += [f"--skip={s}" for s in sorted(skip)]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
                rc: int | str = proc.returncode
                stderr = proc.stderr
            except subprocess.TimeoutExpired as exc:
                rc, stderr = "timeout", str(exc.stderr or "")
            started = None
            for line in log_path.read_text().splitlines():
                obj = json.loads(line)
                if "start" in obj:
                    started = obj["start"]
                else:
                    rows.append(obj)
                    skip.add(obj["step"])
                    started = None
                    if obj["step"] == "probe" and not obj.get("delegate", True):
                        skip.add("probe:builtin")
                    if obj["step"] == "probe" and obj["outcome"] != "ok":
                        skip.add("probe:refused")
            if rc == 0 and started is None:
                break
            signame = (
                rc if isinstance(rc, str) else signal.Signals(-rc).name if rc < 0 else f"exit {rc}"
            )
            if rc == "timeout":  # a slow model: what it finished counts, the rest is not run
                rows.append(
                    {"step": started or "child", "outcome": "timeout", "message": f"{timeout:g} s"}
                )
                break
            if started is None:  # died outside any case (import, load)
                rows.append(
                    {
                        "step": "child",
                        "outcome": "crash",
                        "signal": signame,
                        "message": stderr.strip().splitlines()[-1:],
                    }
                )
                break
            tail = [s for s in stderr.strip().splitlines() if s.strip()][-2:]
            rows.append(
                {
                    "step": started,
                    "outcome": "crash",
                    "signal": signame,
                    "message": " | ".join(tail)[:300],
                }
            )
            skip.add(started)
            if started == "probe":  # the runtime dies opening the model: does the Runner?
                skip.add("probe:refused")
                rows[-1]["outcome"] = "runtime crash"
            if started.startswith(("truth:", "truth-refused:")):
                skip.add(f"crashed:{started}")
                # the runtime itself dies on these samples: its cases cannot be compared
                parts = started.split(":")
                if len(parts) == 4:
                    _, key, n, raw = parts
                    for b in BATCHINGS:
                        skip.add(f"tflkit:{key}:{b}:{n}:{raw}")
                rows[-1]["outcome"] = "runtime crash"
    unique = {r["step"]: r for r in rows}  # truth steps repeat after a restart
    rows = list(unique.values())
    for r in rows:
        r["model"] = path.name
    return rows


def model_outcome(rows: list[dict[str, Any]]) -> str:
    refused = [r for r in rows if r["step"].startswith("runner:")]
    crashed = any(r["outcome"] == "runtime crash" for r in rows)
    if refused and all(r.get("error") == "UnsupportedModelError" for r in refused) and crashed:
        return "refused, runtime crashes"
    cases = [r for r in rows if r["step"].startswith(("tflkit:", "open", "runner:", "child"))]
    if not cases:
        if any(r["outcome"] == "runtime crash" for r in rows):
            return "runtime crash"
        if any(r["outcome"] == "truth fails" for r in rows):
            return "truth fails"
        return "no case"
    outcomes = {r["outcome"] for r in cases}
    for o in ORDER:
        if o in outcomes:
            return o
    return sorted(outcomes)[0]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="", help="models whose file name contains this")
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--json", type=Path, help="write every case here, one JSON object a line")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--skip", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.log, set(args.skip))
        return
    paths = sorted(p for p in MODELS.glob("*.tflite") if args.only in p.name)
    t0 = time.monotonic()
    all_rows: list[dict[str, Any]] = []
    per_model: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(args.j) as pool:
        for rows in pool.map(lambda p: sweep_one(p, args.timeout), paths):
            name = rows[0]["model"] if rows else "?"
            all_rows.extend(rows)
            per_model[name] = model_outcome(rows)
            bad = [
                r
                for r in rows
                if r["outcome"]
                in (
                    "crash",
                    "differs",
                    "tflkit error",
                    "runtime only",
                    "runtime crash",
                    "truth fails",
                    "timeout",
                )
            ]
            if bad:
                r = bad[0]
                print(
                    f"{name}: {r['step']}: {r['outcome']}: {r.get('error', '')} "
                    f"{r.get('detail', '')}{r.get('signal', '')} {r.get('message', '')}"[:300],
                    flush=True,
                )
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in all_rows))
    cases = Counter(
        r["outcome"] for r in all_rows if r["step"].startswith(("tflkit:", "open", "runner:"))
    )
    models = Counter(per_model.values())
    print(f"\n{len(paths)} models, {time.monotonic() - t0:.0f} s")
    print("| outcome (a model's worst case) | models |\n|---|---:|")
    for o, c in models.most_common():
        print(f"| {o} | {c} |")
    print("\n| outcome | Runner cases |\n|---|---:|")
    for o, c in cases.most_common():
        print(f"| {o} | {c} |")


if __name__ == "__main__":
    main()

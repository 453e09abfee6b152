"""The published-model agreement corpus (issue 22): tflkit's ``check --target`` against the tools.

    python bench/corpus.py collect [--cache DIR]            # gather the models (>= 150)
    python bench/corpus.py truth [--cache DIR] [-j 2]       # Vela, TFLM, XNNPACK on each model
    python bench/corpus.py report [--cache DIR] [--json F]  # tflkit vs the truths, markdown
    python bench/corpus.py commit [--cache DIR]             # tests/corpus: MANIFEST, truths, models

``collect`` takes every ``.tflite`` and every flatbuffer ``.bin`` (identifier ``TFL3``) under
3 MB from the git mirrors of LiteRT, tflite-micro and ai-edge-quantizer (``git cat-file`` at
HEAD), and the ``.tflite`` files shipped inside PyPI wheels (``pip download --no-deps``, read
with ``zipfile``), deduplicated by sha256, into the cache (never inside the repository).

``truth`` runs each tool in a child process with a timeout, ``-j`` at a time, and caches each
answer per model and tool (a re-run only runs what is missing):

- Vela 5.2 for ethos-u55-128, ethos-u65-256, ethos-u85-256 (the three in one child per model;
  one child each when it dies): the operators that stay CPU operators in the .tflite Vela
  writes (every operator that is not its ``ethos-u`` custom op), found by (type, first output
  name) among the input model's operators and kept as their indices ("0:3-5,9 1:0"), and the
  constraint Vela printed for each (as tests/test_target_ethos_u.py reads them);
- the tflite-micro interpreter: allocate with a 64 MiB arena, invoke on zeros, the total of
  ``print_allocations()`` (tests/_tflm_probe.py);
- the LiteRT interpreter's XNNPACK partitions: the nodes inside each DELEGATE node after
  ``allocate_tensors()`` (subgraph 0 only, as tests/test_xnnpack.py reads them).

``report`` runs tflkit's own placement for each model and target in this process (the tflkit of
this checkout, or of ``--tflkit DIR``) and compares operator for operator (XNNPACK, Ethos-U),
verdict for verdict (TFLM) and arena (tflkit's estimate against TFLM's total: never below, at most
5% above). The truth tools are imported only in the children.

``commit`` writes tests/corpus/: MANIFEST.json (every model: id, sha256, size, source, licence,
committed), truths.json (one line per model) and models/ (Apache-2.0 models under 300 KB,
smallest first, 6 MB at most), read by tests/test_corpus.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the truth readers the tests use
from _truth import OpRow, delegate_partitions, operators, vela_warnings  # noqa: E402

DEFAULT_CACHE = Path("/work/corpus-cache/models")
MIRRORS = {
    "litert": ("google-ai-edge/LiteRT", Path("/work/.mirror/google-ai-edge+LiteRT/repo")),
    "tflm": ("tensorflow/tflite-micro", Path("/work/.mirror/tensorflow+tflite-micro/repo")),
    "aeq": (
        "google-ai-edge/ai-edge-quantizer",
        Path("/work/.mirror/google-ai-edge+ai-edge-quantizer/repo"),
    ),
}
# package spec, short name, licence of the models in it (from the package's METADATA, and for
# pyopen-wakeword the openWakeWord README: its pre-trained models are CC BY-NC-SA 4.0).
# mediapipe 0.10.14: the 1.x wheels ship no .tflite; openwakeword's wheel ships no models.
WHEELS = [
    ("mediapipe==0.10.14", "mediapipe", "Apache-2.0"),
    ("pymicro-wakeword==2.5.0", "microww", "Apache-2.0"),
    ("pyopen-wakeword==1.1.0", "openww", "CC-BY-NC-SA-4.0 (openWakeWord models); code Apache-2.0"),
]
MAX_BYTES = 3_000_000
ACCELERATORS = {
    "ethos-u55": "ethos-u55-128",
    "ethos-u65": "ethos-u65-256",
    "ethos-u85": "ethos-u85-256",
}
TOOLS = ["xnnpack", "tflm", *ACCELERATORS]
TARGETS = ["xnnpack", "ethos-u55", "ethos-u65", "ethos-u85", "tflm", "tflm-arena"]
TIMEOUT = 180
PROBE = ROOT / "tests" / "_tflm_probe.py"
CORPUS = ROOT / "tests" / "corpus"
ARENA_SLACK = 0.05


# ----------------------------------------------------------------------------------- collect
def _mirror_files(key: str) -> list[tuple[str, bytes, str]]:
    """(path, bytes, commit) of every candidate file of one mirror."""
    _, repo = MIRRORS[key]
    git = ["git", "-C", str(repo)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    commit_id = commit.stdout.strip()
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-l", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    wanted: list[tuple[str, str]] = []
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        _, kind, obj, size = meta.split()
        if kind != "blob" or not size.isdigit() or int(size) >= MAX_BYTES:
            continue
        if path.endswith((".tflite", ".bin")):
            wanted.append((obj, path))
    batch = subprocess.run(
        [*git, "cat-file", "--batch"],
        input="".join(f"{obj}\n" for obj, _ in wanted).encode(),
        capture_output=True,
        check=True,
    ).stdout
    out, pos = [], 0
    for _, path in wanted:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        data = batch[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
        out.append((path, data, commit_id))
    return out


def _licence(key: str) -> str:
    _, repo = MIRRORS[key]
    text = subprocess.run(
        ["git", "-C", str(repo), "show", "HEAD:LICENSE"], capture_output=True, text=True
    ).stdout
    return "Apache-2.0" if "Apache License" in text and "Version 2.0" in text else "see LICENSE"


def _wheel_files(cache: Path, spec: str) -> tuple[str, list[tuple[str, bytes]]]:
    wheels = cache / "_wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    name, version = spec.split("==")
    stem = name.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            + ["--python-version", "3.11", "-q", "-d", str(wheels), spec],
            check=True,
        )
        found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    out = []
    with zipfile.ZipFile(found[0]) as zf:
        for info in zf.infolist():
            if info.filename.endswith(".tflite") and info.file_size < MAX_BYTES:
                out.append((info.filename, zf.read(info)))
    return f"{name}=={version}", out


def collect(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, Any]] = {}
    skipped = Counter[str]()

    def add(key: str, path: str, data: bytes, source: str, licence: str) -> None:
        if data[4:8] != b"TFL3":
            skipped[key] += 1
            return
        sha = hashlib.sha256(data).hexdigest()
        ident = f"{key}:{path}"
        if sha in index:
            index[sha]["also"].append(ident)
            return
        file = cache / f"{sha}.tflite"
        if not file.exists():
            file.write_bytes(data)
        index[sha] = {
            "id": ident,
            "sha256": sha,
            "size": len(data),
            "source": source,
            "licence": licence,
            "file": file.name,
            "also": [],
        }

    for key, (slug, _) in MIRRORS.items():
        licence = _licence(key)
        for path, data, commit in _mirror_files(key):
            add(key, path, data, f"{slug}@{commit}", licence)
    for spec, key, licence in WHEELS:
        source, files = _wheel_files(cache, spec)
        for path, data in files:
            add(key, path, data, source, licence)
    (cache / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    by_source = Counter(m["id"].split(":")[0] for m in index.values())
    print(f"{len(index)} models in {cache} ({dict(by_source)}); not TFL3: {dict(skipped)}")


def _index(cache: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = json.loads((cache / "index.json").read_text())
    return found


# ----------------------------------------------------------------------------- truth children
def _probe_vela(model: str, accel: str) -> dict[str, Any]:
    """Vela on one model for one accelerator config, in this (child) process."""
    from ethosu.vela import vela

    with tempfile.TemporaryDirectory() as out:
        # Vela prints through streams bound at import: catch fds 1 and 2 in a file
        with tempfile.TemporaryFile() as log:
            saved = os.dup(1), os.dup(2)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                rc = vela.main(["--accelerator-config", accel, "--output-dir", out, model])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except Exception as exc:  # Vela's own failure is the truth for this model
                print(f"{type(exc).__name__}: {exc}")
                rc = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
            log.seek(0)
            text = log.read().decode(errors="replace")
        written = Path(out) / (Path(model).stem + "_vela.tflite")
        if rc != 0 or not written.exists():
            return {"error": f"vela exit {rc}: {_tail(text)}"}
        ops = operators(written)
    cpu = [[r.op, r.output, r.types] for r in ops if r.custom != "ethos-u"]
    npu = sum(r.custom == "ethos-u" for r in ops)
    reasons = _vela_reasons(text)
    return {
        "cpu": sorted(cpu),
        "npu_ops": npu,
        "reasons": {f"{op} {ofm}": r for (op, ofm), r in sorted(reasons.items())},
    }


def _vela_reasons(log: str) -> dict[tuple[str, str], str]:
    """(op type, ofm) -> the constraint Vela printed (its "Reason:" line when there is none)."""
    found = {}
    for key, block in vela_warnings(log).items():
        picked = [b for b in block if not b.startswith("Reason:")] or block
        found[key] = " ".join(picked)[:200]
    return found


def _tail(text: str, n: int = 300) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return " | ".join(lines[-3:])[-n:]


def _probe_xnnpack(path: str) -> dict[str, Any]:
    seen = delegate_partitions(path)
    if "error" in seen:
        return {"error": f"{seen['kind']}: {_tail(seen['error'])}"}
    if seen["ops"] != seen["default_ops"]:
        return {"error": "the default resolver lists other nodes than the builtin-only one"}
    if any(name != "DELEGATE" for name in seen["extra"]):
        return {"error": f"nodes after the model's: {sorted(set(seen['extra']))}"}
    taken = sorted(i for part in seen["partitions"] for i in part)
    return {
        "ops": len(seen["ops"]),
        "delegated": _ranges(taken),
        "partitions": len(seen["partitions"]),
    }


def _vela_by_index(ops: list[OpRow], raw: dict[str, Any]) -> dict[str, Any]:
    """Vela's CPU operators, named by (type, output) in the file Vela writes, as the indices of
    the input model's operators ("0:3-5,9 1:0"); those that match none stay "unmatched"."""
    free: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for r in ops:
        free.setdefault((r.op, r.output), []).append((r.subgraph, r.index, r.types))
    warned = raw["reasons"]
    cpu, unmatched = [], []
    where: dict[str, tuple[int, int]] = {}
    for op, name, *types in raw["cpu"]:
        # Vela writes "<unnamed>" for a tensor without a name, and on some rewrites a suffix
        # ("PartitionedCall:0_int8" for the output "PartitionedCall:0") or another name (the
        # CAST of dynamic_shapes.bin writes "values"): then the one operator of that type
        # Vela warned about and nothing else matched
        key = (op, "" if name == "<unnamed>" else name)
        if not free.get(key):
            key = next(
                (k for k, v in free.items() if k[0] == op and v and name.startswith(k[1] + "_")),
                key,
            )
        if not free.get(key):
            left = [k for k, v in free.items() if k[0] == op and v and f"{op} {k[1]}" in warned]
            key = left[0] if len(left) == 1 and len(free[left[0]]) == 1 else key
        left = free.get(key)
        if left:
            # among operators of one type and output name, the one of the same tensor types
            k = next((k for k, x in enumerate(left) if types and x[2] == types[0]), 0)
            s, i, _ = left.pop(k)
            cpu.append((s, i))
            where.setdefault(f"{op} {name}", cpu[-1])
            where.setdefault(f"{op} {key[1]}", cpu[-1])
        else:
            unmatched.append([op, name])
    reasons: dict[str, list[tuple[int, int]]] = {}
    for key, text in raw["reasons"].items():
        if key in where:
            reasons.setdefault(text, []).append(where[key])
    out: dict[str, Any] = {
        "cpu": _where(cpu),
        "npu_ops": raw["npu_ops"],
        "reasons": {text: _where(at) for text, at in reasons.items()},
    }
    if unmatched:
        out["unmatched"] = unmatched
    return out


def _where(at: list[tuple[int, int]]) -> str:
    """[(0, 3), (0, 4), (1, 0)] -> "0:3-4 1:0"."""
    by_sg: dict[int, list[int]] = {}
    for s, i in at:
        by_sg.setdefault(s, []).append(i)
    return " ".join(f"{s}:{_ranges(sorted(ii))}" for s, ii in sorted(by_sg.items()))


def unwhere(text: str) -> set[tuple[int, int]]:
    """ "0:3-4 1:0" -> {(0, 3), (0, 4), (1, 0)}."""
    out: set[tuple[int, int]] = set()
    for part in text.split():
        s, _, ranges = part.partition(":")
        out.update((int(s), i) for i in unranges(ranges))
    return out


def _ranges(ints: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    out, start = [], None
    for k, i in enumerate(ints):
        if start is None:
            start = i
        if k + 1 == len(ints) or ints[k + 1] != i + 1:
            out.append(f"{start}-{i}" if i != start else f"{i}")
            start = None
    return ",".join(out)


def unranges(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def _probe_main(tool: str, model: str) -> None:
    if tool == "xnnpack":
        result = _probe_xnnpack(model)
    elif tool == "vela":  # the three configs in one process (one import of Vela)
        result = {target: _probe_vela(model, accel) for target, accel in ACCELERATORS.items()}
    else:
        result = _probe_vela(model, ACCELERATORS[tool])
    sys.stdout.write("\n" + json.dumps(result) + "\n")


# ---------------------------------------------------------------------------------- truth
_NODE = re.compile(r"Node (\w+) \(number (\d+)\) failed to (prepare|invoke)")


def _run_child(tool: str, model: Path) -> dict[str, Any]:
    if tool == "tflm":
        cmd = [sys.executable, str(PROBE), str(model)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_probe", tool, str(model)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    limit = TIMEOUT * (len(ACCELERATORS) if tool == "vela" else 1)
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=limit, env=env, cwd=tempfile.gettempdir()
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {limit} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        if tool == "tflm":  # TFLM aborting the process on the model: it does not run there
            return {
                "stage": "crash",
                "arena_total": None,
                "message": f"{how}: {_tail(done.stderr)}",
            }
        return {"error": f"{tool} child died ({how}): {_tail(done.stderr)}"}
    result: dict[str, Any] = json.loads(lines[-1])
    if tool != "tflm":
        return result
    # the TFLM probe: keep the stage, the total and one line saying why not
    log = result.get("log", "")
    out: dict[str, Any] = {"stage": result["stage"], "arena_total": result["arena_total"]}
    if result["stage"] != "ok":
        node = _NODE.search(log)
        out["message"] = node[0] if node else _tail(log, 200)
        if "Failed to resize buffer" in log:  # needs more than the probe's arena: no verdict
            return {"error": f"the model needs more than the probe's 64 MiB arena: {_tail(log)}"}
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "ethos-u-vela": version("ethos-u-vela"),
        "tflite-micro": version("tflite-micro"),
        "ai-edge-litert": version("ai-edge-litert"),
    }


def truth(cache: Path, jobs: int, out: Path) -> None:
    index = _index(cache)
    versions = _versions()
    tcache = cache / "_truth"
    tcache.mkdir(exist_ok=True)
    stamp = json.dumps(versions, sort_keys=True)
    todo: list[tuple[str, str]] = []
    answers: dict[tuple[str, str], dict[str, Any]] = {}
    for sha in sorted(index):
        for tool in TOOLS:
            f = tcache / f"{sha}.{tool}.json"
            if f.exists():
                saved = json.loads(f.read_text())
                if saved.get("versions") == stamp:
                    answers[(sha, tool)] = saved["truth"]
                    continue
            todo.append((sha, tool))
    print(f"{len(index)} models, {len(todo)} tool runs to do, {jobs} at a time", flush=True)
    t0 = time.monotonic()

    # Vela's three configs of one model run in one child; when it dies, one child each
    vela_todo = sorted({sha for sha, tool in todo if tool in ACCELERATORS})
    jobs_list = [(sha, "vela") for sha in vela_todo]
    jobs_list += [(sha, tool) for sha, tool in todo if tool not in ACCELERATORS]

    def one(job: tuple[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
        sha, tool = job
        path = cache / index[sha]["file"]
        if tool == "vela":
            both = _run_child("vela", path)
            if "error" in both:
                found = {(sha, t): _run_child(t, path) for t in ACCELERATORS}
            else:
                found = {(sha, t): both[t] for t in ACCELERATORS}
        else:
            found = {job: _run_child(tool, path)}
        for (s, t), result in found.items():
            (tcache / f"{s}.{t}.json").write_text(
                json.dumps({"versions": stamp, "truth": result}, sort_keys=True)
            )
        return found

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for k, found in enumerate(pool.map(one, jobs_list), 1):
            answers.update(found)
            if k % 100 == 0:
                print(f"  {k}/{len(jobs_list)} in {time.monotonic() - t0:.0f} s", flush=True)
    print(f"truth: {len(todo)} tool runs in {time.monotonic() - t0:.0f} s", flush=True)
    models = {}
    for sha in sorted(index):
        entry = {"id": index[sha]["id"], **{tool: answers[(sha, tool)] for tool in TOOLS}}
        ops = operators(cache / index[sha]["file"])
        for target in ACCELERATORS:
            if "cpu" in entry[target]:
                entry[target] = _vela_by_index(ops, entry[target])
        models[sha] = entry
    doc = {"tools": versions, "models": models}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dump_truths(doc))
    print(f"wrote {out}")


def _dump_truths(doc: dict[str, Any]) -> str:
    """truths.json: sorted keys, one line per model (small, and a diff names the model)."""
    models = ",\n".join(
        f"  {json.dumps(sha)}: {json.dumps(m, sort_keys=True, separators=(',', ':'))}"
        for sha, m in sorted(doc["models"].items())
    )
    tools = json.dumps(doc["tools"], sort_keys=True)
    return f'{{\n "models": {{\n{models}\n }},\n "tools": {tools}\n}}\n'


# --------------------------------------------------------------------------------- compare
def compare(model: Any, truth: dict[str, Any], target: str) -> dict[str, Any]:
    """tflkit's answer for one model and target against the truth.

    Returns {"status": "agree" | "disagree" | "not compared", "why": str, "diffs": [...]}; each
    diff is {"index", "op", "tflkit", "truth", "reason"}.
    """
    from tflkit.targets import place

    tool = "tflm" if target.startswith("tflm") else target
    t = truth[tool]
    if "error" in t:
        return {"status": "not compared", "why": t["error"], "diffs": []}
    if target == "tflm-arena" and t["stage"] != "ok":
        return {"status": "not compared", "why": "TFLM does not run it", "diffs": []}
    result = place(model, "tflm" if tool == "tflm" else target)
    diffs: list[dict[str, Any]] = []

    def where(p: Any) -> str:
        return {"target": target.split("-arena")[0], "cpu": "CPU", "none": "cannot run"}[p.on]

    if target == "xnnpack":
        sg0 = [p for p in result.placement if p.subgraph == 0]
        if len(sg0) != t["ops"]:
            why = f"the interpreter lists {t['ops']} nodes, the model {len(sg0)}"
            return {"status": "not compared", "why": why, "diffs": []}
        took = unranges(t["delegated"])
        for p in sg0:
            if (p.on == "target") != (p.operator in took):
                diffs.append(
                    {
                        "index": p.operator,
                        "op": p.op,
                        "tflkit": where(p),
                        "truth": "xnnpack" if p.operator in took else "CPU",
                        "reason": p.rule or p.reason or "(tflkit: supported)",
                    }
                )
        from tflkit.targets import xnnpack

        ours = xnnpack.segments(model, tuple(sg0))
        if not diffs and ours != t["partitions"]:
            diffs.append(_segments_diff(ours, t["partitions"], "DELEGATE partitions"))
    elif target.startswith("ethos-u"):
        truth_cpu = unwhere(t["cpu"])
        said = {at: text for text, w in t["reasons"].items() for at in unwhere(w)}
        for p in result.placement:
            at = (p.subgraph, p.operator)
            if (p.on == "cpu") != (at in truth_cpu):
                diffs.append(
                    {
                        "index": f"{p.subgraph}:{p.operator}",
                        "op": p.op,
                        "tflkit": where(p),
                        "truth": "CPU" if at in truth_cpu else "NPU",
                        "reason": _ethos_reason(p, at in truth_cpu, said.get(at, "")),
                    }
                )
        for op, name in t.get("unmatched", []):
            diffs.append(
                {
                    "index": "?",
                    "op": op,
                    "tflkit": "-",
                    "truth": "CPU",
                    "reason": f"Vela's output has a CPU {op} {name!r} the model does not",
                }
            )
        if not diffs and result.segments != t["npu_ops"]:
            diffs.append(_segments_diff(result.segments, t["npu_ops"], "ethos-u operators"))
    elif target == "tflm":
        runs = t["stage"] == "ok"
        if result.passed != runs:
            bad = [p for p in result.placement if p.on != "target"]
            if result.passed:
                diffs.append(
                    {
                        "index": "-",
                        "op": "-",
                        "tflkit": "runs",
                        "truth": "crashes" if t["stage"] == "crash" else f"fails at {t['stage']}",
                        "reason": f"TFLM: {t.get('message', '')}",
                    }
                )
            for p in bad:
                diffs.append(
                    {
                        "index": f"{p.subgraph}:{p.operator}",
                        "op": p.op,
                        "tflkit": "cannot run",
                        "truth": "runs",
                        "reason": f"{p.rule}: {p.reason}",
                    }
                )
    else:  # tflm-arena
        total = t["arena_total"]
        est = result.memory.arena_bytes if result.memory else None
        if total is None or est is None:
            return {"status": "not compared", "why": "no arena figure", "diffs": []}
        ratio = est / total
        if not (total <= est <= total * (1 + ARENA_SLACK)):
            diffs.append(
                {
                    "index": "-",
                    "op": "-",
                    "tflkit": f"{est:,} B",
                    "truth": f"{total:,} B",
                    "reason": f"{ratio:.3f}x ({'BELOW' if est < total else 'over 5%'})",
                }
            )
    return {"status": "disagree" if diffs else "agree", "why": "", "diffs": diffs}


def _segments_diff(ours: int, theirs: int, what: str) -> dict[str, Any]:
    """Every operator placed alike, but cut into another number of parts."""
    return {"index": "-", "op": "segments", "tflkit": ours, "truth": theirs, "reason": what}


def _ethos_reason(p: Any, truth_cpu: bool, vela: str) -> str:
    ours = f"tflkit {p.rule}: {p.reason}" if p.rule else f"tflkit: {p.reason or 'NPU'}"
    if not truth_cpu:
        return ours
    said = f"Vela: {vela}" if vela else "Vela prints no warning"
    return f"{said}; {ours}" if p.reason else said


def report(
    truths: Path,
    cache: Path | None,
    models_dir: Path | None,
    out_md: Path,
    out_json: Path | None,
    known: bool = False,
) -> None:
    import tflkit

    doc = json.loads(truths.read_text())
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text()) if models_dir else None
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TARGETS}
    index = _index(cache) if cache else {}
    for sha, truth in sorted(doc["models"].items(), key=lambda kv: kv[1]["id"]):
        if cache is not None:
            path = cache / index[sha]["file"]
        else:
            assert manifest is not None and models_dir is not None
            entry = next(m for m in manifest["models"] if m["sha256"] == sha)
            if not entry["committed"]:
                continue
            path = models_dir / entry["file"]
        try:
            model = tflkit.load(path)
        except Exception as exc:
            for target in TARGETS:
                rows[target].append(
                    {"id": truth["id"], "status": "not compared", "why": f"tflkit: {exc}"[:200]}
                )
            continue
        for target in TARGETS:
            try:
                c = compare(model, truth, target)
            except Exception as exc:  # tflkit's rule failing is a disagreement to show
                c = {
                    "status": "disagree",
                    "why": "",
                    "diffs": [
                        {
                            "index": "-",
                            "op": "-",
                            "tflkit": "error",
                            "truth": "-",
                            "reason": f"{type(exc).__name__}: {exc}"[:200],
                        }
                    ],
                }
            rows[target].append({"id": truth["id"], "sha256": sha, **c})
    summary = {}
    for target, rs in rows.items():
        compared = [r for r in rs if r["status"] != "not compared"]
        agree = sum(r["status"] == "agree" for r in compared)
        summary[target] = {
            "models": len(rs),
            "compared": len(compared),
            "agree": agree,
            "percent": round(100 * agree / len(compared), 1) if compared else None,
        }
    out_md.write_text(_markdown(doc["tools"], summary, rows))
    if known:
        _write_known(rows)
    text = sys.stdout
    if out_json is not None:
        data = json.dumps({"tools": doc["tools"], "summary": summary, "rows": rows}, sort_keys=True)
        if str(out_json) == "-":  # the JSON alone on stdout, the summary on stderr
            print(data)
            text = sys.stderr
        else:
            out_json.write_text(data + "\n")
    for target, s in summary.items():
        print(f"{target:10} {s['agree']}/{s['compared']} agree ({s['percent']}%)", file=text)
    print(f"wrote {out_md}", file=text)


def _directions(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Which way TFLM's disagreements go: the dangerous one first (tflkit says it runs, or an
    arena below TFLM's)."""
    verdict = [r["diffs"][0] for r in rows["tflm"] if r["status"] == "disagree"]
    runs = sum(d["tflkit"] == "runs" for d in verdict)
    arena = [str(r["diffs"][0]["reason"]) for r in rows["tflm-arena"] if r["status"] == "disagree"]
    below = sorted(float(x.split("x")[0]) for x in arena if "BELOW" in x)
    over = sorted(float(x.split("x")[0]) for x in arena if "over" in x)
    out = [
        f"- TFLM verdict: tflkit says it runs where TFLM fails on {runs} models; says it cannot"
        f" run where TFLM runs on {len(verdict) - runs}.",
        f"- TFLM arena: below TFLM's total on {len(below)} models"
        + (
            f" (ratio {below[0]:.3f} to {below[-1]:.3f}, median {below[len(below) // 2]:.3f})"
            if below
            else ""
        )
        + f"; more than 5% above on {len(over)}"
        + (f" (up to {over[-1]:.3f})" if over else "")
        + ".",
    ]
    return out


def _write_known(rows: dict[str, list[dict[str, Any]]]) -> None:
    """Rewrite the KNOWN dict of tests/test_corpus.py: the committed models that disagree."""
    files = {
        m["sha256"]: m["file"]
        for m in json.loads((CORPUS / "MANIFEST.json").read_text())["models"]
        if m["committed"]
    }
    lines = ["KNOWN: dict[tuple[str, str], str] = {"]
    for target, rs in rows.items():
        for r in rs:
            if r["status"] != "disagree" or r.get("sha256") not in files:
                continue
            d = r["diffs"][0]
            more = f" (+{len(r['diffs']) - 1})" if len(r["diffs"]) > 1 else ""
            if target == "tflm-arena":
                why = f"arena: tflkit {d['tflkit']}, TFLM {d['truth']}, {d['reason']}"
            else:
                why = f"{d['index']} {d['op']}: tflkit {d['tflkit']}, truth {d['truth']}{more}"
            key = f"({json.dumps(files[r['sha256']])}, {json.dumps(target)})"
            lines.append(f"    {key}: {json.dumps(why)},")
    lines.append("}")
    test = ROOT / "tests" / "test_corpus.py"
    text = test.read_text()
    head = text.index("KNOWN: dict[tuple[str, str], str] = {")
    tail = text.index("\n}\n", head) + 3
    test.write_text(text[:head] + "\n".join(lines) + "\n" + text[tail:])
    print(f"{len(lines) - 2} KNOWN disagreements written to {test}")


def _markdown(
    tools: dict[str, str], summary: dict[str, Any], rows: dict[str, list[dict[str, Any]]]
) -> str:
    import tflkit

    head = subprocess.run(
        ["git", "-C", str(Path(tflkit.__file__).parent), "log", "-1", "--format=%h %cs"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = [
        "# Published-model agreement corpus: tflkit check --target against the tools",
        "",
        "Written by `python bench/corpus.py report` (issue 22). Truths: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tools.items()))
        + f"; tflkit {head or '(no git)'} ({Path(tflkit.__file__).parent.parent.name}).",
        "XNNPACK: operators of subgraph 0 inside the runtime's DELEGATE partitions (and their",
        "number); Ethos-U: CPU operators of the .tflite Vela writes (and its number of ethos-u",
        "operators); TFLM: the interpreter allocates",
        "and invokes (verdict), and tflkit's arena is >= TFLM's total and <= 5% above (arena).",
        "Models: tests/corpus/MANIFEST.json (id = source:path). Re-run: `python bench/corpus.py",
        "collect && python bench/corpus.py truth -j 2 && python bench/corpus.py report`.",
        "",
        "| target | agree / compared | % | not compared (tool error, TFLM fails) |",
        "|---|---|---|---|",
    ]
    for target, s in summary.items():
        lines.append(
            f"| {target} | {s['agree']} / {s['compared']} | {s['percent']} "
            f"| {s['models'] - s['compared']} |"
        )
    lines += ["", *_directions(rows)]
    for target, rs in rows.items():
        bad = [r for r in rs if r["status"] == "disagree"]
        lines += ["", f"## {target}: {len(bad)} models disagree"]
        if bad:
            lines += [
                "",
                "| model | operator | tflkit says | truth says | reason |",
                "|---|---|---|---|---|",
            ]
            for r in bad:
                for d in r["diffs"]:
                    reason = str(d["reason"]).replace("|", "/").replace("\n", " ")
                    lines.append(
                        f"| {r['id']} | {d['index']} {d['op']} | {d['tflkit']} | {d['truth']} "
                        f"| {reason} |"
                    )
        fails = sum(r["why"] == "TFLM does not run it" for r in rs)
        errors = [
            r for r in rs if r["status"] == "not compared" and r["why"] != "TFLM does not run it"
        ]
        if fails:
            lines += ["", f"Not compared: {fails} models TFLM does not run."]
        if errors:
            lines += ["", f"Not compared, the tool or tflkit gave no answer ({len(errors)}):", ""]
            lines += [f"- {r['id']}: {r['why'][:160]}" for r in errors]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- commit
def _readable(entry: dict[str, Any], taken: set[str]) -> str:
    source, path = entry["id"].split(":", 1)
    parts = Path(path).with_suffix("").parts
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", parts[-1])
    name = f"{source}__{stem}.tflite"
    k = 2
    while name in taken:
        parent = re.sub(r"[^A-Za-z0-9_.-]+", "_", parts[-k]) if len(parts) >= k else str(k)
        name = f"{source}__{parent}__{stem}.tflite"
        k += 1
    taken.add(name)
    return name


def commit(cache: Path, truths_path: Path, budget: int, each: int) -> None:
    """tests/corpus/MANIFEST.json, truths.json (copied) and the models that may be committed:
    Apache-2.0 sources, each < ``each`` bytes, smallest first until ``budget`` bytes."""
    index = _index(cache)
    doc = json.loads(truths_path.read_text())
    models_dir = CORPUS / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    for old in models_dir.glob("*.tflite"):
        old.unlink()
    used, taken = 0, set[str]()
    entries = []
    for sha, m in sorted(index.items(), key=lambda kv: (kv[1]["size"], kv[1]["id"])):
        ok = m["licence"] == "Apache-2.0" and m["size"] < each and used + m["size"] <= budget
        name = _readable(m, taken) if ok else None
        if ok and name:
            (models_dir / name).write_bytes((cache / m["file"]).read_bytes())
            used += m["size"]
        entries.append(
            {
                "id": m["id"],
                "also": m["also"],
                "sha256": sha,
                "size": m["size"],
                "source": m["source"],
                "licence": m["licence"],
                "committed": bool(ok),
                "file": name,
            }
        )
    entries.sort(key=lambda e: e["id"])
    manifest = {"models": entries}
    (CORPUS / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (CORPUS / "truths.json").write_text(_dump_truths(doc))
    n = sum(e["committed"] for e in entries)
    print(f"{n} of {len(entries)} models committed, {used:,} bytes")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_probe"]:
        _probe_main(argv[1], argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("collect", "truth", "report", "commit"):
        p = sub.add_parser(name)
        p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="models cache dir")
        if name in ("truth", "report", "commit"):
            p.add_argument("--truths", type=Path, default=None, help="truths.json")
        if name == "truth":
            p.add_argument("-j", "--jobs", type=int, default=2)
        if name == "report":
            p.add_argument("--out", type=Path, default=ROOT / "bench" / "corpus_report.md")
            p.add_argument("--json", type=Path, default=None, help="also the JSON here (- stdout)")
            p.add_argument("--tflkit", type=Path, default=None, help="checkout whose tflkit")
            p.add_argument(
                "--committed", action="store_true", help="only the models in tests/corpus"
            )
            p.add_argument("--known", action="store_true", help="rewrite test_corpus's KNOWN")
        if name == "commit":
            p.add_argument("--budget", type=int, default=6_000_000)
            p.add_argument("--each", type=int, default=300_000)
    args = parser.parse_args(argv)
    truths = getattr(args, "truths", None) or (
        CORPUS / "truths.json" if getattr(args, "committed", False) else args.cache / "truths.json"
    )
    if args.command == "collect":
        collect(args.cache)
    elif args.command == "truth":
        truth(args.cache, args.jobs, truths)
    elif args.command == "commit":
        commit(args.cache, truths, args.budget, args.each)
    else:
        if args.tflkit is not None:
            sys.path.insert(0, str(args.tflkit.resolve()))
        else:
            sys.path.insert(0, str(ROOT))
        if args.committed:
            report(truths, None, CORPUS / "models", args.out, args.json, args.known)
        else:
            report(truths, args.cache, None, args.out, args.json, args.known)


if __name__ == "__main__":
    main()

"""tflkit's TFLM arena and verdict against tflite-micro's interpreter over many models.

Usage: python bench/tflm_arena.py [--cache DIR] [--jobs N] [--worst N] [--verdict] [--only S]

Models: every .tflite, and every .bin that is a TFLite flatbuffer (bytes 4..8 == b"TFL3"),
under 3 MB in the three git mirrors (LiteRT, tflite-micro, ai-edge-quantizer), the models in
/work/corpus-cache/models (when present) and fixtures/*.tflite. Each runs through
tests/_tflm_probe.py in a child with a timeout; results are cached in DIR/probe (by content
hash); a file seen twice (same bytes) counts once. Prints the distribution of estimate / TFLM
total and the worst cases; with --verdict, every model where tflkit's verdict and TFLM's
disagree. Not part of the suite: the mirrors and the corpus are local to the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "_tflm_probe.py"
MIRRORS = [
    Path("/work/.mirror/google-ai-edge+LiteRT/repo"),
    Path("/work/.mirror/tensorflow+tflite-micro/repo"),
    Path("/work/.mirror/google-ai-edge+ai-edge-quantizer/repo"),
]
CORPUS = Path("/work/corpus-cache/models")
LIMIT = 3 * 1024 * 1024


def collect(cache: Path) -> dict[str, Path]:
    """name -> path of every model, mirror blobs written once under cache/models."""
    out: dict[str, Path] = {}
    for repo in MIRRORS:
        if not repo.exists():
            continue
        listing = subprocess.run(
            ["git", "-C", str(repo), "ls-tree", "-r", "-l", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tag = repo.parent.name.split("+")[-1]
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            _, kind, sha, size = meta.split()
            if kind != "blob" or not size.isdigit() or int(size) >= LIMIT:
                continue
            if not path.endswith((".tflite", ".bin")):
                continue
            dest = cache / "models" / tag / path.replace("/", "__")
            if not dest.exists():
                data = subprocess.run(
                    ["git", "-C", str(repo), "cat-file", "blob", sha],
                    capture_output=True,
                    check=True,
                ).stdout
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            if dest.read_bytes()[4:8] != b"TFL3":
                continue
            out[f"{tag}:{path}"] = dest
    if CORPUS.exists():
        for p in sorted(CORPUS.rglob("*")):
            if p.is_file() and p.stat().st_size < LIMIT and p.read_bytes()[4:8] == b"TFL3":
                out[f"corpus:{p.relative_to(CORPUS)}"] = p
    for p in sorted((ROOT / "fixtures").glob("*.tflite")):
        out[f"fixtures:{p.name}"] = p
    return out


def probe(path: Path, cache: Path) -> dict[str, object]:
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    hit = cache / "probe" / f"{digest}.json"
    if hit.exists():
        result: dict[str, object] = json.loads(hit.read_text())
        return result
    try:
        proc = subprocess.run(
            [sys.executable, str(PROBE), str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            result = {"stage": "crash", "log": proc.stderr[-4000:], "arena_total": None}
        else:
            result = json.loads(proc.stdout.splitlines()[-1])
    except subprocess.TimeoutExpired:
        result = {"stage": "timeout", "log": "", "arena_total": None}
    hit.parent.mkdir(parents=True, exist_ok=True)
    hit.write_text(json.dumps(result))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=Path("/work/tflm-cache"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--worst", type=int, default=15)
    ap.add_argument("--verdict", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import tflkit
    from tflkit.targets import tflm

    models = collect(args.cache)
    if args.only:
        models = {k: v for k, v in models.items() if args.only in k}
    # the same bytes under two names (a corpus copy of a mirror model) count once
    seen: set[str] = set()
    names = []
    for name in sorted(models):
        digest = hashlib.sha1(models[name].read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            names.append(name)
    with ThreadPoolExecutor(args.jobs) as pool:
        truths = dict(
            zip(names, pool.map(lambda n: probe(models[n], args.cache), names), strict=True)
        )
    rows: list[tuple[float, str, int, int]] = []
    wrong: list[str] = []
    for name in names:
        truth = truths[name]
        try:
            model = tflkit.load(models[name])
        except Exception as exc:  # noqa: BLE001 - a model tflkit refuses is reported
            wrong.append(f"{name}: tflkit cannot load ({exc})"[:200])
            continue
        runs = all(p.on == "target" for p in tflm.place(model))
        if runs != (truth["stage"] == "ok"):
            why = [f"{p.op}:{p.rule}" for p in tflm.place(model) if p.on != "target"][:3]
            log = str(truth["log"]).strip().splitlines()
            tail = " | ".join(x for x in log if "RecordingMicroAllocator" not in x)[-300:]
            wrong.append(f"{name}: tflkit {'runs' if runs else why} / TFLM {truth['stage']} {tail}")
        total = truth["arena_total"]
        if truth["stage"] == "ok" and isinstance(total, int):
            est = tflm.memory(model).arena_bytes
            rows.append((est / total, name, est, total))
    rows.sort()
    under = sum(r < 1 for r, *_ in rows)
    exact = sum(r == 1 for r, *_ in rows)
    over5 = sum(r > 1.05 for r, *_ in rows)
    print(f"models {len(names)}, TFLM runs {len(rows)}")
    within = len(rows) - under - exact - over5
    print(f"arena: under {under}, exact {exact}, within 5% over {within}, over>5% {over5}")
    if rows:
        mid = rows[len(rows) // 2][0]
        print(f"ratio min {rows[0][0]:.3f} median {mid:.3f} max {rows[-1][0]:.3f}")
    for r, name, est, total in rows[: args.worst]:
        if r < 1:
            print(f"  under {r:.3f} {est:>9} {total:>9} {name}")
    for r, name, est, total in rows[-args.worst :]:
        print(f"  over  {r:.3f} {est:>9} {total:>9} {name}")
    print(f"verdict disagreements: {len(wrong)}")
    if args.verdict:
        for w in wrong:
            print("  " + w)


if __name__ == "__main__":
    main()

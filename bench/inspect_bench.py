"""Benchmark `tflkit inspect` as a whole process (issues 3, 10): ratios measured side by side.

    python bench/inspect_bench.py [--repeat 7] [--skip-big]

Needs the [tf] extra (TensorFlow builds the MobileNetV2 model and runs the Analyzer) and
ai-edge-litert (its flatbuffer object API builds the 1 GiB model). Models are cached in
bench/_work/ (gitignored); nothing is downloaded (MobileNetV2 has random weights).

Each variant runs as a fresh process; wall time is measured around it and peak RSS is the
child's own ru_maxrss from os.wait4. Variants are interleaved (a, b, c, a, b, c, ...) so that
a noisy neighbour slows all of them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _models import WORK, mobilenet

PY = sys.executable
TFLKIT = str(Path(sys.executable).with_name("tflkit"))
# The checkout this script belongs to, first on every child's sys.path: the console script
# would otherwise import whichever tflkit is installed (an editable install of another
# checkout), not the code being measured.
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

ANALYZER = """
import sys, io, contextlib
import tensorflow as tf
with contextlib.redirect_stdout(io.StringIO()):
    tf.lite.experimental.Analyzer.analyze(model_path=sys.argv[1])
"""

# What a user writes without tflkit: the tflite package's readers, every tensor's name,
# type, shape, scale and zero point.
BARE = """
import sys, tflite
buf = open(sys.argv[1], "rb").read()
m = tflite.Model.GetRootAs(buf, 0)
rows = []
for s in range(m.SubgraphsLength()):
    sg = m.Subgraphs(s)
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        q = t.Quantization()
        scales = q.ScaleAsNumpy().tolist() if q is not None and q.ScaleLength() else []
        zps = q.ZeroPointAsNumpy().tolist() if q is not None and q.ZeroPointLength() else []
        rows.append((t.Name(), t.Type(), t.ShapeAsNumpy().tolist() if t.ShapeLength() else [],
                     scales, zps))
print(len(rows))
"""


# Peak RSS must be the measured process's own. ru_maxrss of a child also counts the memory it
# had before exec (a fork of this benchmark, which holds TensorFlow and the models it built), so
# each command runs under this small launcher, which forks, execs and reports its child's peak.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process running ``cmd``."""
    proc = subprocess.run([PY, "-c", LAUNCHER, *cmd], capture_output=True, text=True, env=ENV)
    wall, rss_kib, code = proc.stdout.split()
    if proc.returncode != 0 or int(code) != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({code}): {proc.stderr[-500:]}")
    return float(wall), int(rss_kib) / 1024  # Linux reports KiB


def big_model(gib: float = 1.0) -> Path:
    """A ~1 GiB float32 model: four FULLY_CONNECTED ops with 256 MiB constant weights each."""
    path = WORK / "big_1gib.tflite"
    if path.exists():
        return path
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fu

    n_ops, rows, cols = 4, 4096, int(gib * (1 << 30) / 4 / 4 / 4096)
    m = schema.ModelT()
    m.version = 3
    m.buffers = [schema.BufferT(), schema.BufferT()]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    m.operatorCodes = [code]
    sg = schema.SubGraphT()

    def tensor(name: str, shape: list[int], buffer: int) -> schema.TensorT:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), shape, schema.TensorType.FLOAT32, buffer
        return t

    sg.tensors = [tensor("input", [1, cols], 0)]
    sg.operators, sg.outputs = [], []
    for k in range(n_ops):
        b = schema.BufferT()
        b.data = np.full(rows * cols * 4, k + 1, dtype=np.uint8)
        m.buffers.append(b)
        sg.tensors.append(tensor(f"weights_{k}", [rows, cols], len(m.buffers) - 1))
        sg.tensors.append(tensor(f"output_{k}", [1, rows], 0))
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = (
            0,
            [0, len(sg.tensors) - 2, -1],
            [len(sg.tensors) - 1],
        )
        sg.operators.append(op)
        sg.outputs.append(len(sg.tensors) - 1)
    sg.inputs = [0]
    m.subgraphs = [sg]
    WORK.mkdir(exist_ok=True)
    path.write_bytes(fu.convert_object_to_bytearray(m))
    return path


def compare(model: Path, repeat: int) -> list[str]:
    variants = {
        "tflkit": [TFLKIT, "inspect", "--json", str(model)],
        "analyzer": [PY, "-c", ANALYZER, str(model)],
        "bare": [PY, "-c", BARE, str(model)],
    }
    for cmd in variants.values():  # warm the page cache and .pyc files
        run(cmd)
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for _ in range(repeat):
        for name, cmd in variants.items():
            results[name].append(run(cmd))
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    rss = {k: statistics.median(r for _, r in v) for k, v in results.items()}
    speed = wall["analyzer"] / wall["tflkit"]
    mem = rss["analyzer"] / rss["tflkit"]
    bare = wall["tflkit"] / wall["bare"]
    size = model.stat().st_size / (1 << 20)
    lines = [
        f"MobileNetV2 int8, {size:.1f} MiB, median of {repeat} interleaved runs",
        "| process | wall (s) | peak RSS (MiB) |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {wall[k]:.3f} | {rss[k]:.0f} |" for k in variants]
    lines += [
        "",
        f"- Analyzer / tflkit wall time: {speed:.1f}x (target >= 10x) "
        f"{'PASS' if speed >= 10 else 'FAIL'}",
        f"- Analyzer / tflkit peak RSS: {mem:.1f}x (target >= 8x) {'PASS' if mem >= 8 else 'FAIL'}",
        f"- tflkit / bare tflite script wall time: {bare:.2f}x (target <= 1.2x) "
        f"{'PASS' if bare <= 1.2 else 'FAIL'}",
    ]
    return lines


def big(repeat: int) -> list[str]:
    model = big_model()
    size = model.stat().st_size / (1 << 30)
    out = []
    for label, cmd in (
        ("inspect --json", [TFLKIT, "inspect", "--json", str(model)]),
        ("inspect --tensors", [TFLKIT, "inspect", "--tensors", str(model)]),
    ):
        rss = statistics.median(run(cmd)[1] for _ in range(max(3, repeat // 2)))
        out.append(
            f"- {size:.2f} GiB model, `tflkit {label}` peak RSS: {rss:.0f} MiB "
            f"(target < 150 MiB) {'PASS' if rss < 150 else 'FAIL'}"
        )
    return out


def precompile() -> None:
    """Write tflkit's .pyc files, as `pip install .` does at install time.

    An editable install under PYTHONDONTWRITEBYTECODE=1 (set on our machines) would otherwise
    recompile every tflkit module in every run (~20 ms), which no installed copy does; the
    tflite and typer packages measured beside it were compiled by pip.
    """
    import compileall

    compileall.compile_dir(ROOT / "tflkit", quiet=1)


def main() -> None:
    precompile()
    parser = argparse.ArgumentParser(description="tflkit inspect benchmark")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved runs per variant")
    parser.add_argument("--skip-big", action="store_true", help="skip the 1 GiB model")
    args = parser.parse_args()
    lines = compare(mobilenet("int8"), args.repeat)
    if not args.skip_big:
        lines += [""] + big(args.repeat)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

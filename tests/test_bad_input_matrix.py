"""The bad-input matrix (issue 20, item 7): every command and every path-taking API function,
fed every kind of bad path and bad array where such a thing goes, must refuse it cleanly.

The truth is made here by hand in ``tmp_path``: a FIFO (``os.mkfifo``), a character device node
(``os.mknod``, like /dev/null (1, 3); skipped where not permitted; never a real /dev file), a
directory, a 0-byte file, a real fixture cut at a few offsets, a .npy whose header claims
(1e11, 32) float32, arrays of strings, complex numbers and structured records, NaN, inf and
(0, 32). What every refusal must be:

- command line: exit 2 (1 where a check fails: NaN outputs in ``compare``), exactly one line on
  stderr, no traceback, nothing written (no new file, no ``.tflkit-*.tmp``), the bad path
  untouched (a device node is still a device node, a FIFO a FIFO);
- Python API: a ``TflkitError`` (``InputError`` / ``InvalidModelError``), or an
  ``AssertionError`` from ``assert_matches_snapshot``, naming the path.

Special files (FIFO, device, directory), the outputs, and what once crashed the process
(non-finite calibration, a huge header) run in a child process with a timeout: a hang fails as
``subprocess.TimeoutExpired``, a signal as a negative exit code. Regular files of bad content
cannot hang a read, so their cases run the same command line in process (``entry="app"``),
which keeps the matrix at about 55 child processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import stat
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, Cli, Result, fixture_path

import tflkit
from tflkit.comparison import compare_files
from tflkit.errors import InputError, InvalidModelError, TflkitError
from tflkit.testing import assert_matches_snapshot, write_snapshot

INT8 = fixture_path("mlp_int8.tflite")
F32 = fixture_path("mlp_float32.tflite")
X_PATH = fixture_path("mlp_eval_x.npy")
Y_PATH = fixture_path("mlp_eval_y.npy")
X = np.load(X_PATH)[:16]  # (16, 32) float32
MODEL_BYTES = F32.read_bytes()
#: Where a real model is cut: inside the flatbuffer's root offset, its header, its middle.
CUTS = (3, 64, len(MODEL_BYTES) // 2)
HUGE = (100_000_000_000, 32)  # 12.8 TB of float32

# ---------------------------------------------------------------- bad paths, made by hand


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _device(path: Path) -> None:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:  # not root, or no CAP_MKNOD
        pytest.skip(f"cannot make a device node here: {exc}")


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("keep me")


def _huge(path: Path) -> None:
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": HUGE}
        )
        f.write(b"\0" * 16)


def _truncated_npy(path: Path) -> None:
    whole = io.BytesIO()
    np.save(whole, X)
    path.write_bytes(whole.getvalue()[:200])  # header whole, data cut


def _with_values(value: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        x = X.copy()
        x[3, 5] = value
        np.save(path, x)

    return make


def _cut(n: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(MODEL_BYTES[:n])

    return make


SPECIAL: dict[str, Callable[[Path], object]] = {
    "fifo": _fifo,
    "device": _device,
    "directory": _directory,
}

BAD_MODELS: dict[str, Callable[[Path], object]] = {
    "empty": lambda p: p.write_bytes(b""),
    **{f"cut{n}": _cut(n) for n in CUTS},
}

BAD_ARRAYS: dict[str, Callable[[Path], object]] = {
    "empty-file": lambda p: p.write_bytes(b""),
    "truncated": _truncated_npy,
    "huge-header": _huge,
    "strings": lambda p: np.save(p, X.astype(str)),
    "complex": lambda p: np.save(p, X.astype(np.complex64)),
    "structured": lambda p: np.save(p, np.zeros(16, dtype=[("a", "<f4"), ("b", "<i4")])),
    "nan": _with_values(float("nan")),
    "inf": _with_values(float("inf")),
    "no-samples": lambda p: np.save(p, np.zeros((0, 32), np.float32)),
    "no-labels": lambda p: np.save(p, np.zeros(0, np.int64)),  # only where labels go
}


def array_kinds(command: str) -> list[str]:
    """The bad arrays for a command: labels get no labels, not data without samples."""
    labels = "labels" in command
    return sorted(k for k in BAD_ARRAYS if k != ("no-samples" if labels else "no-labels"))


def make_bad(tmp_path: Path, kind: str, suffix: str) -> Path:
    """The bad path of this kind in ``tmp_path/bad``, named ``bad-<kind><suffix>``."""
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    path = folder / f"bad-{kind}{suffix}"
    makers = {**SPECIAL, **BAD_MODELS, **BAD_ARRAYS}
    makers[kind](path)
    return path


# ---------------------------------------------------------------- what a refusal leaves


def fingerprint(path: Path) -> tuple[int, str]:
    """The file's type bits and, for a regular file, its bytes' hash; for a directory, its
    listing: what must be the same after a command refused it."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return stat.S_IFMT(mode), hashlib.sha256(path.read_bytes()).hexdigest()
    if stat.S_ISDIR(mode):
        return stat.S_IFMT(mode), repr(sorted(os.listdir(path)))
    return stat.S_IFMT(mode), ""


def everything(tmp_path: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(tmp_path)): fingerprint(p) for p in sorted(tmp_path.rglob("*"))}


@contextlib.contextmanager
def untouched(tmp_path: Path) -> Iterator[None]:
    """Nothing in ``tmp_path`` made, changed, replaced or removed by the block: no output, no
    ``.tflkit-*.tmp``, every bad path still what it was (a device node a device node)."""
    before = everything(tmp_path)
    yield
    after = everything(tmp_path)
    changed = {
        k: (before.get(k), after.get(k)) for k in {*before, *after} if before.get(k) != after.get(k)
    }
    assert not changed, changed  # path: (type bits and content before, after)


def refused(result: Result, *named: str | os.PathLike[str], code: int = 2) -> str:
    """The command exited ``code`` with one line on stderr (``tflkit: error: ...`` naming
    ``named``, by file name at least), no traceback; the line."""
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("INFO:")]
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, (result.exit_code, result.output)
    assert len(lines) == 1, result.stderr
    if code == 2:
        assert lines[0].startswith("tflkit: error: "), lines
    for name in named:
        assert Path(name).name in lines[0], (os.fspath(name), lines[0])
    return lines[0]


# ---------------------------------------------------------------- the commands

#: Every command's argument list with ``{m}`` where a model path goes (a .tflite); ``{out}`` is a
#: folder for outputs that must stay empty.
MODEL_COMMANDS: dict[str, list[str]] = {
    "inspect": ["inspect", "{m}"],
    "check": ["check", "{m}"],
    "check-tflm": ["check", "--target", "tflm", "{m}"],
    "diff-old": ["diff", "{m}", str(INT8)],
    "diff-new": ["diff", str(INT8), "{m}"],
    "snapshot": ["snapshot", "{m}", "-o", "{out}/s.json"],
    "run": ["run", "{m}", "-i", str(X_PATH), "-o", "{out}/o.npz"],
    "compare": ["compare", "{m}", str(INT8), "-d", str(X_PATH), "--no-speed"],
    "compare-other": ["compare", str(F32), "{m}", "-d", str(X_PATH), "--no-speed"],
    "bench": ["bench", "{m}", "--seconds", "0.01"],
    "convert": ["convert", "{m}", "--to", "int8", "-c", str(X_PATH), "-o", "{out}/c.tflite"],
}

#: Where an array path goes (``{a}``).
ARRAY_COMMANDS: dict[str, list[str]] = {
    "run-input": ["run", str(F32), "-i", "{a}", "-o", "{out}/o.npz"],
    "compare-data": ["compare", str(F32), str(INT8), "--data", "{a}", "--no-speed"],
    "compare-labels": [
        "compare",
        str(F32),
        str(INT8),
        "-d",
        str(X_PATH),
        "--labels",
        "{a}",
        "--no-speed",
    ],  # fmt: skip
    "convert-calibration": [
        "convert",
        str(F32),
        "--to",
        "int8",
        "-c",
        "{a}",
        "-o",
        "{out}/c.tflite",
    ],  # fmt: skip
}

#: Where an output path goes (``{o}``); every input is good.
OUTPUT_COMMANDS: dict[str, list[str]] = {
    "run": ["run", str(INT8), "-i", str(X_PATH), "-o", "{o}"],
    "convert": ["convert", str(F32), "--to", "weight-only-int8", "-o", "{o}", "--force"],
    "snapshot": ["snapshot", str(INT8), "-o", "{o}", "--force"],
    "compare-plot": [
        "compare",
        str(INT8),
        str(F32),
        "-d",
        str(X_PATH),
        "--no-speed",
        "--plot",
        "{o}",
    ],
    "compare-html": [
        "compare",
        str(INT8),
        str(F32),
        "-d",
        str(X_PATH),
        "--no-speed",
        "--html",
        "{o}",
    ],
    "convert-html": [
        "convert",
        str(F32),
        "--to",
        "weight-only-int8",
        "-o",
        "{out}/c.tflite",
        "--html",
        "{o}",
    ],  # fmt: skip
}

#: ``--explorer DIR`` (``{o}``): a folder is what it takes, so a special file is bad there, and
#: inside it where a node-data file goes (``compare INT8 F32`` writes mlp_float32.snr.json).
EXPLORER = ["compare", str(INT8), str(F32), "-d", str(X_PATH), "--no-speed", "--explorer", "{o}"]


#: A child run in another folder still imports this checkout's tflkit (as from the checkout).
CHILD = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def invoke(cli: Cli, tmp_path: Path, template: list[str], child: bool, **paths: Path) -> Result:
    """The command with ``paths`` put in, run in ``tmp_path/work`` (a child process with a
    60 s timeout when ``child``), asserting it touched nothing in ``tmp_path``."""
    out = tmp_path / "out"
    work = tmp_path / "work"
    out.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    args = [a.format(out=out, **paths) for a in template]
    with untouched(tmp_path):
        if child:
            return cli.invoke(*args, cwd=work, env=CHILD, entry="-m", timeout=60)
        return cli.invoke(*args, cwd=work)


def _skip_without_matplotlib(name: str) -> None:
    if "plot" in name:
        pytest.importorskip("matplotlib")


#: The second model's slot reads it as the first's does: only in process (fewer children).
SECOND_MODEL = {"diff-new", "compare-other"}


@pytest.mark.parametrize("kind", sorted(SPECIAL))
@pytest.mark.parametrize("command", sorted(set(MODEL_COMMANDS) - SECOND_MODEL))
def test_a_special_file_as_a_model(cli: Cli, tmp_path: Path, command: str, kind: str) -> None:
    model = make_bad(tmp_path, kind, ".tflite")
    result = invoke(cli, tmp_path, MODEL_COMMANDS[command], True, m=model)
    refused(result, model)


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_a_broken_model_file(cli: Cli, tmp_path: Path, command: str) -> None:
    kinds = sorted(BAD_MODELS)  # regular files: nothing to hang on; in process
    if command in SECOND_MODEL:
        kinds += sorted(SPECIAL)
    for kind in kinds:
        model = make_bad(tmp_path, kind, ".tflite")
        refused(invoke(cli, tmp_path, MODEL_COMMANDS[command], False, m=model), model)


@pytest.mark.parametrize("kind", sorted(SPECIAL))
@pytest.mark.parametrize("command", sorted(ARRAY_COMMANDS))
def test_a_special_file_as_an_array(cli: Cli, tmp_path: Path, command: str, kind: str) -> None:
    array = make_bad(tmp_path, kind, ".npy")
    result = invoke(cli, tmp_path, ARRAY_COMMANDS[command], True, a=array)
    refused(result, array)


#: Arrays a command runs as they are, with a warning: ``run`` on NaN or inf.
RUNS_WITH_A_WARNING = {("run-input", "nan"), ("run-input", "inf")}
#: What once crashed or exhausted the process: in a child (SIGSEGV in TensorFlow's calibration
#: on inf, MemoryError on a huge header).
IN_A_CHILD = {
    ("convert-calibration", "inf"),
    ("convert-calibration", "nan"),
    ("convert-calibration", "huge-header"),
    ("run-input", "huge-header"),
    ("compare-data", "huge-header"),
}


@pytest.mark.parametrize("command", sorted(ARRAY_COMMANDS))
def test_a_bad_array_file(cli: Cli, tmp_path: Path, command: str) -> None:
    for kind in array_kinds(command):
        if (command, kind) in RUNS_WITH_A_WARNING:
            continue  # test_run_runs_nonfinite_inputs_with_a_warning
        array = make_bad(tmp_path, kind, ".npy")
        child = (command, kind) in IN_A_CHILD
        result = invoke(cli, tmp_path, ARRAY_COMMANDS[command], child, a=array)
        refused(result, array)


def test_run_runs_nonfinite_inputs_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    for kind in ("nan", "inf"):
        array = make_bad(tmp_path, kind, ".npy")
        result = cli.invoke("run", F32, "-i", array, "--json", cwd=tmp_path)
        assert result.exit_code == 0, result.output
        warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("tflkit: warning:")]
        assert len(warnings) == 1 and "index (3, 5)" in warnings[0], result.stderr


def test_nan_outputs_in_compare_fail_the_check(cli: Cli, tmp_path: Path) -> None:
    """NaN data, allowed: the models' outputs hold NaN, and the comparison says so (exit 1)."""
    array = make_bad(tmp_path, "nan", ".npy")
    args: list[str | Path] = [F32, INT8, "-d", array, "--no-speed", "--allow-nonfinite"]
    with untouched(tmp_path):
        result = cli.invoke(
            "compare", *args, cwd=tmp_path / "bad", env=CHILD, entry="-m", timeout=60
        )
    line = refused(result, code=1)
    assert line == "tflkit: NaN or inf in the compared outputs (see the marked rows)", line
    assert "! mlp_float32: 10 NaN and 0 inf in output 'output_0'" in result.stdout, result.stdout


@pytest.mark.parametrize("kind", sorted(SPECIAL))
@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
def test_a_special_file_as_an_output(cli: Cli, tmp_path: Path, command: str, kind: str) -> None:
    _skip_without_matplotlib(command)
    target = make_bad(tmp_path, kind, ".png" if "plot" in command else ".out")
    result = invoke(cli, tmp_path, OUTPUT_COMMANDS[command], True, o=target)
    refused(result, target)
    assert result.stdout == ""  # refused before the work


@pytest.mark.parametrize("kind", sorted(set(SPECIAL) - {"directory"}))
def test_a_special_file_as_the_explorer_folder(cli: Cli, tmp_path: Path, kind: str) -> None:
    target = make_bad(tmp_path, kind, "")
    result = invoke(cli, tmp_path, EXPLORER, True, o=target)
    line = refused(result, target)
    assert line.endswith("expected a directory"), line
    assert result.stdout == ""  # refused before the work


def test_a_file_on_the_way_to_the_explorer_folder(cli: Cli, tmp_path: Path) -> None:
    """``--explorer file/nodes``: the folder cannot be made; said before the work."""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "file").write_text("keep me")
    target = tmp_path / "bad" / "file" / "nodes"
    result = invoke(cli, tmp_path, EXPLORER, False, o=target)
    assert refused(result, target).endswith(f"{tmp_path / 'bad' / 'file'} is not a directory")
    assert result.stdout == ""


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_a_special_file_in_the_explorer_folder(cli: Cli, tmp_path: Path, kind: str) -> None:
    """Where a node-data file goes: refused before any of the four files is written (the names
    come from the comparison, so after it: the report is shown, then the error, exit 2)."""
    folder = tmp_path / "bad" / "nodes"
    folder.mkdir(parents=True)
    target = folder / "mlp_float32.snr.json"
    SPECIAL[kind](target)
    result = invoke(cli, tmp_path, EXPLORER, True, o=folder)
    refused(result, target)
    assert "mlp_float32" in result.stdout  # the work is not lost


# ---------------------------------------------------------------- the Python API


@contextlib.contextmanager
def no_hang(seconds: int = 30) -> Iterator[None]:
    """SIGALRM after ``seconds``: a call that waits on a FIFO fails instead of hanging."""

    def hung(signum: int, frame: Any) -> None:
        raise AssertionError(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _snapshot_of_int8(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    write_snapshot(INT8, path)
    return path


#: Every path-taking API function with a bad model path ``m``.
MODEL_CALLS: dict[str, Callable[[Path, Path], Any]] = {
    "load": lambda m, t: tflkit.load(m),
    "check": lambda m, t: tflkit.check(m),
    "check-tflm": lambda m, t: tflkit.check(m, target="tflm"),
    "Runner": lambda m, t: tflkit.Runner(m),
    "run": lambda m, t: tflkit.run(m, X),
    "compare_files": lambda m, t: compare_files([m, INT8], X_PATH, speed=False),
    "compare_files-other": lambda m, t: compare_files([F32, m], X_PATH, speed=False),
    "convert": lambda m, t: tflkit.convert(m, "int8", calibration=X),
    "diff-old": lambda m, t: tflkit.diff(m, INT8),
    "diff-new": lambda m, t: tflkit.diff(INT8, m),
    "assert_matches_snapshot": lambda m, t: assert_matches_snapshot(m, _snapshot_of_int8(t)),
}

#: Every path-taking API function with a bad array path ``a``.
ARRAY_CALLS: dict[str, Callable[[Path, Path], Any]] = {
    "run": lambda a, t: tflkit.run(F32, a),
    "compare_files-data": lambda a, t: compare_files([F32, INT8], a, speed=False),
    "compare_files-labels": lambda a, t: compare_files([F32, INT8], X_PATH, a, speed=False),
    "convert-calibration": lambda a, t: tflkit.convert(F32, "int8", calibration=a),
}


def api_refused(
    path: Path, errors: tuple[type[BaseException], ...], call: Callable[..., Any], *args: Any
) -> None:
    """``call(*args)`` raises one of ``errors`` (a TflkitError or an AssertionError) naming
    ``path``, without waiting on it."""
    with no_hang(), pytest.raises(errors) as caught:
        call(*args)
    assert isinstance(caught.value, (TflkitError, AssertionError)), repr(caught.value)
    assert path.name in str(caught.value), str(caught.value)  # models are named by file name


@pytest.mark.parametrize("name", sorted(MODEL_CALLS))
def test_api_bad_model_paths(tmp_path: Path, name: str) -> None:
    snapshots = name == "assert_matches_snapshot"
    errors = (TflkitError, AssertionError) if snapshots else (InputError, InvalidModelError)
    for kind in [*sorted(SPECIAL), *sorted(BAD_MODELS)]:
        model = make_bad(tmp_path, kind, ".tflite")
        with untouched(tmp_path / "bad"):
            api_refused(model, errors, MODEL_CALLS[name], model, tmp_path)


@pytest.mark.parametrize("name", sorted(ARRAY_CALLS))
def test_api_bad_array_paths(tmp_path: Path, name: str) -> None:
    for kind in [*sorted(SPECIAL), *array_kinds(name)]:
        if name == "run" and kind in ("nan", "inf"):
            continue  # run runs them, with a NonFiniteWarning (test_arrays)
        if name == "convert-calibration" and kind in ("nan", "inf"):
            continue  # TensorFlow-free here, but see test_a_bad_array_file (in a child)
        array = make_bad(tmp_path, kind, ".npy")
        with untouched(tmp_path / "bad"):
            api_refused(array, (InputError,), ARRAY_CALLS[name], array, tmp_path)


def test_api_bad_arrays_in_memory() -> None:
    """The same bad values given as arrays: one InputError each, never a silent cast."""
    bad = {
        "strings": X.astype(str),
        "complex": X.astype(np.complex64),
        "structured": np.zeros(16, dtype=[("a", "<f4"), ("b", "<i4")]),
        "no-samples": np.zeros((0, 32), np.float32),
    }
    runner = tflkit.Runner(F32)
    for array in bad.values():
        with pytest.raises(InputError):
            tflkit.run(F32, array)
        with pytest.raises(InputError):
            tflkit.convert(F32, "int8", calibration=array)
        if array.size:  # predict on no samples answers no samples, as numpy does
            with pytest.raises(InputError):
                runner.predict(array)
    for value in (float("nan"), float("inf")):
        x = X.copy()
        x[3, 5] = value
        with pytest.raises(InputError, match=r"index \(3, 5\)"):
            tflkit.convert(F32, "int8", calibration=x)


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_api_special_file_as_an_output(tmp_path: Path, kind: str) -> None:
    conversion = tflkit.convert(F32, "weight-only-int8")
    comparison = tflkit.compare([INT8, F32], X[:8], speed=False, per_tensor=True)
    calls: dict[str, Callable[[Path], Any]] = {
        "run": lambda o: tflkit.run(INT8, X, output=o),
        "Conversion.save": lambda o: conversion.save(o, force=True),
        "Conversion.to_html": lambda o: conversion.to_html(o, source=str(F32), output=None),
        "Comparison.to_html": lambda o: comparison.to_html(o),
        "Comparison.to_explorer-folder": lambda o: comparison.to_explorer(o),
        "Comparison.to_explorer-file": lambda o: comparison.to_explorer(o.parent),
        "write_snapshot": lambda o: write_snapshot(INT8, o),
        "assert_matches_snapshot-update": lambda o: assert_matches_snapshot(INT8, o, update=True),
    }
    for name, call in calls.items():
        errors = (TflkitError, AssertionError) if name.startswith("assert") else (TflkitError,)
        if name == "Comparison.to_explorer-folder" and kind == "directory":
            continue  # a folder is what it takes
        target = tmp_path / "bad" / f"{name}.out"
        if name == "Comparison.to_explorer-file":  # where its first file goes
            target = tmp_path / "bad" / "nodes" / "mlp_float32.snr.json"
        target.parent.mkdir(exist_ok=True, parents=True)
        SPECIAL[kind](target)
        with untouched(tmp_path):
            api_refused(target, errors, call, target)


@pytest.mark.parametrize("kind", [*sorted(SPECIAL), "empty", "cut64"])
def test_api_bad_snapshot_file_is_an_assertion(tmp_path: Path, kind: str) -> None:
    good = _snapshot_of_int8(tmp_path).read_bytes()
    path = tmp_path / "bad" / "s.json"
    path.parent.mkdir()
    if kind in SPECIAL:
        SPECIAL[kind](path)
    else:
        path.write_bytes(good[: 0 if kind == "empty" else 64])
    with untouched(tmp_path):
        api_refused(
            path, (AssertionError,), partial(assert_matches_snapshot, update=False), INT8, path
        )

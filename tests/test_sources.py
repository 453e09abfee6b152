"""TensorFlow sources as untrusted, careless input: calibration that crashed the converter
(SIGSEGV) refused before it reaches it, every source the loader cannot read one error line
(``convert`` and ``compare``'s reference alike), and SavedModels whose graph reaches outside
the model (a WriteFile op) refused, by reading the protobuf, unless ``--trust-source``.

Everything that could reach TensorFlow's converter or run a graph runs in a child process
with a timeout: a regression must fail a test, not kill the suite."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, Cli

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from tflkit._source import (  # noqa: E402
    OUTSIDE_OPS,
    SAVED_MODEL_CLI_DENYLIST,
    saved_model_ops,
    scan_saved_model,
)
from tflkit.errors import InputError  # noqa: E402

TIMEOUT = 600


def _one_line_error(proc: Any) -> str:
    assert proc.exit_code == 2, (proc.exit_code, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tflkit: ")]
    assert len(lines) == 1, proc.stderr[-2000:]
    return str(lines[0])


# ---------------------------------------------------------------- fixtures


class _Evil(tf.Module):  # type: ignore[misc]
    """y = x @ ones(8, 2); with ``target``, every call also writes ``target`` (WriteFile)."""

    def __init__(self, target: str | None) -> None:
        super().__init__()
        self.w = tf.Variable(tf.ones((8, 2)))
        self.target = target

    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32)])  # type: ignore[misc]
    def __call__(self, x: Any) -> Any:
        if self.target is not None:
            tf.io.write_file(self.target, "written by the model")
        return {"y": tf.matmul(x, self.w)}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sources")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    model.save(d / "m.keras")
    model.export(d / "keras_sm", verbose=False)  # what Keras itself exports: must pass the scan
    target = d / "written_by_the_model.txt"
    evil = _Evil(str(target))
    tf.saved_model.save(evil, str(d / "evil_sm"), signatures={"serving_default": evil.__call__})
    clean = _Evil(None)
    tf.saved_model.save(clean, str(d / "clean_sm"), signatures={"serving_default": clean.__call__})
    conv = tf.lite.TFLiteConverter.from_saved_model(str(d / "clean_sm"))
    (d / "clean.tflite").write_bytes(conv.convert())
    x = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    np.save(d / "x.npy", x)
    assert not target.exists()  # saving the model did not run it
    return {
        "dir": d,
        "keras": d / "m.keras",
        "keras_sm": d / "keras_sm",
        "evil": d / "evil_sm",
        "clean": d / "clean_sm",
        "tflite": d / "clean.tflite",
        "x": d / "x.npy",
        "target": target,
    }


# ---------------------------------------------------------------- calibration


def test_tensorflow_itself_crashes_on_inf_calibration(sources: dict[str, Path]) -> None:
    """Why calibration is checked: TensorFlow's converter, called by hand with one inf in the
    representative data, dies with SIGSEGV (TF 2.21). Skips the day TensorFlow stops."""
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf, keras
        model = keras.models.load_model({str(sources["keras"])!r})
        x = np.load({str(sources["x"])!r}); x[3, 5] = np.inf
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([x[i : i + 1]] for i in range(len(x)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.convert()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT
    )
    if proc.returncode >= 0:
        pytest.skip(f"TensorFlow no longer crashes on inf calibration (exit {proc.returncode})")
    assert proc.returncode == -signal.SIGSEGV


@pytest.mark.parametrize(
    ("edit", "count", "first"),
    [
        ("one_inf", "1 inf value", "(3, 5)"),
        ("all_nan", "128 NaN values", "(0, 0)"),
        ("float64_1e300", "1 inf value", "(2, 1)"),  # finite as float64, inf as float32
    ],
)
def test_convert_refuses_nonfinite_calibration(
    sources: dict[str, Path], tmp_path: Path, cli: Cli, edit: str, count: str, first: str
) -> None:
    x = np.load(sources["x"])
    if edit == "one_inf":
        x[3, 5] = np.inf
    elif edit == "all_nan":
        x[:] = np.nan
    else:
        x = x.astype(np.float64)
        x[2, 1] = 1e300
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "out.tflite"
    proc = cli.invoke(
        "convert", sources["keras"], "-o", out, "-c", tmp_path / "calib.npy",
        entry="-m", timeout=TIMEOUT,
    )  # fmt: skip
    line = _one_line_error(proc)
    cast = " as float32" if edit == "float64_1e300" else ""
    # the input's name depends on how many Keras models this process built before
    head, _, rest = line.partition(", input '")
    assert head.endswith(f"calibration data '{tmp_path / 'calib.npy'}'"), line
    assert rest.split("'", 1)[1].startswith(f"{cast}: {count}, the first at index {first}"), line
    assert not out.exists() and not list(tmp_path.glob(".tflkit-*"))


def _batches(sources: dict[str, Path]) -> str:
    # an iterable of batches (the API's other form): the batch is named; no SIGSEGV
    return f"""
        import numpy as np, tflkit
        x = np.load({str(sources["x"])!r})
        bad = x.copy(); bad[0, 7] = -np.inf
        try:
            tflkit.convert({str(sources["keras"])!r}, "int8", calibration=[x, bad])
        except tflkit.InputError as exc:
            print("InputError:", exc)
        """


def _ragged(sources: dict[str, Path]) -> str:
    return f"""
        import numpy as np, tflkit
        for calibration in ([[[1.0] * 8, [2.0] * 7]], [{{"input_layer": [[1.0] * 8, [1.0] * 3]}}],
                            [np.array([[1 + 2j] * 8])]):
            try:
                tflkit.convert({str(sources["keras"])!r}, "int8", calibration=calibration)
            except tflkit.InputError as exc:
                print("InputError:", exc)
        """


def _samples(sources: dict[str, Path]) -> str:
    # NaN at sample 12 with samples=10: never fed, so no reason to refuse (float32: no cast)
    return f"""
        import numpy as np, tflkit
        x = np.load({str(sources["x"])!r}); x[12, 0] = np.nan
        c = tflkit.convert({str(sources["keras"])!r}, "int8", calibration=x, samples=10)
        print("result:", c.settings["representative_dataset"]["samples"], c.kind)
        try:
            tflkit.convert({str(sources["keras"])!r}, "int8", calibration=x, samples=13)
        except tflkit.InputError as exc:
            print("InputError:", exc)
        """


@pytest.fixture(scope="module")
def python_api(sources: dict[str, Path]) -> dict[str, str]:
    """The stdout of each script above, all run in one child process (one TensorFlow import
    instead of three), one after another, each in a function of its own; a script that raises
    fails its test (its traceback on stderr), a crash of the child fails them all."""
    # ragged first: its calibration names the input as a fresh process's Keras names it
    scripts = {"ragged": _ragged, "batches": _batches, "samples": _samples}
    code = "import sys, traceback\n"
    for name, script in scripts.items():
        body = textwrap.indent(textwrap.dedent(script(sources)), "    ")
        code += f"def {name}():\n{body}\n"
        code += f"print('@@ {name}', flush=True)\ntry:\n    {name}()\nexcept BaseException:\n"
        code += f"    traceback.print_exc(); print('@@ {name} raised', flush=True)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: dict[str, str] = {}
    for part in proc.stdout.split("@@ ")[1:]:
        name, _, text = part.partition("\n")
        out[name] = text
    for name in scripts:  # each script began and did not raise
        assert name in out and f"{name} raised" not in out, proc.stderr[-2000:]
    return out


def test_python_convert_refuses_nonfinite_calibration_batches(python_api: dict[str, str]) -> None:
    assert "(batch 1): 1 inf value, the first at index (0, 7)" in python_api["batches"]


# ---------------------------------------------------------------- one guard for every source


def _lambda_h5(path: Path) -> None:
    model = keras.Sequential([keras.Input((8,)), keras.layers.Lambda(lambda t: t * 2)])
    model.save(path)


@pytest.mark.parametrize("bad", ["garbage.keras", "lambda.h5", "fifo.keras", "empty_sm"])
@pytest.mark.parametrize("command", ["convert", "compare"])
def test_unreadable_source_is_one_line(
    sources: dict[str, Path], tmp_path: Path, cli: Cli, bad: str, command: str
) -> None:
    path = tmp_path / bad
    if bad == "garbage.keras":
        path.write_bytes(b"PK\x03\x04 not really a zip " * 10)
    elif bad == "lambda.h5":
        _lambda_h5(path)
    elif bad == "fifo.keras":
        os.mkfifo(path)  # reading it would hang
    else:  # a saved_model.pb that is not a protobuf
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"\xff" * 64)
    out = tmp_path / "out.tflite"
    if command == "convert":
        args: list[Any] = ["convert", path, "-o", out, "--to", "float32"]
    else:
        args = ["compare", path, sources["tflite"], "--data", sources["x"], "--no-speed"]
    proc = cli.invoke(*args, entry="-m", timeout=TIMEOUT)
    line = _one_line_error(proc)
    assert str(path) in line
    assert not out.exists()


def test_lambda_layer_is_refused_by_keras_safe_mode(tmp_path: Path) -> None:
    from tflkit._source import open_source

    _lambda_h5(tmp_path / "lambda.h5")
    with pytest.raises(InputError, match=r"lambda\.h5: cannot load the Keras model: .*"):
        open_source(tmp_path / "lambda.h5", trust_source=True)  # safe_mode stays on


# ---------------------------------------------------------------- the SavedModel scan


def test_denylist_starts_from_saved_model_cli() -> None:
    # the installed TensorFlow's own list, read from its source: ours holds all of it
    from tensorflow.python.tools import saved_model_cli

    assert saved_model_cli._OP_DENYLIST <= SAVED_MODEL_CLI_DENYLIST <= OUTSIDE_OPS
    for op in ("PyFunc", "EagerPyFunc", "PyFuncStateless", "MatchingFiles"):
        assert op in OUTSIDE_OPS
    # the checkpoint ops every SavedModel with variables holds stay allowed
    assert not {"SaveV2", "RestoreV2", "MergeV2Checkpoints"} & OUTSIDE_OPS


def test_scan_reads_the_protobuf(sources: dict[str, Path]) -> None:
    # the independent truth: the SavedModel as TensorFlow's own reader parses it
    from tensorflow.python.saved_model import loader_impl

    saved = loader_impl.parse_saved_model(str(sources["evil"]))
    library = {
        n.op for m in saved.meta_graphs for f in m.graph_def.library.function for n in f.node_def
    }
    assert "WriteFile" in library and "WriteFile" in saved_model_ops(str(sources["evil"]))
    assert "SaveV2" in saved_model_ops(str(sources["keras_sm"]))
    scan_saved_model(str(sources["clean"]))  # no error
    scan_saved_model(str(sources["keras_sm"]))
    with pytest.raises(InputError, match=r"evil_sm: .*: WriteFile; pass trust_source=True"):
        scan_saved_model(str(sources["evil"]))
    assert not sources["target"].exists()


@pytest.mark.parametrize("command", ["convert", "compare"])
def test_savedmodel_writing_a_file_is_refused(
    sources: dict[str, Path], tmp_path: Path, cli: Cli, command: str
) -> None:
    out = tmp_path / "out.tflite"
    if command == "convert":
        args: list[Any] = ["convert", sources["evil"], "-o", out, "--to", "float32"]
    else:
        args = ["compare", sources["evil"], sources["tflite"], "--data", sources["x"], "--no-speed"]
    proc = cli.invoke(*args, entry="-m", timeout=TIMEOUT)
    line = _one_line_error(proc)
    assert "WriteFile" in line and "--trust-source" in line and "=" not in line
    assert not sources["target"].exists() and not out.exists()


def test_trust_source_runs_it(sources: dict[str, Path], cli: Cli) -> None:
    target = sources["target"]
    args = ["compare", sources["evil"], sources["tflite"], "--data", sources["x"], "--no-speed"]
    proc = cli.invoke(*args, "--trust-source", "--json", entry="-m", timeout=TIMEOUT)
    try:
        assert proc.exit_code == 0, proc.stderr[-2000:]
        assert target.read_text() == "written by the model"  # it ran: trust means trust
    finally:
        target.unlink(missing_ok=True)


def test_clean_savedmodel_converts(sources: dict[str, Path], tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "out.tflite"
    proc = cli.invoke(
        "convert", sources["clean"], "-o", out, "--to", "float32", entry="-m", timeout=TIMEOUT
    )
    assert proc.exit_code == 0, proc.stderr[-2000:]
    assert out.read_bytes()[4:8] == b"TFL3"


def test_keras_file_with_tfsmlayer_is_refused(sources: dict[str, Path], tmp_path: Path) -> None:
    # a .keras whose config names TFSMLayer would load (and run) a SavedModel from a path in it
    from tflkit._source import open_source

    path = tmp_path / "outside.keras"
    with zipfile.ZipFile(sources["keras"]) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                data = re.sub(
                    rb'"class_name": ?"Dense"', b'"class_name": "TFSMLayer"', data, count=1
                )
                assert b"TFSMLayer" in data
            dst.writestr(item, data)
    with pytest.raises(InputError, match=r"outside\.keras: .*: TFSMLayer; pass trust_source"):
        open_source(path)


def test_cli_help_names_trust_source(cli: Cli) -> None:
    for command in ("convert", "compare"):
        proc = cli.invoke(command, "--help")
        assert "--trust-source" in proc.stdout
    assert ROOT.exists()


def test_float_tflite_calibration_is_checked_too(tmp_path: Path, cli: Cli) -> None:
    # the litert-quantizer path (no TensorFlow) gets the same refusal, before the library
    pytest.importorskip("litert_quantizer")
    from conftest import FIXTURES

    x = np.load(FIXTURES / "mlp_eval_x.npy")[:50].copy()
    x[7, 0] = np.nan
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "out.tflite"
    proc = cli.invoke(
        "convert", FIXTURES / "mlp_float32.tflite", "-o", out, "-c", tmp_path / "calib.npy",
        entry="-m", timeout=TIMEOUT,
    )  # fmt: skip
    line = _one_line_error(proc)
    assert "1 NaN value, the first at index (7, 0)" in line
    assert not out.exists()


def test_python_convert_refuses_ragged_and_object_calibration(
    python_api: dict[str, str],
) -> None:
    lines = [x for x in python_api["ragged"].splitlines() if x.startswith("InputError:")]
    assert len(lines) == 3 and all(line.startswith("InputError: calibration") for line in lines)


def test_only_the_calibration_samples_fed_are_checked(python_api: dict[str, str]) -> None:
    lines = python_api["samples"].splitlines()
    lines = [x for x in lines if x.startswith(("result:", "InputError:"))]
    assert lines[0] == "result: 10 int8"
    assert "1 NaN value, the first at index (12, 0)" in lines[1]

"""TensorFlow kept quiet: ``tflkit.convert`` and ``tflkit convert`` print nothing of
TensorFlow's (prints, warnings, C++ log lines), in a pipe and in a pseudo-terminal with the
progress bar; ``--verbose`` and failures show what was kept back; the progress callback hears
the stages. The truth that there is noise to keep back: the same conversion called by hand
in a child process prints it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, Cli

tf = pytest.importorskip("tensorflow")

import tflkit  # noqa: E402
from tflkit import ConversionError  # noqa: E402

X = FIXTURES / "mlp_eval_x.npy"
Y = FIXTURES / "mlp_eval_y.npy"

# What TensorFlow writes during a conversion, measured (TF 2.21, Keras 3): Keras's export
# block, absl's C++ lines (I0000/W0000 ...), the converter's summary, the calibrator's
# warnings about its deprecated interpreter and quantized input statistics.
TF_NOISE = re.compile(
    r"Saved artifact at|[IWEF]\d{4} \d\d:\d\d:\d\d|fully_quantize: |Statistics for quantized "
    r"inputs|tf\.lite\.Interpreter is deprecated|TensorSpec\(|oneDNN custom operations"
)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = tmp_path_factory.mktemp("quiet") / "mlp.keras"
    model.save(path)
    return path


def _child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # TensorFlow as loud as a user's
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )


def test_converting_by_hand_is_noisy(keras_file: Path, tmp_path: Path) -> None:
    """The truth the other tests stand on: the conversion they make, called by hand, prints
    TensorFlow's lines (else they would pass with nothing to keep back)."""
    proc = _child(
        f"""
        import numpy as np, keras, tensorflow as tf
        m = keras.models.load_model({str(keras_file)!r})
        x = np.load({str(X)!r})
        conv = tf.lite.TFLiteConverter.from_keras_model(m)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([x[i : i + 1]] for i in range(50))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        conv.convert()
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Saved artifact at" in proc.stdout
    assert TF_NOISE.search(proc.stderr), proc.stderr[-2000:]


def test_the_python_api_prints_nothing_of_tensorflow(keras_file: Path, tmp_path: Path) -> None:
    proc = _child(
        f"""
        import sys
        import numpy as np
        import tflkit
        print("before", flush=True)
        print("before", file=sys.stderr, flush=True)
        x = np.load({str(X)!r})
        seen = []
        c = tflkit.convert({str(keras_file)!r}, "int8", calibration=x[:50], eval_x=x[:100],
                           progress=lambda done, of: seen.append(done))
        t = tflkit.convert({str(FIXTURES / "mlp_float32.tflite")!r}, "weight-only-int8")
        print("after", c.passed, t.passed, len(seen), flush=True)
        print("after", file=sys.stderr, flush=True)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "before\nafter True True 50\n", proc.stdout[-2000:]
    assert proc.stderr == "before\nafter\n", proc.stderr[-2000:]


def test_a_progress_callback_hears_the_stages_and_reaches_the_terminal(
    keras_file: Path, tmp_path: Path
) -> None:
    """Three arguments: every stage, calibration counted sample by sample; printed from the
    callback, the lines reach the real stdout while TensorFlow is kept quiet."""
    proc = _child(
        f"""
        import numpy as np
        import tflkit
        x = np.load({str(X)!r})
        def progress(done, of, stage):
            print(stage, done, of, flush=True)
        tflkit.convert({str(keras_file)!r}, "int8", calibration=x[:30], eval_x=x[:100],
                       progress=progress)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [tuple(line.split()) for line in proc.stdout.splitlines()]
    assert all(len(t) == 3 for t in lines), proc.stdout
    stages = [s for s, _, _ in lines]
    # in order, each stage once or more: loading, converting, calibrating, converting, ...
    assert stages[0] == "loading" and stages[-1] == "evaluating"
    calibrating = [(int(d), int(n)) for s, d, n in lines if s == "calibrating"]
    assert calibrating == [(k, 30) for k in range(1, 31)]
    first_eval = stages.index("evaluating")
    assert "calibrating" not in stages[first_eval:]
    assert (str(2), str(2)) == lines[-1][1:]  # evaluation done: 2 of 2 steps
    assert not TF_NOISE.search(proc.stdout + proc.stderr)


def test_a_failed_conversion_carries_tensorflows_lines_as_a_note(tmp_path: Path) -> None:
    class Cumprod(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def serve(self, x: Any) -> Any:
            return {"y": tf.math.cumprod(x, axis=1)}

    m = Cumprod()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures={"serving_default": m.serve})
    with pytest.raises(ConversionError) as err:
        tflkit.convert(tmp_path / "sm", "int8", calibration=np.ones((4, 8), np.float32))
    assert "\n" not in str(err.value)  # the message stays one line
    notes = getattr(err.value, "__notes__", [])
    assert len(notes) == 1 and notes[0].startswith("TensorFlow's output (kept off the terminal)")
    assert "Cumprod" in notes[0]  # the converter's own account of the failure


# ---------------------------------------------------------------- the command line


def _args(keras_file: Path, out: Path) -> list[str]:
    return [
        "convert", str(keras_file), "-o", str(out), "--to", "int8", "-c", str(X), "--samples",
        "200", "--eval", str(X), "--labels", str(Y),
    ]  # fmt: skip


def test_the_cli_prints_nothing_of_tensorflow_and_verbose_shows_it(
    cli: Cli, keras_file: Path, tmp_path: Path
) -> None:
    quiet = cli.invoke(*_args(keras_file, tmp_path / "a.tflite"), entry="-m")
    assert quiet.exit_code == 0, quiet.stderr
    assert not TF_NOISE.search(quiet.stdout + quiet.stderr), quiet.stderr
    assert quiet.stderr == ""
    loud = cli.invoke(*_args(keras_file, tmp_path / "b.tflite"), "--verbose", entry="-m")
    assert loud.exit_code == 0, loud.stderr
    assert not TF_NOISE.search(loud.stdout)  # stdout carries the result alone
    assert loud.stderr.startswith("tflkit: TensorFlow's output:\n")
    assert "Saved artifact at" in loud.stderr and "fully_quantize: " in loud.stderr
    seconds = re.compile(r", \d+\.\d+ s$", re.M)  # the conversion's time
    assert seconds.sub("", loud.stdout) == seconds.sub("", quiet.stdout).replace(
        "a.tflite", "b.tflite"
    )


def test_a_cli_failure_shows_tensorflows_last_lines_then_the_error(
    cli: Cli, tmp_path: Path
) -> None:
    class Cumprod(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def serve(self, x: Any) -> Any:
            return {"y": tf.math.cumprod(x, axis=1)}

    m = Cumprod()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures={"serving_default": m.serve})
    np.save(tmp_path / "cal.npy", np.ones((4, 8), np.float32))
    out = tmp_path / "out.tflite"
    result = cli.invoke(
        "convert", str(tmp_path / "sm"), "-o", str(out), "-c", str(tmp_path / "cal.npy")
    )
    assert result.exit_code == 2 and not out.exists()
    *shown, last = result.stderr.rstrip("\n").splitlines()
    assert last.startswith("tflkit: error: ") and "Cumprod" in last
    assert shown[0].startswith("tflkit: TensorFlow's output")
    assert 1 < len(shown) <= 41  # the header and at most the last 40 lines


def _in_a_pty(argv: list[str], cwd: Path) -> tuple[int, str]:
    """argv with fds 0-2 on a pseudo-terminal 100 columns wide; (exit code, output)."""
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=600), b"".join(chunks).decode("utf-8", "replace")


def test_in_a_terminal_the_bar_moves_through_the_stages_and_tensorflow_stays_quiet(
    keras_file: Path, tmp_path: Path
) -> None:
    argv = [sys.executable, "-m", "tflkit", *_args(keras_file, tmp_path / "t.tflite")]
    code, out = _in_a_pty(argv, tmp_path)
    assert code == 0, out[-3000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out).replace("\r", "\n")
    assert not TF_NOISE.search(plain), plain[:3000]
    # the bar (drawn on the terminal while TensorFlow's descriptors point elsewhere)
    # named each stage; calibration counted against the 200 samples
    for stage in ("loading", "converting", "evaluating"):
        assert re.search(rf"^\S* ?{stage} ", plain, re.M), plain[:3000]
    assert re.search(r"calibrating .* \d+/200 ", plain), plain[:3000]
    assert "PASS" in plain


def test_quiet_keeps_others_output_and_gives_back_tflkits_warnings(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import warnings

    from tflkit._quiet import quiet_tensorflow

    with pytest.warns(UserWarning, match="from tflkit") as shown, quiet_tensorflow() as captured:
        with quiet_tensorflow() as inner:  # nested: one capture
            os.write(2, b"W0000 00:00:00.0 from C++\n")
            os.write(1, b"on fd 1\n")
            print("printed")
            warnings.warn("from TensorFlow", UserWarning, stacklevel=1)
            warnings.warn_explicit("from tflkit", UserWarning, tflkit.__file__, 1)
        assert inner is captured
    assert [str(w.message) for w in shown] == ["from tflkit"]
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    text = captured.text()
    assert text.startswith("W0000 00:00:00.0 from C++\non fd 1\nprinted\n")
    assert "UserWarning: from TensorFlow" in text and "from tflkit" not in text


def test_a_float_tflite_calibrates_in_counted_slices_to_the_same_model() -> None:
    """From a .tflite the bar moves too: litert-quantizer calibrates in slices, each resuming
    from the last one's ranges; the model is byte for byte the one a single call gives (the
    library called directly, as its README shows)."""
    lq = pytest.importorskip("litert_quantizer")
    from litert_quantizer import quantizer as lq_quantizer
    from litert_quantizer import recipe as lq_recipe

    assert lq is not None
    float_model = (FIXTURES / "mlp_float32.tflite").read_bytes()
    x = np.load(X)[:120]
    q = lq_quantizer.Quantizer(float_model, lq_recipe.static_wi8_ai8())
    ranges = q.calibrate({"serving_default": [{"keras_tensor": x[i : i + 1]} for i in range(120)]})
    direct = bytes(q.quantize(ranges, enable_progress_report=False).quantized_model)
    seen: list[tuple[int, int, str]] = []
    c = tflkit.convert(
        FIXTURES / "mlp_float32.tflite",
        "int8",
        calibration=x,
        progress=lambda done, of, stage: seen.append((done, of, stage)),
    )
    assert c.data == direct
    counted = [(d, n) for d, n, s in seen if s == "calibrating"]
    assert counted == [(k, 120) for k in range(6, 121, 6)]  # 20 slices of 6 samples
    assert seen[:2] == [(0, 0, "loading"), (0, 0, "quantizing")]
    assert seen[-1] == (0, 0, "quantizing")

"""Selective int8 (issue 21): ``convert(max_drop= | min_snr= | keep_float=)``.

Truths: TFLite's own QuantizationDebugger called by hand with the same denylist; the LiteRT
interpreter's tensor details and a plain interpreter loop for accuracy; the brute force over
every subset of operators that fixtures/build.py recorded in fixtures/MANIFEST.json.
Needs the [convert] and [quantize] extras (in [dev]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, Cli

tf = pytest.importorskip("tensorflow")
pytest.importorskip("litert_quantizer")

import tflkit  # noqa: E402
from tflkit import InputError  # noqa: E402
from tflkit.kinds import float_operators  # noqa: E402

MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())


@pytest.fixture(scope="module")
def cnn() -> Any:
    tf.keras.utils.set_random_seed(1)
    return tf.keras.Sequential(
        [
            tf.keras.Input((12, 12, 1)),
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.Conv2D(16, 3, activation="relu"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(10),
        ]
    )


@pytest.fixture(scope="module")
def calib() -> np.ndarray:
    return np.random.default_rng(5).random((40, 12, 12, 1), dtype=np.float32)


def _interpreter(data: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # no XNNPACK: its DELEGATE nodes would stand in for the operators in the op details
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    return interp


def _tensors(data: bytes) -> dict[str, tuple[str, tuple[float, ...], tuple[int, ...]]]:
    """Every tensor by name: dtype, scales, zero points, as the LiteRT interpreter reports."""
    out = {}
    for d in _interpreter(data).get_tensor_details():
        q = d["quantization_parameters"]
        out[d["name"]] = (
            np.dtype(d["dtype"]).name,
            tuple(np.asarray(q["scales"]).tolist()),
            tuple(np.asarray(q["zero_points"]).tolist()),
        )
    return out


def _float_ops(data: bytes) -> list[tuple[str, str]]:
    """(op type, first output name) of operators touching a float activation, from the
    interpreter's own op and tensor details; activations are the graph's inputs and what
    operators write (weights are neither). QUANTIZE / DEQUANTIZE are the islands' edges;
    SHAPE reads no values."""
    interp = _interpreter(data)
    details = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()  # the interpreter's own operator list
    activations = {i for op in ops for i in op["outputs"]}
    activations |= {d["index"] for d in interp.get_input_details()}
    found = []
    for op in ops:
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE", "SHAPE"):
            continue
        touched = [i for i in (*op["inputs"], *op["outputs"]) if i in activations]
        if any(np.dtype(details[i]["dtype"]).kind == "f" for i in touched):
            found.append((op["op_name"], details[op["outputs"][0]]["name"]))
    return found


# ---------------------------------------------------------------- keep_float


def test_keep_float_equals_the_quantization_debugger_by_hand(cnn: Any, calib: np.ndarray) -> None:
    """``keep_float`` on TFLiteConverter's route is what TFLite's QuantizationDebugger gives
    with the same denylisted_nodes, called as its documentation shows (float I/O, as the
    debugger's non-debug model has): every tensor's dtype, scales and zero points."""
    ours = tflkit.convert(cnn, "int8", calibration=calib, keep_float=["CONV_2D"], io="float32")
    assert len(ours.kept_float) == 2

    def gen() -> Any:
        for s in range(len(calib)):
            yield [calib[s : s + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(cnn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=conv,
        debug_dataset=gen,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=list(ours.kept_float)
        ),
    )
    theirs = debugger.get_nondebug_quantized_model()
    assert _tensors(ours.data) == _tensors(theirs)
    # the two CONV_2D compute in float, nothing else does (the interpreter's view)
    assert sorted(n for _, n in _float_ops(ours.data)) == sorted(ours.kept_float)
    assert {t for t, _ in _float_ops(ours.data)} == {"CONV_2D"}
    assert ours.kind_ok and ours.passed


def test_keep_float_names_a_regex_and_refuses_what_matches_nothing(
    cnn: Any, calib: np.ndarray
) -> None:
    by_type = tflkit.convert(cnn, "int8", calibration=calib, keep_float=["FULLY_CONNECTED"])
    (name,) = by_type.kept_float
    by_name = tflkit.convert(cnn, "int8", calibration=calib, keep_float=[name])
    assert by_name.data == by_type.data
    assert by_type.kind == "int8-float-islands" and by_type.passed
    with pytest.raises(InputError, match=r"matches no operator.*CONV_2D"):
        tflkit.convert(cnn, "int8", calibration=calib, keep_float=["SOFTMAX"])
    with pytest.raises(InputError, match="not a regular expression"):
        tflkit.convert(cnn, "int8", calibration=calib, keep_float=["(unclosed"])


def test_islands_kind_names_the_float_operators_the_interpreter_sees() -> None:
    path = FIXTURES / "eu_float_island.tflite"
    assert tflkit.quantization_kind(path) == "int8-float-islands"
    ours = [(op.op, name) for op, name in float_operators(path)]
    assert ours == _float_ops(path.read_bytes()) and ours
    report = tflkit.check(path, "int8")
    assert report.summary is not None and "int8 with 1 float operator: SIN" in report.summary
    # an int8 model with float I/O only (QUANTIZE / DEQUANTIZE at the edges) stays "mixed"
    assert tflkit.quantization_kind(FIXTURES / "mlp_int8_float_io.tflite") == "mixed"


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--max-drop", "1"], "--eval"),
        (["--max-drop", "1", "--eval", "X"], "--labels"),
        (["--max-drop", "-1", "--eval", "X", "-l", "Y"], "0 or more"),
        (["--max-drop", "1", "--eval", "X", "-l", "Y", "--to", "float16"], "--to int8"),
        (["--max-drop", "1", "--min-snr", "20", "--eval", "X", "-l", "Y"], "not both"),
        (["--keep-float", "SOFTMAX", "--fallback", "int4"], "float"),
        (["--fallback", "float"], "--max-drop"),
        (["--plot", "p.png"], "--max-drop"),
    ],
)
def test_usage_errors_exit_2_with_nothing_written(
    args: list[str], said: str, tmp_path: Path, cli: Cli
) -> None:
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.load(FIXTURES / "mlp_eval_x.npy"))
    np.save(y, np.load(FIXTURES / "mlp_eval_y.npy"))
    args = [str(x) if a == "X" else str(y) if a == "Y" else a for a in args]
    out = tmp_path / "out.tflite"
    args = [str(tmp_path / a) if a.endswith(".png") else a for a in args]
    proc = cli.invoke(
        "convert",
        str(FIXTURES / "mlp_float32.tflite"),
        "-o",
        str(out),
        "-c",
        str(x),
        *args,
        entry="-m",
    )
    assert proc.exit_code == 2, (args, proc.stdout, proc.stderr)
    assert said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


# ---------------------------------------------------------------- the search, against brute force


def _truth(name: str) -> dict[str, Any]:
    return MANIFEST["models"][f"{name}_float32.tflite"]["selective"]


def _data(name: str) -> tuple[Path, np.ndarray, np.ndarray]:
    files = _truth(name)["files"]
    return (
        FIXTURES / files["calib"],
        np.load(FIXTURES / files["eval_x"]),
        np.load(FIXTURES / files["eval_y"]),
    )


def _plain_loop(data: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs of a plain interpreter loop, one sample an invoke, int8 inputs quantized by hand
    (round half away from zero, saturate), int8 outputs dequantized."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    outs = []
    for s in range(len(x)):
        xs = x[s : s + 1]
        scale, zero = i["quantization"]
        if scale:
            r = xs / np.float32(scale)
            q = np.trunc(r + np.copysign(0.5, r)) + zero
            info = np.iinfo(i["dtype"])
            xs = np.clip(q, info.min, info.max).astype(i["dtype"])
        interp.set_tensor(i["index"], xs)
        interp.invoke()
        out = interp.get_tensor(o["index"])[0].astype(np.float64)
        scale, zero = o["quantization"]
        outs.append((out - zero) * scale if scale else out)
    return np.stack(outs)


ROUTES = {"tflite-converter": ".keras", "litert-quantizer": "_float32.tflite"}


@pytest.mark.parametrize("name", ["outlier_mlp", "outlier_cnn"])
@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("target", ["max_drop", "min_snr_db"])
def test_search_keeps_the_brute_force_minimum_out_of_int8(
    name: str, route: str, target: str
) -> None:
    truth = _truth(name)
    path = truth["paths"][route]
    calib, x, y = _data(name)
    source = FIXTURES / (name + ROUTES[route])
    # labels both times: with min_snr they are measured, not the target
    goal = (
        {"max_drop": truth["max_drop"]}
        if target == "max_drop"
        else {"min_snr": truth["min_snr_db"]}
    )
    # the truth's settings: float I/O on TFLiteConverter's route (the debugger's non-debug
    # model), int8 I/O on litert-quantizer's; "out of int8" is float there
    io = "float32" if route == "tflite-converter" else None
    c = tflkit.convert(
        source, "int8", calibration=calib, eval_x=x, eval_y=y, io=io, fallback="float", **goal
    )
    s = c.search
    assert s is not None and s.route == route and s.met and c.passed
    plain = s.plain
    assert plain is not None and not plain.meets  # plain int8 misses the target
    minimal = path["targets"][target]
    assert len(c.kept_float) == minimal["min_ops"]
    assert sorted(c.kept_float) in [sorted(m["keep_float"]) for m in minimal["minimal_sets"]]
    # measured again, independently: plain interpreter loops on the model written and on the
    # float32 .tflite, accuracy and SNR computed here
    out = _plain_loop(c.data, x)
    ref = _plain_loop((FIXTURES / f"{name}_float32.tflite").read_bytes(), x)
    accuracy = float(np.mean(out.argmax(axis=1) == y))
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((out - ref) ** 2))
    if target == "max_drop":
        assert accuracy >= truth["float32_accuracy"] - truth["max_drop"] / 100 - 1e-9
    else:
        assert snr >= truth["min_snr_db"]
    assert accuracy == pytest.approx(s.result.accuracy)
    assert snr == pytest.approx(s.result.snr_db, abs=0.05)
    assert plain.accuracy == pytest.approx(path["int8"]["accuracy"])
    assert c.comparison is not None and [m.name for m in c.comparison.models] == [
        "float32",
        "int8",
        "selective",
    ]


def test_unreachable_target_exits_1_with_the_best_model_written(tmp_path: Path, cli: Cli) -> None:
    calib, x, y = _data("outlier_mlp")
    xp = tmp_path / "x.npy"
    np.save(xp, x)
    out = tmp_path / "best.tflite"
    proc = cli.invoke(
        "convert",
        str(FIXTURES / "outlier_mlp_float32.tflite"),
        "-o",
        str(out),
        "-c",
        str(calib),
        "--eval",
        str(xp),
        "--min-snr",
        "200",
        "--fallback",
        "float",
        "--json",
        entry="-m",
    )
    assert proc.exit_code == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert not doc["passed"] and not doc["search"]["met"]
    assert any(n.startswith("target not met: best SNR") for n in doc["notes"])
    assert out.is_file() and out.stat().st_size == doc["size_bytes"]
    best = doc["search"]["steps"][doc["search"]["chosen"]]
    snrs = [s["snr_db"] for s in doc["search"]["steps"]]
    assert best["snr_db"] == max(snrs)


def test_cli_search_prints_the_steps_and_json_follows_the_schema(tmp_path: Path, cli: Cli) -> None:
    from importlib import resources

    import jsonschema

    calib, x, y = _data("outlier_mlp")
    xp, yp = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(xp, x)
    np.save(yp, y)
    args = [
        "convert", str(FIXTURES / "outlier_mlp_float32.tflite"), "-c", str(calib),
        "--eval", str(xp), "-l", str(yp), "--max-drop", "1",
    ]  # fmt: skip
    human = cli.invoke(*args, "-o", str(tmp_path / "a.tflite"), "--plot", str(tmp_path / "s.png"))
    assert human.exit_code == 0, human.stderr
    assert "Search (litert-quantizer" in human.stdout and "kept float" in human.stdout
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(cli.invoke(*args, "-o", str(tmp_path / "b.tflite"), "--json").stdout)
    schema = json.loads(
        resources.files("tflkit").joinpath("schemas/convert.schema.json").read_text()
    )
    jsonschema.validate(doc, schema)
    assert doc["quantization_kind"] in ("int8-float-islands", "mixed")
    assert doc["search"]["steps"][0]["phase"] == "int8" and doc["kept_float"]


@pytest.mark.parametrize("suffix", ["_float32.tflite", ".keras"])
def test_wrong_shaped_eval_data_is_refused_before_the_search(
    suffix: str, tmp_path: Path, cli: Cli
) -> None:
    """The MLP takes 64 features; 32-feature evaluation data is named as such, exit 2, nothing
    written (and before calibration: no search step runs)."""
    calib, _, y = _data("outlier_mlp")
    x32 = tmp_path / "x32.npy"
    np.save(x32, np.load(FIXTURES / "mlp_eval_x.npy"))
    yp = tmp_path / "y.npy"
    np.save(yp, y)
    out = tmp_path / "o.tflite"
    proc = cli.invoke(
        "convert", str(FIXTURES / f"outlier_mlp{suffix}"), "-o", str(out), "-c", str(calib),
        "--eval", str(x32), "-l", str(yp), "--max-drop", "1",
    )  # fmt: skip
    assert proc.exit_code == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "evaluation data" in line and "(None, 64)" in line and "(500, 32)" in line, line
    assert not out.exists()

"""NaN and inf in compared outputs: counted, propagated, reported, and an exit code of 1.

The truth is numpy on the same arrays (the sums) and LiteRT's own interpreter on an edited
fixture (the counts): ``passthrough_output.tflite`` computes ``y = x * 2``; its constant 2 set
to inf gives ``x * inf``: inf for every x != 0, NaN for x == 0.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, Cli, edited, litert_interpreter

import tflkit
from tflkit import InputError
from tflkit.comparison import OutputSums

PASS = FIXTURES / "passthrough_output.tflite"


def _constant(value: float) -> Any:
    """Set the MUL's constant (``mul/y``, 2.0) to ``value``."""

    def edit(m: Any) -> None:
        sg = m.subgraphs[0]
        t = sg.tensors[sg.operators[0].inputs[1]]
        assert t.name == b"mul/y"
        m.buffers[t.buffer].data = np.frombuffer(np.float32(value).tobytes(), np.uint8)

    return edit


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    x[0, 1] = 0.0
    x[2, :] = 0.0  # x * inf is NaN here
    x[3, 3] = 3e38  # 2 * 3e38 overflows float32: the clean reference gives inf too
    side = rng.normal(size=(6, 3)).astype(np.float32)
    return {"x": x, "side": side}


def _truth(model: bytes | Path, x: dict[str, np.ndarray]) -> dict[str, tuple[int, int]]:
    """(NaN, inf) counts per output of LiteRT's own signature runner."""
    interp = litert_interpreter(model if isinstance(model, bytes) else str(model))
    out = interp.get_signature_runner()(**x)
    return {
        k: (int(np.count_nonzero(np.isnan(v))), int(np.count_nonzero(np.isinf(v))))
        for k, v in out.items()
    }


def _counts(c: tflkit.Comparison, i: int) -> dict[str, tuple[int, int]]:
    return {o.name: (o.nan_count, o.inf_count) for o in c.models[i].outputs}


# --- the sums ---------------------------------------------------------------------------------


def test_nan_propagates_through_add_and_merge() -> None:
    clean = np.array([[0.5, -0.25]], np.float32)
    ref = np.zeros((1, 2), np.float32)
    with_nan = np.array([[np.nan, 0.0]], np.float32)
    for parts in ([clean, with_nan], [with_nan, clean]):
        merged = OutputSums()
        for out in parts:
            part = OutputSums()
            part.add(out, ref)
            merged.merge(part)  # max(0.5, nan) in Python is 0.5: the trap in the issue
        mx, mean, rmse, snr, mse = merged.errors()
        assert all(math.isnan(v) for v in (mx, mean, rmse, mse)), (mx, mean, rmse, mse)
        assert math.isnan(snr)
        assert (merged.nan, merged.inf) == (1, 0)


def test_inf_against_finite_is_infinite_error_not_a_crash() -> None:
    sums = OutputSums()
    out = np.array([[np.inf, 1.0]], np.float32)
    ref = np.array([[2.0, 1.0]], np.float32)
    sums.add(out, ref)
    mx, mean, rmse, snr, mse = sums.errors()
    # numpy on the same float64 difference: inf everywhere, and sum(ref^2) / inf = 0 -> -inf dB
    d = out.astype(np.float64) - ref
    assert (mx, mean, mse) == (np.max(np.abs(d)), np.mean(np.abs(d)), np.mean(d * d))
    assert rmse == math.inf and snr == -math.inf  # math.log10(0) would raise
    assert (sums.nan, sums.inf) == (0, 1)


def test_inf_against_inf_is_nan() -> None:
    sums = OutputSums()
    both = np.array([[np.inf, 1.0]], np.float32)
    sums.add(both, both)  # inf - inf has no value
    assert all(math.isnan(v) for v in sums.errors())


def test_counts_equal_numpy_counts_over_batches() -> None:
    rng = np.random.default_rng(3)
    out = rng.normal(size=(50, 8)).astype(np.float32)
    out[rng.random(out.shape) < 0.1] = np.nan
    out[rng.random(out.shape) < 0.05] = -np.inf
    out[rng.random(out.shape) < 0.05] = np.inf
    sums = OutputSums()
    for s in range(0, 50, 16):
        sums.add(out[s : s + 16], np.zeros_like(out[s : s + 16]))
    assert sums.nan == np.count_nonzero(np.isnan(out))
    assert sums.inf == np.count_nonzero(np.isinf(out))


def test_no_samples_is_refused_not_a_perfect_match() -> None:
    sums = OutputSums()
    sums.add(np.zeros((0, 10), np.float32), np.zeros((0, 10), np.float32))
    with pytest.raises(InputError, match="no samples"):
        sums.errors()


# --- compare() --------------------------------------------------------------------------------


def test_compare_counts_nan_and_inf_per_model_and_output() -> None:
    bad = edited("passthrough_output.tflite", _constant(math.inf))
    x = _inputs()
    c = tflkit.compare([PASS, bad], x, speed=False)
    truth_ref, truth_bad = _truth(PASS, x), _truth(bad, x)
    assert truth_bad["y"][0] > 0 and truth_bad["y"][1] > 0  # the edit gives both
    assert truth_ref["y"] == (0, 1)  # the reference's own overflow
    assert _counts(c, 0) == truth_ref and _counts(c, 1) == truth_bad
    assert c.has_nonfinite
    y = c.models[1].outputs[0]
    assert y.name == "y" and y.nonfinite and math.isnan(y.max_abs)  # never max err 0
    side = c.models[1].outputs[1]
    assert side.name == "side_out" and not side.nonfinite and side.max_abs == 0.0
    doc = c.to_dict()
    assert doc["has_nonfinite"] is True
    got = {o["name"]: o["nonfinite"] for o in doc["models"][1]["outputs"]}
    assert got == {k: {"nan": n, "inf": i} for k, (n, i) in truth_bad.items()}


def test_all_nan_model_is_not_a_match() -> None:
    bad = edited("passthrough_output.tflite", _constant(math.nan))
    x = _inputs()
    x["x"][3, 3] = 1.0  # a clean reference: only the edited model is at fault
    c = tflkit.compare([PASS, bad], x, speed=False)
    assert _counts(c, 0) == {"y": (0, 0), "side_out": (0, 0)}
    assert _counts(c, 1)["y"] == _truth(bad, x)["y"] == (x["x"].size, 0)
    e = c.models[1].outputs[0]
    assert math.isnan(e.max_abs) and math.isnan(e.snr_db) and c.has_nonfinite


def test_clean_comparison_has_no_nonfinite() -> None:
    x = _inputs()
    x["x"][3, 3] = 1.0
    c = tflkit.compare([PASS, PASS.read_bytes()], x, speed=False)
    assert not c.has_nonfinite
    assert all(o.nan_count == o.inf_count == 0 for m in c.models for o in m.outputs)


def test_given_reference_outputs_with_nan_are_flagged() -> None:
    x = _inputs()
    x["x"][3, 3] = 1.0
    refs = {"y": x["x"] * 2, "side_out": x["side"].copy()}
    refs["y"][1, 2] = np.nan
    c = tflkit.compare([PASS], x, reference_outputs=refs, speed=False)
    assert _counts(c, 0) == {"y": (0, 0), "side_out": (0, 0)}  # the model is clean
    assert c.has_nonfinite and math.isnan(c.models[0].outputs[0].mse)
    assert "reference outputs: output 'y' holds 1 NaN and 0 inf" in c.notes


def test_empty_data_is_refused() -> None:
    mlp = FIXTURES / "mlp_float32.tflite"
    with pytest.raises(InputError, match="no samples"):
        tflkit.compare([mlp, mlp], np.zeros((0, 32), np.float32), speed=False)


def test_empty_shards_are_refused(tmp_path: Path) -> None:
    mlp = FIXTURES / "mlp_float32.tflite"
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "part0.npy", np.zeros((0, 32), np.float32))
    with pytest.raises(InputError, match="no samples"):
        tflkit.compare_stream([mlp, mlp], shards, speed=False)


# --- tflkit compare ---------------------------------------------------------------------------


def _cli_files(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], bytes]:
    bad = edited("passthrough_output.tflite", _constant(math.inf))
    (tmp_path / "inf.tflite").write_bytes(bad)
    x = _inputs()
    np.savez(tmp_path / "x.npz", **x)
    return tmp_path / "x.npz", x, bad


def test_cli_json_counts_and_exit_1(tmp_path: Path, cli: Cli) -> None:
    import jsonschema

    data, x, bad = _cli_files(tmp_path)
    args = ["compare", str(PASS), str(tmp_path / "inf.tflite"), "-d", str(data), "--no-speed"]
    result = cli.invoke(*args, "--json")
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    schema = resources.files("tflkit").joinpath("schemas/compare.schema.json").read_text()
    jsonschema.Draft202012Validator(json.loads(schema)).validate(doc)
    assert doc["has_nonfinite"] is True
    for i, truth in enumerate((_truth(PASS, x), _truth(bad, x))):
        got = {o["name"]: o["nonfinite"] for o in doc["models"][i]["outputs"]}
        assert got == {k: {"nan": n, "inf": m} for k, (n, m) in truth.items()}
    assert doc["models"][1]["outputs"][0]["max_abs"] == "NaN"
    (line,) = [s for s in result.stderr.splitlines() if not s.startswith("INFO")]
    assert "NaN or inf" in line and "Traceback" not in result.stderr


def test_cli_table_marks_nonfinite_rows(tmp_path: Path, cli: Cli) -> None:
    data, x, bad = _cli_files(tmp_path)
    truth = _truth(bad, x)["y"]
    result = cli.invoke(
        "compare", str(PASS), "inf.tflite", "-d", data.name, "--no-speed", cwd=tmp_path
    )
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert not result.broken, result.broken
    start = lines.index(next(s for s in lines if s.startswith("Output 'y'")))
    rows = lines[start + 3 : start + 5]
    assert [r.split()[0] for r in rows] == ["passthrough_output", "inf"]
    assert all(r.endswith("!") and " nan " in r for r in rows), rows
    under = lines[start + 5 : start + 8]
    assert under[1] == f"! inf: {truth[0]} NaN and {truth[1]} inf in output 'y'"
    side = lines.index(next(s for s in lines if s.startswith("Output 'side_out'")))
    assert not any("!" in r for r in lines[side:])  # the clean output is not marked


def test_cli_clean_comparison_exits_0(tmp_path: Path, cli: Cli) -> None:
    x = _inputs()
    x["x"][3, 3] = 1.0
    np.savez(tmp_path / "x.npz", **x)
    result = cli.invoke("compare", str(PASS), str(PASS), "-d", str(tmp_path / "x.npz"), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["has_nonfinite"] is False


def test_cli_empty_data_exits_2(tmp_path: Path, cli: Cli) -> None:
    mlp = str(FIXTURES / "mlp_float32.tflite")
    np.save(tmp_path / "empty.npy", np.zeros((0, 32), np.float32))
    result = cli.invoke("compare", mlp, mlp, "-d", str(tmp_path / "empty.npy"), "--no-speed")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("tflkit: error: ") and "Traceback" not in result.stderr


# --- elsewhere in the package -----------------------------------------------------------------


def test_inspect_shows_a_nan_scale_in_a_per_channel_range(tmp_path: Path, cli: Cli) -> None:
    def nan_scale(m: Any) -> None:
        t = m.subgraphs[0].tensors[4]
        assert t.name.endswith(b"dense_1/MatMul") and len(t.quantization.scale) == 64
        t.quantization.scale = [*t.quantization.scale]
        t.quantization.scale[5] = math.nan  # Python's min/max over the list would skip it

    (tmp_path / "m.tflite").write_bytes(edited("mlp_int8.tflite", nan_scale))
    result = cli.invoke("inspect", "--tensors", "m.tflite", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    (row,) = [s for s in result.stdout.splitlines() if s.startswith("│ 4 ")]
    assert "64×ax0 nan..nan" in row, row

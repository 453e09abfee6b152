"""Shards streamed through ``tflkit run`` and ``compare_stream``.

The truth each streamed result is held to is the in-memory path on the same data: ``compare()``
on the concatenated arrays and ``Runner.predict`` on them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import Cli, close, fixture_path

import tflkit
from tflkit._stream import read_shard, shards
from tflkit.errors import InputError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

MODELS = ["mlp_float32.tflite", "mlp_int8.tflite", "mlp_float16.tflite"]


def write_shard(path: Path, arrays: dict[str, np.ndarray], fmt: str) -> Path:
    """Write one shard: .npy (one array), .npz (by name) or .parquet (a column per name)."""
    target = path.with_suffix(f".{fmt}")
    if fmt == "npy":
        (only,) = arrays.values()
        np.save(target, only)
    elif fmt == "npz":
        np.savez(target, **arrays)
    else:
        columns = {}
        for k, a in arrays.items():
            if a.ndim == 1:
                columns[k] = pa.array(a)
            else:  # a fixed-size list of the sample's values, flattened
                flat = pa.array(a.reshape(-1))
                columns[k] = pa.FixedSizeListArray.from_arrays(flat, int(np.prod(a.shape[1:])))
        pq.write_table(pa.table(columns), target)
    return target


def split(tmp: Path, name: str, arrays: dict[str, np.ndarray], fmt: str, parts: int = 3) -> Path:
    folder = tmp / name
    folder.mkdir()
    n = len(next(iter(arrays.values())))
    for i, idx in enumerate(np.array_split(np.arange(n), parts)):
        write_shard(folder / f"part{i}", {k: a[idx] for k, a in arrays.items()}, fmt)
    return folder


@pytest.mark.parametrize("fmt", ["npy", "npz", "parquet"])
def test_streamed_compare_equals_in_memory(tmp_path: Path, fmt: str) -> None:
    x = np.load(fixture_path("mlp_eval_x.npy"))
    y = np.load(fixture_path("mlp_eval_y.npy"))
    data = split(tmp_path, "x", {"keras_tensor": x}, fmt)
    labels = split(tmp_path, "y", {"labels": y}, fmt)
    models = [fixture_path(m) for m in MODELS]
    whole = tflkit.compare(models, x, y, speed=False)
    # slices of 64 cut the shards (167, 167, 166 samples) unevenly: sums cross slice borders
    streamed = tflkit.compare_stream(models, data, labels, speed=False, batch_size=64)
    assert streamed.samples == whole.samples == len(x)
    for a, b in zip(whole.models, streamed.models, strict=True):
        assert close(a.accuracy, b.accuracy) and close(a.accuracy_delta, b.accuracy_delta)
        for oa, ob in zip(a.outputs, b.outputs, strict=True):
            assert oa.name == ob.name
            for field in ("top1_agreement", "max_abs", "mean_abs", "rmse", "snr_db", "mse"):
                assert close(getattr(oa, field), getattr(ob, field)), (b.name, field)
    assert any(o.snr_db < 60 for m in streamed.models for o in m.outputs)  # not all identical


def test_output_sums_merge_equals_one_pass() -> None:
    from tflkit._metrics import OutputSums, output_error

    rng = np.random.default_rng(1)
    ref = rng.normal(size=(100, 10))
    out = ref + rng.normal(scale=0.1, size=ref.shape)
    parts = [OutputSums() for _ in range(3)]
    for p, idx in zip(parts, np.array_split(np.arange(100), 3), strict=True):
        p.add(out[idx], ref[idx])
    total = OutputSums()
    for p in parts:
        total.merge(p)
    # worked out directly with numpy
    d = out - ref
    assert math.isclose(total.errors()[3], 10 * math.log10(np.sum(ref**2) / np.sum(d**2)))
    assert math.isclose(total.errors()[2], math.sqrt(np.mean(d**2)))
    merged, one = total.output_error("o"), output_error("o", out, ref)  # one formula
    for field in ("top1_agreement", "max_abs", "mean_abs", "rmse", "snr_db", "mse"):
        assert close(getattr(merged, field), getattr(one, field)), field  # summation order
    assert total.output_error("o").top1_agreement == np.mean(out.argmax(1) == ref.argmax(1))


def test_run_output_dir_equals_predict_on_the_concatenation(tmp_path: Path, cli: Cli) -> None:
    x = np.load(fixture_path("mlp_eval_x.npy"))
    data = split(tmp_path, "x", {"keras_tensor": x}, "npy")
    out = tmp_path / "out"
    result = cli.invoke(
        "run", str(fixture_path("mlp_int8.tflite")), "-i", str(data), "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["part0.npz", "part1.npz", "part2.npz"]
    got = np.concatenate([np.load(out / f"part{i}.npz")["output_0"] for i in range(3)])
    want = tflkit.Runner(fixture_path("mlp_int8.tflite")).predict(x)
    np.testing.assert_array_equal(got, want)
    assert "500 samples from 3 shards" in result.stdout


def test_run_glob_of_parquet_shards_by_input_name(tmp_path: Path, cli: Cli) -> None:
    rng = np.random.default_rng(0)
    x = {"mask": rng.random((50, 4), np.float32), "features": rng.random((50, 8), np.float32)}
    data = split(tmp_path, "x", x, "parquet")
    out = tmp_path / "out"
    model = str(fixture_path("multi_io.tflite"))
    result = cli.invoke("run", model, "-i", f"{data}/part*.parquet", "-o", str(out), "-b", "7")
    assert result.exit_code == 0, result.stderr
    want = tflkit.Runner(model).predict(x)
    assert isinstance(want, dict)
    for k, v in want.items():
        got = np.concatenate([np.load(out / f"part{i}.npz")[k] for i in range(3)])
        np.testing.assert_array_equal(got, v)


def test_parquet_list_column_takes_the_inputs_trailing_shape(tmp_path: Path) -> None:
    x = np.arange(2 * 16 * 16 * 3, dtype=np.uint8).reshape(2, 16, 16, 3)
    path = write_shard(tmp_path / "s", {"keras_tensor_6": x}, "parquet")
    r = tflkit.Runner(fixture_path("cnn_uint8_io.tflite"))
    shapes = {n: list(t.shape_signature[1:]) for n, t in zip(r.input_names, r.inputs, strict=True)}
    got = read_shard(path, r.input_names, shapes=shapes)
    assert isinstance(got, dict)
    np.testing.assert_array_equal(got["keras_tensor_6"], x)


def test_shards_of_a_directory_glob_and_file(tmp_path: Path) -> None:
    for name in ["b.npy", "a.npz", "c.parquet", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in shards(tmp_path)] == ["a.npz", "b.npy", "c.parquet"]
    assert [p.name for p in shards(f"{tmp_path}/*.np?")] == ["a.npz", "b.npy"]
    assert shards(tmp_path / "b.npy") == [tmp_path / "b.npy"]
    with pytest.raises(InputError, match="no file matches"):
        shards(f"{tmp_path}/*.zzz")


def broken_shards(tmp_path: Path) -> Path:
    x = np.load(fixture_path("mlp_eval_x.npy"))
    data = split(tmp_path, "x", {"keras_tensor": x}, "npy")
    bad = data / "part1.npy"
    bad.write_bytes(bad.read_bytes()[:300])  # the header and part of the data
    return data


@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_unreadable_shard_stops_run_naming_it_without_partial_output(
    tmp_path: Path, fmt: str, cli: Cli
) -> None:
    if fmt == "npy":
        data = broken_shards(tmp_path)
        bad = "part1.npy"
    else:
        x = np.load(fixture_path("mlp_eval_x.npy"))
        data = split(tmp_path, "x", {"keras_tensor": x}, "parquet")
        (data / "part1.parquet").write_bytes(b"PAR1 not really")
        bad = "part1.parquet"
    out = tmp_path / "out"
    result = cli.invoke(
        "run", str(fixture_path("mlp_int8.tflite")), "-i", str(data), "-o", str(out)
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and bad in lines[0] and "Traceback" not in result.stderr
    # the shard before it is complete; nothing for the bad one or after; no temporary file
    assert sorted(p.name for p in out.iterdir()) == ["part0.npz"]


def test_unreadable_shard_stops_compare(tmp_path: Path, cli: Cli) -> None:
    data = broken_shards(tmp_path)
    a, b = (str(fixture_path(m)) for m in MODELS[:2])
    result = cli.invoke("compare", a, b, "--data", str(data), "--no-speed")
    assert result.exit_code == 2
    assert "part1.npy" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_compare_cli_on_shards_notes_the_speed_sample(tmp_path: Path, cli: Cli) -> None:
    x = np.load(fixture_path("mlp_eval_x.npy"))
    data = split(tmp_path, "x", {"keras_tensor": x}, "npz")
    a, b = (str(fixture_path(m)) for m in MODELS[:2])
    # The data named relative to the working directory: the machine's temporary path, whatever
    # its length, is not in the output.
    result = cli.invoke("compare", a, b, "--data", f"{data.name}/*.npz", cwd=data.parent)
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())  # the notes wrap between words
    assert "(3 shards), 500 samples" in text and "(the first shard)" in text
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert not result.broken, result.broken  # no name, number or path broken to fit


@pytest.mark.parametrize("ray", [False, True])
def test_wrong_shaped_shard_is_named(tmp_path: Path, ray: bool, cli: Cli) -> None:
    if ray:
        pytest.importorskip("ray.data")
    data = tmp_path / "x"
    data.mkdir()
    np.save(data / "a.npy", np.zeros((10, 32), np.float32))
    np.save(data / "b.npy", np.zeros((10, 31), np.float32))  # the MLPs take 32 features
    a, b = (str(fixture_path(m)) for m in MODELS[:2])
    try:
        result = cli.invoke(
            "compare", a, b, "--data", str(data), "--no-speed", *(["--ray"] if ray else [])
        )
    finally:
        if ray:  # the CLI started a Ray in this process: not for the tests after this one
            import ray as ray_

            ray_.shutdown()
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "b.npy" in lines[0] and "got (10, 31)" in lines[0], lines

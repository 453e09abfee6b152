"""tflkit.ray against the single-machine truths: ``predict`` equals ``Runner.predict`` bit for
bit, ``compare`` equals ``tflkit.compare`` to 1e-9, ``tflkit run/compare --ray`` equal the
in-memory and streamed paths, and a bad shard stops a run naming it."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, Cli, close, edited

import tflkit
from tflkit.errors import InputError

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    # address="local": a Ray of its own, never a cluster running on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    with warnings.catch_warnings():
        # Ray 2.60's DataContext warns about its own deprecated fields (use_push_based_shuffle,
        # use_polars, use_arrow_tensor_v2) when it is built, whoever builds it: not our calls.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ray.data.DataContext.get_current()
    old = ctx.enable_progress_bars
    ctx.enable_progress_bars = False
    yield
    ctx.enable_progress_bars = old
    ray.shutdown()


def _rows(out: Any, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    # Ray Data does not keep row order by default: sort by the id column.
    rows = sorted(out.take_all(), key=lambda r: int(r["id"]))
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in names}


def _dataset(columns: dict[str, np.ndarray]) -> Any:
    n = len(next(iter(columns.values())))
    items = [{"id": i, **{k: v[i] for k, v in columns.items()}} for i in range(n)]
    # several blocks, so that both actors get work and batches cross block edges
    return ray.data.from_items(items, override_num_blocks=4)


def _check(path: str, columns: dict[str, np.ndarray], *, raw: bool) -> None:
    runner = tflkit.Runner(path, num_threads=1)
    want = runner.predict(columns, raw=raw)
    want = {runner.output_names[0]: want} if isinstance(want, np.ndarray) else want
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        out = tflkit.ray.predict(_dataset(columns), path, batch_size=7, concurrency=2, raw=raw)
        got = _rows(out, runner.output_names)
    assert list(got) == list(runner.output_names)
    for name in runner.output_names:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name], strict=True)


@pytest.mark.parametrize("raw", [False, True])
def test_mlp_int8(raw: bool) -> None:
    rng = np.random.default_rng(0)
    if raw:
        x = rng.integers(-128, 128, size=(50, 32), dtype=np.int8)
    else:
        x = rng.random(size=(50, 32), dtype=np.float32)
    _check(str(FIXTURES / "mlp_int8.tflite"), {"keras_tensor": x}, raw=raw)


def test_multi_io_by_name() -> None:
    rng = np.random.default_rng(1)
    cols = {
        "features": rng.normal(size=(30, 8)).astype(np.float32),
        "mask": rng.normal(size=(30, 4)).astype(np.float32),
    }
    _check(str(FIXTURES / "multi_io.tflite"), cols, raw=False)


@pytest.mark.parametrize("raw", [False, True])
def test_cnn_tensor_column(raw: bool) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    x = x if raw else (x / 255).astype(np.float32)
    _check(str(FIXTURES / "cnn_uint8_io.tflite"), {"keras_tensor_6": x}, raw=raw)


def test_cnn_flat_column_reshaped() -> None:
    path = str(FIXTURES / "cnn_uint8_io.tflite")
    rng = np.random.default_rng(3)
    x = rng.random(size=(20, 16, 16, 3), dtype=np.float32)
    want = tflkit.Runner(path, num_threads=1).predict(x)
    ds = _dataset({"keras_tensor_6": x.reshape(20, -1)})
    got = _rows(tflkit.ray.predict(ds, path, batch_size=8, concurrency=2), ("output_0",))
    np.testing.assert_array_equal(got["output_0"], want, strict=True)


def test_no_deprecation_warning_from_ray(recwarn: pytest.WarningsRecorder) -> None:
    x = np.zeros((8, 32), np.float32)
    out = tflkit.ray.predict(
        _dataset({"keras_tensor": x}), FIXTURES / "mlp_int8.tflite", batch_size=4, concurrency=1
    )
    out.materialize()
    bad = [w for w in recwarn if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not bad, [str(w.message) for w in bad]


def test_missing_column_names_the_input() -> None:
    ds = ray.data.from_items([{"id": 0, "other": np.zeros(32, np.float32)}])
    out = tflkit.ray.predict(ds, FIXTURES / "mlp_int8.tflite", batch_size=4, concurrency=1)
    with pytest.raises(Exception, match="keras_tensor"):
        out.materialize()


def test_keep_inputs_false_drops_only_the_input_columns() -> None:
    x = np.zeros((8, 32), np.float32)
    out = tflkit.ray.predict(
        _dataset({"keras_tensor": x}),
        FIXTURES / "mlp_int8.tflite",
        batch_size=4,
        concurrency=1,
        keep_inputs=False,
    )
    assert sorted(out.take(1)[0]) == ["id", "output_0"]


# --- tflkit.ray.compare: the same Comparison as tflkit.compare --------------------------------


def same_metrics(whole: Any, other: Any) -> None:
    """Every error, agreement and accuracy of ``other`` equals ``whole``'s to 1e-9."""
    assert other.samples == whole.samples
    assert other.label_output == whole.label_output
    assert [m.name for m in other.models] == [m.name for m in whole.models]
    for a, b in zip(whole.models, other.models, strict=True):
        assert (a.kind, a.size_bytes, a.size_ratio) == (b.kind, b.size_bytes, b.size_ratio)
        assert close(a.accuracy, b.accuracy) and close(a.accuracy_delta, b.accuracy_delta)
        for oa, ob in zip(a.outputs, b.outputs, strict=True):
            assert oa.name == ob.name
            for field in ("top1_agreement", "max_abs", "mean_abs", "rmse", "snr_db", "mse"):
                assert close(getattr(oa, field), getattr(ob, field)), (b.name, oa.name, field)


MLPS = ["mlp_float32.tflite", "mlp_int8.tflite", "mlp_float16.tflite"]


@pytest.mark.parametrize("onehot", [False, True])
def test_compare_equals_tflkit_compare(onehot: bool) -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")
    y = np.load(FIXTURES / "mlp_eval_y.npy")
    labels = np.eye(10, dtype=np.float32)[y] if onehot else y
    models = [str(FIXTURES / m) for m in MLPS]
    whole = tflkit.compare(models, x, labels, speed=False)
    # batches of 37 over 4 blocks: sums are cut unevenly and merged in whatever order they end
    ds = _dataset({"keras_tensor": x, "label": labels})
    got = tflkit.ray.compare(ds, models, batch_size=37, concurrency=2, label_column="label")
    same_metrics(whole, got)
    # and against numpy on the runtime's own outputs, not only against tflkit's other path
    y32, y8 = (tflkit.Runner(m).predict(x).astype(np.float64) for m in models[:2])
    d = y8 - y32
    int8 = got.models[1]
    assert close(int8.outputs[0].rmse, float(np.sqrt(np.mean(d * d))))
    assert close(int8.outputs[0].snr_db, 10 * math.log10(np.sum(y32**2) / np.sum(d * d)))
    assert close(int8.outputs[0].max_abs, float(np.abs(d).max()))
    assert close(int8.accuracy, float(np.mean(y8.argmax(1) == y)))
    assert whole.models[1].accuracy is not None and 0 < whole.models[1].accuracy < 1
    assert any(o.snr_db < 60 for m in got.models[1:] for o in m.outputs)  # not all identical
    assert got.data == "Ray Dataset" and got.inputs == ("keras_tensor: float32 [500, 32]",)
    assert got.to_markdown().count("mlp_int8") >= 1  # the Comparison's own renderers work
    tflkit_schema_valid(got.to_dict())


def tflkit_schema_valid(doc: dict[str, Any]) -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((FIXTURES.parent / "schemas" / "compare.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(doc)), schema)


def test_compare_multi_input_by_name_without_labels() -> None:
    rng = np.random.default_rng(4)
    cols = {
        "features": rng.normal(size=(60, 8)).astype(np.float32),
        "mask": rng.normal(size=(60, 4)).astype(np.float32),
    }
    model = str(FIXTURES / "multi_io.tflite")
    whole = tflkit.compare([model, model], cols, speed=False, names=["a", "b"])
    got = tflkit.ray.compare(
        _dataset(cols), [model, model], batch_size=16, concurrency=2, names=["a", "b"]
    )
    same_metrics(whole, got)
    assert [o.name for o in got.models[0].outputs] == list(tflkit.Runner(model).output_names)
    assert got.models[1].outputs[0].snr_db == math.inf  # a model against itself


def test_compare_refuses_bad_labels_from_an_actor() -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")[:40]
    ds = _dataset({"keras_tensor": x, "label": np.full(40, 12)})  # 10 classes
    models = [str(FIXTURES / m) for m in MLPS[:2]]
    with pytest.raises(InputError, match=r"labels run 12\.\.12"):
        tflkit.ray.compare(ds, models, batch_size=16, concurrency=1, label_column="label")
    with pytest.raises(InputError, match="no label column 'y'"):
        tflkit.ray.compare(ds, models, batch_size=16, concurrency=1, label_column="y")


def test_compare_speed_measured_on_the_driver() -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")[:64]
    models = [str(FIXTURES / m) for m in MLPS[:2]]
    got = tflkit.ray.compare(
        _dataset({"keras_tensor": x}), models, batch_size=32, concurrency=1, speed=True
    )
    assert all(m.latency is not None and m.samples_per_second for m in got.models)
    assert any("on the driver, on the first 32 rows" in n for n in got.notes)
    plain = tflkit.ray.compare(_dataset({"keras_tensor": x}), models, batch_size=32, concurrency=1)
    assert all(m.latency is None for m in plain.models)


# --- tflkit run/compare --ray over shards -----------------------------------------------------


def shard_dir(tmp: Path, name: str, arrays: dict[str, np.ndarray], parts: int = 4) -> Path:
    folder = tmp / name
    folder.mkdir()
    n = len(next(iter(arrays.values())))
    for i, idx in enumerate(np.array_split(np.arange(n), parts)):
        if len(arrays) == 1:
            np.save(folder / f"part{i}.npy", next(iter(arrays.values()))[idx])
        else:
            np.savez(folder / f"part{i}.npz", **{k: a[idx] for k, a in arrays.items()})
    return folder


@pytest.mark.parametrize("model", ["mlp_int8.tflite", "multi_io.tflite"])
def test_run_ray_writes_each_shard_as_predict_gives_it(
    tmp_path: Path, model: str, cli: Cli
) -> None:
    import json

    path = str(FIXTURES / model)
    runner = tflkit.Runner(path, num_threads=1)
    rng = np.random.default_rng(5)
    arrays = {
        n: rng.random((90, *t.shape[1:]), np.float32)
        for n, t in zip(runner.input_names, runner.inputs, strict=True)
    }
    data, out = shard_dir(tmp_path, "x", arrays), tmp_path / "out"
    result = cli.invoke("run", path, "-i", str(data), "-o", str(out), "--ray", "-b", "10", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # stdout holds the document and nothing of Ray's
    assert doc["samples"] == 90 and doc["shards"] == 4 and doc["ray"]["workers"] >= 1
    assert sorted(p.name for p in out.iterdir()) == [f"part{i}.npz" for i in range(4)]
    for i, idx in enumerate(np.array_split(np.arange(90), 4)):
        want = runner.predict({k: a[idx] for k, a in arrays.items()})
        want = want if isinstance(want, dict) else {runner.output_names[0]: want}
        saved = np.load(out / f"part{i}.npz")
        assert sorted(saved.files) == sorted(want)
        for k, v in want.items():
            np.testing.assert_array_equal(saved[k], v, strict=True)
    import jsonschema

    schema = json.loads((FIXTURES.parent / "schemas" / "run.schema.json").read_text())
    jsonschema.validate(doc, schema)


def test_compare_ray_equals_compare_stream_and_in_memory(tmp_path: Path, cli: Cli) -> None:
    import json

    x = np.load(FIXTURES / "mlp_eval_x.npy")
    y = np.load(FIXTURES / "mlp_eval_y.npy")
    data = shard_dir(tmp_path, "x", {"keras_tensor": x})
    labels = shard_dir(tmp_path, "y", {"labels": y})
    models = [str(FIXTURES / m) for m in MLPS]
    whole = tflkit.compare(models, x, y, speed=False)
    result = cli.invoke(
        "compare",
        *models,
        "--data",
        str(data),
        "--labels",
        str(labels),
        "--ray",
        "--no-speed",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["samples"] == 500
    for a, b in zip(whole.models, doc["models"], strict=True):
        assert close(a.accuracy, b["accuracy"]), b["name"]
        for oa, ob in zip(a.outputs, b["outputs"], strict=True):
            for field in ("max_abs", "mean_abs", "rmse", "mse"):
                assert close(getattr(oa, field), ob[field]), (b["name"], field)
    from tflkit import ray as tray

    streamed = tflkit.compare_stream(models, data, labels, speed=False)
    same_metrics(streamed, tray.compare_shards(models, data, labels, concurrency=2, speed=False))


def test_run_ray_unreadable_shard_exit_2_naming_it_no_partial_file(
    tmp_path: Path, cli: Cli
) -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")
    data = shard_dir(tmp_path, "x", {"keras_tensor": x})
    bad = data / "part1.npy"
    bad.write_bytes(bad.read_bytes()[:300])
    out = tmp_path / "out"
    result = cli.invoke(
        "run", str(FIXTURES / "mlp_int8.tflite"), "-i", str(data), "-o", str(out), "--ray"
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "part1.npy" in lines[0] and "Traceback" not in result.stderr
    assert result.stdout == ""
    written = sorted(p.name for p in out.iterdir())
    # other actors may finish their shards; the bad one has none, and nothing is half-written
    assert "part1.npz" not in written and all(p.endswith(".npz") for p in written)
    for name in written:
        i = int(name[4])
        part = np.array_split(x, 4)[i]
        want = tflkit.Runner(FIXTURES / "mlp_int8.tflite").predict(part)
        np.testing.assert_array_equal(np.load(out / name)["output_0"], want)
    result = cli.invoke(
        "compare",
        str(FIXTURES / MLPS[0]),
        str(FIXTURES / MLPS[1]),
        "--data",
        str(data),
        "--ray",
        "--no-speed",
    )
    assert result.exit_code == 2 and "part1.npy" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ray_flag_needs_shards_and_a_reachable_address(tmp_path: Path, cli: Cli) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((4, 32), np.float32))
    model = str(FIXTURES / "mlp_int8.tflite")
    result = cli.invoke("run", model, "-i", str(x), "--ray")
    assert result.exit_code == 2 and "--ray runs shards" in result.stderr
    result = cli.invoke("compare", model, model, "--ray")
    assert result.exit_code == 2 and "--ray compares shards" in result.stderr


def test_unreachable_address_is_one_line_at_once(tmp_path: Path, cli: Cli) -> None:
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "a.npy", np.zeros((4, 32), np.float32))
    start = time.monotonic()
    proc = cli.invoke(
        "run",
        FIXTURES / "mlp_int8.tflite",
        "-i",
        tmp_path / "d",
        "--address",
        f"127.0.0.1:{port}",
        entry="-m",
        timeout=120,
    )
    assert proc.exit_code == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"tflkit: error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused "
        "(start one with 'ray start --head', or leave out --address for a local Ray)"
    ]
    assert time.monotonic() - start < 60  # Ray alone retries for minutes


def test_predict_preprocess_runs_in_the_actor_before_predict() -> None:
    def _scaled(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """uint8 pixels in the dataset, float32 in [0, 1] for the model (as a user would);
        nested, so that cloudpickle sends it by value (workers cannot import test modules)."""
        return {"id": batch["id"], "keras_tensor_6": batch["pixels"].astype(np.float32) / 255}

    path = str(FIXTURES / "cnn_uint8_io.tflite")
    rng = np.random.default_rng(6)
    pixels = rng.integers(0, 256, size=(30, 16, 16, 3), dtype=np.uint8)
    want = tflkit.Runner(path, num_threads=1).predict(pixels.astype(np.float32) / 255)
    out = tflkit.ray.predict(
        _dataset({"pixels": pixels}), path, batch_size=8, concurrency=2, preprocess=_scaled
    )
    got = _rows(out, ("output_0",))
    np.testing.assert_array_equal(got["output_0"], want, strict=True)
    assert "pixels" not in out.columns()  # the batch preprocess returned, plus the outputs


def test_predict_preprocess_must_return_columns() -> None:
    x = np.zeros((4, 32), np.float32)
    out = tflkit.ray.predict(
        _dataset({"keras_tensor": x}),
        FIXTURES / "mlp_int8.tflite",
        batch_size=4,
        concurrency=1,
        preprocess=lambda batch: batch["keras_tensor"],
    )
    with pytest.raises(Exception, match="must return a dict of columns"):
        out.materialize()


def test_actors_leave_a_cpu_to_the_tasks_that_feed_them() -> None:
    """``read``/``range`` tasks upstream of an actor pool that held both CPUs never ran (Ray
    Data waited forever). In a child process with its own 2-CPU Ray, so a stall is a timeout
    here, not a hung suite; the outputs are held to ``Runner.predict``."""
    import subprocess
    import sys

    code = """
import sys, numpy as np, ray, tflkit
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
ray.data.DataContext.get_current().enable_progress_bars = False
def make(batch):
    ids = batch["id"]
    return {"id": ids, "keras_tensor": (ids[:, None] % 7 / 7 + np.zeros((1, 32))).astype("float32")}
ds = ray.data.range(64, override_num_blocks=4).map_batches(make, batch_size=16)
out = tflkit.ray.predict(ds, sys.argv[1], batch_size=8, concurrency=2)
rows = sorted(out.take_all(), key=lambda r: r["id"])
x = make({"id": np.arange(64)})["keras_tensor"]
want = tflkit.Runner(sys.argv[1]).predict(x)
assert np.array_equal(np.stack([r["output_0"] for r in rows]), want)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURES / "mlp_int8.tflite")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_compare_preprocess_equals_compare_on_the_preprocessed_data() -> None:
    def _scaled(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"keras_tensor": batch["q"].astype(np.float32) / 255, "label": batch["label"]}

    rng = np.random.default_rng(7)
    q = rng.integers(0, 256, size=(120, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=120)
    models = [str(FIXTURES / m) for m in MLPS[:2]]
    whole = tflkit.compare(models, q.astype(np.float32) / 255, y, speed=False)
    got = tflkit.ray.compare(
        _dataset({"q": q, "label": y}),
        models,
        batch_size=32,
        concurrency=2,
        label_column="label",
        preprocess=_scaled,
    )
    same_metrics(whole, got)


def test_compare_refuses_an_empty_dataset() -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")[:8]
    empty = _dataset({"keras_tensor": x}).limit(0)
    models = [str(FIXTURES / m) for m in MLPS[:2]]
    # Ray warns that its actor pool received no input: that is the point here
    with warnings.catch_warnings(), pytest.raises(InputError, match="no samples"):
        warnings.simplefilter("ignore", UserWarning)
        tflkit.ray.compare(empty, models, batch_size=16, concurrency=1, speed=False)


def test_compare_counts_nan_and_inf_like_compare() -> None:
    def inf_constant(m: Any) -> None:  # y = x * inf: NaN where x == 0, inf elsewhere
        sg = m.subgraphs[0]
        t = sg.tensors[sg.operators[0].inputs[1]]
        m.buffers[t.buffer].data = np.frombuffer(np.float32(np.inf).tobytes(), np.uint8)

    rng = np.random.default_rng(5)
    cols = {
        "x": rng.normal(size=(40, 4)).astype(np.float32),
        "side": rng.normal(size=(40, 3)).astype(np.float32),
    }
    cols["x"][::3, 1] = 0.0
    clean = str(FIXTURES / "passthrough_output.tflite")
    bad = edited("passthrough_output.tflite", inf_constant)
    got = tflkit.ray.compare(_dataset(cols), [clean, bad], batch_size=16, concurrency=2)
    whole = tflkit.compare([clean, bad], cols, speed=False)
    assert got.has_nonfinite and whole.has_nonfinite
    counts = [[(o.nan_count, o.inf_count) for o in m.outputs] for m in got.models]
    assert counts == [[(o.nan_count, o.inf_count) for o in m.outputs] for m in whole.models]
    y = cols["x"]  # the truth: numpy's x * inf
    with np.errstate(invalid="ignore"):
        assert counts[1][0] == (
            np.count_nonzero(np.isnan(y * np.float32(np.inf))),
            np.count_nonzero(np.isinf(y * np.float32(np.inf))),
        )
    assert math.isnan(got.models[1].outputs[0].max_abs)

"""tflkit.ray.predict against Runner.predict on the same samples, bit for bit."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES

import tflkit

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
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

"""``tflkit.run``: what ``tflkit run`` does, from Python. The figures are those of the whole run
whether or not progress is followed (which cuts a batch into slices), held to the run without
progress and to ``Runner.predict`` on the same arrays."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from conftest import fixture_path

import tflkit
from tflkit.errors import SaturationWarning
from tflkit.running import RunProgress

MODEL = fixture_path("mlp_int8.tflite")


def _clipping() -> np.ndarray:
    """500 samples, about half of their values outside the [0, 1) the model is calibrated on."""
    return np.random.default_rng(0).random((500, 32), dtype=np.float32) * 2 - 0.5


def _run(*args: Any, **kwargs: Any) -> tuple[tflkit.RunResult, list[str]]:
    """The result, and the saturation warnings the run gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tflkit.run(*args, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, SaturationWarning)]


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files("tflkit").joinpath("schemas/run.schema.json").read_text()
    )
    return schema


def test_progress_never_changes_the_figures_of_a_batch() -> None:
    x = _clipping()
    plain, plain_warned = _run(MODEL, x)
    events: list[RunProgress] = []
    sliced, sliced_warned = _run(MODEL, x, progress=events.append)
    assert len(events) > 1 and [e.samples for e in events] == sorted(e.samples for e in events)
    assert events[-1] == RunProgress(500, 500)  # the progress bar was cut into slices
    assert sliced.samples == plain.samples == 500
    assert sliced.saturation == plain.saturation and plain.saturation["keras_tensor"] > 0.3
    # one warning each, with the whole run's figures: 500 x 32 values, not a slice's
    assert sliced_warned == plain_warned and len(plain_warned) == 1
    assert f"of {500 * 32} values" in plain_warned[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SaturationWarning)
        want = tflkit.Runner(MODEL).predict(x)
    assert plain.arrays is not None and sliced.arrays is not None
    np.testing.assert_array_equal(plain.arrays["output_0"], want)
    np.testing.assert_array_equal(sliced.arrays["output_0"], want)
    assert sliced.to_dict().keys() == plain.to_dict().keys()


def test_progress_never_changes_the_figures_of_shards(tmp_path: Path) -> None:
    x = _clipping()
    data = tmp_path / "x"
    data.mkdir()
    for i, part in enumerate(np.array_split(x, 3)):
        np.save(data / f"part{i}.npy", part)
    plain, plain_warned = _run(MODEL, data, batch_size=64)
    events: list[RunProgress] = []
    followed, followed_warned = _run(MODEL, data, batch_size=64, progress=events.append)
    assert events[-1] == RunProgress(500, None, 3, 3) and len(events) > 3
    assert followed.samples == plain.samples == 500 and followed.shards == 3
    in_memory, _ = _run(MODEL, x)
    assert followed.saturation == plain.saturation == in_memory.saturation
    # the warning counts every slice of every shard, as the batch in memory does
    assert followed_warned == plain_warned and plain_warned[0] in _run(MODEL, x)[1]


def test_run_result_is_the_run_json_document(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((20, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = tflkit.run(MODEL, tmp_path / "x.npy", output=tmp_path / "y.npz")
    doc = result.to_dict()
    jsonschema.validate(doc, _schema())
    assert doc["model"] == str(MODEL) and doc["samples"] == 20 and "shards" not in doc
    assert doc["outputs"] == [{"name": "output_0", "dtype": "float32", "shape": [20, 10]}]
    assert doc["output_path"] == str(tmp_path / "y.npz")
    with np.load(tmp_path / "y.npz") as saved:
        np.testing.assert_array_equal(saved["output_0"], tflkit.Runner(MODEL).predict(x))
    (o,) = result.outputs
    assert result.arrays is not None
    y = result.arrays["output_0"]
    assert (o.min, o.max, o.mean) == (float(y.min()), float(y.max()), float(y.mean(dtype="f8")))


def test_ray_needs_shards() -> None:
    with pytest.raises(tflkit.InputError, match="ray=True runs shards"):
        tflkit.run(MODEL, np.zeros((2, 32), np.float32), ray=True)

"""``tflkit run/compare --address`` against a real Ray cluster: a head node started with
``ray start --head`` on this machine (the command a cluster's head runs), then the CLI in a
fresh process, as on a laptop connecting to it. Its outputs are held to ``Runner.predict``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT

import tflkit

pytest.importorskip("ray.data")
RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if RAY is None:
        pytest.skip("no ray command")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = subprocess.run(
        [
            RAY,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_run_and_compare_on_a_cluster_by_address(head: str, tmp_path: Path) -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")
    data = tmp_path / "x"
    data.mkdir()
    for i, part in enumerate(np.array_split(x, 3)):
        np.save(data / f"part{i}.npy", part)
    model = str(FIXTURES / "mlp_int8.tflite")
    out = tmp_path / "out"
    proc = cli("run", model, "-i", str(data), "-o", str(out), "--address", head, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ray"] == {"address": head, "workers": 2} and doc["samples"] == len(x)
    runner = tflkit.Runner(model)
    for i, part in enumerate(np.array_split(x, 3)):
        np.testing.assert_array_equal(
            np.load(out / f"part{i}.npz")["output_0"], runner.predict(part)
        )
    whole = tflkit.compare([str(FIXTURES / "mlp_float32.tflite"), model], x, speed=False)
    proc = cli(
        "compare",
        str(FIXTURES / "mlp_float32.tflite"),
        model,
        "--data",
        str(data),
        "--address",
        head,
        "--no-speed",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)["models"][1]["outputs"][0]
    want = whole.models[1].outputs[0]
    assert got["rmse"] == pytest.approx(want.rmse, rel=1e-9)
    assert got["max_abs"] == pytest.approx(want.max_abs, rel=1e-9)

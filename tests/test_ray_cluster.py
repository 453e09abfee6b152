"""``tflkit run/compare --address`` against a real Ray cluster: a head node started with
``ray start --head`` on this machine (the command a cluster's head runs), then the CLI in a
fresh process, as on a laptop connecting to it. Its outputs are held to ``Runner.predict``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, Cli

import tflkit

pytest.importorskip("ray.data")
RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head node of its own: ``ray start --head --block`` in the foreground of a child
    process, stopped by ending that process (which stops what it started). Not ``ray stop``:
    that ends every Ray on the machine, a developer's own or another test run's."""
    if RAY is None:
        pytest.skip("no ray command")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("ray-head") / "head.log"
    # its own temp dir (short: Ray's sockets live there): `ray start` records the cluster it
    # started in <temp dir>/ray_current_cluster, and a stale record in /tmp/ray made later
    # ray.init() calls on this machine try to join a cluster that was gone
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                RAY,
                "start",
                "--head",
                f"--port={port}",
                "--num-cpus=2",
                f"--temp-dir={temp}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--block",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "ray start --head did not listen in 120 s"
            time.sleep(0.5)
        time.sleep(2)  # the raylet registers after the GCS listens
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)  # --block: stops the processes it started, then exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


def test_run_and_compare_on_a_cluster_by_address(head: str, tmp_path: Path, cli: Cli) -> None:
    no_address = {"RAY_ADDRESS": None}  # --address alone says where the cluster is
    x = np.load(FIXTURES / "mlp_eval_x.npy")
    data = tmp_path / "x"
    data.mkdir()
    for i, part in enumerate(np.array_split(x, 3)):
        np.save(data / f"part{i}.npy", part)
    model = str(FIXTURES / "mlp_int8.tflite")
    out = tmp_path / "out"
    proc = cli.invoke(
        "run", model, "-i", data, "-o", out, "--address", head, "--json",
        env=no_address, entry="cli.py",
    )  # fmt: skip
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ray"] == {"address": head, "workers": 2} and doc["samples"] == len(x)
    runner = tflkit.Runner(model)
    for i, part in enumerate(np.array_split(x, 3)):
        np.testing.assert_array_equal(
            np.load(out / f"part{i}.npz")["output_0"], runner.predict(part)
        )
    whole = tflkit.compare([str(FIXTURES / "mlp_float32.tflite"), model], x, speed=False)
    proc = cli.invoke(
        "compare",
        str(FIXTURES / "mlp_float32.tflite"),
        model,
        "--data",
        str(data),
        "--address",
        head,
        "--no-speed",
        "--json",
        env=no_address,
        entry="cli.py",
    )
    assert proc.exit_code == 0, proc.stderr
    got = json.loads(proc.stdout)["models"][1]["outputs"][0]
    want = whole.models[1].outputs[0]
    assert got["rmse"] == pytest.approx(want.rmse, rel=1e-9)
    assert got["max_abs"] == pytest.approx(want.max_abs, rel=1e-9)

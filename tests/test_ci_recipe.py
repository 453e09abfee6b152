"""The README's CI recipe runs as written: the workflow's YAML is parsed from the README and its
steps run, in a shell as GitHub Actions runs them, on a project made of the fixtures (the
int8 and float32 MLPs, their evaluation data) with the README's pytest example as its tests.

Truths: fixtures/MANIFEST.json (mlp_int8 is fully int8, mlp_float32 is not), the compare
schema, a model edited to differ from its snapshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from conftest import FIXTURES, MODELS, ROOT, edited

SECTION = (ROOT / "README.md").read_text().split("\n## tflkit in your tests and CI\n", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]


def readme_block(lang: str, first_line: str) -> str:
    """The README section's one ``lang`` block whose first line is ``first_line``."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", SECTION, re.M | re.S)
    found = [b for b in blocks if b.splitlines()[0] == first_line]
    assert len(found) == 1, (lang, first_line, blocks)
    return str(found[0])


def workflow() -> dict[str, Any]:
    text = readme_block("yaml", "# .github/workflows/models.yml")
    parsed = yaml.safe_load(text)
    assert isinstance(parsed, dict)
    return parsed


def _steps() -> list[dict[str, Any]]:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["models"]
    steps = jobs["models"]["steps"]
    assert isinstance(steps, list)
    return steps


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The repository the recipe assumes: models/, data/, pyproject.toml and tests/."""
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "tests").mkdir()
    shutil.copy(FIXTURES / "mlp_int8.tflite", root / "models" / "model_int8.tflite")
    shutil.copy(FIXTURES / "mlp_float32.tflite", root / "models" / "model_float32.tflite")
    shutil.copy(FIXTURES / "mlp_eval_x.npy", root / "data" / "x_val.npy")
    shutil.copy(FIXTURES / "mlp_eval_y.npy", root / "data" / "y_val.npy")
    (root / "pyproject.toml").write_text(readme_block("toml", "# pyproject.toml"))
    (root / "tests" / "test_models.py").write_text(readme_block("python", "# tests/test_models.py"))
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """`tflkit` and `pytest` on PATH, running this checkout (the plugin loaded by -p)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, module in (("tflkit", "tflkit"), ("pytest", "pytest -p tflkit.pytest_plugin")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
        shim.chmod(0o755)
    out = {k: v for k, v in os.environ.items() if k not in ("CI", "TFLKIT_UPDATE_SNAPSHOTS")}
    out.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(ROOT),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        COLUMNS="80",
        NO_COLOR="1",
    )
    return out


def _bash(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `run:` step as GitHub Actions runs it on Linux: `bash -e {0}` (plus pipefail)."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _run_steps(project: Path, env: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every `run:` step but the install, in order, with CI=true; results by step name."""
    ci = {**env, "CI": "true"}
    results = {}
    for step in _steps():
        command = step.get("run")
        if command is None:
            continue
        if command.startswith("pip install"):
            assert "tflkit[plot]" in command  # --plot needs matplotlib
            continue
        results[step.get("name", command)] = _bash(command, project, ci)
    return results


def test_the_workflow_has_the_expected_shape() -> None:
    steps = _steps()
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    upload = steps[-1]
    assert upload["if"] == "always()"  # the reports also when a check failed
    assert upload["with"]["path"] == "reports/"
    runs = [s["run"] for s in steps if "run" in s]
    assert sum("tflkit " in r for r in runs) == 3 and "pytest" in runs


def test_the_workflow_passes_on_the_fixtures(project: Path, env: dict[str, str]) -> None:
    assert MODELS["mlp_int8.tflite"]["fully_int8"]
    # what a user does once, locally, and commits: the model snapshots, the test snapshots
    wrote = _bash("tflkit snapshot models/*.tflite", project, env)
    assert wrote.returncode == 0, wrote.stderr
    first = _bash("pytest", project, env)
    assert first.returncode == 0, first.stdout
    assert "tflkit: 1 snapshot written" in first.stdout
    snap = project / "tests/__snapshots__/test_models/test_int8_model_keeps_its_contract.json"
    assert snap.is_file()

    results = _run_steps(project, env)
    for name, done in results.items():
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    assert (
        "tflkit: 1 snapshot matched"
        in results["Tests, where a missing snapshot fails (CI is set)"].stdout
    )

    reports = project / "reports"
    assert (reports / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = json.loads((reports / "compare.json").read_text())
    schema = json.loads((ROOT / "schemas" / "compare.schema.json").read_text())
    jsonschema.validate(document, schema)
    y = np.load(FIXTURES / "mlp_eval_y.npy")
    assert document["samples"] == len(y)
    assert [m["name"] for m in document["models"]] == ["model_float32", "model_int8"]


def _scaled_output(factor: float) -> bytes:
    def edit(m: Any) -> None:
        sg = m.subgraphs[0]
        q = sg.tensors[sg.outputs[0]].quantization
        q.scale = [float(np.float32(q.scale[0] * factor))]

    return edited("mlp_int8.tflite", edit)


def test_the_workflow_fails_where_it_should(project: Path, env: dict[str, str]) -> None:
    """No snapshots committed: the snapshot step and the tests fail in CI; a float model
    where the int8 one should be fails the check (MANIFEST: mlp_float32 is not fully int8)."""
    assert not MODELS["mlp_float32.tflite"]["fully_int8"]
    results = _run_steps(project, env)
    snapshot = results["Every model matches its snapshot"]
    assert snapshot.returncode == 1
    assert "MISSING    models/model_int8.tflite" in snapshot.stdout
    tests = results["Tests, where a missing snapshot fails (CI is set)"]
    assert tests.returncode == 1
    assert "no such snapshot, and snapshots are not written in CI" in tests.stdout
    assert not (project / "tests" / "__snapshots__").exists()

    assert _bash("tflkit snapshot models/*.tflite", project, env).returncode == 0
    (project / "models" / "model_int8.tflite").write_bytes(_scaled_output(1.5))
    changed = _run_steps(project, env)["Every model matches its snapshot"]
    assert changed.returncode == 1
    assert "CHANGED    models/model_int8.tflite" in changed.stdout

    shutil.copy(FIXTURES / "mlp_float32.tflite", project / "models" / "model_int8.tflite")
    check = _run_steps(project, env)["The shipped model is fully int8"]
    assert check.returncode == 1
    assert "FAIL  models/model_int8.tflite  profile int8" in check.stdout

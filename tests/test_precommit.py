"""The pre-commit hooks (.pre-commit-hooks.yaml) run for real by pre-commit on temporary git
repositories: `pre-commit try-repo` (the hooks as published) and `pre-commit run` with a
config that gives args.

The hooks are `language: python`: pre-commit pip-installs tflkit and its dependencies from
PyPI into a virtualenv of its own (about 40 s with a warm pip cache). The suite runs them as
`language: system` instead, every other key read from the real file, with `tflkit` on PATH
running this checkout: offline and in seconds. `TFLKIT_TEST_PRECOMMIT_INSTALL=1` also runs
the published hooks as they are (network: PyPI only). Truths: fixtures/MANIFEST.json
(fully_int8, fully_int8_allow_uint8_io) and a model edited to differ from its snapshot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import FIXTURES, MODELS, ROOT, edited

from tflkit.testing import write_snapshot

HOOKS = ROOT / ".pre-commit-hooks.yaml"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def _git_repo(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    _git(path, "init", "-q")
    _git(path, "config", "user.email", "tests@example.com")
    _git(path, "config", "user.name", "tests")
    _git(path, "config", "commit.gpgsign", "false")
    return path


def _hooks() -> list[dict[str, Any]]:
    hooks = yaml.safe_load(HOOKS.read_text())
    assert isinstance(hooks, list)
    return hooks


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """pre-commit's environment: its own home, and `tflkit` on PATH running this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tflkit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tflkit "$@"\n')
    shim.chmod(0o755)
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    out.update(
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(ROOT),
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        COLUMNS="80",
        NO_COLOR="1",
    )
    return out


@pytest.fixture
def hooks_repo(tmp_path: Path) -> Path:
    """A git repository holding the real hooks file with `language: system` (committed)."""
    repo = _git_repo(tmp_path / "hooks")
    hooks = _hooks()
    for hook in hooks:
        assert hook["language"] == "python"  # what users get: pre-commit installs tflkit
        hook["language"] = "system"
    (repo / ".pre-commit-hooks.yaml").write_text(yaml.safe_dump(hooks, sort_keys=False))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "hooks")
    return repo


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's repository with a passing and a failing model staged."""
    repo = _git_repo(tmp_path / "project")
    models = repo / "models"
    models.mkdir()
    shutil.copy(FIXTURES / "mlp_int8.tflite", models / "good.tflite")
    shutil.copy(FIXTURES / "mlp_float32.tflite", models / "float.tflite")
    (repo / "README.md").write_text("not a model\n")
    _git(repo, "add", ".")
    return repo


def _pre_commit(
    project: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _status(output: str, name: str) -> str:
    """pre-commit's verdict for a hook: its line is `name.....Passed` (or Failed, Skipped)."""
    lines = [line for line in output.splitlines() if line.startswith(name + ".")]
    assert len(lines) == 1, output
    return lines[0].split("...")[-1].strip(".")


def test_the_hooks_file_declares_both_hooks() -> None:
    hooks = {h["id"]: h for h in _hooks()}
    assert set(hooks) == {"tflkit-check", "tflkit-snapshot"}
    for hook in hooks.values():
        assert hook["files"] == r"\.tflite$"
        assert hook["language"] == "python"
    assert hooks["tflkit-check"]["entry"] == "tflkit check"
    assert hooks["tflkit-snapshot"]["entry"] == "tflkit snapshot --check"


def test_check_hook_fails_on_the_float_model(
    project: Path, hooks_repo: Path, env: dict[str, str]
) -> None:
    assert (
        MODELS["mlp_int8.tflite"]["fully_int8"] and not MODELS["mlp_float32.tflite"]["fully_int8"]
    )
    both = _pre_commit(project, env, "try-repo", str(hooks_repo), "tflkit-check")
    assert both.returncode == 1, both.stdout + both.stderr
    assert _status(both.stdout, "tflkit check") == "Failed"
    assert "- exit code: 1" in both.stdout
    assert "FAIL  models/float.tflite  profile int8" in both.stdout
    assert "PASS  models/good.tflite  profile int8" in both.stdout
    assert "README.md" not in both.stdout.split("tflkit check", 1)[1]  # only .tflite files

    _git(project, "rm", "-q", "--cached", "models/float.tflite")
    good = _pre_commit(project, env, "try-repo", str(hooks_repo), "tflkit-check")
    assert good.returncode == 0, good.stdout + good.stderr
    assert _status(good.stdout, "tflkit check") == "Passed"


def test_check_hook_takes_the_users_args(
    project: Path, hooks_repo: Path, env: dict[str, str]
) -> None:
    """cnn_uint8_io fails the int8 profile and passes it with --allow-uint8-io (MANIFEST)."""
    facts = MODELS["cnn_uint8_io.tflite"]
    assert not facts["fully_int8"] and facts["fully_int8_allow_uint8_io"]
    _git(project, "rm", "-q", "--cached", "models/float.tflite")
    shutil.copy(FIXTURES / "cnn_uint8_io.tflite", project / "models" / "cnn.tflite")
    _git(project, "add", "models/cnn.tflite")
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hooks_repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    def config(args: list[str]) -> None:
        hook = {"id": "tflkit-check", "args": args}
        repos = {"repos": [{"repo": str(hooks_repo), "rev": rev, "hooks": [hook]}]}
        (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(repos))

    config([])
    strict = _pre_commit(project, env, "run")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "FAIL  models/cnn.tflite  profile int8" in strict.stdout
    config(["--allow-uint8-io"])
    allowed = _pre_commit(project, env, "run")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert _status(allowed.stdout, "tflkit check") == "Passed"


def _scaled_output(factor: float) -> bytes:
    def edit(m: Any) -> None:
        sg = m.subgraphs[0]
        q = sg.tensors[sg.outputs[0]].quantization
        q.scale = [float(np.float32(q.scale[0] * factor))]

    return edited("mlp_int8.tflite", edit)


def test_snapshot_hook(project: Path, hooks_repo: Path, env: dict[str, str]) -> None:
    models = project / "models"
    _git(project, "rm", "-q", "-f", "models/float.tflite")
    write_snapshot(models / "good.tflite", models / "__snapshots__" / "good.json")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "a model and its snapshot")

    # nothing staged: nothing to check
    idle = _pre_commit(project, env, "try-repo", str(hooks_repo), "tflkit-snapshot")
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "no files to check" in idle.stdout

    same = _pre_commit(project, env, "try-repo", str(hooks_repo), "tflkit-snapshot", "--all-files")
    assert same.returncode == 0, same.stdout + same.stderr
    assert _status(same.stdout, "tflkit snapshot --check") == "Passed"

    (models / "good.tflite").write_bytes(_scaled_output(1.5))
    _git(project, "add", ".")
    changed = _pre_commit(project, env, "try-repo", str(hooks_repo), "tflkit-snapshot")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "CHANGED    models/good.tflite  models/__snapshots__/good.json" in changed.stdout
    # 0.00390625 * 1.5 = 0.005859375
    assert "scales 0.00390625 -> 0.00585938 (drift 50.00%)" in changed.stdout

    _git(project, "checkout", "-q", "HEAD", "--", "models/good.tflite")
    shutil.copy(FIXTURES / "mlp_float32.tflite", models / "new.tflite")
    _git(project, "add", ".")
    missing = _pre_commit(project, env, "try-repo", str(hooks_repo), "tflkit-snapshot")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "MISSING    models/new.tflite: no snapshot models/__snapshots__/new.json" in (
        missing.stdout
    )
    assert "tflkit snapshot models/new.tflite" in missing.stdout


@pytest.mark.skipif(
    os.environ.get("TFLKIT_TEST_PRECOMMIT_INSTALL") != "1",
    reason="installs tflkit from this checkout and its dependencies from PyPI (~40 s); "
    "set TFLKIT_TEST_PRECOMMIT_INSTALL=1",
)
def test_published_hooks_install_and_run(tmp_path: Path, project: Path) -> None:
    """The hooks as they are (language: python), from a committed copy of this checkout."""
    clone = tmp_path / "tflkit"
    shutil.copytree(
        ROOT,
        clone,
        ignore=shutil.ignore_patterns(".git", ".venv*", "__pycache__", "*.egg-info", "build"),
    )
    _git_repo(clone)
    _git(clone, "add", ".")
    _git(clone, "commit", "-q", "-m", "tflkit")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "home"), COLUMNS="80", NO_COLOR="1")
    env.pop("PYTHONPATH", None)
    done = _pre_commit(project, env, "try-repo", str(clone), "tflkit-check", timeout=1200)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  models/float.tflite  profile int8" in done.stdout
    assert "PASS  models/good.tflite  profile int8" in done.stdout


def test_the_readme_config_runs(project: Path, hooks_repo: Path, env: dict[str, str]) -> None:
    """The README's .pre-commit-config.yaml, with this repository's hooks at its place."""
    readme = (ROOT / "README.md").read_text().split("\n## tflkit in your tests and CI\n", 1)[1]
    blocks = re.findall(r"^```yaml\n(# \.pre-commit-config\.yaml\n.*?)^```", readme, re.M | re.S)
    assert len(blocks) == 1
    config = yaml.safe_load(blocks[0])
    (repo,) = config["repos"]
    assert [h["id"] for h in repo["hooks"]] == ["tflkit-check", "tflkit-snapshot"]
    repo["repo"] = str(hooks_repo)
    repo["rev"] = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hooks_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    models = project / "models"
    write_snapshot(models / "good.tflite", models / "__snapshots__" / "good.json")
    _git(project, "add", ".")

    both = _pre_commit(project, env, "run")  # good.tflite has a snapshot, float.tflite none
    assert both.returncode == 1, both.stdout + both.stderr
    assert _status(both.stdout, "tflkit check") == "Failed"
    assert _status(both.stdout, "tflkit snapshot --check") == "Failed"
    assert "FAIL  models/float.tflite  profile int8" in both.stdout
    assert "MISSING    models/float.tflite" in both.stdout

    _git(project, "rm", "-q", "-f", "models/float.tflite")
    good = _pre_commit(project, env, "run")
    assert good.returncode == 0, good.stdout + good.stderr
    assert _status(good.stdout, "tflkit check") == "Passed"
    assert _status(good.stdout, "tflkit snapshot --check") == "Passed"

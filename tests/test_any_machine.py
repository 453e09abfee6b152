"""The suite and the command line hold on any machine (issue 19, item 10): a checkout whose path
is 150 characters long, COLUMNS exported by the shell, `pytest -s` in a narrow terminal.

A copy of the checkout's files goes to a directory whose path is 150 characters long, and a few
CLI and human-output tests run there in a child pytest: once with COLUMNS=40 (and FORCE_COLOR,
TERM=dumb) exported, once with `-s` in a pseudo-terminal 60 columns wide, whose size rich would
read from fds 0-2 if the tests did not pin it. Then the command line itself on a model whose
path is that long: no path, name or number broken to fit 80 columns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, Cli

DEPTH = 150

# Tests that print human output or pinned no width before issue 19, and one that runs the
# checkout's cli.py in a child process.
TESTS = [
    "tests/test_cli.py::test_bench_human_output_and_errors",
    "tests/test_cli.py::test_run_writes_outputs_equal_to_the_runner",
    "tests/test_cli.py::test_inspect_human_output_fits_80_columns[mlp_int8_float_io.tflite]",
    "tests/test_cli.py::test_check_exit_codes_follow_the_manifest[mlp_float32.tflite]",
    "tests/test_human_output.py::test_check_of_a_float32_model_leads_with_one_summary_line",
    "tests/test_human_output.py::test_readme_check_example_is_the_output",
    "tests/test_targets.py::test_cli_target",
    "tests/test_blockwise.py::test_new_element_types_are_named_as_litert_names_them",
    "tests/test_batch_axis.py::test_a_passthrough_tensor_keeps_its_input_and_output_names",
    "tests/test_readme.py::test_documented_inspect_output_matches_the_fixture",
]
COPIED = ["tflkit", "fixtures", "tests", "schemas", "cli.py", "README.md", "pyproject.toml"]


def _deep_dir(base: Path, length: int = DEPTH) -> Path:
    """A directory under ``base`` whose path is ``length`` characters long (longer only if
    ``base`` already is)."""
    need = max(length - len(str(base)), 2)
    parts = -(-need // 41)  # "/" and at most 40 characters each
    sizes = [(need - parts) // parts] * parts
    sizes[0] += need - parts - sum(sizes)
    return base.joinpath(*("d" * k for k in sizes))


@pytest.fixture(scope="module")
def deep_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's files (as `git clone` gives them) at a path 150 characters long."""
    root = _deep_dir(tmp_path_factory.mktemp("deep"))
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_work", ".pytest_cache")
    for name in COPIED:
        src = ROOT / name
        if src.is_symlink():
            (root / name).symlink_to(os.readlink(src))
        elif src.is_dir():
            shutil.copytree(src, root / name, ignore=ignore)
        else:
            shutil.copy2(src, root / name)
    return root


def _child_env(checkout: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(checkout)  # the copy's tflkit, not the installed one
    env.update(extra)
    return env


def _pytest_argv(*options: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, *TESTS]


def _run_in_a_pty(argv: list[str], cwd: Path, env: dict[str, str], columns: int) -> tuple:
    """Run argv with fds 0-2 on a pseudo-terminal ``columns`` wide; (exit code, output)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=600), b"".join(chunks).decode("utf-8", "replace")


def test_cli_tests_pass_from_a_deep_checkout_with_columns_exported(deep_checkout: Path) -> None:
    assert len(str(deep_checkout)) >= DEPTH
    env = _child_env(deep_checkout, COLUMNS="40", FORCE_COLOR="1", TERM="dumb")
    where = subprocess.run(
        [sys.executable, "-c", "import tflkit; print(tflkit.__file__)"],
        cwd=deep_checkout, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where.stdout.startswith(str(deep_checkout)), where  # the copy is the one tested
    proc = subprocess.run(
        _pytest_argv(),
        cwd=deep_checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout[-4000:]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_cli_tests_pass_from_a_deep_checkout_with_s_in_a_narrow_terminal(
    deep_checkout: Path,
) -> None:
    env = _child_env(deep_checkout, TERM="xterm-256color")
    code, out = _run_in_a_pty(_pytest_argv("-s"), deep_checkout, env, columns=60)
    assert code == 0, out[-4000:]
    assert " passed" in out and "failed" not in out, out[-4000:]


# ---------------------------------------------------------------- the command line, long paths


@pytest.fixture(scope="module")
def long_paths(deep_checkout: Path) -> dict[str, Path]:
    """Two models and an input file at paths of more than 150 characters."""
    folder = deep_checkout / "data"
    folder.mkdir()
    np.save(folder / "x.npy", np.random.default_rng(0).random((8, 32), dtype=np.float32))
    for name in ("mlp_float32.tflite", "mlp_int8.tflite"):
        shutil.copy(FIXTURES / name, folder / name)
    return {p.stem: p for p in folder.iterdir()}


COMMANDS = {
    "inspect": ["inspect", "{mlp_int8}"],
    "check": ["check", "{mlp_float32}"],
    "check --target": ["check", "--target", "tflm", "{mlp_int8}"],
    "bench": ["bench", "{mlp_int8}", "--seconds", "0.05"],
    "run": ["run", "{mlp_int8}", "-i", "{x}"],
    "compare --data": ["compare", "{mlp_float32}", "{mlp_int8}", "-d", "{x}", "--no-speed"],
    "diff": ["diff", "{mlp_float32}", "{mlp_int8}"],
}


@pytest.mark.parametrize(("name", "args"), list(COMMANDS.items()), ids=list(COMMANDS))
def test_a_long_path_is_not_broken_to_fit(
    name: str, args: list[str], long_paths: dict[str, Path], cli: Cli
) -> None:
    argv = [a.format(**long_paths) for a in args]
    assert all(len(a) > 150 for a in argv if a.startswith(os.sep))
    result = cli.invoke(*argv)
    assert result.exit_code in (0, 1), result.stderr
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert not result.broken, result.broken

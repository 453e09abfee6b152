"""The README's commands and code run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Cli

README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.M | re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"^```bash\n(.*?)^```", section, re.M | re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    install, tests = commands
    assert install.startswith("pip install . && tflkit inspect fixtures/")
    model = install.split()[-1]
    assert (ROOT / model).is_file()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


# every python block but the plugin's fixtures (tests/test_ci_recipe.py runs that one), each its
# own test so that the two workers share them; the ones that start Ray apart (their xdist group
# keeps them off the worker that snapshots /dev/shm: tests/conftest.py XDIST_GROUPS)
_EXAMPLES = [
    (f"block{k}", code) for k, code in enumerate(_blocks("python")) if "tflkit_model" not in code
]
_RAY = [(name, code) for name, code in _EXAMPLES if re.search(r"^import ray\b", code, re.M)]
_NOT_RAY = [(name, code) for name, code in _EXAMPLES if (name, code) not in _RAY]


def _runs(code: str) -> None:
    if "def test_" in code:  # a pytest example: run its tests too
        code += "\nfor _n, _f in list(globals().items()):\n    if _n.startswith('test_'): _f()\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{code}\n{proc.stderr}"


@pytest.mark.parametrize("code", [c for _, c in _NOT_RAY], ids=[n for n, _ in _NOT_RAY])
def test_python_examples_run(code: str) -> None:
    _runs(code)


@pytest.mark.parametrize("code", [c for _, c in _RAY], ids=[n for n, _ in _RAY])
def test_python_ray_examples_run(code: str) -> None:
    _runs(code)


def test_the_python_examples_are_found() -> None:
    assert len(_EXAMPLES) >= 10 and _RAY  # the split above saw the README's blocks


def test_documented_inspect_output_matches_the_fixture(cli: Cli) -> None:
    proc = cli.invoke("inspect", "fixtures/mlp_int8.tflite", entry="cli.py")  # in the checkout
    assert proc.exit_code == 0, proc.stderr
    console = re.search(
        r"```console\n\$ tflkit inspect fixtures/mlp_int8.tflite\n(.*?)```", README, re.S
    )
    assert console is not None
    documented = [line.rstrip() for line in console.group(1).splitlines()]
    actual = [line.rstrip() for line in proc.stdout.splitlines()]
    assert documented == actual


def test_documented_check_output_matches_the_fixture(cli: Cli) -> None:
    console = re.search(
        r"```console\n\$ tflkit check fixtures/add_blockwise_int8.tflite\n(.*?)```", README, re.S
    )
    assert console is not None
    proc = cli.invoke("check", "fixtures/add_blockwise_int8.tflite", entry="cli.py")
    assert proc.exit_code == 1, proc.stderr
    documented = [line.rstrip() for line in console.group(1).splitlines()]
    assert documented == [line.rstrip() for line in proc.stdout.splitlines()]


def test_documented_compare_output_matches_the_fixtures(cli: Cli) -> None:
    """The size and accuracy tables of the README's example (speed varies, so it is left out)."""
    console = re.search(r"```console\n(reference  mlp_float32\n.*?)```", README, re.S)
    assert console is not None
    documented = console.group(1).splitlines()
    command = re.search(r"```bash\n(tflkit compare .*?)```", README, re.S)
    assert command is not None
    args = command.group(1).replace("\\\n", " ").split()[2:]
    args = [a for a in args if not a.endswith(".png") and a != "--plot"]
    proc = cli.invoke("compare", *args, "--no-speed", entry="cli.py")
    assert proc.exit_code == 0, proc.stderr
    actual = {line.rstrip() for line in proc.stdout.splitlines()}
    start = next(i for i, line in enumerate(documented) if line.startswith("Speed"))
    end = next(i for i, line in enumerate(documented) if line.startswith("Output "))
    kept = documented[:start] + documented[end:]
    missing = [line for line in kept if line.rstrip() and line.rstrip() not in actual]
    assert not missing, missing


def test_documented_selective_search_matches_the_fixture(cli: Cli, tmp_path: Path) -> None:
    """The "When int8 loses too much accuracy" example: the search's table as documented
    (invoke times vary: that column is left out)."""
    section = README.split("## When int8 loses too much accuracy", 1)[1]
    command = re.search(r"```bash\n(tflkit convert .*?)```", section, re.S)
    console = re.search(r"```console\n(Search .*?)```", section, re.S)
    assert command is not None and console is not None
    args = command.group(1).replace("\\\n", " ").split()[2:]
    args = [str(tmp_path / a) if a.endswith(".tflite") and "/" not in a else a for a in args]
    proc = cli.invoke("convert", *args, entry="cli.py", width=80)
    assert proc.exit_code == 0, proc.stderr

    def without_times(lines: list[str]) -> list[list[str]]:
        rows = []
        for line in lines:
            words = line.split()
            if len(words) >= 8 and words[-1] in ("yes", "no"):  # a step row
                del words[-2]
            rows.append(words)
        return rows

    documented = console.group(1).splitlines()
    actual = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(actual) if line.startswith("Search ("))
    assert without_times(actual[start : start + len(documented)]) == without_times(documented)

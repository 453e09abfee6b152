"""``check --estimate`` / ``check(..., estimate=True)``: Vela's own figures.

The truth is Vela run by hand on the same fixture (``run_vela_many`` / ``_run_vela`` of
test_target_ethos_u.py, the suite's one way of running it): its summary CSV read here with
the csv module (memory in KiB, as Vela writes it), the "CPU operators" / "NPU operators"
lines of its network summary, and the model it writes (the operators it leaves to the CPU).
A Vela that is not installed is simulated in a child process whose import system refuses
``ethosu``.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import FIXTURES, ROOT, Cli, need_fixture
from test_target_ethos_u import ACCELERATORS, VelaRun, _run_vela, run_vela_many

import tflkit
from tflkit.errors import InputError, TflkitError

pytest.importorskip("ethosu.vela")

CASES = [
    ("eu_float_island.tflite", "ethos-u55"),  # NPU and CPU parts, weights in flash
    ("mlp_int8.tflite", "ethos-u65"),  # weights in DRAM
    ("eu_stride4.tflite", "ethos-u85"),
]


def _check_schema() -> dict[str, Any]:
    return dict(json.loads((ROOT / "tflkit" / "schemas" / "check.schema.json").read_text()))


@pytest.fixture(scope="module")
def by_hand(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[VelaRun, Path]]:
    """Vela on each case, run once: the run and its output directory."""
    out = tmp_path_factory.mktemp("vela_by_hand")
    jobs = [(need_fixture(name), target, out / target / Path(name).stem) for name, target in CASES]
    runs = run_vela_many(jobs, processes=2)
    return {case: (run, d) for case, (_, _, d), run in zip(CASES, jobs, runs, strict=True)}


def _csv_row(directory: Path) -> dict[str, str]:
    (path,) = directory.glob("*_summary_*.csv")
    with open(path, newline="") as f:
        (row,) = list(csv.DictReader(f))
    return row


@pytest.mark.parametrize(("name", "target"), CASES)
def test_figures_are_vela_own(
    by_hand: dict[tuple[str, str], tuple[VelaRun, Path]], name: str, target: str
) -> None:
    run, directory = by_hand[(name, target)]
    assert run.returncode == 0, run.log
    row = _csv_row(directory)
    report = tflkit.check(FIXTURES / name, target=target, estimate=True)
    e = report.estimate
    assert e is not None and report.estimate_note is None
    assert e.accelerator == ACCELERATORS[target]
    assert row["accelerator_configuration"].lower().replace("_", "-") == e.accelerator
    assert (e.system_config, e.memory_mode) == (row["system_config"], row["memory_mode"])
    assert e.system_config in run.log and e.memory_mode in run.log  # Vela's defaults, named
    assert e.clock_hz == float(row["core_clock"])
    assert e.cycles == float(row["cycles_total"]) > 0
    assert e.npu_cycles == float(row["cycles_npu"])
    assert e.inference_seconds == pytest.approx(e.cycles / e.clock_hz, rel=1e-3)  # by hand
    assert e.macs == int(row["nn_macs"])
    assert e.sram_bytes == float(row["sram_memory_used"]) * 1024
    assert e.dram_bytes == float(row["dram_memory_used"]) * 1024
    flash = float(row["on_chip_flash_memory_used"]) + float(row["off_chip_flash_memory_used"])
    assert e.flash_bytes == flash * 1024
    assert e.sram_bytes + e.dram_bytes + e.flash_bytes > 0
    counts = {k: int(v) for k, v in re.findall(r"^(CPU|NPU) operators = (\d+)", run.log, re.M)}
    assert (e.npu_operators, e.cpu_operators) == (counts["NPU"], counts["CPU"])
    # the operators Vela's written model leaves to the CPU (these models: no rewrite of them)
    assert e.cpu_operators == sum(run.cpu.values())
    assert e.vela_version == _vela_version()
    # the check itself is tflkit's, as without the estimate
    assert report.passed == tflkit.check(FIXTURES / name, target=target).passed


def _vela_version() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ethosu.vela", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.strip()


def test_json_validates_and_a_model_vela_refuses_has_a_note(cli: Cli, tmp_path: Path) -> None:
    """tflm_select_int32: Vela itself exits non-zero (its reason: NotEqual); the estimate is
    null with Vela's reason, the other model's estimate is there, exit code tflkit's (1)."""
    refused = need_fixture("tflm_select_int32.tflite")
    run = _run_vela(refused, "ethos-u55", tmp_path / "refused")
    assert run.returncode != 0 and "NotEqual" in run.log
    result = cli.invoke(
        "check", "--target", "ethos-u55", "--estimate", "--json",
        "fixtures/mlp_int8.tflite", "fixtures/tflm_select_int32.tflite", cwd=ROOT,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    docs = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_check_schema()).validate(docs)
    good, bad = docs
    assert good["estimate"]["tool"] == "vela" and good["estimate_note"] is None
    assert good["estimate"]["accelerator"] == "ethos-u55-128"
    assert bad["estimate"] is None
    note = bad["estimate_note"]
    assert "\n" not in note and note.startswith("Vela ") and "cannot compile the model" in note
    assert "NotEqual" in note
    assert bad["passed"] is False and bad["violations"]  # the check stands


def test_without_estimate_no_fields(cli: Cli) -> None:
    result = cli.invoke(
        "check", "--target", "ethos-u55", "--json", "fixtures/mlp_int8.tflite", cwd=ROOT
    )
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert "estimate" not in doc and "estimate_note" not in doc


def test_timeout_leaves_the_check_standing(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from tflkit.targets import _vela

    monkeypatch.setattr(_vela, "TIMEOUT", 0.001)
    result = cli.invoke(
        "check", "--target", "ethos-u55", "--estimate", "fixtures/mlp_int8.tflite", cwd=ROOT
    )
    assert result.exit_code == 0, result.output  # mlp_int8 passes on ethos-u55
    text = " ".join(result.stdout.split())  # a long note wraps between words
    assert (
        f"no Vela estimate: Vela {_vela_version()} (ethos-u55-128) did not finish within 0.001 s"
        in text
    )


def test_human_output_fits_and_names_vela(cli: Cli) -> None:
    result = cli.invoke(
        "check", "--target", "ethos-u65", "--estimate", "fixtures/mlp_int8.tflite", cwd=ROOT
    )
    assert result.exit_code == 0, result.output
    assert not result.wrapped
    lines = result.stdout.splitlines()
    head = next(x for x in lines if "estimate" in x)
    assert head.strip().startswith(f"Vela {_vela_version()} estimate (ethos-u65-256)")
    assert all(len(x) <= 80 for x in lines)


def test_readme_shows_the_output(cli: Cli) -> None:
    readme = (ROOT / "README.md").read_text()
    command = "tflkit check fixtures/mlp_int8.tflite --target ethos-u55 --estimate"
    block = re.search(rf"```console\n\$ {re.escape(command)}\n(.*?)```", readme, re.S)
    assert block is not None
    result = cli.invoke(*command.split()[1:], cwd=ROOT)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == block.group(1).splitlines()


def test_estimate_needs_an_ethos_u_target(cli: Cli) -> None:
    for args in (["--target", "tflm"], []):
        result = cli.invoke("check", *args, "--estimate", "fixtures/mlp_int8.tflite", cwd=ROOT)
        assert result.exit_code == 2
        assert (
            result.stderr.count("\n") == 1
            and "--estimate needs --target ethos-u55" in result.stderr
        )
        assert "Traceback" not in result.stderr
    with pytest.raises(InputError, match="estimate=True needs target="):
        tflkit.check(FIXTURES / "mlp_int8.tflite", target="xnnpack", estimate=True)


# A child whose import system refuses ``ethosu`` (as if ethos-u-vela were not installed).
_BLOCK = """
import sys
class _NoVela:
    def find_spec(self, name, path=None, target=None):
        if name == "ethosu" or name.startswith("ethosu."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _NoVela())
"""


def _child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**_env(), "PYTHONPATH": str(ROOT)},
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}


def test_without_vela_one_line_with_the_install_command() -> None:
    cli = (
        "sys.argv = ['tflkit', 'check', '--target', 'ethos-u55', '--estimate', "
        "'fixtures/mlp_int8.tflite']\n"
        "from tflkit.cli import main\nmain()\n"
    )
    done = _child(cli)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "pip install 'tflkit[vela]'" in done.stderr
    library = (
        "import tflkit\n"
        "try:\n"
        "    tflkit.check('fixtures/mlp_int8.tflite', target='ethos-u85', estimate=True)\n"
        "except tflkit.TflkitError as exc:\n"
        "    print(exc)\n"
    )
    done = _child(library)
    assert done.returncode == 0, done.stderr
    assert "pip install 'tflkit[vela]'" in done.stdout
    # and the check without the estimate does not need Vela
    done = _child(
        "import tflkit\n"
        "print(tflkit.check('fixtures/mlp_int8.tflite', target='ethos-u55').passed)\n"
    )
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_no_vela_import_without_estimate() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['tflkit', 'check', '--target', 'ethos-u55', 'fixtures/mlp_int8.tflite']\n"
        "from tflkit.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ethosu'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**_env(), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_library_errors_are_tflkit_errors() -> None:
    from tflkit.targets._vela import vela_estimate

    model = tflkit.load(FIXTURES / "mlp_int8.tflite")
    with pytest.raises(InputError):
        vela_estimate(model, "tflm")
    assert issubclass(InputError, TflkitError)
    # bytes work as a path does: the copy in the temporary directory is the same model
    from_bytes = tflkit.check(
        (FIXTURES / "mlp_int8.tflite").read_bytes(), target="ethos-u55", estimate=True
    )
    from_path = tflkit.check(FIXTURES / "mlp_int8.tflite", target="ethos-u55", estimate=True)
    assert from_bytes.estimate == from_path.estimate is not None

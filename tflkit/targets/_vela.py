"""Vela's own estimates for an Ethos-U target: the compiler run on a copy of the model.

tflkit's placement (``ethos_u.py``) is the fast default and imports nothing of Vela. With
``check(..., estimate=True)`` the ``ethos-u-vela`` package (the ``[vela]`` extra) compiles the
model in a child process (``python -m ethosu.vela`` of the same interpreter), in a temporary
directory, with a timeout: a model that crashes or hangs the compiler costs the caller nothing
but the note. Figures come from the summary CSV Vela writes (``<model>_summary_<system
config>.csv``, ``stats_writer.write_summary_metrics_csv_common`` in Vela 5.2.0); only the
operator counts, which that file lacks, come from the two lines of its network summary
(``print_performance_metrics_common``: ``CPU operators = 3 (42.9%)``), checked against the
CSV's ``passes_before_fusing`` (their sum, in ``print_regor_performance_metrics``).

Vela runs with its default system config and memory mode for the accelerator (its
``Arm/vela.ini``); the estimate names them.
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tflkit.errors import InputError, TflkitError, UnsupportedModelError
from tflkit.model import Model
from tflkit.report import VelaEstimate

__all__ = [
    "ACCELERATORS",
    "MISSING",
    "TIMEOUT",
    "require_vela",
    "vela_estimate",
    "vela_version",
]

#: tflkit target -> Vela's ``--accelerator-config``: the MAC configurations of Arm's Corstone
#: reference designs (Corstone-300: U55-128, Corstone-310 / U65-256, Corstone-320: U85-256).
ACCELERATORS: dict[str, str] = {
    "ethos-u55": "ethos-u55-128",
    "ethos-u65": "ethos-u65-256",
    "ethos-u85": "ethos-u85-256",
}
#: Seconds Vela may take on one model before the estimate is given up.
TIMEOUT = 600.0
MISSING = "Vela's estimates need ethos-u-vela: pip install 'tflkit[vela]'"

_COUNT = re.compile(r"^(CPU|NPU) operators = (\d+)\b", re.MULTILINE)
_EXCEPTION = re.compile(r"^(?:[\w.]+(?:Error|Exception)): (.+)$")


def vela_version() -> str | None:
    """The installed ``ethos-u-vela`` version, or None when Vela is not installed. Imports
    nothing of Vela (``ethosu`` is a namespace package: finding ``ethosu.vela`` runs no code)."""
    import importlib.metadata
    import importlib.util

    try:
        if importlib.util.find_spec("ethosu.vela") is None:
            return None
    except (ImportError, ValueError):  # a broken or blocked ``ethosu``
        return None
    try:
        return importlib.metadata.version("ethos-u-vela")
    except importlib.metadata.PackageNotFoundError:  # a source checkout on sys.path
        return "unknown"


def require_vela() -> str:
    """The Vela version; TflkitError with the install command when Vela is not installed."""
    version = vela_version()
    if version is None:
        raise TflkitError(MISSING)
    return version


def _copy_model(model: Model, dest: Path) -> None:
    from tflkit._files import open_regular
    from tflkit.loader import interpreter_source

    source = interpreter_source(model)
    if isinstance(source, bytes):
        dest.write_bytes(source)
        return
    with open_regular(source, "model") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _why(stderr: str) -> str:
    """Vela's reason in one line: the exception's message, else its last line of output."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip()]
    for line in reversed(lines):
        m = _EXCEPTION.match(line)
        if m:
            return m[1]
    return lines[-1] if lines else "no output"


def _kib(row: dict[str, str], key: str) -> int:
    return round(float(row[key]) * 1024)  # Vela writes bytes / 1024.0 (a column gone: KeyError)


def vela_estimate(model: Model, target: str, *, timeout: float | None = None) -> VelaEstimate:
    """Compile ``model`` for ``target`` with Vela and read Vela's figures.

    Args:
        model: a loaded model (``tflkit.load``); its file or bytes are copied into a
            temporary directory, which is removed afterwards.
        target: ``"ethos-u55"``, ``"ethos-u65"`` or ``"ethos-u85"`` (``ACCELERATORS``).
        timeout: seconds before Vela is stopped (default ``TIMEOUT``, read at the call).

    Returns:
        A VelaEstimate: cycles, inference time at Vela's configured clock, SRAM, DRAM and
        flash used, NPU / CPU operator counts, with the system config and memory mode used.

    Raises:
        InputError: ``target`` is not an Ethos-U target.
        TflkitError: Vela is not installed (the message has the install command).
        UnsupportedModelError: Vela did not compile the model (its reason, a crash or the
            timeout, in one line).

    Example:
        >>> e = vela_estimate(tflkit.load("fixtures/mlp_int8.tflite"), "ethos-u55")
        >>> e.cycles, e.clock_hz, e.sram_bytes, e.flash_bytes  # Vela 5.2.0
        (4585, 500000000, 320, 4784)
    """
    accelerator = ACCELERATORS.get(target)
    if accelerator is None:
        raise InputError(
            f"Vela's estimates are for target={' or '.join(map(repr, ACCELERATORS))}, "
            f"got {target!r}"
        )
    version = require_vela()
    timeout = TIMEOUT if timeout is None else timeout
    what = f"Vela {version} ({accelerator})"  # the model is the report's: not repeated
    with tempfile.TemporaryDirectory(prefix="tflkit-vela-") as tmp:
        work = Path(tmp)
        network = work / "model.tflite"  # one plain name: Vela names its outputs after it
        _copy_model(model, network)
        cmd = [sys.executable, "-m", "ethosu.vela", "--accelerator-config", accelerator]
        cmd += ["--output-dir", str(work / "out"), str(network)]
        try:
            done = subprocess.run(
                cmd,
                cwd=work,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise UnsupportedModelError(f"{what} did not finish within {timeout:g} s") from None
        if done.returncode < 0:
            try:
                name = signal.Signals(-done.returncode).name
            except ValueError:
                name = f"signal {-done.returncode}"
            raise UnsupportedModelError(f"{what} crashed ({name})")
        if done.returncode != 0:
            reason = _why(done.stderr or done.stdout)
            raise UnsupportedModelError(f"{what} cannot compile the model: {reason}")
        found = sorted((work / "out").glob("model_summary_*.csv"))
        if not found:
            raise UnsupportedModelError(f"{what} wrote no summary CSV")
        with open(found[0], newline="") as f:
            rows = list(csv.DictReader(f))
    if len(rows) != 1:
        raise UnsupportedModelError(f"{what}: summary CSV has {len(rows)} rows, expected 1")
    return _estimate(rows[0], done.stdout, version, accelerator, what)


def _estimate(
    row: dict[str, str], stdout: str, version: str, accelerator: str, what: str
) -> VelaEstimate:
    counts = dict(_COUNT.findall(stdout))
    try:
        npu, cpu = int(counts["NPU"]), int(counts["CPU"])
        passes = int(row["passes_before_fusing"])
        estimate = VelaEstimate(
            vela_version=version,
            accelerator=accelerator,
            system_config=row["system_config"],
            memory_mode=row["memory_mode"],
            clock_hz=round(float(row["core_clock"])),
            cycles=round(float(row["cycles_total"])),
            npu_cycles=round(float(row["cycles_npu"])),
            inference_seconds=float(row["inference_time"]),
            macs=round(float(row["nn_macs"])),
            sram_bytes=_kib(row, "sram_memory_used"),
            dram_bytes=_kib(row, "dram_memory_used"),
            flash_bytes=_kib(row, "on_chip_flash_memory_used")
            + _kib(row, "off_chip_flash_memory_used"),
            npu_operators=npu,
            cpu_operators=cpu,
        )
    except (KeyError, ValueError) as exc:  # another Vela's CSV or summary
        raise UnsupportedModelError(f"{what}: unexpected summary ({exc})") from None
    if npu + cpu != passes:  # Vela's CSV counts the same operators
        raise UnsupportedModelError(
            f"{what}: {npu} NPU + {cpu} CPU operators, but the CSV has {passes}"
        )
    return estimate

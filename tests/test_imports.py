"""`import tflkit` and `tflkit inspect` never import TensorFlow or the LiteRT runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT

HEAVY = ("tensorflow", "ai_edge_litert", "keras", "jax", "torch", "matplotlib")


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return {line.split(".")[0] for line in proc.stdout.splitlines()}


def test_import_tflkit_is_light() -> None:
    loaded = _modules_after("import tflkit")
    assert not loaded & set(HEAVY)


@pytest.mark.parametrize(
    "args", [["inspect", "--tensors"], ["check", "--strict"], ["compare", "--help"], ["--help"]]
)
def test_inspect_and_check_are_light(args: list[str]) -> None:
    model = FIXTURES / "mlp_int8.tflite"
    argv = args if "--help" in args else [*args, str(model)]
    code = (
        "import sys, io, contextlib\n"
        "from tflkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
    )
    loaded = _modules_after(code)
    assert "tflkit" in loaded
    assert not loaded & set(HEAVY)
    # tflkit reads the flatbuffer itself: the tflite package's ~190 modules, flatbuffers
    # and numpy are most of what `inspect` would otherwise spend
    assert not loaded & {"tflite", "flatbuffers"}


@pytest.mark.parametrize("args", [["inspect", "--json"], ["inspect", "--tensors"]])
def test_inspect_imports_no_numpy(args: list[str]) -> None:
    code = (
        "import io, contextlib\n"
        "from tflkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({[*args, str(FIXTURES / 'mlp_int8.tflite')]!r})\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
    )
    loaded = _modules_after(code)
    assert "tflkit" in loaded and "numpy" not in loaded


def test_public_api_is_listed() -> None:
    import tflkit

    assert set(dir(tflkit)) == set(tflkit.__all__)
    for name in tflkit.__all__:
        assert getattr(tflkit, name) is not None

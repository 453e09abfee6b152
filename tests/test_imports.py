"""`import tflkit`, `tflkit inspect` and `tflkit check` never import TensorFlow or the LiteRT
runtime; `import tflkit` does not even import the `tflite` bindings (they come with the first
load)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT

HEAVY = (
    "tensorflow",
    "ai_edge_litert",
    "keras",
    "tf_keras",
    "litert_quantizer",
    "jax",
    "torch",
    "matplotlib",
    "ray",
)


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
    # the reader (tflite's ~190 modules, flatbuffers, numpy) is imported by the first load
    assert not loaded & {"tflite", "flatbuffers", "numpy"}


def test_load_imports_the_tflite_bindings_but_not_the_runtime() -> None:
    loaded = _modules_after(f"import tflkit; tflkit.load({str(FIXTURES / 'mlp_int8.tflite')!r})")
    assert {"tflite", "flatbuffers"} <= loaded  # the founding decision: the bindings read
    assert not loaded & set(HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "--tensors"],
        ["check", "--strict"],
        ["compare", "--help"],
        ["convert", "--help"],
        ["run", "--help"],
        ["--help"],
    ],
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


def test_only_the_interpreter_module_imports_the_runtime() -> None:
    """``tflkit/_interpreter.py`` is the one module that names ai_edge_litert (STYLE.md)."""
    importers = set()
    for path in (ROOT / "tflkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] == "ai_edge_litert" for name in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"tflkit/_interpreter.py"}


def test_public_api_is_listed() -> None:
    import tflkit

    assert set(dir(tflkit)) == set(tflkit.__all__)
    for name in tflkit.__all__:
        assert getattr(tflkit, name) is not None


def test_inspect_json_imports_neither_typer_nor_rich() -> None:
    """`tflkit inspect --json MODEL` (the command scripts run per file) skips the typer app."""
    code = (
        "import io, contextlib\n"
        "from tflkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main(['inspect', '--json', {str(FIXTURES / 'mlp_int8.tflite')!r}])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
    )
    loaded = _modules_after(code)
    assert "tflkit" in loaded and "tflite" in loaded
    assert not loaded & {"typer", "click", "rich", *HEAVY}


def test_every_subpackage_is_packaged() -> None:
    # `pip install .` (the Quick start) ships only what pyproject.toml names: a subpackage left
    # out imports in an editable checkout and fails after a real install
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = config["packages"]["find"]["include"]
    packages = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tflkit").rglob("__init__.py")
    }
    assert packages >= {"tflkit", "tflkit.cli", "tflkit.targets"}
    for package in packages:
        assert any(fnmatch.fnmatch(package, pattern) for pattern in include), package


def test_ray_missing_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['ray'] = None; sys.modules['ray.data'] = None\n"
        "import tflkit\n"
        "try:\n"
        "    tflkit.ray.predict(None, 'm.tflite', batch_size=1, concurrency=1)\n"
        "except tflkit.TflkitError as e:\n"
        "    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "pip install 'tflkit[ray]'" in proc.stdout, proc.stderr

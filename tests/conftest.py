"""Shared test helpers: fixture paths, the manifest, the LiteRT interpreter as ground truth, and
the command line on a fixed terminal (the `cli` fixture)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "MANIFEST.json").read_text())
MODELS: dict[str, dict[str, Any]] = MANIFEST["models"]
ALL_FIXTURES = sorted(MODELS)


def fixture_path(name: str) -> Path:
    return FIXTURES / name


def has_fixture(name: str) -> bool:
    return name in MODELS and (FIXTURES / name).exists()


def need_fixture(name: str) -> Path:
    """The fixture's path; skip the test when build.py recorded it as skipped."""
    if not has_fixture(name):
        reasons = {s["name"]: s["why"] for s in MANIFEST.get("skipped", [])}
        pytest.skip(f"fixture {name} not built: {reasons.get(name, 'not in MANIFEST.json')}")
    return FIXTURES / name


def litert_interpreter(path: Path | str | bytes) -> Any:
    """A LiteRT interpreter on the file, or None if the runtime refuses it (Flex ops)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        if isinstance(path, bytes):
            return Interpreter(model_content=path)
        return Interpreter(model_path=str(path))
    except (RuntimeError, ValueError):
        return None


def np_dtype_name(dtype: Any) -> str:
    """numpy dtype (as the interpreter reports it) -> lower-case TFLite type name."""
    return np.dtype(dtype).name


@pytest.fixture(params=ALL_FIXTURES)
def fixture_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def edited(name: str, edit: Any) -> bytes:
    """The fixture's bytes after ``edit(model_object)`` (LiteRT's flatbuffer object API)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray((FIXTURES / name).read_bytes()))
    edit(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def close(a: float | None, b: float | None) -> bool:
    """Two metrics equal to 1e-9 (relative): summed in another order, as merged tallies are;
    None only equals None, an infinity only itself."""
    if a is None or b is None:
        return a is b
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# ---------------------------------------------------------------- the command line
# Every CLI test goes through the `cli` fixture: one terminal for every machine (80 x 25, no
# colour), whatever the shell exported (COLUMNS=40, FORCE_COLOR, TERM=dumb) and whatever fds 0-2
# are (`pytest -s` in a narrow terminal: rich asks os.get_terminal_size on stdin, stdout and
# stderr when COLUMNS and LINES do not tell it the size).

TERMINAL = {"COLUMNS": "80", "LINES": "25", "NO_COLOR": "1"}
# What would make rich or click see another terminal: colour or a tty forced on, a "dumb"
# terminal (rich then fixes the size at 80 x 25, whatever COLUMNS says), Jupyter's own size.
NOT_THE_TERMINAL = (
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERM",
    "COLORTERM",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
)


def terminal_env(
    env: Mapping[str, str | None] | None = None, width: int | None = None
) -> dict[str, str | None]:
    """The variables a command line runs with: the fixed terminal, then ``width`` (COLUMNS)
    and ``env`` on top; None removes a variable."""
    out: dict[str, str | None] = dict.fromkeys(NOT_THE_TERMINAL)
    out.update(TERMINAL)
    if width is not None:
        out["COLUMNS"] = str(width)
    out.update(env or {})
    return out


class Wrap(NamedTuple):
    """A text rich had to break over lines, or cut, to fit ``width`` cells."""

    text: str
    width: int
    broken: bool  # a word (name, number, path: no space to break at) broken or cut


@contextlib.contextmanager
def recording_wraps() -> Iterator[list[Wrap]]:
    """Every text rich breaks or cuts while the block runs.

    Rich wraps what does not fit instead of overflowing, so "every line <= 80 columns" holds
    whatever is printed; what tells a designed layout from an accident is whether rich had to
    break something. It breaks text in exactly one place, ``Text.wrap``, for paragraphs and
    table cells alike.
    """
    from rich.cells import cell_len
    from rich.text import Text

    wraps: list[Wrap] = []
    text_wrap = Text.wrap

    def wrap(self: Any, console: Any, width: int, **kwargs: Any) -> Any:
        lines = text_wrap(self, console, width, **kwargs)
        given = self.plain.split("\n")
        too_long = [line for line in given if cell_len(line) > width]
        if len(lines) > len(given) or too_long:
            no_wrap = kwargs.get("no_wrap")
            no_wrap = self.no_wrap if no_wrap is None else no_wrap
            broken = bool(no_wrap and too_long) or any(
                cell_len(word) > width for line in too_long for word in line.split()
            )
            wraps.append(Wrap(self.plain, width, broken))
        return lines

    Text.wrap = wrap  # type: ignore[method-assign]
    try:
        yield wraps
    finally:
        Text.wrap = text_wrap  # type: ignore[method-assign]


@contextlib.contextmanager
def _terminal_size_from_env() -> Iterator[None]:
    """os.get_terminal_size answers COLUMNS x LINES, never the size of a real fd 0-2."""
    real = os.get_terminal_size

    def size(fd: int = 1) -> os.terminal_size:
        env = os.environ
        return os.terminal_size((int(env.get("COLUMNS", 80)), int(env.get("LINES", 25))))

    os.get_terminal_size = size
    try:
        yield
    finally:
        os.get_terminal_size = real


@contextlib.contextmanager
def _cwd(path: Path | str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@dataclass
class Result:
    """One command line's exit code, stdout and stderr (and, in process, what rich wrapped)."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None  # in process: what the command raised, if anything
    wraps: list[Wrap] | None = None  # in process only

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def wrapped(self) -> list[str]:
        """Every text rich broke over lines or cut to fit the terminal (in process only)."""
        return [w.text for w in self._wraps()]

    @property
    def broken(self) -> list[str]:
        """The texts in which rich broke or cut a word (a name, a number, a path): what a
        reader can no longer read back whole. Paragraphs and cells wrapped between words are
        not in it."""
        return [w.text for w in self._wraps() if w.broken]

    def _wraps(self) -> list[Wrap]:
        if self.wraps is None:
            raise AssertionError("only an in-process run (entry='app') records what rich wraps")
        return self.wraps


class Cli:
    """Runs tflkit's command line on the fixed terminal (see the `cli` fixture)."""

    def invoke(
        self,
        *args: str | os.PathLike[str],
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        width: int | None = None,
        cwd: Path | str | None = None,
        entry: Literal["app", "cli.py", "-m"] = "app",
        timeout: float = 300,
        stdout: Any = None,
    ) -> Result:
        """``tflkit ARGS``: through the typer app in this process (``entry="app"``), or in a
        child process through the checkout's ``cli.py`` shim or ``python -m tflkit``.

        ``width`` sets COLUMNS; ``env`` adds variables (None removes one); ``cwd`` (a child's
        default: the checkout) is the working directory during the call. ``stdout`` (a child
        only): an open file the child writes its stdout to instead of a pipe (``Result.stdout``
        is then empty).
        """
        argv = [os.fspath(a) for a in args]
        variables = terminal_env(env, width)
        if entry == "app":
            from typer.testing import CliRunner

            from tflkit.cli import app

            with _cwd(cwd), _terminal_size_from_env(), recording_wraps() as wraps:
                got = CliRunner().invoke(app, argv, input=input, env=variables)
            return Result(got.exit_code, got.stdout, got.stderr, got.exception, wraps)
        head = [str(ROOT / "cli.py")] if entry == "cli.py" else ["-m", "tflkit"]
        child = {k: v for k, v in {**os.environ, **variables}.items() if v is not None}
        proc = subprocess.run(
            [sys.executable, *head, *argv],
            cwd=ROOT if cwd is None else cwd,
            env=child,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            stdout=subprocess.PIPE if stdout is None else stdout,
            stderr=subprocess.PIPE,
            text=not isinstance(input, bytes),
            timeout=timeout,
        )
        out, err = proc.stdout if proc.stdout is not None else "", proc.stderr
        if isinstance(out, bytes):
            out = out.decode()
        if isinstance(err, bytes):
            err = err.decode()
        return Result(proc.returncode, out, err)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command line on an 80 x 25 colourless terminal: COLUMNS, LINES and NO_COLOR pinned
    and the variables that force colour, a tty or a dumb terminal removed, in os.environ for
    the whole test (child processes and rich consoles the test makes itself see the same)."""
    for name in NOT_THE_TERMINAL:
        monkeypatch.delenv(name, raising=False)
    for name, value in TERMINAL.items():
        monkeypatch.setenv(name, value)
    return Cli()


# ---------------------------------------------------------------- xdist groups
# The suite runs on 2 xdist workers (`-n 2 --dist loadgroup`, pyproject's addopts; `-n 0` runs it
# in one process). Tests of a module (or `module::function`) named here run on one worker, one
# after another: the modules of a group share something beyond a test's own temp dir, or would
# pay twice for an expensive fixture if the two workers split them. The test modules themselves are unmarked:
# `pytest_xdist_make_scheduler` below reads this table (xdist's own `xdist_group` marks no
# longer reach its scheduler under pytest 9, see there).
_SHM = "shm"  # what writes /dev/shm or takes the machine: Ray, a multiprocessing pool, Chromium
XDIST_GROUPS: dict[str, str] = {
    # test_isolated's `no_leaks` compares the whole of /dev/shm before and after each test:
    # whatever else writes there meanwhile fails it (Ray's object store, the semaphores of a
    # multiprocessing pool, Chromium). Its own child writes nothing there (a memfd arena).
    "test_isolated": _SHM,
    # Ray: test_ray's own `ray.init(address="local")` and a child's 2-CPU Ray, test_ray_cluster's
    # `ray start --head`, the CLI's `--ray` in test_stream and test_isolated; each takes both
    # CPUs and writes /dev/shm and /tmp/ray.
    "test_ray": _SHM,
    "test_ray_cluster": _SHM,
    "test_stream": _SHM,
    # a `multiprocessing` spawn pool: semaphores in /dev/shm
    "test_runner": _SHM,
    # headless Chromium (a DevTools port; /dev/shm unless told not to) and a Model Explorer
    # server on a port
    "test_html_browser": _SHM,
    "test_explorer_browser": _SHM,
    # the README's example that starts Ray (the module's other tests spread)
    "test_readme::test_python_ray_examples_run": _SHM,
    # (test_imports and test_bad_input_matrix start no Ray, pool or browser: spread.)
    # one expensive fixture for the whole module, which each worker would build: Vela on every
    # fixture and accelerator (session-scoped, itself a pool of both CPUs), Vela on every case,
    # TFLM's probe of every fixture (functools.cache, asked by four tests a fixture), QAT models
    # trained in a child, the TensorFlow sources saved in-process. (Modules whose fixtures cost
    # a second or two stay spread.)
    "test_target_ethos_u": "test_target_ethos_u",
    "test_ethos_u_kinds": "test_ethos_u_kinds",
    "test_target_tflm": "test_target_tflm",
    "test_qat_sources": "test_qat_sources",
    "test_sources": "test_sources",
}


def xdist_scope(nodeid: str) -> str:
    """The unit of work xdist sends to one worker: the group of the test function or of its
    module, else the test alone."""
    path, _, name = nodeid.partition("::")
    module = Path(path).stem
    function = f"{module}::{name.split('[', 1)[0]}"
    return XDIST_GROUPS.get(function, XDIST_GROUPS.get(module, nodeid))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` grouped by XDIST_GROUPS. xdist's own scheduler groups the tests whose
    node id ends in ``@<group>``, a suffix its worker adds by assigning ``item._nodeid``
    (xdist 3.8 remote.py, WorkerInteractor.pytest_collection_modifyitems); pytest 9 builds
    ``nodeid`` from ``_id`` instead, so the suffix never shows and every test was its own unit:
    the groups above ran on both workers at once (two Vela runs of every case, two QAT builds).
    Same scheduler, the group read from the module name; xdist's reordering by units' sizes
    (``--loadscope-reorder``, on by default) sends the groups first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ByModule(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return ByModule(config, log)


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which starts the workers
def pytest_cmdline_main(config: pytest.Config) -> None:
    """One process, no workers, where workers would defeat the run: ``-s`` (a worker's fds 0-2
    are not the terminal: test_any_machine runs `pytest -s` in a pseudo-terminal to test what
    rich reads from them), ``--pdb``, and a pytest started inside a worker (test_any_machine's
    child pytest in a copy of the checkout: no workers of workers)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    nested = "PYTEST_XDIST_WORKER" in os.environ
    if config.getoption("capture") == "no" or config.getoption("usepdb") or nested:
        config.option.numprocesses = 0
        config.option.dist = "no"

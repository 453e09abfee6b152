"""tflkit's pytest plugin: model and snapshot fixtures, options, a summary, readable failures.

pytest loads it in every session where tflkit is installed (entry point ``pytest11``, named
after the module: ``pytest -p no:tflkit.pytest_plugin`` turns it off, ``-p
tflkit.pytest_plugin`` loads it where entry points are not), so loading it imports nothing but
this module: tflkit's machinery comes with the first fixture or failed assertion that needs it.

Fixtures:
    ``tflkit_model(name)``: the path of a model, looked for in the test file's directory, then
        in each model directory (``--tflkit-model-dir DIR``, the ini option
        ``tflkit_model_dirs``), never in the working directory.
    ``tflkit_snapshot(model, name=None)``: asserts that the model still matches its snapshot,
        ``__snapshots__/<test module>/<test name>.json`` beside the test file (written on the
        first run, except in CI).

Options: ``--tflkit-update-snapshots`` rewrites the snapshots the tests use (as does
``TFLKIT_UPDATE_SNAPSHOTS=1``); ``--tflkit-model-dir DIR`` (repeatable) adds a model
directory, relative to the working directory; the ini option ``tflkit_model_dirs`` adds
directories relative to the ini file, which hold from wherever pytest runs.

The terminal summary says what the snapshot fixture did ("tflkit: 3 snapshots written,
1 updated, 2 unused") and lists unused snapshot files: files in ``__snapshots__/<module>/``
of a module that ran, whose test no longer exists or passed without using them (not under
pytest-xdist, whose workers keep their own counts).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tflkit.model import ModelLike

__all__ = ["SnapshotFixture"]

UPDATE_OPTION = "--tflkit-update-snapshots"
MODEL_DIR_OPTION = "--tflkit-model-dir"
MODEL_DIRS_INI = "tflkit_model_dirs"


@dataclass
class _Tally:
    """What the snapshot fixture did in this session, and what is needed to find unused files."""

    written: int = 0
    updated: int = 0
    matched: int = 0
    failed: int = 0
    used: set[Path] = field(default_factory=set)
    tests: dict[Path, set[str]] = field(default_factory=dict)  # test file -> test names
    nodes: dict[str, tuple[Path, str]] = field(default_factory=dict)  # nodeid -> file, name
    passed: set[tuple[Path, str]] = field(default_factory=set)


_TALLY = pytest.StashKey[_Tally]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tflkit", "tflkit: model files in tests")
    group.addoption(
        UPDATE_OPTION,
        action="store_true",
        default=False,
        help="Rewrite the tflkit snapshots the tests use instead of comparing with them "
        "(as TFLKIT_UPDATE_SNAPSHOTS=1 does).",
    )
    group.addoption(
        MODEL_DIR_OPTION,
        action="append",
        default=[],
        metavar="DIR",
        dest="tflkit_model_dirs",
        help="A directory the tflkit_model fixture searches after the test's own directory "
        "(repeatable; relative to the working directory).",
    )
    parser.addini(
        MODEL_DIRS_INI,
        type="paths",
        default=[],
        help="Directories the tflkit_model fixture searches after the test's own directory "
        "and --tflkit-model-dir (relative to the ini file).",
    )


def pytest_configure(config: pytest.Config) -> None:
    for d in _model_dirs(config):
        if not d.is_dir():
            raise pytest.UsageError(f"{MODEL_DIR_OPTION} / {MODEL_DIRS_INI}: {d} is no directory")
    tally = _Tally()
    config.stash[_TALLY] = tally
    config.pluginmanager.register(_Recorder(config, tally), "tflkit-snapshots")


def _model_dirs(config: pytest.Config) -> list[Path]:
    given = [config.invocation_params.dir / d for d in config.getoption("tflkit_model_dirs")]
    return [*given, *(Path(p) for p in config.getini(MODEL_DIRS_INI))]


class _Recorder:
    """The session's hooks that need its tally: which tests exist and passed, the summary."""

    def __init__(self, config: pytest.Config, tally: _Tally) -> None:
        self.config = config
        self.tally = tally
        self.resolved: dict[Path, Path] = {}  # one realpath a test file, not one an item

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        path = self.resolved.get(item.path)
        if path is None:
            path = self.resolved[item.path] = item.path.resolve()
        self.tally.tests.setdefault(path, set()).add(item.name)
        self.tally.nodes[item.nodeid] = (path, item.name)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        where = self.tally.nodes.get(report.nodeid)
        if where is not None and report.when == "call" and report.passed:
            self.tally.passed.add(where)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # pytest-xdist: each worker has its own tally and the controller none (not merged), so
        # there is no summary; the fixtures work the same
        if hasattr(self.config, "workerinput"):
            return
        _summary(terminalreporter, self.tally, self.config.rootpath)


class SnapshotFixture:
    """What ``tflkit_snapshot`` gives a test: call it with a model to assert its snapshot.

    Example::

        def test_kws_keeps_its_contract(tflkit_model, tflkit_snapshot):
            tflkit_snapshot(tflkit_model("kws_int8.tflite"))
    """

    def __init__(self, request: pytest.FixtureRequest, tally: _Tally) -> None:
        self._request = request
        self._tally = tally
        self._calls = 0

    def path(self, name: str | None = None) -> Path:
        """The snapshot file the next call without ``name`` (or with ``name``) uses."""
        from tflkit.testing import snapshot_path

        request = self._request
        if name is None and self._calls:
            name = str(self._calls)
        return snapshot_path(request.path, request.node.name, name)

    def __call__(self, model: ModelLike, *, name: str | None = None, rtol: float = 1e-6) -> str:
        """Assert that ``model`` matches the test's snapshot (written on the first run).

        Args:
            model: a path (relative: found as ``tflkit_model`` finds it), bytes, or a
                ``tflkit.Model``.
            name: tells several snapshots of one test apart; without it the first call uses
                ``<test>.json``, later ones ``<test>.1.json``, ``<test>.2.json``...
            rtol: relative tolerance for scales.

        Returns:
            ``"written"``, ``"updated"`` or ``"matched"``.

        Raises:
            AssertionError: as ``tflkit.testing.assert_matches_snapshot`` (the model differs,
                the snapshot is malformed, or missing in CI).
        """
        __tracebackhide__ = True
        from tflkit.testing import assert_matches_snapshot

        path = self.path(name)
        if name is None:
            self._calls += 1
        if isinstance(model, (str, os.PathLike)):
            model = _find(self._request, model)
        update = True if self._request.config.getoption("tflkit_update_snapshots") else None
        existed = os.path.lexists(path)
        tally = self._tally
        try:
            status = assert_matches_snapshot(model, path, rtol=rtol, update=update)
        except AssertionError:
            tally.failed += 1
            if existed:
                tally.used.add(path)
            raise
        tally.used.add(path)
        if status == "written":
            tally.written += 1
        elif status == "updated":
            tally.updated += 1
        else:
            tally.matched += 1
        return status


def _find(request: pytest.FixtureRequest, name: str | os.PathLike[str]) -> Path:
    __tracebackhide__ = True
    from tflkit.errors import InputError
    from tflkit.testing import find_model

    try:
        return find_model(name, test_file=request.path, model_dirs=_model_dirs(request.config))
    except InputError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def tflkit_model(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """A function from a model's name to its path: the test file's directory first, then
    each model directory (``--tflkit-model-dir``, ini ``tflkit_model_dirs``); never the working
    directory. A name found nowhere fails the test, listing where it looked.

    ``tflkit_model(name, runs=True)`` also opens, allocates and invokes the model once in a
    child process (``tflkit.testing.assert_runs``): a runtime crash fails this test cleanly
    instead of killing the pytest process."""

    def find(name: str | os.PathLike[str], *, runs: bool = False) -> Path:
        __tracebackhide__ = True
        path = _find(request, name)
        if runs:
            from tflkit.testing import assert_runs

            assert_runs(path)
        return path

    return find


@pytest.fixture
def tflkit_snapshot(request: pytest.FixtureRequest) -> SnapshotFixture:
    """Asserts models against snapshots beside the test:
    ``__snapshots__/<test module>/<test name>.json`` (see ``SnapshotFixture``)."""
    return SnapshotFixture(request, request.config.stash[_TALLY])


# ---------------------------------------------------------------- readable failures


def _ours(value: object) -> bool:
    if type(value).__module__.partition(".")[0] == "tflkit":
        return True
    if isinstance(value, (tuple, list)) and value:
        return all(type(v).__module__.partition(".")[0] == "tflkit" for v in value)
    return False


def _explain(value: object) -> tuple[str, list[str]] | None:
    """(a short name, lines) for a Report, a ModelDiff, or a sequence of findings or changes."""
    from tflkit.differ import Change, ModelDiff
    from tflkit.render.diff import change_line
    from tflkit.report import Finding, Report

    def findings(items: Iterable[Finding], kind: str = "") -> list[str]:
        return [f"  {kind}[{f.rule}] {f.message}" for f in items]

    if isinstance(value, Report):
        what = value.profile or (value.target.target if value.target is not None else "")
        verdict = "passed" if value.passed else "failed"
        head = (
            f"{value.model}: check {what} {verdict}: {len(value.violations)} violations, "
            f"{len(value.warnings)} warnings"
        )
        lines = [head] + ([f"  {value.summary}"] if value.summary else [])
        lines += findings(value.violations) + findings(value.warnings, "warning ")
        return f"<Report {value.model} {what}: {verdict}>", lines
    if isinstance(value, ModelDiff):
        head = f"{value.old_name} -> {value.new_name}: {value.summary}"
        lines = [head] + [f"  {change_line(c, width=100)}" for c in value.changes]
        return f"<ModelDiff {value.old_name} -> {value.new_name}>", lines
    if not isinstance(value, (tuple, list)) or not value:
        return None
    if all(isinstance(v, Finding) for v in value):
        return f"<{len(value)} findings>", [f"{len(value)} findings:", *findings(value)]
    if all(isinstance(v, Change) for v in value):
        lines = [f"  {change_line(c, width=100)}" for c in value]
        return f"<{len(value)} changes>", [f"{len(value)} changes:", *lines]
    return None


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    """A failed comparison with a ``Report``, a ``ModelDiff`` or their findings / changes on
    one side (``assert report.violations == ()``, ``assert d.changes == ()``) lists them as
    ``tflkit check`` and ``tflkit diff`` do, instead of a truncated dataclass repr."""
    if not (_ours(left) or _ours(right)):  # nothing imported for other projects' assertions
        return None
    sides = [_explain(left), _explain(right)]
    if sides == [None, None]:
        return None
    names = [
        s[0] if s is not None else repr(v)[:60] for s, v in zip(sides, (left, right), strict=True)
    ]
    lines = [f"{names[0]} {op} {names[1]}"]
    for s in sides:
        if s is not None:
            lines += s[1]
    return lines


# ---------------------------------------------------------------- the summary


def _unused(tally: _Tally) -> list[Path]:
    """Snapshot files of the modules that ran, whose test is gone or passed without them."""
    from tflkit.testing import SNAPSHOT_DIR

    unused = []
    for test_file, names in sorted(tally.tests.items()):
        folder = test_file.parent / SNAPSHOT_DIR / test_file.stem
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.json")):
            if f in tally.used:
                continue
            owners = [n for n in names if f.name == f"{n}.json" or f.name.startswith(f"{n}.")]
            owner = max(owners, key=len) if owners else None
            if owner is None or (test_file, owner) in tally.passed:
                unused.append(f)
    return unused


def _summary(terminalreporter: Any, tally: _Tally, root: Path) -> None:
    unused = _unused(tally)
    counts = [
        (tally.written, "written"),
        (tally.updated, "updated"),
        (tally.matched, "matched"),
        (tally.failed, "failed"),
        (len(unused), "unused"),
    ]
    parts = [f"{n} {word}" for n, word in counts if n]
    if not parts:
        return
    first = next(n for n, _ in counts if n)
    parts[0] = parts[0].replace(" ", " snapshot " if first == 1 else " snapshots ", 1)
    terminalreporter.write_line(f"tflkit: {', '.join(parts)}")
    for f in unused:
        terminalreporter.write_line(f"  unused: {_shown(f, root)}")


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)

"""What the commands share: error handling, consoles, the filters that keep the runtime's
and TensorFlow's output off stdout and stderr, progress and spinners. Imports typer."""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from tflkit._quiet import Captured, terminal_stderr
from tflkit._quiet import quiet_tensorflow as core_quiet_tensorflow
from tflkit.cli._common import (
    EXIT_ERROR,
    cli_text,
    error_text,
)
from tflkit.errors import TflkitError

F = TypeVar("F", bound=Callable[..., Any])


def error(message: str) -> NoReturn:
    typer.echo(f"tflkit: error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def user_errors(command: F) -> F:
    """Turn tflkit and OS errors into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (TflkitError, OSError) as exc:
            error(error_text(exc))

    return wrapper  # type: ignore[return-value]


def stdout_console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


ModelArg = Annotated[
    Path, typer.Argument(help="Path to a .tflite model.", show_default=False, metavar="MODEL")
]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
RayOpt = Annotated[
    bool,
    typer.Option(
        "--ray",
        help="Run the shards on Ray actors (pip install 'tflkit\\[ray]'): a local Ray with this "
        "machine's CPUs, or the cluster at --address.",
    ),
]
IsolatedOpt = Annotated[
    bool,
    typer.Option(
        "--isolated",
        help="Run the runtime in a child process: a crash of the runtime is reported, not fatal.",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="The Ray cluster to run on (e.g. ray://head:10001, or auto); implies --ray.",
        show_default=False,
    ),
]


@contextlib.contextmanager
def quiet_runtime() -> Iterator[None]:
    """While the runtime runs: its C++ INFO lines dropped, Python warnings (saturation) printed
    afterwards as ``tflkit: warning: ...`` lines on stderr."""
    import warnings

    with warnings.catch_warnings(record=True) as caught, native_stderr_filtered():
        warnings.simplefilter("always")
        yield
    for w in caught:
        typer.echo(f"tflkit: warning: {cli_text(str(w.message))}", err=True)


def print_trimmed(renderables: list[Any]) -> None:
    """Print rich renderables on stdout without the spaces rich pads table lines with."""
    import re

    console = stdout_console()
    with console.capture() as captured:
        for r in renderables:
            console.print(r)
    # Trailing spaces, and those before a closing colour code (terminals only).
    trailing = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$", re.M)
    sys.stdout.write(trailing.sub(r"\1", captured.get()))
    sys.stdout.flush()


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while something runs, only when stderr is a terminal."""
    if not terminal_stderr().isatty():
        yield
        return
    with stderr_console().status(message):
        yield


@contextlib.contextmanager
def progress_bar(seconds: float) -> Iterator[Callable[[float], None] | None]:
    """A progress callback (fraction done) drawing a bar on stderr, for runs over a second."""
    if not terminal_stderr().isatty() or seconds <= 1:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=stderr_console()) as progress:
        task = progress.add_task("measuring", total=1.0)
        yield lambda done: progress.update(task, completed=done)


@contextlib.contextmanager
def stage_progress() -> Iterator[Callable[[int, int, str], None] | None]:
    """A progress callback ``(done, of, stage)`` drawing a bar on the terminal's stderr (also
    while TensorFlow is kept quiet): the stage's name, ``done`` of ``of`` (a moving pulse when
    ``of`` is 0: a step without counts), the time spent. None when stderr is not a terminal."""
    if not terminal_stderr().isatty():
        yield None
        return
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # redirect_stdout=False: a print from TensorFlow must not be drawn above the bar
    with Progress(
        *columns,
        transient=True,
        console=stderr_console(),
        redirect_stdout=False,
        redirect_stderr=False,
    ) as progress:
        task = progress.add_task("starting", total=None)
        last = [0.0]

        def tick(done: int, of: int, stage: str) -> None:
            progress.update(task, description=stage, completed=done, total=of or None)
            now = time.monotonic()
            # drawn from here too: the refresh thread may wait on the GIL in a long C++ call
            if now - last[0] > 0.1 or (of and done >= of):
                last[0] = now
                progress.refresh()

        yield tick


# What the runtime and TensorFlow log from C++ on their own: LiteRT's "INFO: Created ..." lines,
# absl's "W0000 00:00:... file.cc:12] ..." lines and its "WARNING: All log messages before
# absl::InitializeLog()" preamble, TensorFlow's oneDNN and CUDA notices, the converter's
# "fully_quantize: 0, inference_type: 6 ..." summary; Ray's core worker on the driver warning
# that Ray Data's actors get their constructor from the object store (ray-project/ray#53727).
NATIVE_NOISE = re.compile(
    r"INFO: |[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|fully_quantize: "
    r"|.*(oneDNN custom operations|cuda|TF-TRT|rebuild TensorFlow with|CPU instructions)"
    r"|\[[-\d :,]+ E \d+ \d+\] core_worker\.cc:\d+: Actor with class name: .* has constructor "
    r"arguments in the object store"
)


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Drop the runtime's C++ "INFO:" lines (XNNPACK delegate created) from stderr.

    The LiteRT runtime logs from C++ straight to file descriptor 2, with no setting to quiet it;
    stderr should carry only our messages. Fd 2 goes to a temporary file while Python's
    ``sys.stderr`` (progress bars, spinners) keeps writing to the real stderr; native lines other
    than INFO are passed on afterwards.
    """
    import os
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    with tempfile.TemporaryFile() as tmp, os.fdopen(saved, "w", closefd=False) as real:
        os.dup2(tmp.fileno(), 2)
        sys.stderr = real
        try:
            yield
        finally:
            real.flush()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not NATIVE_NOISE.match(line):
                    typer.echo(line, err=True)


def stderr_console() -> Any:
    """A console on the user's stderr: the real one while TensorFlow is kept quiet."""
    from rich.console import Console

    stream = terminal_stderr()
    return Console(stderr=True) if stream is sys.stderr else Console(file=stream)


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[Captured]:
    """While TensorFlow converts or runs: its prints, C++ lines, logger lines and warnings kept
    in the ``Captured`` yielded (``tflkit._quiet``); tflkit's own warnings shown afterwards as
    ``tflkit: warning: ...`` lines."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with core_quiet_tensorflow() as captured:
            yield captured
    for w in caught:  # only tflkit's own come out of the quiet block
        typer.echo(f"tflkit: warning: {cli_text(str(w.message))}", err=True)


# TensorFlow's start-up notices (absl INFO lines, its preamble, the CPU-instructions advice):
# nothing about a failure, left out of what a failure shows (--verbose shows them)
_STARTUP = re.compile(
    r"I\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|To enable the following "
)


def show_captured(captured: Captured, *, lines: int | None = None, failure: bool = False) -> None:
    """TensorFlow's captured output on stderr (its last ``lines``, or all of it); for a
    ``failure``, without its start-up notices, and nothing when only those were captured."""
    text = captured.text().rstrip()
    if failure:
        text = "\n".join(x for x in text.splitlines() if not _STARTUP.match(x)).rstrip()
    if not text:
        return
    all_lines = text.splitlines()
    shown = all_lines if lines is None else all_lines[-lines:]
    head = "tflkit: TensorFlow's output"
    if len(shown) < len(all_lines):
        head += f" (its last {len(shown)} of {len(all_lines)} lines; --verbose shows all)"
    typer.echo(head + ":\n" + "\n".join(shown), err=True)

"""The ``tflkit`` typer app: the only importer of typer (``tflkit.cli.main`` runs it).

Commands are short: parse, call the library, render, choose the exit code. Data goes to stdout
(``--json`` writes one ``json.dumps`` document, never through rich, which wraps long lines);
messages go to stderr. Exit codes: 0 ok, 1 a check failed, 2 usage error, unreadable or
invalid model, or internal error.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from tflkit.cli._common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    error_text,
    print_json,
    report_bug,
)
from tflkit.errors import TflkitError

app = typer.Typer(
    name="tflkit",
    help="Inspect, check and run TensorFlow Lite (LiteRT) models.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


def _error(message: str) -> NoReturn:
    typer.echo(f"tflkit: error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def _user_errors(command: F) -> F:
    """Turn tflkit and OS errors into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (TflkitError, OSError) as exc:
            _error(error_text(exc))

    return wrapper  # type: ignore[return-value]


def _stdout_console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _version(value: bool) -> None:
    if value:
        from tflkit import __version__

        typer.echo(f"tflkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Inspect, check and run TensorFlow Lite (LiteRT) models."""


ModelArg = Annotated[
    Path, typer.Argument(help="Path to a .tflite model.", show_default=False, metavar="MODEL")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@app.command()
@_user_errors
def inspect(
    model: ModelArg,
    json_: JsonOpt = False,
    subgraph: Annotated[
        int | None, typer.Option("--subgraph", "-s", help="Show only this subgraph.", min=0)
    ] = None,
    tensors: Annotated[
        bool, typer.Option("--tensors", "-t", help="Also list every tensor.")
    ] = False,
) -> None:
    """Show a model's tensors, quantization, operators and signatures (no TensorFlow needed)."""
    from tflkit import render
    from tflkit.loader import load

    m = load(model)
    if subgraph is not None and subgraph >= len(m.subgraphs):
        _error(
            f"{model}: no subgraph {subgraph}, the model has {len(m.subgraphs)} "
            f"(0..{len(m.subgraphs) - 1})"
        )
    if json_:
        print_json(render.model_to_dict(m, subgraph=subgraph))
        return
    console = _stdout_console()
    for renderable in render.inspect_renderables(m, subgraph=subgraph, tensors=tensors):
        console.print(renderable)


def _rule_ids(values: list[str] | None) -> list[str] | None:
    """Rule ids from repeated and/or comma-separated options; None when not given."""
    if not values:
        return None
    return [r.strip() for v in values for r in v.split(",") if r.strip()]


def _print_rules() -> None:
    from tflkit import render
    from tflkit.checks import RULES

    console = _stdout_console()
    for renderable in render.rules_renderables(list(RULES.values())):
        console.print(renderable)


@app.command()
def check(
    models: Annotated[
        list[Path] | None,
        typer.Argument(help="One or more .tflite models.", show_default=False, metavar="MODEL..."),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            "-p",
            help="What the model must be: int8 (fully integer), int16x8, float16.",
        ),
    ] = "int8",
    allow_uint8_io: Annotated[
        bool, typer.Option("--allow-uint8-io", help="Accept uint8 inputs and outputs as integer.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat quantization-spec warnings as violations.")
    ] = False,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="Check only these rule ids (comma-separated or repeated)."),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Skip these rule ids (comma-separated or repeated)."),
    ] = None,
    json_: JsonOpt = False,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="List the rules with their sources and exit.")
    ] = False,
) -> None:
    """Check that models are fully integer (or int16x8, float16); exit 1 if one is not."""
    from tflkit import checks, render
    from tflkit.loader import load

    if list_rules:
        _print_rules()
        return
    if not models:
        _error("no MODEL given (see 'tflkit check --help')")
    if profile not in checks.PROFILES:
        _error(f"unknown profile {profile!r}, expected one of: {', '.join(checks.PROFILES)}")
    selected, ignored = _rule_ids(select), _rule_ids(ignore) or []
    for rid in (selected or []) + ignored:
        if rid not in checks.RULES:
            _error(f"unknown rule {rid!r} (see 'tflkit check --list-rules')")
    reports, unreadable = [], 0
    for path in models:
        try:
            model = load(path)
        except (TflkitError, OSError) as exc:
            typer.echo(f"tflkit: error: {error_text(exc)}", err=True)
            unreadable += 1
            continue
        reports.append(
            checks.check(
                model,
                profile,
                allow_uint8_io=allow_uint8_io,
                strict=strict,
                select=selected,
                ignore=ignored,
            )
        )
    if json_:
        docs = [render.report_to_dict(r) for r in reports]
        print_json(docs[0] if len(models) == 1 and docs else docs)
    else:
        console = _stdout_console()
        for report in reports:
            for renderable in render.report_renderables(report):
                console.print(renderable)
        failed = sum(not r.passed for r in reports)
        summary = f"{len(reports)} checked: {len(reports) - failed} passed, {failed} failed"
        if unreadable:
            summary += f", {unreadable} unreadable"
        if len(models) > 1 or failed:
            console.print(summary)
    if unreadable:
        raise typer.Exit(EXIT_ERROR)
    if any(not r.passed for r in reports):
        raise typer.Exit(EXIT_FAILED)


def _read_inputs(path: Path, runner: Any) -> Any:
    """Arrays from a .npy (single-input models) or .npz (keys = input names, or one array)."""
    from tflkit._inputs import inputs_for, read_arrays

    notes: list[str] = []
    x = inputs_for(
        read_arrays(path),
        runner.input_names,
        [t.name for t in runner.inputs],
        source=path.name,
        notes=notes,
    )
    for note in notes:  # a .npz key that names no input: fed anyway, say which array went where
        typer.echo(f"tflkit: note: {note}", err=True)
    return x


def _save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write to a temporary name, then rename: never a half-written file."""
    import numpy as np

    from tflkit._files import atomic_write

    atomic_write(path, lambda f: np.savez(f, **arrays))


@app.command()
@_user_errors
def run(
    model: ModelArg,
    input: Annotated[
        Path,
        typer.Option("--input", "-i", help="Inputs: a .npy array, or a .npz keyed by input name."),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the outputs to this .npz file.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", min=1, help="Samples per invoke at most.")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Feed and return stored dtypes (no (de)quantization).")
    ] = False,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads for the runtime's kernels.")
    ] = None,
    signature: Annotated[
        str | None, typer.Option("--signature", help="Run this signature.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Run a model on inputs from a .npy/.npz file and save the outputs."""
    import time

    import numpy as np

    from tflkit._inputs import batch_size_of
    from tflkit.runner import Runner

    with _quiet_runtime():
        runner = Runner(model, num_threads=threads, signature=signature, batch_size=batch_size)
    x = _read_inputs(input, runner)
    if not isinstance(x, (list, dict)) and len(runner.inputs) > 1:
        names = ", ".join(repr(n) for n in runner.input_names)
        _error(
            f"{model.name} has {len(runner.inputs)} inputs ({names}): give them in a .npz "
            "keyed by input name"
        )
    with _quiet_runtime():
        start = time.perf_counter()
        result = _predict_with_progress(runner, x, raw)
        seconds = time.perf_counter() - start
    outputs = result if isinstance(result, dict) else {runner.output_names[0]: result}
    samples = 1 if runner.batch_axis is None else batch_size_of(x)  # no batch axis: one call
    if output is not None:
        _save_npz(output, {k: np.asarray(v) for k, v in outputs.items()})
    summary = {
        "model": str(model),
        "samples": samples,
        "seconds": seconds,
        "samples_per_second": samples / seconds if seconds > 0 else None,
        "batching": runner.batching,
        "batch_axis": runner.batch_axis,
        "delegate": runner.delegate,
        "raw": raw,
        "output_path": str(output) if output is not None else None,
        "outputs": [
            {"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in outputs.items()
        ],
        "saturation": {k: s.fraction for k, s in runner.saturation.items()},
    }
    if json_:
        print_json(summary)
        return
    _print_run_summary(summary, outputs)


def _predict_with_progress(runner: Any, x: Any, raw: bool) -> Any:
    """Predict in slices with a progress bar on stderr once the run passes one second."""
    import time

    import numpy as np

    from tflkit._inputs import batch_size_of, take

    n = batch_size_of(x)
    if not sys.stderr.isatty() or n < 2 or runner.batch_axis is None:
        return runner.predict(x, raw=raw)
    from rich.progress import Progress

    step = max(1, -(-n // 50))
    pieces = []
    start = time.perf_counter()
    progress = Progress(transient=True, console=_stderr_console())
    task = progress.add_task("running", total=n)
    started = False
    try:
        for s in range(0, n, step):
            e = min(n, s + step)
            pieces.append(runner.predict(take(x, s, e), raw=raw))
            if not started and time.perf_counter() - start > 1.0:
                progress.start()
                started = True
            progress.update(task, completed=e)
    finally:
        if started:
            progress.stop()
    if isinstance(pieces[0], dict):
        return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    return np.concatenate(pieces)


@contextlib.contextmanager
def _quiet_runtime() -> Iterator[None]:
    """While the runtime runs: its C++ INFO lines dropped, Python warnings (saturation) printed
    afterwards as ``tflkit: warning: ...`` lines on stderr."""
    import warnings

    with warnings.catch_warnings(record=True) as caught, _native_stderr_filtered():
        warnings.simplefilter("always")
        yield
    for w in caught:
        typer.echo(f"tflkit: warning: {w.message}", err=True)


@app.command()
@_user_errors
def compare(
    models: Annotated[
        list[Path],
        typer.Argument(
            help="The reference model (usually float32), then the models to compare with it.",
            show_default=False,
            metavar="BASE OTHER...",
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", "-d", help="Inputs: a .npy, or a .npz keyed by input name (default: random)."
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", "-l", help="Class labels (.npy): indices or one-hot."),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples", "-n", help="Use the first N samples (or draw N; default 256).", min=1
        ),
    ] = None,
    label_output: Annotated[
        str | None,
        typer.Option("--label-output", help="The output the labels are for (default: the first)."),
    ] = None,
    reference_outputs: Annotated[
        Path | None,
        typer.Option(
            "--reference-outputs",
            help="Measure errors against these outputs (.npz by output name, .npy for one "
            "output) instead of the first model's.",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG with size, latency and accuracy bars."),
    ] = None,
    per_tensor: Annotated[
        bool,
        typer.Option("--per-tensor", help="Also compare intermediate tensors with the same name."),
    ] = False,
    speed: Annotated[
        bool, typer.Option("--speed/--no-speed", help="Measure latency and throughput.")
    ] = True,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Threads for the runtime's kernels.", min=1)
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random inputs.")] = 0,
    json_: JsonOpt = False,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the tables as Markdown (for a pull request)."),
    ] = False,
) -> None:
    """Compare models with the first: size, accuracy, agreement, error and speed."""
    from tflkit._inputs import read_arrays
    from tflkit.comparison import compare as run_compare
    from tflkit.runner import Runner

    if json_ and markdown:
        _error("--json and --markdown exclude each other (see 'tflkit compare --help')")
    if plot is not None:
        from tflkit._plot import require_matplotlib

        require_matplotlib()
    with _quiet_runtime():
        runners = [Runner(m, num_threads=threads) for m in models]
    x = _read_inputs(data, runners[0]) if data is not None else None
    y = None
    if labels is not None:
        y = read_arrays(labels)
        if isinstance(y, dict):
            if len(y) != 1:
                _error(f"{labels}: expected one array of labels, found {len(y)}")
            y = next(iter(y.values()))
    with _quiet_runtime(), _status("comparing models"):
        result = run_compare(
            runners,
            x,
            y,
            samples=samples,
            seed=seed,
            num_threads=threads,
            speed=speed,
            per_tensor=per_tensor,
            label_output=label_output,
            data=str(data) if data is not None else None,
            reference_outputs=reference_outputs,
        )
    if plot is not None:
        result.plot(plot)
    if json_:
        print_json(result.to_dict())
    elif markdown:
        sys.stdout.write(result.to_markdown())
        sys.stdout.flush()
    else:
        from tflkit.render import comparison_renderables

        _print_trimmed(comparison_renderables(result))
    if plot is not None:
        typer.echo(f"plot written to {plot}", err=True)


@app.command()
@_user_errors
def bench(
    model: ModelArg,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Samples per predict call.", min=1)
    ] = 1,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Threads for the runtime's kernels.", min=1)
    ] = None,
    seconds: Annotated[
        float, typer.Option("--seconds", "-s", help="How long to measure, after warm-up.", min=0)
    ] = 2.0,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed calls first.", min=1)] = 3,
    shape: Annotated[
        list[str] | None,
        typer.Option(
            "--shape",
            help="A sample's shape after the batch axis, for dynamic inputs: 16000 or "
            "NAME=16000 (repeat for several inputs).",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Time a model: latency per call and of the runtime's invoke alone, throughput, memory."""
    from tflkit.speed import benchmark

    shapes = _shapes(shape or [])
    with _quiet_runtime(), _progress_bar(seconds) as progress:
        result = benchmark(
            str(model),
            batch_size=batch_size,
            num_threads=threads,
            seconds=seconds,
            warmup=warmup,
            progress=progress,
            shapes=shapes,
        )
    if json_:
        print_json(result.to_dict())
        return
    from tflkit.render import benchmark_renderables

    _print_trimmed(benchmark_renderables(result))


def _shapes(values: list[str]) -> dict[str, list[int]] | list[int] | None:
    """``--shape`` values: ``16000`` (the only input), ``40,49`` or ``NAME=40,49``."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, _, dims = value.rpartition("=")
        try:
            shapes[name] = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError:
            raise typer.BadParameter(
                f"expected dimensions such as 16000 or NAME=40,49, got {value!r}",
                param_hint="'--shape'",
            ) from None
    if "" in shapes:
        if len(shapes) > 1:
            raise typer.BadParameter("name every input: NAME=DIMS", param_hint="'--shape'")
        return shapes[""]
    return shapes or None


def _print_trimmed(renderables: list[Any]) -> None:
    """Print rich renderables on stdout without the spaces rich pads table lines with."""
    import re

    console = _stdout_console()
    with console.capture() as captured:
        for r in renderables:
            console.print(r)
    # Trailing spaces, and those before a closing colour code (terminals only).
    trailing = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$", re.M)
    sys.stdout.write(trailing.sub(r"\1", captured.get()))
    sys.stdout.flush()


@contextlib.contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr while something runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    with _stderr_console().status(message):
        yield


@contextlib.contextmanager
def _progress_bar(seconds: float) -> Iterator[Callable[[float], None] | None]:
    """A progress callback (fraction done) drawing a bar on stderr, for runs over a second."""
    if not sys.stderr.isatty() or seconds <= 1:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("measuring", total=1.0)
        yield lambda done: progress.update(task, completed=done)


# What the runtime and TensorFlow log from C++ on their own: LiteRT's "INFO: Created ..." lines,
# absl's "W0000 00:00:... file.cc:12] ..." lines and its "WARNING: All log messages before
# absl::InitializeLog()" preamble, TensorFlow's oneDNN and CUDA notices, the converter's
# "fully_quantize: 0, inference_type: 6 ..." summary.
_NATIVE_NOISE = re.compile(
    r"INFO: |[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|fully_quantize: "
    r"|.*(oneDNN custom operations|cuda|TF-TRT|rebuild TensorFlow with|CPU instructions)"
)


@contextlib.contextmanager
def _native_stderr_filtered() -> Iterator[None]:
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
                if line.strip() and not _NATIVE_NOISE.match(line):
                    typer.echo(line, err=True)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _print_run_summary(summary: dict[str, Any], outputs: dict[str, Any]) -> None:
    from rich.table import Table

    rate = summary["samples_per_second"]
    lines: list[Any] = [
        (
            f"{summary['samples']} samples in {summary['seconds']:.3f} s"
            + (f" ({rate:,.0f} samples/s)" if rate else "")
            + f", batching: {summary['batching']}"
            if summary["batch_axis"] is not None
            else f"one call in {summary['seconds']:.3f} s (the model has no batch axis: "
            "inputs fed at their own shapes)"
        )
        + ("" if summary["delegate"] else ", builtin kernels (XNNPACK could not prepare it)")
    ]
    table = Table(title="Outputs", title_justify="left")
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("min", justify="right", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    for name, value in outputs.items():
        numeric = value.size and value.dtype.kind in "iufb"
        stats = (
            [f"{value.min():.4g}", f"{value.max():.4g}", f"{value.astype('float64').mean():.4g}"]
            if numeric
            else ["", "", ""]
        )
        table.add_row(name, str(value.dtype), str(list(value.shape)), *stats)
    lines.append(table)
    if summary["output_path"]:
        lines.append(f"outputs written to {summary['output_path']}")
    _print_trimmed(lines)


@contextlib.contextmanager
def _quiet_tensorflow() -> Iterator[None]:
    """While TensorFlow converts: its stdout prints (Keras's "Saved artifact at ...") and C++
    lines dropped, its Python warnings dropped; tflkit's own warnings still shown."""
    import io
    import os
    import tempfile
    import warnings

    sys.stdout.flush()
    saved = os.dup(1)
    python_stdout = sys.stdout
    with (
        warnings.catch_warnings(record=True) as caught,
        _native_stderr_filtered(),
        tempfile.TemporaryFile() as tmp,
    ):
        warnings.simplefilter("always")
        os.dup2(tmp.fileno(), 1)
        sys.stdout = io.StringIO()
        try:
            yield
        finally:
            sys.stdout = python_stdout
            os.dup2(saved, 1)
            os.close(saved)
    for w in caught:
        if w.filename.startswith(os.path.dirname(os.path.dirname(__file__))):
            typer.echo(f"tflkit: warning: {w.message}", err=True)


@app.command()
@_user_errors
def convert(
    source: Annotated[
        str,
        typer.Argument(
            help="A Keras model (.keras, .h5), a SavedModel directory, or a float .tflite.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The .tflite to write.", show_default=False)
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="float32, float16, dynamic-range, int8 or int16x8 (from a .tflite also "
            "weight-only-int8, weight-only-int4).",
        ),
    ] = "int8",
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration", "-c", help="Representative samples (.npy, or .npz by input name)."
        ),
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", "-n", help="Calibrate on at most N samples.", min=1)
    ] = None,
    io: Annotated[
        str | None,
        typer.Option(
            "--io", help="int8 (default), uint8 or float32; for int16x8 int16 or float32."
        ),
    ] = None,
    eval_x: Annotated[
        Path | None,
        typer.Option("--eval", help="Evaluation inputs: compare with the float32 conversion."),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", "-l", help="Labels of --eval (accuracy).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Convert a Keras model, SavedModel or float .tflite, and check the result (exit 1 if not)."""
    import os

    from tflkit.conversion import convert as run_convert

    if output.exists() and not force:
        _error(f"{output} exists; add --force to replace it")
    if labels is not None and eval_x is None:
        _error("--labels needs --eval")
    x = y = None
    if eval_x is not None:
        from tflkit._inputs import read_arrays

        x = read_arrays(eval_x)
        y = read_arrays(labels) if labels is not None else None
        if isinstance(y, dict):
            y = next(iter(y.values()))
    source_path = source if os.path.exists(source) else None
    if source_path is None:
        _error(f"{source}: no such file or directory")
    total: list[int] = [0]
    with _quiet_tensorflow(), _progress_bar(2.0) as bar:

        def tick(done: int, of: int) -> None:
            total[0] = of
            if bar is not None and of:
                bar(done / of)

        result = run_convert(
            source,
            to,
            calibration=calibration,
            samples=samples,
            io=io,
            eval_x=x,
            eval_y=y,
            progress=tick,
        )
    result.save(output, force=force)
    if json_:
        from tflkit.render import conversion_to_dict

        print_json(conversion_to_dict(result, source=source, output=str(output)))
    else:
        from tflkit.render import conversion_renderables

        _print_trimmed(conversion_renderables(result, source=source, output=str(output)))
    if not result.passed:
        raise typer.Exit(EXIT_FAILED)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tflkit`` console script and ``python -m tflkit``."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="tflkit", standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("tflkit: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # Click's usage errors (bad option, missing argument): one line, exit 2. Anything else
        # is a bug: keep its traceback, but exit 2 so that a crash never reads as "check failed".
        fmt = getattr(exc, "format_message", None)
        if fmt is not None and hasattr(exc, "exit_code"):
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "tflkit"
            typer.echo(f"{where}: error: {fmt()} (see '{where} --help')", err=True)
            sys.exit(EXIT_ERROR)
        raise SystemExit(EXIT_ERROR) from report_bug(exc)
    sys.exit(code if isinstance(code, int) else EXIT_OK)

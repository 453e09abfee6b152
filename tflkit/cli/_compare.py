"""``tflkit compare``: parse, call ``comparison.compare_files``, show, choose the exit code."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tflkit.cli._common import EXIT_FAILED, cli_text, print_json
from tflkit.cli._shared import (
    AddressOpt,
    IsolatedOpt,
    JsonOpt,
    RayOpt,
    error,
    print_trimmed,
    quiet_runtime,
    quiet_tensorflow,
    status,
)
from tflkit.errors import TflkitError


def compare(
    models: Annotated[
        list[Path],
        typer.Argument(
            help="The reference model (usually float32, or the Keras / SavedModel source), then "
            "the models to compare with it.",
            show_default=False,
            metavar="BASE OTHER...",
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Inputs: a .npy, a .npz keyed by input name, or a directory or glob of shards "
            "(streamed; default: random).",
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            "-l",
            help="Class labels (.npy): indices or one-hot; shards with --data shards.",
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            "-n",
            help="Use the first N samples (or draw N; default 256).",
            min=1,
            metavar="N",
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
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the report as one self-contained HTML page (no network needed).",
            metavar="REPORT.html",
        ),
    ] = None,
    per_tensor: Annotated[
        bool,
        typer.Option("--per-tensor", help="Also compare intermediate tensors with the same name."),
    ] = False,
    explorer: Annotated[
        Path | None,
        typer.Option(
            "--explorer",
            help="Write Model Explorer node data of the per-tensor errors into this folder "
            "(implies --per-tensor).",
            metavar="DIR",
        ),
    ] = None,
    # one flag, not "--speed/--no-speed": typer puts the second name in the short-option
    # column, which then squeezes every help text of the command to 20 columns at 80
    no_speed: Annotated[
        bool, typer.Option("--no-speed", help="Do not measure latency and throughput.")
    ] = False,
    # the default, still accepted from scripts that spell it out; hidden from the help
    speed: Annotated[bool, typer.Option("--speed", hidden=True)] = False,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Threads for the runtime's kernels.", min=1, metavar="N"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random inputs.")] = 0,
    allow_nonfinite: Annotated[
        bool,
        typer.Option("--allow-nonfinite", help="Use data holding NaN or inf (refused by default)."),
    ] = False,
    trust_source: Annotated[
        bool,
        typer.Option(
            "--trust-source",
            help="Run a SavedModel reference holding file, Python or network ops.",
        ),
    ] = False,
    ray: RayOpt = False,
    address: AddressOpt = None,
    isolated: IsolatedOpt = False,
    json_: JsonOpt = False,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the tables as Markdown (for a pull request)."),
    ] = False,
) -> None:
    """Compare models with the first: size, accuracy, agreement, error and speed."""
    from tflkit.comparison import compare_files, reference_is_source

    if json_ and markdown:
        error("--json and --markdown exclude each other (see 'tflkit compare --help')")
    if plot is not None:
        from tflkit._files import require_writable
        from tflkit._plot import require_matplotlib

        require_matplotlib()
        require_writable(plot, "plot")  # before the comparison, not after it
    if explorer is not None:
        from tflkit._files import require_directory
        from tflkit.comparison import streams

        require_directory(explorer, "explorer")  # before the comparison, not after it
        if streams(data):  # else the library's refusal would name --per-tensor
            error(
                "--explorer needs per-tensor errors, which shards in --data (streamed) do not "
                f"give: pass --data one .npy or .npz instead of {data}"
            )
        per_tensor = True
    if html is not None:
        from tflkit._files import require_writable

        require_writable(html, "report")
    # A Keras file or SavedModel first runs through TensorFlow: its noise kept off the terminal
    source = reference_is_source(models)
    quiet = quiet_tensorflow() if source else contextlib.nullcontext()
    notes: list[str] = []
    on_ray = ray or address is not None
    with quiet_runtime(), quiet, status("comparing models" + (" on Ray" if on_ray else "")):
        result = compare_files(
            models,
            data,
            labels,
            samples=samples,
            seed=seed,
            num_threads=threads,
            label_output=label_output,
            speed=not no_speed,
            per_tensor=per_tensor,
            reference_outputs=reference_outputs,
            ray=ray,
            address=address,
            notes=notes,
            allow_nonfinite=allow_nonfinite,
            trust_source=trust_source,
            isolated=isolated,
        )
    for note in notes:  # a .npz key that names no input: fed anyway, say which array went where
        typer.echo(f"tflkit: note: {cli_text(note)}", err=True)
    written = None
    failed: Exception | None = None
    if explorer is not None:  # before the report: --json lists the files
        try:
            written = [f.to_dict() for f in result.to_explorer(explorer)]
        except (TflkitError, OSError) as exc:  # the disk filled up: the report still shown
            failed = exc
    if html is not None:  # before the output: --json names a file that is there
        try:
            result.to_html(html)
        except (TflkitError, OSError) as exc:  # the disk filled up: the report still shown
            failed, html = failed or exc, None
    _show(result, plot, json_, markdown, html, written)
    if failed is not None:
        raise failed
    for line in result.crashed:  # --isolated: a model that crashed the runtime was left out
        typer.echo(f"tflkit: error: {cli_text(line)}", err=True)
    if result.crashed:
        raise typer.Exit(EXIT_FAILED)
    if result.has_nonfinite:  # errors of NaN or inf outputs measure nothing: a failed check
        where = "each output's nonfinite" if json_ else "the marked rows"
        typer.echo(f"tflkit: NaN or inf in the compared outputs (see {where})", err=True)
        raise typer.Exit(EXIT_FAILED)


def _show(
    result: Any,
    plot: Path | None,
    json_: bool,
    markdown: bool,
    html: Path | None = None,
    explorer: list[dict[str, Any]] | None = None,
) -> None:
    # the report first: a plot that cannot be written (checked before the work, but the disk
    # can fill up meanwhile) loses nothing computed; it still exits 2
    if json_:
        doc = result.to_dict()
        if explorer is not None:
            doc["explorer"] = explorer
        if html is not None:
            doc["html"] = str(html)
        print_json(doc)
    elif markdown:
        sys.stdout.write(result.to_markdown())
        sys.stdout.flush()
    else:
        from tflkit.render import comparison_renderables

        print_trimmed(comparison_renderables(result))
    if explorer is not None:
        folder = str(Path(explorer[0]["path"]).parent) if explorer else "?"
        typer.echo(f"Model Explorer node data: {len(explorer)} files written to {folder}", err=True)
    if plot is not None:
        result.plot(plot)
        typer.echo(f"plot written to {plot}", err=True)
    if html is not None and not json_:
        typer.echo(f"report written to {html}", err=True)

"""``tflkit convert``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from tflkit.cli._common import EXIT_FAILED, cli_report, cli_text, print_json
from tflkit.cli._shared import (
    JsonOpt,
    error,
    print_trimmed,
    quiet_tensorflow,
    show_captured,
    stage_progress,
)
from tflkit.errors import ConversionError, TflkitError

# TensorFlow's output shown with a failed conversion: its last lines (the error is there)
_FAILURE_LINES = 40


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
        int | None,
        typer.Option("--samples", "-n", help="Calibrate on at most N samples.", min=1, metavar="N"),
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
    allow_nonfinite: Annotated[
        bool,
        typer.Option(
            "--allow-nonfinite", help="Use --eval data with NaN or inf, calibration with NaN."
        ),
    ] = False,
    trust_source: Annotated[
        bool,
        typer.Option(
            "--trust-source",
            help="Load a SavedModel holding file, Python or network ops (it runs code).",
        ),
    ] = False,
    max_drop: Annotated[
        float | None,
        typer.Option(
            "--max-drop",
            help="int8 losing at most P top-1 accuracy points against float32 on --eval/--labels: "
            "keeps the fewest operators out of int8 (searched, every candidate measured).",
            metavar="P",
        ),
    ] = None,
    min_snr: Annotated[
        float | None,
        typer.Option(
            "--min-snr",
            help="As --max-drop with the outputs' SNR (dB) against float32 as the target.",
            metavar="DB",
        ),
    ] = None,
    keep_float: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-float",
            help="Keep operators out of int8: an op type (SOFTMAX), an output tensor name, or a "
            "regular expression over names. Repeatable.",
            metavar="SPEC",
        ),
    ] = None,
    fallback: Annotated[
        str | None,
        typer.Option(
            "--fallback",
            help="What kept operators become: float, or int16 (int16 activations, int8 weights). "
            "Default: the smaller model meeting the target of the two, where int16 applies.",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="With --max-drop/--min-snr: size against accuracy along the search (PNG).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the report (check, search, comparison) as one self-contained HTML "
            "page.",
            metavar="REPORT.html",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show TensorFlow's output (kept back otherwise; shown on errors).",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Convert a Keras model, SavedModel or float .tflite, and check the result (exit 1 if not)."""
    import os

    from tflkit._files import require_writable
    from tflkit.conversion import convert as run_convert

    if os.path.lexists(output) and not force:  # a symlink, even dangling, exists
        error(f"{output} exists; add --force to replace it")
    require_writable(output)  # before the conversion: its folder, never a device
    if labels is not None and eval_x is None:
        error("--labels needs --eval")
    if plot is not None:
        if max_drop is None and min_snr is None:
            error("--plot draws the search of --max-drop or --min-snr")
        if os.path.lexists(plot) and not force:
            error(f"{plot} exists; add --force to replace it")
        require_writable(plot, "plot")
    if html is not None:
        if os.path.lexists(html) and not force:
            error(f"{html} exists; add --force to replace it")
        require_writable(html, "report")
    source_path = source if os.path.exists(source) else None
    if source_path is None:
        error(f"{source}: no such file or directory")
    try:
        with quiet_tensorflow() as captured, stage_progress() as tick:
            result = run_convert(
                source,
                to,
                calibration=calibration,
                samples=samples,
                io=io,
                eval_x=eval_x,
                eval_y=labels,
                progress=tick,
                allow_nonfinite=allow_nonfinite,
                trust_source=trust_source,
                max_drop=max_drop,
                min_snr=min_snr,
                keep_float=keep_float or None,
                fallback=fallback,
            )
    except ConversionError:  # the converter failed: its last lines, then the one-line error
        show_captured(captured, lines=None if verbose else _FAILURE_LINES, failure=not verbose)
        raise
    except (TflkitError, OSError):  # the user's input: the one-line error says it all
        if verbose:
            show_captured(captured)
        raise
    if verbose:
        show_captured(captured)
    result.save(output, force=force)
    if plot is not None and result.search is not None:
        from tflkit._plot import plot_search

        plot_search(result.search, plot)
    if html is not None:
        result.to_html(html, source=source, output=str(output))
    if json_:
        from tflkit.render import conversion_to_dict

        doc = conversion_to_dict(result, source=source, output=str(output))
        if html is not None:
            doc["html"] = str(html)
        print_json(doc)
    else:
        from tflkit.render import conversion_renderables

        shown = replace(
            result,
            notes=tuple(map(cli_text, result.notes)),
            report=cli_report(result.report) if result.report is not None else None,
        )
        print_trimmed(conversion_renderables(shown, source=source, output=str(output)))
        if html is not None:
            typer.echo(f"report written to {html}", err=True)
    if not result.passed:
        raise typer.Exit(EXIT_FAILED)

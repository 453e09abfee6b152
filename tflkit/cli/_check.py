"""``tflkit check``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from tflkit.cli._common import (
    EXIT_ERROR,
    EXIT_FAILED,
    cli_report,
    cli_text,
    error_text,
    print_json,
)
from tflkit.cli._shared import (
    JsonOpt,
    error,
    stdout_console,
)
from tflkit.errors import TflkitError

_ETHOS_U = ("ethos-u55", "ethos-u65", "ethos-u85")  # the targets Vela compiles for


def _rule_ids(values: list[str] | None) -> list[str] | None:
    """Rule ids from repeated and/or comma-separated options; None when not given."""
    if not values:
        return None
    return [r.strip() for v in values for r in v.split(",") if r.strip()]


def _print_rules() -> None:
    from tflkit import render
    from tflkit.checks import RULES

    console = stdout_console()
    rules = [replace(r, doc=cli_text(r.doc)) for r in RULES.values()]  # flags, not Python
    for renderable in render.rules_renderables(rules):
        console.print(renderable)


def check(
    models: Annotated[
        list[Path] | None,
        typer.Argument(help="One or more .tflite models.", show_default=False, metavar="MODEL..."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="What the model must be: int8 (fully integer; the default without --target), "
            "int16x8, float16.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Where it must run: tflm, ethos-u55, ethos-u65, ethos-u85, edgetpu, gpu, xnnpack.",
        ),
    ] = None,
    allow_cpu_fallback: Annotated[
        bool,
        typer.Option(
            "--allow-cpu-fallback", help="With a delegate target: pass if any op runs on it."
        ),
    ] = False,
    resolver: Annotated[
        bool,
        typer.Option(
            "--resolver",
            help="With --target tflm: print the MicroMutableOpResolver C++ for the models.",
        ),
    ] = False,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="With --target ethos-u55/u65/u85: add Vela's own estimate (cycles, time, "
            "memory), compiling with Vela (pip install 'tflkit\\[vela]').",
        ),
    ] = False,
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
        error("no MODEL given (see 'tflkit check --help')")
    if resolver and target != "tflm":
        error("--resolver needs --target tflm")
    if estimate and target not in _ETHOS_U:
        error(f"--estimate needs --target {', '.join(_ETHOS_U)}")
    selected, ignored = _rule_ids(select), _rule_ids(ignore) or []
    try:  # once, before any model is read (and whether Vela is there)
        checks.check_options(
            profile, target=target, select=selected, ignore=ignored, estimate=estimate
        )
    except TflkitError as exc:
        error(error_text(exc))
    reports, unreadable, loaded = [], 0, []
    for path in models:
        try:
            model = load(path)
        except (TflkitError, OSError) as exc:
            typer.echo(f"tflkit: error: {error_text(exc)}", err=True)
            unreadable += 1
            continue
        loaded.append(model)
        reports.append(
            checks.check(
                model,
                profile,
                target=target,
                allow_cpu_fallback=allow_cpu_fallback,
                allow_uint8_io=allow_uint8_io,
                strict=strict,
                select=selected,
                ignore=ignored,
                estimate=estimate,
            )
        )
    if resolver:
        from tflkit.targets.tflm import resolver_cpp

        sys.stdout.write(resolver_cpp(loaded))
        sys.stdout.flush()
    elif json_:
        docs = [render.report_to_dict(r) for r in reports]
        print_json(docs[0] if len(models) == 1 and docs else docs)
    else:
        console = stdout_console()
        for report in reports:
            for renderable in render.report_renderables(cli_report(report)):
                console.print(renderable)
        if len(models) > 1 or not all(r.passed for r in reports):
            console.print(render.checked_summary(reports, unreadable=unreadable))
    if unreadable:
        raise typer.Exit(EXIT_ERROR)
    if any(not r.passed for r in reports):
        raise typer.Exit(EXIT_FAILED)

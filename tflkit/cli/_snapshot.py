"""``tflkit snapshot``: write snapshots, or check models against them (``--check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tflkit.cli._common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    echo_error,
    error_text,
    print_json,
)
from tflkit.cli._shared import JsonOpt, error

#: Changes listed per model by ``--check`` (the rest counted), as ``tflkit diff`` does.
SHOWN_CHANGES = 20
#: What ``--check`` finds a model's snapshot to be (JSON ``status``).
STATUSES = ("matched", "changed", "missing", "malformed")


def snapshot(
    models: Annotated[
        list[Path],
        typer.Argument(help="Paths to .tflite models.", show_default=False, metavar="MODEL..."),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The snapshot file (one MODEL; default: __snapshots__/<stem>.json beside it).",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Compare each MODEL with its snapshot instead (exit 1 if one differs)."
        ),
    ] = False,
    snapshot_dir: Annotated[
        Path | None,
        typer.Option(
            "--snapshot-dir",
            help="Where the snapshots are: DIR/<stem>.json (default: beside each model).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace OUTPUT even if it is another model's snapshot."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Write a model's contract (interface, quantization, ops, tensors; no weights) as JSON, or check models against theirs (--check)."""  # noqa: E501 (one line: typer keeps a docstring's newlines in the help)
    from tflkit.testing import model_snapshot_path

    if output is not None and snapshot_dir is not None:
        error("--output and --snapshot-dir go apart: --output names one file")
    if output is not None and len(models) > 1:
        error(f"--output names one snapshot, {len(models)} models were given")
    paths = [output or model_snapshot_path(m, snapshot_dir) for m in models]
    if check:
        if force:
            error("--force does not go with --check")
        raise typer.Exit(_check(models, paths, json_))
    if json_ and len(models) > 1:
        error("--json describes one snapshot: give one MODEL")
    for model, path in zip(models, paths, strict=True):
        _write(model, path, force=force, json_=json_)


def _write(model: Path, output: Path, *, force: bool, json_: bool) -> None:
    from tflkit.differ import contract
    from tflkit.loader import load
    from tflkit.render.diff import snapshot_to_dict
    from tflkit.testing import write_snapshot

    m = load(model)
    write_snapshot(m, output, force=force)  # checks OUTPUT before working out the contract
    if json_:  # what was written, for a CI log (schemas/snapshot.schema.json)
        facts = contract(m)
        size = output.stat().st_size
        print_json(snapshot_to_dict(facts, model=str(model), snapshot=str(output), size_bytes=size))
    typer.echo(f"tflkit: wrote snapshot {output}", err=True)


def _check(models: list[Path], paths: list[Path], json_: bool) -> int:
    """Each model against its snapshot: one line a model on stdout (MATCH, CHANGED, MISSING or
    MALFORMED) and its changes, or one JSON document (schemas/snapshot-check.schema.json). An
    unreadable model is one error line on stderr; the others are still checked (exit 2)."""
    import os

    from tflkit.errors import TflkitError
    from tflkit.loader import load
    from tflkit.testing import snapshot_diff

    entries: list[dict[str, Any]] = []
    errors = 0
    for model, path in zip(models, paths, strict=True):
        entry: dict[str, Any] = {"model": str(model), "snapshot": str(path), "summary": None}
        entry.update(changes=[], error=None)
        try:
            m = load(model)
        except (TflkitError, OSError) as exc:
            echo_error(f"tflkit: error: {error_text(exc)}")
            errors += 1
            continue
        if not os.path.lexists(path):
            entry.update(status="missing", error=f"no snapshot {path}")
        else:
            try:
                d = snapshot_diff(m, path)
            except AssertionError as exc:  # the snapshot cannot be read as one
                entry.update(status="malformed", error=str(exc))
            else:
                entry.update(status="matched" if d.same else "changed", summary=d.summary)
                entry["changes"] = list(d.changes)
        entries.append(entry)
        if not json_:
            _show(entry, model, path)
    counts = {k: sum(e["status"] == k for e in entries) for k in STATUSES}
    failed = len(entries) - counts["matched"]
    if json_:
        for e in entries:
            e["changes"] = [c.to_dict() for c in e["changes"]]
        checked = {"checked": len(entries), "passed": not failed and not errors}
        print_json({**checked, "counts": counts, "snapshots": entries})
    else:
        words = [f"{n} {k}" for k, n in counts.items() if n]
        typer.echo(f"{len(entries)} checked: {', '.join(words) or 'none'}")
    if counts["changed"]:
        typer.echo(
            "tflkit: a change intended? rewrite the snapshot: tflkit snapshot MODEL", err=True
        )
    return EXIT_ERROR if errors else EXIT_FAILED if failed else EXIT_OK


def _show(entry: dict[str, Any], model: Path, path: Path) -> None:
    from tflkit.render.diff import change_line

    status = entry["status"]
    if status == "missing":
        typer.echo(f"MISSING    {model}: no snapshot {path}")
        typer.echo(f"  write it with: tflkit snapshot {model}" + _where(path, model))
    elif status == "malformed":
        typer.echo(f"MALFORMED  {model}")
        _indented(entry["error"])
    elif status == "matched":
        typer.echo(f"MATCH      {model}  {path}")
    else:
        changes = entry["changes"]
        typer.echo(f"CHANGED    {model}  {path}")
        _indented(entry["summary"])
        for c in changes[:SHOWN_CHANGES]:
            typer.echo("  " + change_line(c, width=78).replace("\n", "\n  "))
        if len(changes) > SHOWN_CHANGES:
            typer.echo(f"  ... {len(changes) - SHOWN_CHANGES} more (tflkit diff lists all)")


def _indented(text: str) -> None:
    import textwrap

    typer.echo(textwrap.fill(text, 78, initial_indent="  ", subsequent_indent="  "))


def _where(path: Path, model: Path) -> str:
    from tflkit.testing import model_snapshot_path

    return "" if path == model_snapshot_path(model) else f" -o {path}"

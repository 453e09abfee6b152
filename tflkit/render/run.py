"""A ``RunResult`` as rich renderables: the lines ``tflkit run`` prints.

One header line (samples, time, rate, batching), one table of the outputs (with min, max and
mean for a run in memory), and where the outputs went. Shows; never computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tflkit.render._text import Name, NameLine

if TYPE_CHECKING:
    from tflkit.running import RunResult

__all__ = ["run_renderables"]


def run_renderables(result: RunResult) -> list[Any]:
    """The header line, the outputs table and the line saying where the outputs went."""
    from rich.table import Table

    stats = result.shards is None  # a run in memory: min, max and mean of each output
    table = Table(title="Outputs", title_justify="left")
    table.add_column("name", ratio=1)
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    if stats:
        for column in ("min", "max", "mean"):
            table.add_column(column, justify="right", no_wrap=True)
    for o in result.outputs:
        cells: list[Any] = [Name(o.name), o.dtype, str(list(o.shape))]
        if stats:
            cells += [_number(o.min), _number(o.max), _number(o.mean)]
        table.add_row(*cells)
    lines: list[Any] = [header(result), table]
    if result.output_path:
        where = " (one .npz per shard, same stem)" if result.shards is not None else ""
        lines.append(
            NameLine(
                str(result.output_path), before=["outputs written to "], after=[where], path=True
            )
        )
    return lines


def header(result: RunResult) -> str:
    """``N samples [from K shards] in S s (R samples/s), batching: B``; for a model without a
    batch axis, one call; a note when the builtin kernels ran (XNNPACK could not)."""
    rate = result.samples_per_second
    if result.batch_axis is None:
        text = (
            f"one call in {result.seconds:.3f} s (the model has no batch axis: inputs fed at "
            "their own shapes)"
        )
    else:
        shards = f" from {result.shards} shards" if result.shards is not None else ""
        text = (
            f"{result.samples} samples{shards} in {result.seconds:.3f} s"
            + (f" ({rate:,.0f} samples/s)" if rate else "")
            + f", batching: {result.batching}"
        )
    if result.shards is None and not result.delegate:
        text += ", builtin kernels (XNNPACK could not prepare it)"
    return text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"

"""``tflkit bench``: a Benchmark as a two-column table (its JSON is ``Benchmark.to_dict()``).
Never computes: every figure comes from the Benchmark."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tflkit.render._text import NameLine, human_size, table, time_unit

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tflkit.speed import Benchmark, Latency

__all__ = ["benchmark_renderables"]


def _percentiles(lat: Latency, scale: float, unit: str) -> str:
    return (
        "  ".join(
            f"{k} {v * scale:.3g}"
            for k, v in (("min", lat.min_ms), ("p50", lat.p50_ms), ("p90", lat.p90_ms))
        )
        + f"  p99 {lat.p99_ms * scale:.3g} {unit}"
    )


def benchmark_renderables(b: Benchmark) -> list[RenderableType]:
    """The benchmark as a two-column table, then what each latency answers."""
    from rich.text import Text

    # The model's path shortened in the middle (its file name kept) to keep this one line.
    runs = f": {b.calls} calls of {b.batch_size} sample(s) in {b.seconds:.2f} s"
    head = NameLine(b.model, after=[runs], path=True)
    t = table("")
    t.show_header = False
    t.add_column("", style="bold", no_wrap=True)
    t.add_column("", overflow="fold")
    rss = human_size(b.peak_rss_bytes) if b.peak_rss_bytes is not None else "unknown"
    scale, unit = time_unit(b.latency.p50_ms)
    rows = [("latency per call", _percentiles(b.latency, scale, unit))]
    if b.invoke is not None:
        rows.append(("invoke alone", _percentiles(b.invoke, scale, unit)))
    if b.overhead_ms is not None:
        overhead = f"{b.overhead_ms * scale:.3g} {unit} per call (p50 call - p50 invoke)"
        rows.append(("overhead", overhead))
    rows += [
        ("throughput", f"{b.samples_per_second:,.0f} samples/s"),
        ("batching", b.batching),
        ("threads", "runtime default" if b.num_threads is None else str(b.num_threads)),
        ("peak RSS", f"{rss} (this process)"),
        ("warm-up", f"{b.warmup_calls} calls, not timed"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    out: list[RenderableType] = [head, Text(""), t, Text("")]
    out += [Text("inputs: " + line) for line in b.inputs]
    if b.invoke is not None:
        out += [
            Text('invoke alone: the runtime; it answers "is this model faster on this machine?"'),
            Text("latency per call: a whole Runner.predict, what an app pays per call"),
        ]
    return out

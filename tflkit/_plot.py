"""The ``--plot`` figure of ``tflkit compare`` (matplotlib, from the ``[plot]`` extra)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tflkit.errors import TflkitError

if TYPE_CHECKING:
    from tflkit.comparison import Comparison

PLOT_EXTRA = "plots need matplotlib: pip install 'tflkit[plot]'"


def require_matplotlib() -> None:
    """Raise TflkitError naming the extra when matplotlib is missing (check before long work)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise TflkitError(PLOT_EXTRA)


def plot_comparison(c: Comparison, path: str | os.PathLike[str]) -> None:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    names = [m.name for m in c.models]
    # A panel: title, bar heights, label format, and optional second bars (drawn behind, pale).
    panels: list[tuple[str, list[float], str, list[float] | None]] = []
    big = max(m.size_bytes for m in c.models) >= 2**20
    panels.append(
        (
            "file size (MiB)" if big else "file size (KiB)",
            [m.size_bytes / (2**20 if big else 1024) for m in c.models],
            "{:.2f}" if big else "{:.1f}",
            None,
        )
    )
    calls = [m.latency.p50_ms for m in c.models if m.latency is not None]
    if len(calls) == len(c.models):
        # The runtime's invoke (is it faster here?) in front of the whole call (what an app pays).
        scale, unit = (1e3, "µs") if max(calls) < 1 else (1.0, "ms")
        invokes = [scale * (m.invoke.p50_ms if m.invoke else 0.0) for m in c.models]
        panels.append(
            (
                f"one sample, p50 ({unit}): invoke (dark)\nin whole call (pale)",
                invokes,
                "{:.3g}",
                [scale * v for v in calls],
            )
        )
    if c.label_output is not None:
        panels.append(
            ("top-1 accuracy (%)", [100 * (m.accuracy or 0.0) for m in c.models], "{:.1f}", None)
        )
    out0 = c.models[c.reference].outputs[0] if c.models[c.reference].outputs else None
    if out0 is not None and out0.top1_agreement is not None:
        panels.append(
            (
                f"top-1 agreement with {c.models[c.reference].name} (%)",
                [100 * (m.outputs[0].top1_agreement or 0.0) for m in c.models],
                "{:.1f}",
                None,
            )
        )
    elif out0 is not None:
        panels.append(
            (
                f"SNR vs {c.models[c.reference].name} (dB, capped at 100)",
                [_cap(m.outputs[0].snr_db, 100.0) for m in c.models],
                "{:.1f}",
                None,
            )
        )

    colors = ["#888888" if i == c.reference else "#1f77b4" for i in range(len(names))]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.4 * len(panels), 3.2 + 0.12 * max(map(len, names)))
    )
    axes_list: list[Any] = list(axes) if len(panels) > 1 else [axes]
    for ax, (title, values, fmt, behind) in zip(axes_list, panels, strict=True):
        if behind is not None:
            pale = ax.bar(range(len(names)), behind, color=colors, alpha=0.3)
            ax.bar_label(pale, [fmt.format(v) for v in behind], fontsize=7, padding=2)
        bars = ax.bar(range(len(names)), values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.bar_label(bars, [fmt.format(v) for v in values], fontsize=7, padding=2)
        ax.margins(y=0.15)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"tflkit compare: {c.samples} samples, {c.data}", fontsize=10)
    fig.tight_layout()
    from tflkit._files import atomic_write

    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)


def _cap(x: float, top: float) -> float:
    """``x``, at most ``top``; a NaN stays NaN (no bar, labelled nan): ``min(top, nan)`` would
    draw a perfect bar."""
    return top if x > top else x

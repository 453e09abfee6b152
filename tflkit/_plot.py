"""The ``--plot`` figures of ``tflkit compare`` and ``tflkit convert`` (matplotlib, from the
``[plot]`` extra)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tflkit.errors import TflkitError

if TYPE_CHECKING:
    from tflkit._search import Search
    from tflkit.comparison import Comparison

PLOT_EXTRA = "plots need matplotlib: pip install 'tflkit[plot]'"


def require_matplotlib() -> None:
    """Raise TflkitError naming the extra when matplotlib is missing (check before long work)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise TflkitError(PLOT_EXTRA)


def _pyplot() -> Any:
    """matplotlib's pyplot drawing to files only (no display needed)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | os.PathLike[str]) -> None:
    """The figure as a PNG, written atomically, then closed."""
    from tflkit._files import atomic_write

    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)


def plot_comparison(c: Comparison, path: str | os.PathLike[str]) -> None:
    plt = _pyplot()

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
    _save(plt, fig, path)


def _cap(x: float, top: float) -> float:
    """``x``, at most ``top``; a NaN stays NaN (no bar, labelled nan): ``min(top, nan)`` would
    draw a perfect bar."""
    return top if x > top else x


def plot_search(s: Search, path: str | os.PathLike[str]) -> None:
    """``convert --plot``: each model of the search, size against accuracy (or SNR), in the
    order built; the target a dashed line, the result circled."""
    plt = _pyplot()

    accuracy = s.target == "max_drop" or (
        s.reference_accuracy is not None and all(st.accuracy is not None for st in s.steps)
    )
    ys = [100 * (st.accuracy or 0.0) if accuracy else _cap(st.snr_db, 100.0) for st in s.steps]
    xs = [st.size_bytes / 1024 for st in s.steps]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(xs, ys, color="#bbbbbb", linewidth=1, zorder=1)
    colors = ["#2ca02c" if st.meets else "#d62728" for st in s.steps]
    ax.scatter(xs, ys, c=colors, zorder=2)
    for i, st in enumerate(s.steps):
        ax.annotate(
            f"{i} {st.phase} ({len(st.kept)})",
            (xs[i], ys[i]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, 4),
        )
    r = s.chosen
    ax.scatter([xs[r]], [ys[r]], s=200, facecolors="none", edgecolors="black", zorder=3)
    if accuracy and s.reference_accuracy is not None:
        ax.axhline(100 * s.reference_accuracy, color="#888888", linewidth=0.8)
        if s.target == "max_drop":
            ax.axhline(100 * s.reference_accuracy - s.limit, color="black", linestyle="--")
    elif s.target == "min_snr":
        ax.axhline(s.limit, color="black", linestyle="--")
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("top-1 accuracy (%)" if accuracy else "SNR vs float32 (dB, capped at 100)")
    ax.set_title(
        f"tflkit convert: {s.conversions} models ({s.route}, fallback {s.fallback}); "
        "green meets the target",
        fontsize=9,
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    _save(plt, fig, path)

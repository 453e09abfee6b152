"""What the renderers share: JSON numbers, sizes, names shortened in the middle, and the rich
pieces that fit names to a terminal (cells, lines, grids). Imports rich inside functions only.

The one way tflkit shortens a name is ``shorten_middle``: its start and its end stay (a tensor's
scope and its last part, a path's root and its file name), an ellipsis stands for the middle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

ELLIPSIS = "\u2026"


def json_float(x: float) -> float | str:
    """A float for ``json.dumps(allow_nan=False)``: non-finite values become strings.

    ``NaN``, ``Infinity`` and ``-Infinity``, the spelling JavaScript and Python's json use.
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def json_or_none(x: float | None) -> float | str | None:
    """``json_float``, None kept."""
    return None if x is None else json_float(x)


def human_size(n: int) -> str:
    """``5.1 KiB``, ``3.9 MiB``: binary units, one decimal."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def cells(text: str) -> int:
    """How many terminal cells ``text`` takes (wide characters two)."""
    if text.isascii() and text.isprintable():  # one cell each; spares importing rich (~6 ms)
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def shorten_middle(text: str, width: int) -> str:
    """``text`` if it fits ``width`` terminal cells, else its start, an ellipsis and its end.

    Tensor names are paths whose ends tell them apart (``.../dense_1/BiasAdd``), so both ends
    stay. Wide characters count two cells.

    Args:
        text: the name.
        width: the most cells the result may take (at least 1 is useful).

    Returns:
        The text, or a shortened copy exactly ``width`` cells wide (narrower by one when a
        wide character does not fit).

    Example:
        >>> shorten_middle("model_1/model/re_lu/Relu6;model_1/model/bn/FusedBatchNormV3", 24)
        'model_1/mode\u2026BatchNormV3'
    """
    if cells(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[: max(width, 0)]
    room = width - 1
    head_room = (room + 1) // 2  # the start gets the odd cell: it says where the name lives
    head, used = "", 0
    for ch in text:
        w = cells(ch)
        if used + w > head_room:
            break
        head, used = head + ch, used + w
    tail_room, tail, used = room - used, "", 0
    for ch in reversed(text):
        w = cells(ch)
        if used + w > tail_room:
            break
        tail, used = ch + tail, used + w
    return head + ELLIPSIS + tail


_SEPARATORS = re.compile(r"[/\\]")


def shorten_path(path: str, width: int) -> str:
    """``shorten_middle`` for a file path: the middle of its directories gives way first, so
    that the file name stays whole while it fits.

    Example:
        >>> shorten_path("/home/someone/projects/models/mlp_int8.tflite", 30)
        '/home/s\u2026s/models/mlp_int8.tflite'
    """
    if cells(path) <= width:
        return path
    cut = max((m.end() for m in _SEPARATORS.finditer(path)), default=0)
    folder, name = path[:cut], path[cut:]
    if not folder or cells(name) + 3 > width:  # no room for a piece of the folder
        return shorten_middle(path, width)
    return shorten_middle(folder, width - cells(name)) + name


class Name:
    """A name in a table cell or grid: whole when its column has room, else shortened in the
    middle (``shorten_path`` for a file path).

    Rich asks a cell for its width range first, then renders it at the column's width;
    the column shrinks like a wrapping one, and the name never folds one letter per line.
    """

    def __init__(
        self, text: str, *, min_width: int = 12, path: bool = False, style: str = ""
    ) -> None:
        self.text = text
        self.min_width = min_width
        self.path = path
        self.style = style

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        n = cells(self.text)
        return Measurement(min(n, self.min_width), n)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        short = shorten_path if self.path else shorten_middle
        yield Text(short(self.text, options.max_width), style=self.style, no_wrap=True)


class NameLine:
    """One line of text around a name: ``before``, the name, ``after``. When the line is
    longer than the terminal, the name is shortened in the middle (``shorten_path`` for a
    path) to keep it one line; it keeps at least ``min_width`` cells.

    ``before`` and ``after`` are rich ``Text.assemble`` parts: strings or (text, style).
    """

    def __init__(
        self,
        name: str,
        *,
        before: Sequence[str | tuple[str, str]] = (),
        after: Sequence[str | tuple[str, str]] = (),
        path: bool = False,
        style: str = "",
        min_width: int = 20,
    ) -> None:
        self.name, self.before, self.after = name, tuple(before), tuple(after)
        self.path, self.style, self.min_width = path, style, min_width

    def _others(self) -> int:
        return sum(cells(p if isinstance(p, str) else p[0]) for p in self.before + self.after)

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        n = cells(self.name)
        return Measurement(self._others() + min(n, self.min_width), self._others() + n)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        room = max(self.min_width, options.max_width - self._others())
        short = shorten_path if self.path else shorten_middle
        yield Text.assemble(*self.before, (short(self.name, room), self.style), *self.after)


# A quoted name in a message (``repr()`` quotes with " when the name holds a ').
_QUOTED = re.compile(r"'[^'\n]+'|\"[^\"\n]+\"")
# Shortened names keep at least this many cells, even if the message then takes two lines.
_MIN_NAME = 32


class Message:
    """A message, indented; quoted names shortened in the middle to fit one line."""

    def __init__(self, text: str, indent: int = 4) -> None:
        self.text = text
        self.indent = indent

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.padding import Padding
        from rich.text import Text

        text = self.text
        width = options.max_width - self.indent
        names = _QUOTED.findall(text)
        if names and cells(text) > width:
            others = cells(text) - sum(cells(n) - 2 for n in names)
            room = max(_MIN_NAME, (width - others) // len(names))
            text = _QUOTED.sub(lambda m: m[0][0] + shorten_middle(m[0][1:-1], room) + m[0][0], text)
        # Padding indents the wrapped lines of a long message too.
        yield Padding(Text(text), (0, 0, 0, self.indent))


class Trimmed:
    """A renderable without trailing whitespace on its lines (rich pads titles, grids, text)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.rstrip():
                line.pop()
            if line and not line[-1].control:
                last = line[-1]
                line[-1] = Segment(last.text.rstrip(), last.style)
            yield from line
            yield Segment.line()


def trimmed(renderables: Sequence[RenderableType]) -> list[RenderableType]:
    """Each renderable without trailing whitespace (``Trimmed``)."""
    return [Trimmed(r) for r in renderables]


def header_grid() -> Any:
    """A two-column grid of ``label  value`` rows (inspect's and convert's headers)."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def table(title: str) -> Any:
    """A table of numbers: no rules but the one under the header, two spaces between columns,
    so that eight columns of numbers (compare's error tables) fit 80 columns."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )


@dataclass(frozen=True)
class Grid:
    """One table of text cells, drawn by rich for the terminal or as GitHub Markdown."""

    title: str
    headers: tuple[str, ...]
    rows: list[list[str]]
    left: int = 1  # how many leading columns are text (left-aligned); the rest are numbers
    footer: tuple[str, ...] = ()
    title_name: str = ""  # a name or path in the title, shortened when the title is too long


def grid_renderables(g: Grid) -> list[RenderableType]:
    """A ``Grid`` for the terminal: its title (above the table when long: rich would wrap
    it to the table's width; its ``title_name`` shortened to keep it one line), the table (its
    first column's names shortened in the middle), its footer lines."""
    from rich.text import Text

    out: list[RenderableType] = []
    long = len(g.title) > 60
    if long:
        name = g.title_name if g.title_name in g.title else ""
        before, _, after = g.title.partition(name) if name else (g.title, "", "")
        out.append(NameLine(name, before=[before], after=[after], path=True))
    t = table("" if long else g.title)
    for i, h in enumerate(g.headers):
        if i == 0:
            t.add_column(h, ratio=1)
        else:
            t.add_column(h, justify="left" if i < g.left else "right", no_wrap=True)
    for row in g.rows:
        t.add_row(Name(row[0]), *row[1:])
    if g.rows:
        out.append(t)
    out += [Text(line) for line in g.footer]
    return out


def grid_markdown(g: Grid) -> list[str]:
    """A ``Grid`` as GitHub Markdown lines: title, table, footer."""

    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |"

    lines = ["", f"{g.title}:", ""]
    if g.rows:
        align = [":--" if i < max(1, g.left) else "--:" for i in range(len(g.headers))]
        lines += [row(g.headers), row(align), *(row(r) for r in g.rows)]
    lines += [f"\n{f}" for f in g.footer]
    return lines


def fmt(v: float | None, spec: str, suffix: str = "") -> str:
    """``v`` formatted, or empty for None."""
    return "" if v is None else f"{v:{spec}}{suffix}"


def g4(x: float) -> str:
    """Four significant digits; ``nan`` and ``inf`` as Python spells them."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def time_unit(ms: float) -> tuple[float, str]:
    """Milliseconds, or microseconds under one millisecond: (factor from ms, unit)."""
    return (1e3, "µs") if ms < 1 else (1.0, "ms")

"""What a new user meets first. ``tflkit --help`` and every command's ``--help`` on an
80-column terminal: nothing cut, nothing squeezed, no line broken before it is full (a hard
newline in a help string). A file that is not a model: the error says what the file is."""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import typer
from conftest import FIXTURES, Cli
from rich.cells import cell_len

from tflkit.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
# the narrowest help column a reader can follow: a few words a line, not one
MIN_HELP_WIDTH = 30


def panels(text: str) -> list[list[str]]:
    """The inner text of each rich box (between the side bars ``│``), one list per box."""
    boxes: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("╭"):
            boxes.append([])
        elif line.startswith("│") and line.endswith("│") and boxes:
            boxes[-1].append(line[1:-1])
    return boxes


def help_rows(box: list[str]) -> tuple[int, list[list[str]]]:
    """The column the help text starts at, and each entry's help lines (first line, then the
    lines that continue it). The help column is where most lines' last run of two or more
    spaces ends: the gap after the option names and metavar, or a continuation's indent."""
    ends = [gaps[-1].end() for line in box if (gaps := list(re.finditer(r" {2,}", line.rstrip())))]
    column = Counter(ends).most_common(1)[0][0] if ends else 0
    rows: list[list[str]] = []
    for line in box:
        head, text = line[:column], line[column:].rstrip()
        if head.strip():
            rows.append([text])
        elif rows and text:
            rows[-1].append(text)
    return column, rows


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_fits_80_columns_and_wraps_only_when_full(cli: Cli, command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]
    result = cli.invoke(*args)
    assert result.exit_code == 0, result.stderr
    assert all(cell_len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    # rich cuts an option name that does not fit its column with an ellipsis
    assert "…" not in result.stdout, result.stdout
    for box in panels(result.stdout):
        column, rows = help_rows(box)
        width = len(box[0]) - column - 1  # rich pads the last column with one space
        if column == 0:
            continue  # the Arguments box of a command with one argument and no help column
        assert width >= MIN_HELP_WIDTH, f"{args}: help column {width} wide\n{result.stdout}"
        for row in rows:
            for line, following in pairwise(row):
                if following.startswith("["):  # typer's [default: ...] / [required] line
                    continue
                word = following.split()[0]
                # a greedy wrap breaks only where the next word would not fit
                assert cell_len(line) + 1 + cell_len(word) > width, (
                    f"{args}: line broken before it is full: {line!r} / {following!r}"
                )


def png(path: Path) -> Path:
    """A valid 1x1 grey PNG (the chunks as the PNG spec lays them out)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def zip_file(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    return path


def npy(path: Path) -> Path:
    np.save(path, np.zeros((4, 32), np.float32))
    return path.with_suffix(".npy")


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda tmp: FIXTURES / "outlier_mlp.keras", "a zip archive, as a .keras model"),
        (lambda tmp: zip_file(tmp / "m.tflite"), "a zip archive"),
        (lambda tmp: png(tmp / "photo.tflite"), "a PNG image"),
        (lambda tmp: npy(tmp / "x.npy"), "a NumPy .npy array"),
    ],
)
@pytest.mark.parametrize("command", ["inspect", "check"])
def test_a_file_of_another_kind_is_named(
    cli: Cli, tmp_path: Path, make: Callable[[Path], Path], what: str, command: str
) -> None:
    path = make(tmp_path)
    result = cli.invoke(command, path)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"tflkit: error: {path.name}: file identifier is "), line
    assert f"expected b'TFL3' (the file is {what}" in line, line

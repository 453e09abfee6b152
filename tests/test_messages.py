"""Library messages speak Python (``allow_uint8_io=True``); the CLI prints them with its flags."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import fixture_path
from typer.testing import CliRunner, Result

import tflkit
from tflkit.cli import app
from tflkit.cli._common import PYTHON_TO_FLAGS, cli_text, error_text
from tflkit.errors import InputError

TFLKIT = Path(tflkit.__file__).parent
# The library modules whose messages are held to Python here (the rest: their own tests).
LIBRARY = [
    "checks",
    "conversion.py",
    "_source.py",
    "_quantizer.py",
    "testing.py",
    "loader.py",
    "differ.py",
    "model.py",
]


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def test_check_finding_says_allow_uint8_io_in_python_and_the_flag_in_the_cli() -> None:
    path = fixture_path("cnn_uint8_io.tflite")
    report = tflkit.check(path)
    assert report.violations
    assert all("pass allow_uint8_io=True to accept uint8" in f.message for f in report.violations)
    result = _invoke("check", str(path))
    assert result.exit_code == 1, result.stderr
    out = " ".join(result.stdout.split())
    assert "pass --allow-uint8-io to accept uint8" in out
    assert "allow_uint8_io" not in out


def test_list_rules_names_the_flag() -> None:
    result = _invoke("check", "--list-rules")
    out = " ".join(result.stdout.split())
    assert result.exit_code == 0 and "with --allow-uint8-io" in out
    assert "allow_uint8_io" not in out


@pytest.mark.parametrize(
    ("python", "cli"),
    [
        ("m.tflite exists; pass force=True to replace it", "m.tflite exists; pass --force to replace it"),
        ("Convert the float model with to='int8': the same", "Convert the float model with --to int8: the same"),
        ("usually suffice (samples=300 takes the first 300)", "usually suffice (--samples 300 takes the first 300)"),
        ("Pass calibration='calib.npy'; tflkit never", "Pass --calibration calib.npy; tflkit never"),
        ("cannot draw random int32 values; pass data=", "cannot draw random int32 values; pass --data"),
        ("leave out address= for a local Ray", "leave out --address for a local Ray"),
        ("speed=False skips the timing", "--no-speed skips the timing"),
        ("shapes= gives them", "--shape gives them"),
        # not parameters: left alone
        ("set TFLiteConverter.inference_input_type = tf.int8", "set TFLiteConverter.inference_input_type = tf.int8"),
        ("supported_types=[tf.float16]", "supported_types=[tf.float16]"),
        ("converter.io=3 and uint8_io=True", "converter.io=3 and uint8_io=True"),
    ],
)  # fmt: skip
def test_cli_text_turns_python_spellings_into_flags(python: str, cli: str) -> None:
    assert cli_text(python) == cli


def test_error_text_speaks_the_cli() -> None:
    assert error_text(InputError("m.tflite exists; pass force=True to replace it")) == (
        "m.tflite exists; pass --force to replace it"
    )


def test_every_flag_in_the_table_is_an_option_of_the_cli() -> None:
    import typer.main

    command = typer.main.get_command(app)
    options = {
        opt
        for sub in command.commands.values()  # type: ignore[attr-defined]
        for param in sub.params
        for opt in (*param.opts, *param.secondary_opts)
    }
    flags = {f for v in PYTHON_TO_FLAGS.values() for f in (v if isinstance(v, tuple) else (v,))}
    assert flags <= options, flags - options


def _message_strings(path: Path) -> list[tuple[int, str]]:
    """String constants outside docstrings: what the module can say at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_library_messages_name_no_cli_flag_or_command() -> None:
    import re

    cli_words = re.compile(
        r"(?<![\w-])--[a-z]|\btflkit (inspect|check|run|compare|bench|convert)\b"
    )
    found = []
    for name in LIBRARY:
        root = TFLKIT / name
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            for line, text in _message_strings(path):
                if cli_words.search(text):
                    found.append(f"{path.relative_to(TFLKIT)}:{line}: {text!r}")
    assert not found, "\n".join(found)

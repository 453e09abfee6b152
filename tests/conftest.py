"""Shared test helpers: fixture paths, the manifest, and the LiteRT interpreter as ground truth."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "MANIFEST.json").read_text())
MODELS: dict[str, dict[str, Any]] = MANIFEST["models"]
ALL_FIXTURES = sorted(MODELS)


def fixture_path(name: str) -> Path:
    return FIXTURES / name


def has_fixture(name: str) -> bool:
    return name in MODELS and (FIXTURES / name).exists()


def need_fixture(name: str) -> Path:
    """The fixture's path; skip the test when build.py recorded it as skipped."""
    if not has_fixture(name):
        reasons = {s["name"]: s["why"] for s in MANIFEST.get("skipped", [])}
        pytest.skip(f"fixture {name} not built: {reasons.get(name, 'not in MANIFEST.json')}")
    return FIXTURES / name


def litert_interpreter(path: Path | str | bytes) -> Any:
    """A LiteRT interpreter on the file, or None if the runtime refuses it (Flex ops)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        if isinstance(path, bytes):
            return Interpreter(model_content=path)
        return Interpreter(model_path=str(path))
    except (RuntimeError, ValueError):
        return None


def np_dtype_name(dtype: Any) -> str:
    """numpy dtype (as the interpreter reports it) -> lower-case TFLite type name."""
    return np.dtype(dtype).name


@pytest.fixture(params=ALL_FIXTURES)
def fixture_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def edited(name: str, edit: Any) -> bytes:
    """The fixture's bytes after ``edit(model_object)`` (LiteRT's flatbuffer object API)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray((FIXTURES / name).read_bytes()))
    edit(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def close(a: float | None, b: float | None) -> bool:
    """Two metrics equal to 1e-9 (relative): summed in another order, as merged tallies are;
    None only equals None, an infinity only itself."""
    if a is None or b is None:
        return a is b
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)

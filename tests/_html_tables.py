"""What the HTML report tests share: the report's tables read back (by html5lib, or from
Chromium's DOM, into the same plain shape) and checked cell by cell against the ``--json``
document of the same run."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# A table as read back: {"kind": data-table, "attrs": {data-*}, "headers": [...],
#   "rows": [{"row": data-row, "cells": [{"key", "v", "text"}]}]}
Table = dict[str, Any]

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?inf|nan")


def json_number(v: Any) -> float:
    """A JSON value as a float: numbers, and the strings json_float writes for NaN and inf."""
    if isinstance(v, str):
        return {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}[v]
    return float(v)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def shown_matches(text: str, value: float, factor: float) -> bool:
    """``text`` (``36.8 dB``, ``81.2%``, ``1.01e-05``, ``7,478,984``, ``inf``) is ``value *
    factor`` rounded to the digits it shows (half a unit of its last digit, and a little for
    the float product)."""
    m = _NUMBER.search(text.replace("\u2212", "-"))
    assert m, f"no number in cell {text!r}"
    s = m.group(0).replace(",", "")
    shown = float(s)
    want = value * factor
    if not math.isfinite(want) or not math.isfinite(shown):
        return same(shown, want)
    mantissa, _, exponent = s.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (-decimals + (int(exponent) if exponent else 0))
    return abs(shown - want) <= 0.5 * unit + 1e-9 * abs(want)


def _lookup(doc: Mapping[str, Any], table: Table, row: str, key: str) -> Any:
    """The JSON value a cell stands for."""
    kind = table["kind"]
    if kind == "per-tensor":
        per = next(p for p in doc["per_tensor"] if p["model"] == table["attrs"]["model"])
        tensor = next(t for t in per["tensors"] if t["name"] == row)
        return tensor[key]
    model = next(m for m in doc["models"] if m["name"] == row)
    if kind == "output" and key not in ("accuracy", "accuracy_delta"):
        out = next(o for o in model["outputs"] if o["name"] == table["attrs"]["output"])
        return out[key]
    value: Any = model
    for part in key.split("."):
        value = value[part]
    return value


def _factor(table: Table, column: str, key: str) -> float:
    if key in ("accuracy", "top1_agreement", "accuracy_delta"):
        return 100.0
    if key.endswith(("_ms", ".p50")):
        return 1000.0 if "µs" in table["caption"] else 1.0
    return 1.0


def check_tables(tables: list[Table], doc: Mapping[str, Any]) -> int:
    """Every number of the compare tables equals the JSON value of its model, output or
    tensor exactly (``data-v``) and as shown (rounded); every model and tensor has its row.
    Returns how many numbers were checked."""
    checked = 0
    kinds = {t["kind"] for t in tables}
    assert {"size", "output", "io"} <= kinds, kinds
    names = [m["name"] for m in doc["models"]]
    for t in tables:
        if t["kind"] == "io":
            continue
        rows = [r["row"] for r in t["rows"]]
        if t["kind"] == "per-tensor":
            per = next(p for p in doc["per_tensor"] if p["model"] == t["attrs"]["model"])
            assert rows == [x["name"] for x in per["tensors"]], t["caption"]
        elif t["kind"] in ("size", "output", "speed", "throughput"):
            assert rows == names, t["caption"]
        for r in t["rows"]:
            for col, cell in zip(t["headers"], r["cells"], strict=True):
                if cell["v"] is None or cell["key"] in ("rank", "position"):
                    continue
                want = json_number(_lookup(doc, t, r["row"], cell["key"]))
                got = float(cell["v"])
                assert same(got, want), (t["caption"], r["row"], cell)
                if cell["key"] != "size_bytes":  # shown as KiB
                    factor = _factor(t, col, cell["key"])
                    assert shown_matches(cell["text"], want, factor), (t["caption"], cell)
                checked += 1
    per_tensor = sum(t["kind"] == "per-tensor" for t in tables)
    assert per_tensor == len(doc["per_tensor"] or ())
    return checked


def etree_tables(root: Any) -> list[Table]:
    """The tables of a page parsed by html5lib (``namespaceHTMLElements=False``)."""
    out = []
    for table in root.iter("table"):
        caption = table.find("caption")
        headers = ["".join(th.itertext()).strip() for th in table.iter("th")]
        rows = []
        for tr in table.find("tbody").iter("tr"):
            cells = [
                {
                    "key": td.get("data-key", ""),
                    "v": td.get("data-v"),
                    "text": "".join(td.itertext()).strip(),
                }
                for td in tr.iter("td")
            ]
            rows.append({"row": tr.get("data-row"), "cells": cells})
        attrs = {k[5:]: v for k, v in table.attrib.items() if k.startswith("data-")}
        out.append(
            {
                "kind": attrs.pop("table", ""),
                "attrs": attrs,
                "caption": "".join(caption.itertext()) if caption is not None else "",
                "headers": headers,
                "rows": rows,
            }
        )
    return out

"""``--html``: a Comparison or a Conversion as one self-contained HTML page.

No network, no server, no template engine: CSS inline, figures as inline SVG, a small inline
script that sorts tables (the page reads the same with JavaScript off). A Content-Security-Policy
meta tag forbids the page to fetch anything. Never computes: every number in a table is a value
of the ``--json`` document of the same result (``comparison_to_dict``, ``conversion_to_dict``),
kept exactly in the cell's ``data-v`` attribute (the one the sort reads); what a cell shows is that
value formatted as the terminal tables do. Every string from a model, a path or a message is
escaped (``html.escape``).

Cells carry ``data-key`` (the JSON key of the value), rows ``data-row`` (a model or tensor name),
tables ``data-table`` (``size``, ``output``, ``speed``, ``throughput``, ``io``, ``per-tensor``,
``search``): the tests read the page back by them, with html5lib and in Chromium.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

from tflkit.render._text import human_size, time_unit
from tflkit.render.comparison import CALL_MEANS, INVOKE_MEANS, comparison_to_dict
from tflkit.render.conversion import conversion_to_dict
from tflkit.render.report import report_to_dict

if TYPE_CHECKING:
    from tflkit._results import Comparison
    from tflkit.conversion import Conversion
    from tflkit.model import Model, Quantization, Subgraph
    from tflkit.report import Report

__all__ = ["comparison_html", "conversion_html", "write_html"]

# ---------------------------------------------------------------- page

# Every selector under .tflkit: the same CSS serves the page and a notebook cell.
_CSS = """
.tflkit{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;
max-width:64rem;margin:0 auto;padding:.75rem}
.tflkit h1{font-size:1.35rem;margin:.2rem 0 .6rem}
.tflkit h2{font-size:1.12rem;margin:1.6rem 0 .4rem;border-bottom:1px solid #d0d7de}
.tflkit h3{font-size:1rem;margin:1rem 0 .3rem;overflow-wrap:anywhere}
.tflkit p,.tflkit li,.tflkit dd,.tflkit dt{overflow-wrap:anywhere}
.tflkit .scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
.tflkit table{border-collapse:collapse;margin:.3rem 0;font-size:.9rem}
.tflkit caption{text-align:left;font-weight:600;padding:.2rem 0;caption-side:top}
.tflkit th,.tflkit td{padding:.2rem .55rem;border-bottom:1px solid #e4e8ec;vertical-align:top}
.tflkit th{background:#f3f5f7;text-align:left;white-space:nowrap}
.tflkit td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.tflkit table[data-table=per-tensor] td.name{min-width:11rem}
.tflkit td.name{max-width:28rem;overflow-wrap:anywhere;font-family:ui-monospace,monospace;
font-size:.85rem}
.tflkit td[data-key=shape],.tflkit td[data-key=dtype]{white-space:nowrap}
.tflkit th.sort{cursor:pointer}.tflkit th.sort:after{content:" \\2195";color:#8c959f}
.tflkit th[aria-sort=ascending]:after{content:" \\2191"}
.tflkit th[aria-sort=descending]:after{content:" \\2193"}
.tflkit .pass{color:#116329;font-weight:700}.tflkit .fail{color:#b3261e;font-weight:700}
.tflkit .bad{color:#b3261e}.tflkit .note{color:#57606a;font-size:.88rem}
.tflkit dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.3rem 0}
.tflkit dl.kv dt{font-weight:600}.tflkit dl.kv dd{margin:0}
.tflkit svg{max-width:100%;height:auto;display:block}
.tflkit details{margin:.2rem 0}.tflkit summary{cursor:pointer}
.tflkit code{font-size:.85rem;overflow-wrap:anywhere}
@media (max-width:600px){.tflkit{font-size:14px;padding:.4rem}
.tflkit dl.kv{grid-template-columns:1fr}.tflkit dl.kv dd{margin-left:.6rem}}
"""

# Sorting, where JavaScript runs: a click on a header sorts by data-v (numbers) or the text.
# Each table once (a notebook runs the script of every report shown).
_JS = """
(function(){
function key(td){if(!td)return"";var v=td.getAttribute("data-v");
if(v===null)return td.textContent.trim().toLowerCase();var x=parseFloat(v);
return isNaN(x)?-Infinity:x;}
document.querySelectorAll(".tflkit table.sortable").forEach(function(t){
if(t.hasAttribute("data-sorts"))return;t.setAttribute("data-sorts","");
var hs=t.tHead.rows[0].cells;
Array.prototype.forEach.call(hs,function(th,i){th.className+=" sort";th.tabIndex=0;
function go(){var d=th.getAttribute("aria-sort")==="ascending"?-1:1;
Array.prototype.forEach.call(hs,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",d>0?"ascending":"descending");
var b=t.tBodies[0],rs=Array.prototype.slice.call(b.rows);
rs.sort(function(p,q){var a=key(p.cells[i]),c=key(q.cells[i]);
return(a<c?-1:a>c?1:0)*d;});rs.forEach(function(r){b.appendChild(r);});}
th.addEventListener("click",go);
th.addEventListener("keydown",function(e){if(e.key==="Enter")go();});});});
})();
"""

# Nothing leaves the page: no fetch, no image, no font from anywhere but the page itself.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _e(text: object) -> str:
    """Escaped for text and for attribute values (quotes too)."""
    return html.escape(str(text), quote=True)


def _page(title: str, body: str, *, fragment: bool) -> str:
    inner = f'<div class="tflkit">\n{body}\n</div>'
    if fragment:  # a notebook cell: no document around it
        return f"<style>{_CSS}</style>\n{inner}\n<script>{_JS}</script>\n"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="tflkit">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{inner}\n<script>{_JS}</script>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Cell:
    text: str
    value: Any = None  # the JSON value (number, "Infinity", ...) behind a number; None: text
    key: str = ""  # its JSON key
    name: bool = False  # a model-supplied name: monospace, broken anywhere


def _v(value: Any) -> str:
    """A JSON value as ``data-v``: ``repr`` of a float (exact, as json writes it)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    return str(value)


def _td(c: _Cell) -> str:
    attrs = f' data-key="{_e(c.key)}"' if c.key else ""
    if c.value is not None:
        attrs += f' data-v="{_e(_v(c.value))}" class="n"'
    elif c.name:
        attrs += ' class="name"'
    return f"<td{attrs}>{_e(c.text)}</td>"


def _table(
    kind: str,
    caption: str,
    headers: Sequence[str],
    rows: Iterable[tuple[str, Sequence[_Cell]]],
    *,
    attrs: Mapping[str, str] | None = None,
    sortable: bool = False,
) -> str:
    extra = "".join(f' data-{k}="{_e(v)}"' for k, v in (attrs or {}).items())
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "\n".join(
        f'<tr data-row="{_e(row)}">' + "".join(map(_td, cells)) + "</tr>" for row, cells in rows
    )
    return (
        f'<div class="scroll"><table data-table="{_e(kind)}"{extra}{cls}>'
        f"<caption>{_e(caption)}</caption>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _num(value: Any, spec: str, key: str, suffix: str = "", scale: float = 1.0) -> _Cell:
    """A number cell: shown with ``spec`` (times ``scale``), its JSON value kept whole."""
    if value is None:
        return _Cell("", None, key)
    if isinstance(value, str):  # "Infinity", "NaN": non-finite as JSON spells it
        return _Cell(value.replace("Infinity", "inf").replace("NaN", "nan"), value, key)
    shown = value * scale if scale != 1.0 else value
    return _Cell(f"{shown:{spec}}{suffix}", value, key)


def _db(value: Any, key: str = "snr_db") -> _Cell:
    if isinstance(value, str):
        return _num(value, "", key)
    return _num(value, ".1f", key, " dB")


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs)
    return f'<dl class="kv">{items}</dl>'


def _p(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{_e(text)}</p>'


# ---------------------------------------------------------------- models and checks


def _quant_cells(q: Quantization | None) -> tuple[_Cell, _Cell]:
    if q is None:
        return _Cell(""), _Cell("")
    if len(q.scales) == 1:
        zp = q.zero_points[0] if q.zero_points else None
        return _num(q.scales[0], ".6g", "scale"), _num(zp, "d", "zero_point")
    lo, hi = min(q.scales), max(q.scales)
    zps = sorted(set(q.zero_points))
    text = f"{len(q.scales)} scales (axis {q.quantized_dimension}) {lo:.3g}..{hi:.3g}"
    return _Cell(text), _Cell(", ".join(map(str, zps[:4])) + (" ..." if len(zps) > 4 else ""))


def _io_rows(model: Model, sg: Subgraph) -> list[tuple[str, list[_Cell]]]:
    names = {
        "in": model.signature_names(sg.index, "input"),
        "out": model.signature_names(sg.index, "output"),
    }
    rows = []
    for kind, indices in (("in", sg.inputs), ("out", sg.outputs)):
        for n, i in enumerate(indices):
            t = sg.tensors[i]
            inner = sg.edge_quantization(i)
            scale, zp = _quant_cells((inner or t).quantization)
            if inner is not None:
                scale = replace(scale, text=scale.text + " (in graph)")
            dims = t.shape_signature or t.shape
            rows.append(
                (
                    names[kind].get(i) or t.name,
                    [
                        _Cell(f"{kind} {n}"),
                        _Cell(names[kind].get(i) or t.name, name=True),
                        _Cell(t.dtype, key="dtype"),
                        _Cell("[" + ", ".join(map(str, dims)) + "]", key="shape"),
                        scale,
                        zp,
                    ],
                )
            )
    return rows


def _model_section(name: str, kind: str, size: int, path: str | None, model: Model | None) -> str:
    out = [f"<h3>{_e(name)}</h3>"]
    pairs = [("kind", kind), ("size", f"{human_size(size)} ({size:,} bytes)")]
    if path:
        pairs.append(("file", path))
    out.append(_kv(pairs))
    if model is not None and model.subgraphs:
        sg = model.subgraphs[0]
        out.append(
            _table(
                "io",
                f"Inputs and outputs of {name}",
                ("", "name", "dtype", "shape", "scale", "zero point"),
                _io_rows(model, sg),
                attrs={"model": name},
            )
        )
        if any(sg.edge_quantization(i) is not None for i in (*sg.inputs, *sg.outputs)):
            out.append(
                _p(
                    "(in graph): a float input or output quantized inside the graph "
                    "(QUANTIZE after the input, DEQUANTIZE before the output): its scale"
                )
            )
    return "\n".join(out)


# Findings listed per rule at most (--json has every one).
_FINDINGS = 200


def _report_section(report: Report, name: str) -> str:
    d = report_to_dict(report)
    word, cls = ("PASS", "pass") if d["passed"] else ("FAIL", "fail")
    what = [f"profile {d['profile']}"] if d["profile"] else []
    if report.target is not None:
        what.append(f"target {report.target.target}")
    counts = f"{len(d['violations'])} violations, {len(d['warnings'])} warnings"
    out = [
        f'<p data-check="{_e(name)}"><span class="{cls}">{word}</span> {_e(name)}: '
        f"{_e(', '.join(what))}; {_e(counts)}</p>"
    ]
    if d["summary"]:
        out.append(_p(d["summary"]))
    if report.target is not None:
        out.append(_p(report.target.summary))
    for kind, findings in (("violation", d["violations"]), ("warning", d["warnings"])):
        groups: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            groups.setdefault(f["rule"], []).append(f)
        for rule, group in groups.items():
            items = "".join(f"<li>{_e(f['message'])}</li>" for f in group[:_FINDINGS])
            if len(group) > _FINDINGS:
                items += f"<li>... and {len(group) - _FINDINGS} more (--json lists all)</li>"
            bad = ' class="bad"' if kind == "violation" else ""
            out.append(
                f"<details><summary><code{bad}>{_e(rule)}</code> ({kind}, {len(group)})"
                f"</summary><ul>{items}</ul></details>"
            )
    return "\n".join(out)


# ---------------------------------------------------------------- comparison


def _size_table(d: Mapping[str, Any]) -> str:
    rows = [
        (
            m["name"],
            [
                _Cell(m["name"], name=True),
                _Cell(m["kind"], key="kind"),
                _Cell(human_size(m["size_bytes"]), m["size_bytes"], "size_bytes"),
                _num(m["size_ratio"], ".2f", "size_ratio", "x"),
            ],
        )
        for m in d["models"]
    ]
    return _table("size", "Size", ("model", "kind", "size", "vs ref"), rows)


def _output_tables(d: Mapping[str, Any], against: str) -> list[str]:
    out = []
    ref = d["models"][d["reference"]]
    for k, o in enumerate(ref["outputs"]):
        labels = d["label_output"] == o["name"]
        headers: tuple[str, ...] = ("model", "accuracy", "Δ pt") if labels else ("model",)
        headers += ("agree", "max err", "mean err", "MSE", "RMSE", "SNR")
        rows = []
        for m in d["models"]:
            e = m["outputs"][k]
            cells = [_Cell(m["name"], name=True)]
            if labels:
                cells += [
                    _num(m["accuracy"], ".1%", "accuracy"),
                    _num(m["accuracy_delta"], "+.1f", "accuracy_delta", scale=100),
                ]
            cells += [
                _num(e["top1_agreement"], ".1%", "top1_agreement"),
                _num(e["max_abs"], ".3g", "max_abs"),
                _num(e["mean_abs"], ".3g", "mean_abs"),
                _num(e["mse"], ".3g", "mse"),
                _num(e["rmse"], ".3g", "rmse"),
                _db(e["snr_db"]),
            ]
            rows.append((m["name"], cells))
        title = f"Output {o['name']!r} against {against}"
        out.append(_table("output", title, headers, rows, attrs={"output": o["name"]}))
        bad = [
            f"{m['name']}: {m['outputs'][k]['nonfinite']['nan']} NaN and "
            f"{m['outputs'][k]['nonfinite']['inf']} inf in output {o['name']!r}"
            for m in d["models"]
            if m["outputs"][k]["nonfinite"]["nan"] or m["outputs"][k]["nonfinite"]["inf"]
        ]
        if bad:
            out += [_p(line, "bad") for line in bad]
            out.append(_p("NaN or inf in the outputs compared: the errors measure nothing", "bad"))
    return out


_ERRORS_MEAN = (
    "agree: the fraction of samples whose top-1 class (argmax) is the reference's. "
    "max err / mean err: the largest and the mean absolute difference from the reference's "
    "output; MSE and RMSE: the mean squared difference and its root; SNR: "
    "10 log10(sum ref\u00b2 / sum (out \u2212 ref)\u00b2) in dB, higher is closer "
    "(inf: identical). \u0394 pt: the change of accuracy in percentage points."
)


def _speed_tables(d: Mapping[str, Any]) -> list[str]:
    timed = [m for m in d["models"] if m["latency_ms"] is not None]
    if not timed or len(timed) < len(d["models"]):
        return []
    scale, unit = time_unit(max(m["latency_ms"]["p50"] for m in timed))
    rows = []
    for m in timed:
        inv = m["invoke_ms"]
        rows.append(
            (
                m["name"],
                [
                    _Cell(m["name"], name=True),
                    _num(None if inv is None else inv["p50"], ".3g", "invoke_ms.p50", scale=scale),
                    _num(m["invoke_speedup"], ".2f", "invoke_speedup", "x"),
                    _num(m["overhead_ms"], ".3g", "overhead_ms", scale=scale),
                    _num(m["latency_ms"]["p50"], ".3g", "latency_ms.p50", scale=scale),
                    _num(m["latency_speedup"], ".2f", "latency_speedup", "x"),
                ],
            )
        )
    one = _table(
        "speed",
        f"Speed: one sample, median ({unit})",
        ("model", "invoke", "vs ref", "overhead", "call", "vs ref"),
        rows,
    )
    rows = [
        (
            m["name"],
            [
                _Cell(m["name"], name=True),
                _num(m["invoke_samples_per_second"], ",.0f", "invoke_samples_per_second"),
                _num(m["invoke_throughput_speedup"], ".2f", "invoke_throughput_speedup", "x"),
                _num(m["samples_per_second"], ",.0f", "samples_per_second"),
                _num(m["throughput_speedup"], ".2f", "throughput_speedup", "x"),
            ],
        )
        for m in timed
    ]
    batch = _table(
        "throughput",
        "Speed: the whole batch (samples/s)",
        ("model", "invoke", "vs ref", "call", "vs ref"),
        rows,
    )
    means = [
        INVOKE_MEANS,
        CALL_MEANS.replace("\n", " "),
        "overhead: call \u2212 invoke at the median, tflkit's own work per call. "
        "vs ref: the reference's figure over this model's (above 1: faster). "
        "Measured on the machine that wrote this page.",
    ]
    return [one, batch, "<ul class=note>" + "".join(f"<li>{_e(x)}</li>" for x in means) + "</ul>"]


def _graph_order(model: Model | None) -> dict[str, int]:
    """Tensor name -> its place in subgraph 0 (1-based): the inputs, then each operator's
    outputs in the order the operators run."""
    if model is None or not model.subgraphs:
        return {}
    sg = model.subgraphs[0]
    # the graph's inputs first (quantized on the way in), then what the operators write
    inputs = [t.name for i in sg.inputs if (t := sg.tensor(i)) is not None]
    order: dict[str, int] = {}
    for name in (*inputs, *sg.operator_output_names()):
        order.setdefault(name, len(order) + 1)
    return order


def _snr_value(v: Any) -> float:
    return float(v) if isinstance(v, (int, float, str)) else math.nan


def _snr_colour(snr: float, lo: float, hi: float) -> str:
    """Red (the lowest finite SNR) to green (the highest); grey for inf (identical)."""
    if math.isinf(snr) and snr > 0:
        return "#8c959f"
    f = 0.0 if not math.isfinite(snr) or hi <= lo else min(max((snr - lo) / (hi - lo), 0.0), 1.0)
    return f"hsl({round(120 * f)},70%,42%)"


def _per_tensor_chart(tensors: Sequence[Mapping[str, Any]], model: str) -> str:
    """Bars of SNR along the graph order: short red bars are where the error enters."""
    n = len(tensors)
    if not n:
        return ""
    snrs = [_snr_value(t["snr_db"]) for t in tensors]
    finite = [s for s in snrs if math.isfinite(s)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    top = math.ceil(max(hi, 1.0) / 10) * 10
    w, h, left, bottom, pad = 720, 260, 44, 34, 10
    plot_w, plot_h = w - left - pad, h - bottom - pad
    bw = plot_w / n
    parts = [
        f'<svg viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}" role="img" data-chart="per-tensor" data-model="{_e(model)}" '
        f'font-family="sans-serif" font-size="11">',
        f"<title>{_e(f'SNR of each tensor of {model} in graph order')}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        y = pad + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" stroke="#d0d7de"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{top * frac:g}</text>'
        )
    parts.append(
        f'<text x="12" y="{pad + plot_h / 2:.1f}" transform="rotate(-90 12 '
        f'{pad + plot_h / 2:.1f})" text-anchor="middle">SNR dB</text>'
        f'<text x="{left + plot_w / 2:.1f}" y="{h - 6}" text-anchor="middle">'
        f"the {n} tensors measured, in graph order; red: the lowest SNR, grey: identical</text>"
    )
    for i, (t, snr) in enumerate(zip(tensors, snrs, strict=True)):
        shown = top if math.isinf(snr) and snr > 0 else snr if math.isfinite(snr) else 0.0
        bar = max(plot_h * min(max(shown, 0.0), top) / top, 1.5)
        x = left + i * bw
        label = f"#{t['position']} {t['name']}: {t['snr_text']}"
        parts.append(
            f'<rect x="{x + bw * 0.1:.2f}" y="{pad + plot_h - bar:.2f}" '
            f'width="{max(bw * 0.8, 0.6):.2f}" height="{bar:.2f}" '
            f'fill="{_snr_colour(snr, lo, hi)}"><title>{_e(label)}</title></rect>'
        )
        if bw >= 30:  # room for the value above the bar
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{pad + plot_h - bar - 3:.1f}" '
                f'text-anchor="middle">{_e(t["snr_text"])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _per_tensor_sections(d: Mapping[str, Any], models: Mapping[str, Model]) -> list[str]:
    out = []
    for p in d["per_tensor"] or ():
        order = _graph_order(models.get(p["model"]))
        last = len(order)
        tensors = []
        for j, t in enumerate(p["tensors"]):
            pos = order.get(t["name"])
            if pos is None:
                last += 1
                pos = last
            tensors.append({**t, "position": pos, "snr_text": _db(t["snr_db"]).text, "rank": j})
        by_graph = sorted(tensors, key=lambda t: t["position"])
        out.append(f"<h3>{_e(p['model'])} ({p['samples']} samples)</h3>")
        if not order:
            out.append(_p("the model's graph was not at hand: tensors in the order listed"))
        out.append(f'<div class="scroll">{_per_tensor_chart(by_graph, p["model"])}</div>')
        rows = [
            (
                t["name"],
                [
                    _Cell(str(t["rank"] + 1), t["rank"] + 1, "rank"),
                    _Cell(str(t["position"]), t["position"], "position"),
                    _Cell(t["name"], name=True),
                    _Cell(t["dtype"], key="dtype"),
                    _Cell("[" + ", ".join(map(str, t["shape"])) + "]", key="shape"),
                    _db(t["snr_db"]),
                    _num(t["mse"], ".3g", "mse"),
                    _num(t["rmse"], ".3g", "rmse"),
                    _num(t["max_abs"], ".3g", "max_abs"),
                    _num(t["mean_abs"], ".3g", "mean_abs"),
                ],
            )
            for t in tensors
        ]
        out.append(
            _table(
                "per-tensor",
                f"Per-tensor error of {p['model']}, worst (lowest SNR) first",
                ("worst", "graph #", "tensor", "dtype", "shape", "SNR", "MSE", "RMSE")
                + ("max err", "mean err"),
                rows,
                attrs={"model": p["model"]},
                sortable=True,
            )
        )
        notes = []
        if p["unmatched"]:
            notes.append(f"{p['unmatched']} tensors had no tensor of the same name to compare")
        if p["note"]:
            notes.append(p["note"])
        out += [_p(x) for x in notes]
    if out:
        out.insert(
            0,
            _p(
                "Each intermediate tensor against the reference's tensor of the same name. "
                "The chart follows the graph (the operator writing the tensor): a drop is "
                "where the error enters, what follows shows how it spreads. Click a header "
                "to sort the table (with JavaScript)."
            ),
        )
    return out


def _against(d: Mapping[str, Any]) -> str:
    ro = d["reference_outputs"]
    if ro == "given arrays":
        return "reference outputs (given arrays)"
    if ro is not None:
        return f"reference outputs {ro}"
    return str(d["models"][d["reference"]]["name"])


def _comparison_body(
    d: Mapping[str, Any],
    models: Mapping[str, Model],
    reports: Sequence[tuple[str, Report]],
    *,
    heading: int = 2,
) -> list[str]:
    h = f"h{heading}"
    against = _against(d)
    out = [
        _kv(
            [
                ("reference", str(d["models"][d["reference"]]["name"])),
                ("data", f"{d['data']}, {d['samples']} samples"),
                *(("input", line) for line in d["inputs"]),
                ("errors against", against),
            ]
        ),
        f"<{h}>Models</{h}>",
    ]
    for m in d["models"]:
        out.append(
            _model_section(m["name"], m["kind"], m["size_bytes"], m["path"], models.get(m["name"]))
        )
    out.append(_size_table(d))
    if reports:
        out.append(f"<{h}>Checks</{h}>")
        out += [_report_section(r, name) for name, r in reports]
    out.append(f"<{h}>Agreement, accuracy and error</{h}>")
    out += _output_tables(d, against)
    out.append(_p(_ERRORS_MEAN))
    speed = _speed_tables(d)
    if speed:
        out.append(f"<{h}>Speed</{h}>")
        out += speed
    per = _per_tensor_sections(d, models)
    if per:
        out.append(f"<{h}>Per-tensor error</{h}>")
        out += per
    if d["notes"] or d["crashed"]:
        out.append(f"<{h}>Notes</{h}>")
        items = [*d["crashed"], *d["notes"]]
        out.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in items) + "</ul>")
    return out


def comparison_html(
    c: Comparison,
    *,
    models: Mapping[str, Model] | None = None,
    reports: Sequence[tuple[str, Report]] = (),
    fragment: bool = False,
) -> str:
    """The comparison as one HTML page (or a notebook fragment).

    Args:
        c: the comparison.
        models: the loaded models by name, for their inputs and outputs and the graph order of
            per-tensor errors (those missing are shown without).
        reports: (model name, check report) for the check verdicts.
        fragment: a ``<div>`` with its style, for ``_repr_html_``; else a whole document.
    """
    d = comparison_to_dict(c)
    names = ", ".join(m["name"] for m in d["models"])
    body = [f"<h1>tflkit compare: {_e(names)}</h1>"]
    body += _comparison_body(d, models or {}, reports)
    return _page(f"tflkit compare: {names}", "\n".join(body), fragment=fragment)


# ---------------------------------------------------------------- conversion


def _goal(s: Mapping[str, Any]) -> float | None:
    """The search's target as a number: the accuracy in % it must keep (``max_drop``, with
    the float32 model's accuracy known) or the SNR in dB (``min_snr``); None for keep_float."""
    if s["target"] == "max_drop" and s["reference_accuracy"] is not None:
        return 100 * float(s["reference_accuracy"]) - float(s["limit"])
    if s["target"] == "min_snr":
        return float(s["limit"])
    return None


def _search_curve(s: Mapping[str, Any]) -> str:
    """Size against accuracy (or SNR) of every model the search built, in step order."""
    steps = s["steps"]
    if not steps:
        return ""
    acc = s["target"] != "min_snr" and all(st["accuracy"] is not None for st in steps)
    # plotted, not tabled: the table holds the JSON values
    ys = [100 * float(st["accuracy"]) if acc else _snr_value(st["snr_db"]) for st in steps]
    finite = [y for y in ys if math.isfinite(y)] or [0.0]
    goal = _goal(s) if acc == (s["target"] == "max_drop") else None  # on the axis plotted
    bounds: list[float] = [*finite, *([goal] if goal is not None else [])]
    lo_y, hi_y = min(bounds), max(bounds)
    if hi_y - lo_y < 1e-9:
        lo_y, hi_y = lo_y - 1, hi_y + 1
    span = hi_y - lo_y
    lo_y, hi_y = lo_y - 0.08 * span, hi_y + 0.08 * span
    xs = [float(st["size_bytes"]) / 1024 for st in steps]
    lo_x, hi_x = min(xs), max(xs)
    if hi_x - lo_x < 1e-9:
        lo_x, hi_x = lo_x - 1, hi_x + 1
    span_x = hi_x - lo_x
    lo_x, hi_x = lo_x - 0.06 * span_x, hi_x + 0.06 * span_x
    w, h, left, bottom, pad = 640, 300, 56, 40, 14

    def px(x: float) -> float:
        return left + (x - lo_x) / (hi_x - lo_x) * (w - left - pad)

    def py(y: float) -> float:
        y = min(max(y, lo_y), hi_y)
        return pad + (hi_y - y) / (hi_y - lo_y) * (h - bottom - pad)

    what = "accuracy %" if acc else "SNR dB"
    parts = [
        f'<svg viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}" role="img" data-chart="search" font-family="sans-serif" font-size="11">',
        f"<title>Size against {what} of each model the search built</title>",
        f'<rect x="{left}" y="{pad}" width="{w - left - pad}" height="{h - bottom - pad}" '
        'fill="none" stroke="#d0d7de"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        yv = lo_y + frac * (hi_y - lo_y)
        xv = lo_x + frac * (hi_x - lo_x)
        parts.append(
            f'<text x="{left - 4}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.4g}</text>'
            f'<text x="{px(xv):.1f}" y="{h - bottom + 14}" text-anchor="middle">{xv:.4g}</text>'
        )
    parts.append(
        f'<text x="{left + (w - left - pad) / 2:.1f}" y="{h - 6}" text-anchor="middle">'
        f'size KiB</text><text x="12" y="{h / 2:.1f}" transform="rotate(-90 12 '
        f'{h / 2:.1f})" text-anchor="middle">{what}</text>'
    )
    if goal is not None:
        parts.append(
            f'<line x1="{left}" x2="{w - pad}" y1="{py(goal):.1f}" y2="{py(goal):.1f}" '
            f'stroke="#b3261e" stroke-dasharray="5 4"><title>target {goal:.4g}</title></line>'
        )
    pts = [(px(x), py(y) if math.isfinite(y) else pad) for x, y in zip(xs, ys, strict=True)]
    parts.append(
        '<polyline fill="none" stroke="#57606a" stroke-width="1.2" points="'
        + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        + '"/>'
    )
    for i, ((a, b), st) in enumerate(zip(pts, steps, strict=True)):
        chosen = i == s["chosen"]
        fill = "#116329" if st["meets"] else "#b3261e"
        r = 6.5 if chosen else 4
        ring = ' stroke="#1b1f24" stroke-width="2"' if chosen else ""
        label = f"step {i} {st['phase']}: {len(st['kept'])} kept, {xs[i]:.1f} KiB, {ys[i]:.4g}"
        parts.append(
            f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{r}" fill="{fill}"{ring}>'
            f"<title>{_e(label + (' (the result)' if chosen else ''))}</title></circle>"
            f'<text x="{a + 7:.1f}" y="{b - 6:.1f}">{i}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _search_section(s: Mapping[str, Any]) -> list[str]:
    steps = s["steps"]
    scale, unit = time_unit(max((st["invoke_ms"] for st in steps), default=1.0))
    rows = []
    for i, st in enumerate(steps):
        rows.append(
            (
                str(i),
                [
                    _Cell(str(i), i, "step"),
                    _Cell(st["phase"] + (" *" if i == s["chosen"] else ""), key="phase"),
                    _Cell(str(len(st["kept"])), len(st["kept"]), "kept"),
                    _Cell(human_size(st["size_bytes"]), st["size_bytes"], "size_bytes"),
                    _num(st["accuracy"], ".1%", "accuracy"),
                    _num(st["snr_db"], ".1f", "snr_db"),
                    _num(st["invoke_ms"], ".3g", "invoke_ms", scale=scale),
                    _Cell("yes" if st["meets"] else "no", key="meets"),
                ],
            )
        )
    target = _goal(s)
    if target is not None and s["target"] == "max_drop":
        ref = 100 * s["reference_accuracy"]
        goal = f"accuracy >= {target:.1f}% (float32 {ref:.1f}% - {s['limit']:g})"
    elif target is not None:
        goal = f"SNR >= {target:g} dB against float32"
    else:
        goal = "operators given with keep_float"
    out = [
        _p(f"Route {s['route']}, fallback {s['fallback']}; target: {goal}.", "plain"),
        f'<div class="scroll">{_search_curve(s)}</div>',
        _p(
            "Each point a model the search built and measured, in step order; green: meets "
            "the target, red: does not; ringed: the result; dashed: the target."
        ),
        _table(
            "search",
            "Search steps",
            ("step", "phase", "kept", "size", "acc", "SNR dB", f"invoke {unit}", "meets"),
            rows,
        ),
        _p(
            f"{s['conversions']} models built and measured; * the result"
            + ("" if s["met"] else "; target not met")
        ),
    ]
    chosen = steps[s["chosen"]] if 0 <= s["chosen"] < len(steps) else None
    if chosen is not None and chosen["kept"]:
        word = "float" if s["fallback"] == "float" else "int16"
        items = "".join(
            f"<li><code>{_e(t)}</code> {_e(n)}</li>"
            for n, t in zip(chosen["kept"], chosen["kept_types"], strict=True)
        )
        out.append(f"<p>Kept {word} in the result:</p><ul>{items}</ul>")
    return out


def conversion_html(
    c: Conversion, *, source: str, output: str | None, fragment: bool = False
) -> str:
    """The conversion as one HTML page: what was made and how, the check, the search and its
    size/accuracy curve, the comparison with the float32 conversion."""
    source = source or str(c.settings.get("source") or c.settings.get("path") or "")
    d = conversion_to_dict(c, source=source, output=output)
    name = output or source or "the converted model"
    body = [f"<h1>tflkit convert: {_e(name)}</h1>"]
    pairs = [
        ("source", source),
        ("wrote", f"{output} ({human_size(d['size_bytes'])})" if output else "(not written)"),
        ("to", d["to"]),
        ("kind", d["quantization_kind"]),
        ("made by", str(d["made_by"])),
        ("verdict", "PASS" if d["passed"] else "FAIL"),
    ]
    body.append(_kv(pairs))
    body.append("<h2>Model</h2>")
    body.append(_model_section(name, d["quantization_kind"], d["size_bytes"], output, c.model))
    body.append("<h2>Check</h2>")
    if c.report is not None:
        body.append(_report_section(replace(c.report, model=name), name))
    else:
        word, cls = ("PASS", "pass") if d["kind_ok"] else ("FAIL", "fail")
        body.append(
            f'<p><span class="{cls}">{word}</span> the result is {_e(d["quantization_kind"])}</p>'
        )
    if d["search"] is not None:
        body.append("<h2>Search</h2>")
        body += _search_section(d["search"])
    elif d["kept_float"]:
        body.append(_p("kept out of int8: " + ", ".join(d["kept_float"]), "plain"))
    settings = {
        k: v
        for k, v in d["settings"].items()
        if v not in (None, False, [], {}) and k != "denylisted_nodes"
    }
    body.append("<details><summary>Converter settings</summary>")
    body.append(_kv((k, v if isinstance(v, str) else json.dumps(v)) for k, v in settings.items()))
    body.append("</details>")
    if d["notes"]:
        body.append("<h2>Notes</h2>")
        body.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in d["notes"]) + "</ul>")
    if c.comparison is not None:
        body.append("<h2>Against the float32 conversion of the same source</h2>")
        models = {c.comparison.models[-1].name: c.model} if c.comparison.models else {}
        body += _comparison_body(d["comparison"], models, (), heading=3)
    return _page(f"tflkit convert: {name}", "\n".join(body), fragment=fragment)


def write_html(page: str, path: str | os.PathLike[str]) -> None:
    """Write the page atomically (a temporary file renamed: never half a page)."""
    from tflkit._files import atomic_write

    data = page.encode("utf-8")

    def write(f: IO[bytes]) -> None:
        f.write(data)

    atomic_write(path, write)

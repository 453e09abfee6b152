"""diff(): what changed between two models, interface first.

Both models are first reduced to their *contract* (``contract()``): plain JSON-ready data with
the signatures and their inputs and outputs, the quantization kind and the int8 verdict, the
operator counts per version, and every tensor's dtype, shape and quantization; ``diff`` adds a
hash of each constant's bytes, the constant bytes per dtype and the metadata. Comparing two
contracts gives a ``ModelDiff``. A snapshot (``tflkit.testing.assert_matches_snapshot``) is a
contract stored as JSON, so a snapshot and a model compare with the same code.

Nothing here depends on the file's layout: tensors are matched by name (then by the operator
that produces or reads them), constants by the hash of their bytes, not by buffer index, and
the file size is reported but not compared, so a model written again by another writer (buffers
renumbered, deduplicated, aligned otherwise, stored after the flatbuffer) has no change.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from tflkit.loader import resolve
from tflkit.model import Model, ModelLike, Subgraph, Tensor
from tflkit.render._text import json_float

__all__ = ["Change", "ModelDiff", "SECTIONS", "contract", "diff", "diff_contracts"]

#: The sections of a diff, in the order they are shown.
SECTIONS = ("interface", "quantization", "operators", "tensors", "size", "metadata")

# Metadata the writer adds to say where the buffers are (converter's _experimental_use_buffer
# _offset): layout, not content.
_LAYOUT_METADATA = frozenset({"buffer_location"})

CONTRACT_VERSION = 1

# Names the MLIR converter makes up for constants (numbered in the order it emits them): they
# say nothing about which tensor it is, so such tensors are matched by position only.
_GENERATED = re.compile(r"(arith\.constant|tfl\.pseudo_\w*const|Const)(_?\d+)?")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: what changed as data, and ``subject`` saying it in words.

    ``old`` / ``new`` are JSON values (None: absent on that side; a non-finite number as
    ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``). The thing that changed is named under the
    key for its kind, the other keys are None: ``signature`` (its key; ``""`` stands for
    subgraph 0 of a model without signatures) and in it ``input`` or ``output``; ``tensor``;
    ``op`` (with ``version`` when one version's count changed); ``metadata`` (an entry);
    ``dtype`` (section ``size``: the constants of that dtype). ``subgraph`` and ``index`` say
    where it is in the new model (in the old one when removed): the subgraph, and a tensor's
    index in it.
    """

    section: str  # one of SECTIONS
    kind: str  # "added", "removed" or "changed"
    subject: str  # "signature 'serving_default' input 'x'", "tensor 'dense/MatMul'", ...
    field: str  # "dtype", "shape_signature", "scales", "values", "count", ... ("" if added)
    old: Any = None
    new: Any = None
    drift: float | None = None  # scales: largest relative change |new - old| / |old|
    signature: str | None = None
    input: str | None = None
    output: str | None = None
    tensor: str | None = None
    op: str | None = None
    version: int | None = None
    metadata: str | None = None
    dtype: str | None = None
    subgraph: int | None = None
    index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as in ``schemas/diff.schema.json``: every key, None where it does not
        apply."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ModelDiff:
    """What changed from ``old`` to ``new``: ``changes`` in section order.

    ``old_facts`` / ``new_facts`` are each side's contract (``contract()``), as compared.
    """

    old_name: str
    new_name: str
    changes: tuple[Change, ...]
    old_facts: dict[str, Any]
    new_facts: dict[str, Any]

    @property
    def same(self) -> bool:
        """True when nothing compared differs."""
        return not self.changes

    def section(self, name: str) -> tuple[Change, ...]:
        """The changes of one section (``"interface"``, ``"tensors"``, ...)."""
        return tuple(c for c in self.changes if c.section == name)

    @property
    def summary(self) -> str:
        """``3 changes to the interface, 12 tensors requantized, 1 op kind added``."""
        parts: list[str] = []

        def add(n: int, one: str, many: str) -> None:
            if n:
                parts.append(f"{n} {one if n == 1 else many}")

        def tensors(*fields: str, kind: str = "changed") -> int:
            return len(
                {
                    c.subject
                    for c in self.section("tensors")
                    if c.kind == kind and (not fields or c.field in fields)
                }
            )

        n = len(self.section("interface"))
        add(n, "change to the interface", "changes to the interface")
        for c in self.section("quantization"):
            if c.field == "quantization_kind":
                parts.append(f"quantization {c.old} -> {c.new}")
            else:
                parts.append(f"int8 check {'now passes' if c.new else 'now fails'}")
        ops = self.section("operators")
        add(sum(c.kind == "added" for c in ops), "op kind added", "op kinds added")
        add(sum(c.kind == "removed" for c in ops), "op kind removed", "op kinds removed")
        add(sum(c.kind == "changed" for c in ops), "op count changed", "op counts changed")
        add(tensors("quantization", "scales", "zero_points", "quantized_dimension"),
            "tensor requantized", "tensors requantized")  # fmt: skip
        add(tensors("dtype"), "tensor retyped", "tensors retyped")
        add(tensors("shape", "shape_signature"), "tensor reshaped", "tensors reshaped")
        add(tensors("values"), "weight changed", "weights changed")
        add(tensors(kind="added"), "tensor added", "tensors added")
        add(tensors(kind="removed"), "tensor removed", "tensors removed")
        add(len(self.section("size")), "constant size changed", "constant sizes changed")
        add(len(self.section("metadata")), "metadata change", "metadata changes")
        return ", ".join(parts) if parts else "no changes"


def _hash(t: Tensor) -> str:
    view = t.data_view()
    if view is None:
        return ""
    # sha256: hardware-accelerated (SHA extensions), faster here than blake2b and md5
    return hashlib.sha256(view).hexdigest()[:24]


def _quant(t: Tensor) -> dict[str, Any] | None:
    q = t.quantization
    if q is None:
        return None
    out: dict[str, Any] = {
        "scales": list(q.scales),
        "zero_points": list(q.zero_points),
        "quantized_dimension": q.quantized_dimension,
    }
    if q.details:
        out["details"] = q.details
        out["block_size"] = q.block_size
    return out


def _io(t: Tensor) -> dict[str, Any]:
    return {
        "dtype": t.dtype,
        "shape": list(t.shape),
        "shape_signature": list(t.shape_signature),
        "quantization": _quant(t),
    }


def _positions(sg: Subgraph) -> dict[int, str]:
    """Where each tensor sits in the graph, a name that survives renaming: the k-th operator
    of its kind that produces it (``FULLY_CONNECTED#1:out0``), else the first that reads it,
    else its place among the subgraph's inputs."""
    seen: dict[str, int] = {}
    produced: dict[int, str] = {}
    read: dict[int, str] = {}
    for op in sg.operators:
        k = seen.get(op.display_name, 0)
        seen[op.display_name] = k + 1
        for pos, i in enumerate(op.outputs):
            produced.setdefault(i, f"{op.display_name}#{k}:out{pos}")
        for pos, i in enumerate(op.inputs):
            read.setdefault(i, f"{op.display_name}#{k}:in{pos}")
    for pos, i in enumerate(sg.inputs):
        read.setdefault(i, f"input{pos}")
    # A float16 (or int8) constant widened by DEQUANTIZE takes the place of the weights it
    # stands for: where its DEQUANTIZE output is read (CONV_2D#3:in1), as in an int8 twin.
    for op in sg.operators:
        if op.op == "DEQUANTIZE" and op.inputs and op.outputs and op.outputs[0] in read:
            w = op.inputs[0]
            if 0 <= w < len(sg.tensors) and sg.tensors[w].is_constant:
                read[w] = read[op.outputs[0]]
    return {t.index: produced.get(t.index) or read.get(t.index, "") for t in sg.tensors}


def _signatures(m: Model) -> dict[str, Any]:
    sigs: dict[str, Any] = {}
    for sig in m.signatures:
        sg = m.subgraphs[sig.subgraph_index]
        sigs[sig.key] = {
            "subgraph_index": sig.subgraph_index,
            "inputs": {x.name: _io(sg.tensors[x.tensor_index]) for x in sig.inputs},
            "outputs": {x.name: _io(sg.tensors[x.tensor_index]) for x in sig.outputs},
        }
    if not m.signatures:  # no SignatureDef: subgraph 0's inputs and outputs, by tensor name
        sigs[""] = {
            "subgraph_index": 0,
            "inputs": {t.name: _io(t) for t in m.inputs},
            "outputs": {t.name: _io(t) for t in m.outputs},
        }
    return sigs


def contract(model: ModelLike, *, weights: bool = False) -> dict[str, Any]:
    """A model's contract as JSON-ready data: what a snapshot stores and ``diff`` compares.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        weights: also a hash of each constant's bytes, the constant bytes per dtype, the
            metadata entries (a hash of each) and the file size (what ``diff`` adds).

    Returns:
        A dict: ``signatures`` (inputs and outputs with dtype, shapes and quantization),
        ``quantization_kind``, ``int8_check`` (True when ``check(model, "int8")`` passes),
        ``ops`` (``"FULLY_CONNECTED v1"`` -> count), ``subgraphs`` (each a list of tensors).

    Example:
        >>> contract("mlp_int8.tflite")["ops"]
        {'FULLY_CONNECTED v1': 2, 'SOFTMAX v1': 1}
    """
    from tflkit.checks import check
    from tflkit.kinds import quantization_kind

    m = resolve(model)
    ops: dict[str, int] = {}
    for op in m.operators:
        key = f"{op.display_name} v{op.version}"
        ops[key] = ops.get(key, 0) + 1
    hashes: dict[tuple[int, int], str] = {}
    subgraphs = []
    for sg in m.subgraphs:
        where = _positions(sg)
        # DEQUANTIZE outputs of constants: weights at run time (float16 models), matched
        # with weights, not with the activations that may share their names
        widened = {
            op.outputs[0]
            for op in sg.operators
            if op.op == "DEQUANTIZE"
            and op.inputs
            and op.outputs
            and 0 <= op.inputs[0] < len(sg.tensors)
            and sg.tensors[op.inputs[0]].is_constant
        }
        tensors = []
        for t in sg.tensors:
            entry: dict[str, Any] = {
                "name": t.name,
                "at": where[t.index],
                "dtype": t.dtype,
                "shape": list(t.shape),
                "shape_signature": list(t.shape_signature),
                "quantization": _quant(t),
                "constant": t.is_constant,
            }
            if t.index in widened:
                entry["widened_weights"] = True
            if weights and t.is_constant:
                entry["hash"] = hashes[(sg.index, t.index)] = _hash(t)
                entry["bytes"] = t.buffer_size
            tensors.append(entry)
        subgraphs.append(tensors)
    facts: dict[str, Any] = {
        "tflkit_contract": CONTRACT_VERSION,
        "model": m.name,
        "signatures": _signatures(m),
        "quantization_kind": quantization_kind(m),
        "int8_check": check(m, "int8").passed,
        "ops": dict(sorted(ops.items())),
        "subgraphs": subgraphs,
    }
    if weights:
        # Per distinct content, not per buffer: a writer that shares one buffer between equal
        # constants stores the same model.
        distinct: dict[tuple[str, str], int] = {}
        for sg in m.subgraphs:
            for t in sg.tensors:
                if t.is_constant:
                    distinct[(t.dtype, hashes[(sg.index, t.index)])] = t.buffer_size
        per_dtype: dict[str, int] = {}
        for (dtype, _), size in distinct.items():
            per_dtype[dtype] = per_dtype.get(dtype, 0) + size
        facts["size_bytes"] = m.size_bytes
        facts["constant_bytes"] = dict(sorted(per_dtype.items()))
        facts["metadata"] = {
            e.name: hashlib.sha256(e.data()).hexdigest()[:24]
            for e in m.metadata
            if e.name not in _LAYOUT_METADATA and e.name != "min_runtime_version"
        }
        facts["min_runtime_version"] = m.min_runtime_version
    return facts


def diff(old: ModelLike, new: ModelLike, *, rtol: float = 0.0) -> ModelDiff:
    """What changed from ``old`` to ``new``: interface, quantization, operators, tensors, size.

    Args:
        old: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        new: the same for the other model.
        rtol: relative tolerance below which scales count as equal (0: exact).

    Returns:
        A ModelDiff; ``.same`` is True when the models agree in everything compared (the
        file size and layout are not compared), ``.summary`` says what changed in one line.

    Raises:
        TypeError: a model is not a path, bytes or Model.
        InvalidModelError, OSError: a file cannot be read as a model.

    Example:
        >>> d = tflkit.diff("mlp_float32.tflite", "mlp_int8.tflite")
        >>> d.summary.split(", ")[0]
        '4 changes to the interface'
    """
    a, b = resolve(old), resolve(new)
    return diff_contracts(contract(a, weights=True), contract(b, weights=True), rtol=rtol)


def diff_contracts(old: dict[str, Any], new: dict[str, Any], *, rtol: float = 0.0) -> ModelDiff:
    """Compare two contracts (``contract()``, or a snapshot read from JSON).

    Sections that one side lacks (a snapshot has no hashes, sizes or metadata) are skipped.
    """
    changes = [
        *_interface(old["signatures"], new["signatures"], rtol),
        *_quantization(old, new),
        *_operators(old["ops"], new["ops"]),
        *_tensors(old, new, rtol),
    ]
    if "constant_bytes" in old and "constant_bytes" in new:
        changes += _mapping("size", "constants", old["constant_bytes"], new["constant_bytes"])
    if "metadata" in old and "metadata" in new:
        changes += _mapping("metadata", "entry", old["metadata"], new["metadata"], what="data")
        if old["min_runtime_version"] != new["min_runtime_version"]:
            changes.append(
                Change(
                    "metadata",
                    "changed",
                    "min_runtime_version",
                    "value",
                    old["min_runtime_version"],
                    new["min_runtime_version"],
                    metadata="min_runtime_version",
                )
            )
    return ModelDiff(str(old.get("model", "")), str(new.get("model", "")), tuple(changes), old, new)


def _drift(a: list[float], b: list[float]) -> float | None:
    """The largest relative change of the scales; 0.0 when equal (NaN equals NaN), None when
    an old scale of 0 changed (no finite relative change)."""
    worst: float | None = 0.0
    for x, y in zip(a, b, strict=True):
        if x == y or (x != x and y != y):
            continue
        if x == 0 or not math.isfinite(x) or not math.isfinite(y):
            return None
        if worst is not None:
            worst = max(worst, abs(y - x) / abs(x))
    return worst


def _quant_changes(
    section: str,
    subject: str,
    qa: dict[str, Any] | None,
    qb: dict[str, Any] | None,
    rtol: float,
    at: dict[str, Any],
) -> Iterator[Change]:
    def changed(field: str, old: Any, new: Any, drift: float | None = None) -> Change:
        return Change(section, "changed", subject, field, old, new, drift, **at)

    if qa is None or qb is None:
        if qa != qb:
            yield changed("quantization", _qtext(qa), _qtext(qb))
        return
    sa, sb = qa["scales"], qb["scales"]
    if len(sa) != len(sb):
        yield changed("channels", len(sa), len(sb))
    else:
        drift = _drift(sa, sb)
        if drift is None or drift > rtol:
            yield changed("scales", _few(sa), _few(sb), drift)
    if qa["zero_points"] != qb["zero_points"]:
        yield changed("zero_points", _few(qa["zero_points"]), _few(qb["zero_points"]))
    for key in ("quantized_dimension", "details", "block_size"):
        if qa.get(key) != qb.get(key) and len(sa) > 1:
            yield changed(key, qa.get(key), qb.get(key))


def _qtext(q: dict[str, Any] | None) -> str | None:
    if q is None:
        return None
    n = len(q["scales"])
    if n == 1 and len(q["zero_points"]) == 1:
        return f"scale {q['scales'][0]:.6g} zero point {q['zero_points'][0]}"
    return f"{n} scales"


def _few(values: list[Any]) -> Any:
    """One value as itself; up to 4 as a list; more as their count and the first ones.
    Non-finite scales as strings ("NaN", "Infinity"): JSON has no such numbers."""
    values = [json_float(v) if isinstance(v, float) else v for v in values]
    if len(values) == 1:
        return values[0]
    return list(values) if len(values) <= 4 else [*values[:3], f"... ({len(values)})"]


def _tensor_fields(
    section: str,
    subject: str,
    a: dict[str, Any],
    b: dict[str, Any],
    rtol: float,
    at: dict[str, Any],
) -> Iterator[Change]:
    for key in ("dtype", "shape_signature", "shape"):
        if a[key] != b[key]:
            if key == "shape" and a["shape_signature"] != b["shape_signature"]:
                continue  # said once, by the signature
            yield Change(section, "changed", subject, key, a[key], b[key], **at)
    yield from _quant_changes(section, subject, a["quantization"], b["quantization"], rtol, at)


def _io_at(sigs: dict[str, Any], key: str, kind: str, name: str) -> dict[str, Any]:
    """Where a signature's input or output is: ``Change``'s signature, input/output, subgraph."""
    return {"signature": key, kind[:-1]: name, "subgraph": sigs[key].get("subgraph_index")}


def _gone_or_new(
    subject: str, a: dict[str, Any], b: dict[str, Any], name: str, at: dict[str, Any]
) -> Change | None:
    """A signature, input or output that only one side has: removed (in ``a`` only) or
    added (in ``b`` only); None when both have it."""
    if (name in a) == (name in b):
        return None
    if name in a:
        return Change("interface", "removed", subject, "", name, None, **at)
    return Change("interface", "added", subject, "", None, name, **at)


def _interface(old: dict[str, Any], new: dict[str, Any], rtol: float) -> Iterator[Change]:
    for key in [*old, *(k for k in new if k not in old)]:  # removed first, then added
        side = old if key in old else new
        at = {"signature": key, "subgraph": side[key].get("subgraph_index")}
        change = _gone_or_new(f"signature {key!r}", old, new, key, at)
        if change is not None:
            yield change
    primary_a = sorted(k for k, v in old.items() if v.get("subgraph_index") == 0)
    primary_b = sorted(k for k, v in new.items() if v.get("subgraph_index") == 0)
    if primary_a != primary_b and set(primary_a) & set(new) and set(primary_b) & set(old):
        # subgraph 0 runs when no signature is named (Interpreter.invoke())
        yield Change("interface", "changed", "primary subgraph", "signatures", primary_a,
                     primary_b, subgraph=0)  # fmt: skip
    for key in old:
        if key not in new:
            continue
        for kind in ("inputs", "outputs"):
            a, b = old[key][kind], new[key][kind]
            label = f"signature {key!r} {kind[:-1]}" if key else kind[:-1]
            for name in [*a, *(n for n in b if n not in a)]:  # removed first, then added
                at = _io_at(new if name in b else old, key, kind, name)
                change = _gone_or_new(f"{label} {name!r}", a, b, name, at)
                if change is not None:
                    yield change
            for name in a:
                if name in b:
                    at = _io_at(new, key, kind, name)
                    yield from _tensor_fields("interface", f"{label} {name!r}", a[name], b[name],
                                              rtol, at)  # fmt: skip


def _quantization(old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    for key in ("quantization_kind", "int8_check"):
        if old[key] != new[key]:
            yield Change("quantization", "changed", "model", key, old[key], new[key])


def _op_kind(key: str) -> str:
    return key.rsplit(" v", 1)[0]


def _operators(old: dict[str, int], new: dict[str, int]) -> Iterator[Change]:
    kinds_a = {_op_kind(k) for k in old}
    kinds_b = {_op_kind(k) for k in new}
    for kind in sorted(kinds_a - kinds_b):
        n = sum(v for k, v in old.items() if _op_kind(k) == kind)
        yield Change("operators", "removed", kind, "count", n, 0, op=kind)
    for kind in sorted(kinds_b - kinds_a):
        n = sum(v for k, v in new.items() if _op_kind(k) == kind)
        yield Change("operators", "added", kind, "count", 0, n, op=kind)
    for key in sorted(set(old) | set(new)):
        if _op_kind(key) in kinds_a & kinds_b and old.get(key, 0) != new.get(key, 0):
            kind, _, version = key.rpartition(" v")
            yield Change(
                "operators",
                "changed",
                key,
                "count",
                old.get(key, 0),
                new.get(key, 0),
                op=kind,
                version=int(version),
            )


def _weights(t: dict[str, Any]) -> bool:
    return bool(t["constant"] or t.get("widened_weights"))


def _match(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (index in a, index in b) by name, then by position in the graph; the rest."""
    pairs: list[tuple[int, int]] = []
    left_a, left_b = list(range(len(a))), list(range(len(b)))
    for field in ("name", "at"):
        # A name pairs weights with weights and activations with activations: converters
        # reuse names ("conv/convolution1" is an activation in one file, weights in another).
        by: dict[tuple[str, bool], list[int]] = {}
        for j in left_b:
            by.setdefault((b[j][field], _weights(b[j])), []).append(j)
        rest_a = []
        for i in left_a:
            key = a[i][field]
            js = by.get((key, _weights(a[i])))
            if js and key and not (field == "name" and _GENERATED.fullmatch(key)):
                pairs.append((i, js.pop(0)))
            else:
                rest_a.append(i)
        taken = {j for _, j in pairs}
        left_a, left_b = rest_a, [j for j in left_b if j not in taken]
    return sorted(pairs), left_a, left_b


def _subgraph_pairs(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[int, int]]:
    """Subgraphs paired through the signatures that run them (a writer may order subgraphs
    otherwise), the rest by index; -1 where one side has none."""
    na, nb = len(old["subgraphs"]), len(new["subgraphs"])
    pairs: dict[int, int] = {}
    for key, sig in old["signatures"].items():
        other = new["signatures"].get(key)
        i, j = sig.get("subgraph_index", -1), (other or {}).get("subgraph_index", -1)
        if 0 <= i < na and 0 <= j < nb and i not in pairs and j not in pairs.values():
            pairs[i] = j
    rest_a = [i for i in range(na) if i not in pairs]
    rest_b = [j for j in range(nb) if j not in pairs.values()]
    for k in range(max(len(rest_a), len(rest_b))):
        pairs[rest_a[k] if k < len(rest_a) else -1 - k] = rest_b[k] if k < len(rest_b) else -1
    return sorted(((i if i >= 0 else -1), j) for i, j in pairs.items())


def _tensors(old_facts: dict[str, Any], new_facts: dict[str, Any], rtol: float) -> Iterator[Change]:
    old, new = old_facts["subgraphs"], new_facts["subgraphs"]
    for s_old, s_new in _subgraph_pairs(old_facts, new_facts):
        a = old[s_old] if s_old >= 0 else []
        b = new[s_new] if s_new >= 0 else []
        s = s_new if s_new >= 0 else s_old
        prefix = f"subgraph {s} " if s else ""
        pairs, only_a, only_b = _match(a, b)
        for i, j in pairs:
            ta, tb = a[i], b[j]
            subject = f"{prefix}tensor {tb['name']!r}"
            at = {"tensor": tb["name"], "subgraph": s_new, "index": j}
            if ta["name"] != tb["name"] and not _GENERATED.fullmatch(ta["name"] or "x"):
                yield Change("tensors", "changed", subject, "name", ta["name"], tb["name"], **at)
            yield from _tensor_fields("tensors", subject, ta, tb, rtol, at)
            same_layout = ta["dtype"] == tb["dtype"] and ta["shape"] == tb["shape"]
            if same_layout and "hash" in ta and "hash" in tb and ta["hash"] != tb["hash"]:
                yield Change("tensors", "changed", subject, "values", "", "changed", **at)
        for i in only_a:
            t = a[i]
            yield Change(
                "tensors",
                "removed",
                f"{prefix}tensor {t['name']!r}",
                "",
                t["dtype"],
                None,
                tensor=t["name"],
                subgraph=s_old,
                index=i,
            )
        for j in only_b:
            t = b[j]
            yield Change(
                "tensors",
                "added",
                f"{prefix}tensor {t['name']!r}",
                "",
                None,
                t["dtype"],
                tensor=t["name"],
                subgraph=s_new,
                index=j,
            )


def _mapping(
    section: str, label: str, old: dict[str, Any], new: dict[str, Any], what: str = "bytes"
) -> Iterator[Change]:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        kind = "added" if a is None else "removed" if b is None else "changed"
        if section == "size":
            yield Change(section, kind, f"{key} {label}", what, a or 0, b or 0, dtype=key)
        else:
            yield Change(section, kind, f"{label} {key!r}", what, a, b, metadata=key)

"""Readers of what the truth tools say, shared by the tests and bench/corpus.py.

- ``operators(path)``: every operator of a .tflite read with LiteRT's own generated bindings
  (not tflkit's loader, which is what is being checked; not the ``tflite`` package, whose
  ``BuiltinCode()`` returns the deprecated byte below 127, so a DEQUANTIZE written with only
  the new field, as ai-edge-quantizer writes it, reads as ADD).
- ``vela_warnings(log)``: the operators Vela's log says it leaves to the CPU, with its lines.
- ``delegate_partitions(path)``: the operators inside each DELEGATE node the LiteRT runtime
  makes after ``allocate_tensors()`` (the default XNNPACK delegate). As a script,
  ``python tests/_truth.py MODEL...`` prints them as one JSON object (the runtime may abort on
  a model: run it in a child).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple


class OpRow(NamedTuple):
    subgraph: int
    index: int
    op: str  # "CONV_2D", "CUSTOM", "BUILTIN_<code>" for a code the bindings do not name
    custom: str  # the custom code ("ethos-u"), "" for a builtin
    output: str  # the name of the first output, "" when there is none
    types: str  # "9>7": type codes of the first input and first output (-1: none)


def operators(path: str | Path) -> list[OpRow]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if isinstance(v, int)}
    root = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    out = []
    for s in range(root.SubgraphsLength()):
        sg = root.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            oc = root.OperatorCodes(op.OpcodeIndex())
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            first_in = sg.Tensors(op.Inputs(0)) if op.InputsLength() and op.Inputs(0) >= 0 else None
            first_out = sg.Tensors(op.Outputs(0)) if op.OutputsLength() else None
            out.append(
                OpRow(
                    s,
                    i,
                    names.get(code, f"BUILTIN_{code}"),
                    (oc.CustomCode() or b"").decode(),
                    (first_out.Name() or b"").decode() if first_out is not None else "",
                    f"{first_in.Type() if first_in is not None else -1}>"
                    f"{first_out.Type() if first_out is not None else -1}",
                )
            )
    return out


_WARNING = re.compile(r"^Warning \(supported operators\) operator: (\S+), ofm: '(.*)'$")


def vela_warnings(log: str) -> dict[tuple[str, str], list[str]]:
    """(op type, ofm) -> the lines Vela printed under its warning (reason, constraint)."""
    found: dict[tuple[str, str], list[str]] = {}
    lines = log.splitlines()
    for k, line in enumerate(lines):
        m = _WARNING.match(line)
        if not m:
            continue
        block = []
        for more in lines[k + 1 :]:
            if not more.strip() or _WARNING.match(more):
                break
            block.append(more.strip())
        found.setdefault((m[1], m[2]), block)
    return found


Node = tuple[str, list[int], list[int]]  # (op name, input tensors, output tensors)


def _nodes(path: str, resolver: Any) -> tuple[list[Node], set[int]]:
    """The runtime's nodes after allocate_tensors(), and the graph's output tensors."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    nodes = [
        (d["op_name"], [int(i) for i in d["inputs"]], [int(o) for o in d["outputs"]])
        for d in it._get_ops_details()
    ]
    return nodes, {d["index"] for d in it.get_output_details()}


def _inside(
    ops: list[Node], ins: set[int], outs: set[int], graph_out: set[int], taken: set[int]
) -> list[int]:
    """The model's nodes inside one DELEGATE node with inputs ``ins`` and outputs ``outs``."""
    producer = {t: i for i, (_, _, o) in enumerate(ops) for t in o}
    consumers: dict[int, list[int]] = {}
    for i, (_, nin, _) in enumerate(ops):
        for t in nin:
            consumers.setdefault(t, []).append(i)
    # reached from the partition's outputs without crossing its inputs
    seen: set[int] = set()
    todo = [producer[t] for t in outs if t in producer]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        _, nin, nout = ops[n]
        todo += [producer[t] for t in nin if t not in ins and t in producer]
        todo += [c for t in nout if t not in outs for c in consumers.get(t, [])]
    # Nodes from which no output of the partition is reached (an ASSIGN_VARIABLE, the ADD that
    # feeds it; a partition may have no outputs at all): the largest set of the other nodes
    # whose inputs are the partition's inputs (constants are listed there too) or made in the
    # set, and whose outputs are the partition's or read only inside it.
    cand = {i for i in range(len(ops)) if i not in seen and i not in taken}
    changed = True
    while changed:
        changed = False
        inner = seen | cand
        made = {t for i in inner for t in ops[i][2]}
        for i in sorted(cand):
            _, nin, nout = ops[i]
            ok = any(t in ins or t in made for t in nin)
            ok = ok and all(t < 0 or t in ins or t in made for t in nin)
            ok = ok and all(
                t not in ins
                and (
                    t in outs
                    or (t not in graph_out and all(c in inner for c in consumers.get(t, [])))
                )
                for t in nout
            )
            if not ok:
                cand.discard(i)
                changed = True
    return sorted(seen | cand)


def delegate_partitions(path: str) -> dict[str, Any]:
    """{"ops", "default_ops", "extra", "partitions"} of one model, or {"error", "kind"} (the exception): the model's
    nodes without delegates, with the default delegate, the nodes after the model's (the
    DELEGATE nodes), and the model's node indices inside each DELEGATE node."""
    from ai_edge_litert.interpreter import OpResolverType

    try:
        plain, _ = _nodes(path, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        default, graph_out = _nodes(path, OpResolverType.AUTO)
    except (RuntimeError, ValueError) as exc:
        return {"error": str(exc), "kind": type(exc).__name__}
    n = len(plain)
    parts: list[list[int]] = []
    taken: set[int] = set()
    for name, i, o in default[n:]:
        if name == "DELEGATE":
            parts.append(_inside(default[:n], set(i), set(o), graph_out, taken))
            taken.update(parts[-1])
    return {
        "ops": [d[0] for d in plain],
        "default_ops": [d[0] for d in default[:n]],
        "extra": [d[0] for d in default[n:]],
        "partitions": parts,
    }


if __name__ == "__main__":
    print(json.dumps({p: delegate_partitions(p) for p in sys.argv[1:]}))

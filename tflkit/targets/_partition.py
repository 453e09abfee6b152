"""How the LiteRT runtime cuts a subgraph into delegate partitions, shared by the delegates.

``ReplaceNodeSubsetsWithDelegateKernels`` calls ``PartitionGraphIntoIndependentNodeSubsets``
(``tflite/graph_info.cc``): epoch by epoch, it sweeps the nodes in order and takes every node
whose inputs are ready; the first ready node of an epoch sets the epoch's kind (delegated or
not) and only nodes of that kind join it. Each delegated epoch becomes one DELEGATE node. So
two supported operators separated by an unsupported one still share a partition when neither
depends on it (fixtures/nb_scatter.tflite: ADD, SUB and MUL around a SCATTER_ND, one DELEGATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tflkit.model import Subgraph


def partitions(sg: Subgraph, supported: Sequence[bool]) -> list[list[int]]:
    """The delegated node subsets of ``sg`` (operator indices, in order), one per DELEGATE node."""
    ops = sg.operators
    produced = {t for op in ops for t in op.outputs if t >= 0}
    # Graph inputs, constants and variables are ready from the start; computed tensors are not.
    ready = {t for t in range(len(sg.tensors)) if t not in produced}
    done = [False] * len(ops)
    found: list[list[int]] = []
    while True:
        kind: bool | None = None
        nodes: list[int] = []
        progress = True
        while progress:
            progress = False
            for i, op in enumerate(ops):
                if done[i] or any(t >= 0 and t not in ready for t in op.inputs):
                    continue
                if kind is None:
                    kind = supported[i]
                if supported[i] == kind:
                    done[i] = True
                    nodes.append(i)
                    ready.update(op.outputs)
                    progress = True
        if not nodes:
            # Nodes whose inputs never become ready (a malformed graph) stay undelegated.
            return found
        if kind:
            found.append(nodes)

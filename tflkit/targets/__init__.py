"""Will it run on the target? Where each operator runs on a device, and why not.

One module per target family, each holding its knowledge as data and rules with stable ids, and
citing the source and version it was read from:

- ``tflm``: TensorFlow Lite Micro's kernels (no fallback: an op runs there or nowhere);
- ``ethos_u``: Vela's supported-operator rules for ``ethos-u55``, ``ethos-u65``, ``ethos-u85``;
- ``edgetpu``: the Coral Edge TPU compiler's documented op table and rules;
- ``gpu``: the LiteRT GPU delegate's compatibility rules;
- ``xnnpack``: the default CPU delegate.

A target module exposes ``TARGETS`` (the names it handles), ``SOURCE`` (where its rules come
from, with the version), ``RULES`` (rule id -> one line), ``FALLBACK`` ("cpu" for a delegate,
"none" for TFLM) and ``place(model, target) -> list[Placement]`` (one entry per operator of
every subgraph, in order); optionally ``memory(model, target) -> Memory`` and
``segments(model, placements) -> int`` (else ``target_runs``: runs of consecutive operators on
the target). They read the Model only (operator options included), never the file; nothing here
imports TensorFlow or a runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tflkit.targets._base import Memory, Placement, TargetResult, output_name, target_runs

if TYPE_CHECKING:
    from tflkit.model import Model

__all__ = [
    "MODULES",
    "TARGETS",
    "Memory",
    "Placement",
    "TargetResult",
    "module_for",
    "output_name",
    "place",
    "target_runs",
]

#: target name -> module (imported on first use)
MODULES: dict[str, str] = {
    "tflm": "tflkit.targets.tflm",
    "ethos-u55": "tflkit.targets.ethos_u",
    "ethos-u65": "tflkit.targets.ethos_u",
    "ethos-u85": "tflkit.targets.ethos_u",
    "edgetpu": "tflkit.targets.edgetpu",
    "gpu": "tflkit.targets.gpu",
    "xnnpack": "tflkit.targets.xnnpack",
}
TARGETS = tuple(MODULES)


def module_for(target: str) -> Any:
    """The module that knows ``target``; ValueError naming the targets there are."""
    name = MODULES.get(target)
    if name is None:
        raise ValueError(f"unknown target {target!r}, expected one of {', '.join(TARGETS)}")
    return importlib.import_module(name)


def place(model: Model, target: str, *, allow_cpu_fallback: bool = False) -> TargetResult:
    """Where every operator of ``model`` runs on ``target``.

    ``passed``: everything runs on the target (TFLM: every op; a delegate: no op left to the
    CPU, or with ``allow_cpu_fallback`` at least one op on the target).
    """
    mod = module_for(target)
    placement = tuple(mod.place(model, target))
    seg_fn = getattr(mod, "segments", None)
    segments = seg_fn(model, placement) if seg_fn else target_runs(placement)
    if mod.FALLBACK == "none":  # no delegate: nothing is cut into parts
        segments = 0
    mem_fn = getattr(mod, "memory", None)
    memory = mem_fn(model, target) if mem_fn else None
    on = sum(p.on == "target" for p in placement)
    if allow_cpu_fallback and mod.FALLBACK == "cpu":
        passed = on > 0 or not placement
    else:
        passed = on == len(placement)
    return TargetResult(target, mod.SOURCE, placement, segments, memory, passed)

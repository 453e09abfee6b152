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
``segments(model, placements) -> int``. Nothing here imports TensorFlow or a runtime.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph

__all__ = ["MODULES", "TARGETS", "Memory", "Placement", "TargetResult", "place", "module_for"]

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


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one operator runs on a target.

    ``on``: ``"target"`` (a kernel / the accelerator takes it), ``"cpu"`` (a delegate target
    leaves it to the CPU) or ``"none"`` (the target cannot run it and has no fallback: TFLM).
    ``reason`` says why not, in the target's own terms; ``rule`` is the rule id ("" on target).
    """

    subgraph: int
    operator: int
    op: str
    output: str
    on: str
    reason: str = ""
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Memory:
    """What a microcontroller must reserve: the tensor arena, and the flash the model takes."""

    arena_bytes: int
    flash_bytes: int


@dataclass(frozen=True, slots=True)
class TargetResult:
    """The placement of every operator on one target, and what follows from it."""

    target: str
    source: str
    placement: tuple[Placement, ...]
    segments: int  # delegate partitions on the target (0 for TFLM, which has no fallback)
    memory: Memory | None
    passed: bool

    @property
    def on_target(self) -> int:
        return sum(p.on == "target" for p in self.placement)

    @property
    def summary(self) -> str:
        """``31 of 56 operators on ethos-u55; 25 on the CPU in 3 segments``."""
        total = len(self.placement)
        text = f"{self.on_target} of {total} operators on {self.target}"
        off = total - self.on_target
        if off:
            where = "the CPU" if any(p.on == "cpu" for p in self.placement) else "nothing"
            text += f"; {off} on {where}" if where == "the CPU" else f"; {off} cannot run"
        if self.segments:
            text += f"; {self.segments} segment{'s' if self.segments != 1 else ''} on the target"
        if self.memory is not None:
            m = self.memory
            text += f"; arena {m.arena_bytes:,} bytes, flash {m.flash_bytes:,} bytes"
        return text


def module_for(target: str) -> Any:
    """The module that knows ``target``; ValueError naming the targets there are."""
    name = MODULES.get(target)
    if name is None:
        raise ValueError(f"unknown target {target!r}, expected one of {', '.join(TARGETS)}")
    return importlib.import_module(name)


def output_name(sg: Subgraph, op: Operator) -> str:
    """The name of an operator's first output tensor ("" when it has none)."""
    first = next((i for i in op.outputs if 0 <= i < len(sg.tensors)), None)
    return sg.tensors[first].name if first is not None else ""


def default_segments(placement: tuple[Placement, ...]) -> int:
    """Maximal runs of consecutive operators on the target, subgraph by subgraph."""
    runs, previous = 0, None
    for p in placement:
        here = (p.subgraph, p.on == "target")
        if p.on == "target" and here != previous:
            runs += 1
        previous = here
    return runs


def place(model: Model, target: str, *, allow_cpu_fallback: bool = False) -> TargetResult:
    """Where every operator of ``model`` runs on ``target``.

    ``passed``: everything runs on the target (TFLM: every op; a delegate: no op left to the
    CPU, or with ``allow_cpu_fallback`` at least one op on the target).
    """
    mod = module_for(target)
    placement = tuple(mod.place(model, target))
    seg_fn = getattr(mod, "segments", None)
    segments = seg_fn(model, placement) if seg_fn else default_segments(placement)
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

"""What every target module shares: the placement of an operator, memory, the result, segments.

Below ``tflkit.targets`` and every target module (``tflm``, ``ethos_u`` ...), so that they import
it and not the package that imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tflkit.model import Operator, Subgraph

__all__ = ["Memory", "Placement", "TargetResult", "output_name", "target_runs"]


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


def output_name(sg: Subgraph, op: Operator) -> str:
    """The name of an operator's first output tensor ("" when it has none)."""
    first = next((t for i in op.outputs if (t := sg.tensor(i)) is not None), None)
    return first.name if first is not None else ""


def target_runs(
    placement: Iterable[Placement], skip: Callable[[Placement], bool] | None = None
) -> int:
    """Maximal runs of consecutive operators on the target, subgraph by subgraph: the segments
    a compiler that cuts the graph in execution order makes. Operators for which ``skip`` is
    true (Vela's folded constants) neither start nor break a run."""
    runs, previous = 0, None
    for p in placement:
        if skip is not None and skip(p):
            continue
        here = (p.subgraph, p.on == "target")
        if p.on == "target" and here != previous:
            runs += 1
        previous = here
    return runs

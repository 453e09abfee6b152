"""What ``check()`` returns: rules, findings and the report.

Plain data below the code that builds it (``tflkit.checks``) and the code that shows it
(``tflkit.render``), so that both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tflkit.targets import TargetResult

__all__ = ["Finding", "Report", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: its stable id, which profile owns it (None: a conformance warning), its source."""

    id: str
    profile: str | None
    doc: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule, naming where: subgraph, tensor and/or operator (index and name)."""

    rule: str
    message: str
    subgraph: int | None = None
    tensor: int | None = None
    operator: int | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """The result of ``check()``: ``passed`` is True when there is no violation."""

    model: str
    profile: str | None  # None: a target only (``check(model, target=...)``)
    passed: bool
    violations: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    options: dict[str, bool] = field(default_factory=dict, compare=False, hash=False)
    #: ``quantization_kind()`` of the model: what it is, whatever the profile asked for.
    quantization_kind: str = ""
    #: One line when the model as a whole is another kind than the profile wants (a float32
    #: model under ``int8``): what it is and which conversion gives the profile; else None.
    summary: str | None = None
    #: With ``target=``: where every operator runs on it (``tflkit.targets.TargetResult``:
    #: placement, segments, memory, summary); the operators off the target are also findings.
    target: TargetResult | None = None

    def __bool__(self) -> bool:
        return self.passed

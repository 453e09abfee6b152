"""What ``check()`` returns: rules, findings and the report.

Plain data below the code that builds it (``tflkit.checks``) and the code that shows it
(``tflkit.render``), so that both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tflkit.targets import TargetResult

__all__ = ["Finding", "Report", "Rule", "VelaEstimate"]


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
class VelaEstimate:
    """Vela's own figures for a model compiled for an Ethos-U target
    (``check(..., target="ethos-u55", estimate=True)``), read from the summary CSV Vela writes
    (``<model>_summary_<system config>.csv``) and its network summary: Vela's numbers, not
    tflkit's. Memory is in bytes (Vela writes KiB); time and clock as Vela configured them."""

    vela_version: str  # "5.2.0"
    accelerator: str  # Vela's --accelerator-config: "ethos-u55-128"
    system_config: str  # Vela's default for the accelerator: "Ethos_U55_High_End_Embedded"
    memory_mode: str  # "Shared_Sram"
    clock_hz: int  # the accelerator clock of the system config (core_clock)
    cycles: int  # cycles_total: one inference, NPU and memory access
    npu_cycles: int  # cycles_npu
    inference_seconds: float  # cycles / clock (inference_time)
    macs: int  # nn_macs
    sram_bytes: int  # peak SRAM used
    dram_bytes: int  # DRAM used (Ethos-U65 / U85 system configs keep weights there)
    flash_bytes: int  # on-chip and off-chip flash used
    #: Operators as Vela counts them after its own graph rewrite (one TFLite operator can
    #: become several): the "CPU operators" / "NPU operators" lines of its network summary.
    npu_operators: int
    cpu_operators: int


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
    #: With ``estimate=True``: Vela's own figures for the target (``VelaEstimate``); None
    #: when not asked or when Vela could not compile the model (then ``estimate_note``).
    estimate: VelaEstimate | None = None
    #: With ``estimate=True`` and no estimate: why, in one line (Vela's reason, a crash, a
    #: timeout). The check's own verdict stands either way.
    estimate_note: str | None = None

    def __bool__(self) -> bool:
        return self.passed

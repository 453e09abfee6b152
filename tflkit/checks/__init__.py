"""Model checks: profiles (is this model fully integer?) and conformance rules.

Everything here works on a ``tflkit.Model``: no file access, no runtime. A profile's verdict
rests on its own rules (violations, ``profiles.py``); the conformance rules from the TFLite
quantization specification (``conformance.py``) are warnings unless ``strict=True``. Every rule
has a stable kebab-case id, listed in ``RULES`` with the source it comes from.
``runtime_hazards()`` (``hazards.py``) lists what the runtime would crash on.

Sources: [S] tensorflow ``tensorflow/lite/g3doc/performance/quantization_spec.md``;
[P] tensorflow ``tensorflow/lite/tools/optimize/operator_property.cc``;
[K] ``tensorflow/lite/kernels/kernel_util.cc``; [M] tflite-micro kernels
(``softmax_common.cc``, ``activations_common.cc``, ``concatenation.cc``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tflkit.checks import conformance, profiles
from tflkit.checks.hazards import runtime_hazards
from tflkit.checks.profiles import EVERY_PROFILE, PROFILES
from tflkit.errors import InputError, UnsupportedModelError
from tflkit.kinds import quantization_kind
from tflkit.loader import resolve
from tflkit.model import Model, ModelLike
from tflkit.report import Finding, Report, Rule, VelaEstimate

if TYPE_CHECKING:
    from tflkit.targets import TargetResult

__all__ = ["EVERY_PROFILE", "PROFILES", "RULES", "check", "check_options", "runtime_hazards"]

#: Every rule by id: the profile rules (the verdict), then the conformance warnings
#: (``strict=True`` makes them violations).
RULES: dict[str, Rule] = {r.id: r for r in (*profiles.RULES, *conformance.RULES)}


def _select(
    findings: Iterable[Finding], select: set[str] | None, ignore: set[str]
) -> list[Finding]:
    return [f for f in findings if f.rule not in ignore and (select is None or f.rule in select)]


def _placement_findings(
    placed: TargetResult, allow_cpu_fallback: bool
) -> tuple[list[Finding], list[Finding]]:
    """The operators off the target: (violations, warnings). Those that fall back to the CPU
    are warnings when ``allow_cpu_fallback``."""
    off_target: list[Finding] = []
    fallback: list[Finding] = []
    for p in placed.placement:
        if p.on == "target":
            continue
        where = f" output {p.output!r}" if p.output else ""
        finding = Finding(
            p.rule or "target",
            f"operator {p.operator} ({p.op}){where}: {p.reason}",
            subgraph=p.subgraph,
            operator=p.operator,
        )
        (fallback if p.on == "cpu" and allow_cpu_fallback else off_target).append(finding)
    return off_target, fallback


def check_options(
    profile: str | None,
    *,
    target: str | None = None,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    estimate: bool = False,
) -> None:
    """Raise InputError (a ValueError) naming what is known when ``check()`` would refuse these
    options: an unknown profile, target or rule id, ``estimate=True`` without an Ethos-U
    target. Callers that check many models (the command line) ask once, before reading any.
    With ``estimate=True`` and Vela not installed: TflkitError with the install command.
    """
    if profile is not None and profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}, expected one of {', '.join(PROFILES)}")
    from tflkit.targets import MODULES, TARGETS, module_for

    if target is not None and target not in MODULES:
        raise InputError(f"unknown target {target!r}, expected one of {', '.join(TARGETS)}")
    known = set(RULES) | set(getattr(module_for(target), "RULES", {}) if target else ())
    for rid in sorted({*(select or ()), *ignore}):
        if rid not in known:
            raise InputError(f"unknown rule {rid!r}; rules: {', '.join(sorted(known))}")
    if estimate:
        from tflkit.targets._vela import ACCELERATORS, require_vela

        if target not in ACCELERATORS:
            raise InputError(
                f"estimate=True needs target={' or '.join(map(repr, ACCELERATORS))}"
                + ("" if target is None else f", got {target!r}")
            )
        require_vela()


def _vela(model: Model, target: str) -> tuple[VelaEstimate | None, str | None]:
    """Vela's estimate, or None and why not (the check stands without it)."""
    from tflkit.targets._vela import vela_estimate

    try:
        return vela_estimate(model, target), None
    except UnsupportedModelError as exc:
        return None, str(exc)


def check(
    model: ModelLike,
    profile: str | None = None,
    *,
    target: str | None = None,
    allow_cpu_fallback: bool = False,
    allow_uint8_io: bool = False,
    strict: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    estimate: bool = False,
) -> Report:
    """Check a model against a profile and the TFLite quantization specification.

    Args:
        model: a path (``str`` or ``os.PathLike``), the model's bytes, or a ``tflkit.Model``.
        profile: ``"int8"`` (fully integer: int8 I/O, builtin ops only, no float tensor),
            ``"int16x8"`` (int16 activations, int8 weights) or ``"float16"`` (float16
            weights, float32 I/O). Default ``"int8"``, or none when ``target`` is given.
        target: also place every operator on this target (``tflkit.targets.TARGETS``); the
            operators off it are violations.
        allow_cpu_fallback: with ``target``, operators that fall back to the CPU are warnings
            (at least one must reach the target when no profile is checked).
        allow_uint8_io: accept uint8 inputs and outputs under the int8 profile.
        strict: make conformance warnings violations.
        select: only these rule ids (default: all).
        ignore: skip these rule ids.
        estimate: with an Ethos-U ``target``, also compile the model with Vela (the
            ``[vela]`` extra; in a child process, on a copy in a temporary directory) and
            add Vela's own figures as ``report.estimate`` (cycles, inference time at Vela's
            clock, SRAM / DRAM / flash used, NPU / CPU operator counts). When Vela cannot
            compile the model, ``report.estimate`` is None and ``report.estimate_note`` says
            why; the verdict is tflkit's either way. Takes seconds: Vela compiles.

    Returns:
        A Report; ``report.passed`` is False when any violation was found.

    Raises:
        InputError (a ValueError): an unknown profile, target or rule id, ``estimate=True``
            without an Ethos-U target (``check_options``).
        TflkitError: ``estimate=True`` and Vela is not installed (``pip install
            'tflkit[vela]'``).
        TypeError: ``model`` is not a path, bytes or Model.
        InvalidModelError, OSError: the file cannot be read as a model.

    Example:
        >>> report = tflkit.check("mlp_int8.tflite")
        >>> report.passed, [f.rule for f in report.violations]
        (True, [])
    """
    if profile is None and target is None:
        profile = "int8"
    selected = None if select is None else set(select)
    ignored = set(ignore)
    check_options(profile, target=target, select=selected, ignore=ignored, estimate=estimate)
    model = resolve(model)
    placed = None
    off_target: list[Finding] = []
    fallback: list[Finding] = []
    if target is not None:
        from tflkit.targets import place

        placed = place(model, target, allow_cpu_fallback=allow_cpu_fallback)
        off_target, fallback = _placement_findings(placed, allow_cpu_fallback)
    own: list[Finding] = []
    spec: list[Finding] = []
    options = {"allow_cpu_fallback": allow_cpu_fallback, "strict": strict}
    if profile is not None:
        own = profiles.findings(model, profile, allow_uint8_io=allow_uint8_io)
        spec = list(conformance.findings(model))
        options = {"allow_uint8_io": allow_uint8_io, "strict": strict} | (
            {"allow_cpu_fallback": allow_cpu_fallback} if target else {}
        )
    violations = _select(own + off_target, selected, ignored)
    warnings = _select(spec + fallback, selected, ignored)
    if strict:
        violations, warnings = violations + warnings, []
    # A target alone with a CPU fallback allowed: at least one operator must reach the target.
    unplaced = bool(profile is None and placed is not None and fallback and not placed.on_target)
    kind = quantization_kind(model)
    vela, note = _vela(model, target) if estimate and target is not None else (None, None)
    return Report(
        model=model.path or "<bytes>",
        profile=profile,
        passed=not violations and not unplaced,
        violations=tuple(violations),
        warnings=tuple(warnings),
        options=options,
        quantization_kind=kind,
        summary=None if profile is None else profiles.summary(model, profile, kind),
        target=placed,
        estimate=vela,
        estimate_note=note,
    )

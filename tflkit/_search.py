"""Accuracy-aware int8: the fewest operators to keep out of int8 (``convert(max_drop=...)``).

Backend-free: a *route* (``conversion.ConverterRoute`` through TFLiteConverter's own quantizer,
``_quantizer.QuantizerRoute`` through litert-quantizer) calibrates once and builds a real model
for any set of operators kept out of int8; this module decides which sets to build and
measures every candidate on the evaluation data. Nothing is estimated: each step of the search
is a converted model, run by the LiteRT interpreter.

The search:

1. **plain int8** (nothing kept out): done if it meets the target.
2. **ranking**: every activation tensor of the calibrated float graph is quantized as the plain
   int8 model quantizes it (its scale and zero point, TFLite's rounding) and its own
   quantization noise measured on the evaluation samples (SNR in dB, lowest first). A tensor
   is float only when its producer and all its consumers are: keeping one of them float alone
   leaves the tensor int8, so each tensor brings its producer and consumers as one unit.
3. **bisect** on the ranked units: the smallest prefix of units kept out of int8 that meets
   the target (after checking that keeping all of them meets it; if not, the target is out of
   reach on this route and the best model measured is the result).
4. **prune**: each kept operator, least sensitive first, goes back to int8 when the target
   still holds without it. The result is minimal: no single kept operator can return to int8.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tflkit.dtypes import FLOAT_NAMES
from tflkit.errors import InputError, SaturationWarning

__all__ = [
    "Evaluation",
    "Op",
    "Route",
    "Search",
    "SearchStep",
    "candidate_ops",
    "keep_float_ops",
    "run_search",
]

Array = npt.NDArray[Any]

#: Operators that are the edges of float islands, never candidates.
_EDGES = frozenset({"QUANTIZE", "DEQUANTIZE"})
#: Samples used to rank tensors (the first ones of the evaluation data).
RANK_SAMPLES = 256


@dataclass(frozen=True)
class Op:
    """An operator of the calibrated float graph that can be kept out of int8."""

    index: int
    type: str  # "FULLY_CONNECTED", ...
    outputs: tuple[str, ...]  # its output tensors' names: how the converters select it
    inputs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Its first output's name (as TFLite's QuantizationDebugger's denylisted_nodes)."""
        return self.outputs[0]


class Route(Protocol):
    """A way to int8: calibrated once, then a model for any set of ops kept out of int8."""

    name: str  # "tflite-converter" or "litert-quantizer"
    calibrated: bytes  # the float graph the ops are named in
    fallbacks: tuple[str, ...]  # what "out of int8" can be on this route: float, int16

    def build(self, kept: Sequence[Op], fallback: str) -> bytes: ...


@dataclass(frozen=True)
class SearchStep:
    """One converted model of the search, measured on the evaluation data.

    Attributes:
        phase: ``int8`` (nothing kept out), ``all`` (every ranked operator kept out),
            ``bisect``, ``prune`` or ``keep-float`` (a manual ``keep_float`` list).
        kept: the operators kept out of int8 (their first output's name), in ranking order.
        kept_types: their operator types, in the same order.
        size_bytes: the model's size.
        accuracy: top-1 accuracy in [0, 1] on the labels (None without labels).
        snr_db: the outputs' SNR against the float32 conversion (the lowest over outputs).
        invoke_ms: one sample's ``invoke()`` time, the median of a few (this machine).
        meets: the target holds.
    """

    phase: str
    kept: tuple[str, ...]
    kept_types: tuple[str, ...]
    size_bytes: int
    accuracy: float | None
    snr_db: float
    invoke_ms: float
    meets: bool


@dataclass(frozen=True)
class Search:
    """How ``convert(max_drop=... | min_snr=... | keep_float=...)`` chose its model.

    Attributes:
        target: ``max_drop`` (top-1 accuracy points below float32), ``min_snr`` (dB) or
            ``keep-float`` (a manual list, measured, no target).
        limit: the target's value (points or dB); NaN for ``keep-float``.
        route: ``tflite-converter`` or ``litert-quantizer``.
        fallback: what kept operators became: ``float`` or ``int16`` (int16 activations,
            int8 weights).
        reference_accuracy: the float32 conversion's accuracy (None without labels).
        ranking: activation tensors by their own int8 quantization noise, worst first:
            (tensor name, SNR dB).
        steps: every model built, in order.
        chosen: the index in ``steps`` of the result.
        met: the result meets the target.
        conversions: models built (calibration not counted: it runs once).
        seconds: where the time went: ``calibration``, ``reference``, ``ranking``,
            ``conversions``, ``evaluation``.
    """

    target: str
    limit: float
    route: str
    fallback: str
    reference_accuracy: float | None
    ranking: tuple[tuple[str, float], ...]
    steps: tuple[SearchStep, ...]
    chosen: int
    met: bool
    conversions: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def result(self) -> SearchStep:
        """The chosen step."""
        return self.steps[self.chosen]

    @property
    def plain(self) -> SearchStep | None:
        """Plain int8 (nothing kept out), when it was built."""
        return next((s for s in self.steps if not s.kept), None)


# ---------------------------------------------------------------- graph


def candidate_ops(calibrated: bytes) -> list[Op]:
    """The operators of the calibrated graph's first subgraph that write a float tensor,
    QUANTIZE/DEQUANTIZE aside."""
    from tflkit.loader import load

    sg = load(calibrated).primary
    ops = []
    for op in sg.operators:
        if op.op in _EDGES or not op.outputs:
            continue
        if not any(i >= 0 and sg.tensors[i].dtype in FLOAT_NAMES for i in op.outputs):
            continue  # shape arithmetic (SHAPE, STRIDED_SLICE on int32): nothing to keep float
        outs = tuple(sg.tensors[i].name for i in op.outputs if i >= 0)
        ins = tuple(sg.tensors[i].name for i in op.inputs if i >= 0)
        ops.append(Op(op.index, op.op, outs, ins))
    return ops


def keep_float_ops(specs: Sequence[str], ops: Sequence[Op]) -> list[Op]:
    """The operators a ``keep_float`` list names, in graph order.

    Each spec is an operator type (``SOFTMAX``: every operator of that type), an operator's
    output tensor name (exactly), or a regular expression searched in output tensor names.

    Raises:
        InputError: a spec that matches no operator (with a few names it could be), or an
            invalid regular expression.
    """
    import re

    chosen: set[int] = set()
    for spec in specs:
        if not isinstance(spec, str) or not spec:
            raise InputError(f"keep_float: expected operator types or names, got {spec!r}")
        hits = {op.index for op in ops if op.type == spec or spec in op.outputs}
        if not hits:
            try:
                pattern = re.compile(spec)
            except re.error as exc:
                raise InputError(
                    f"keep_float: {spec!r} is no operator type or name, and not a regular "
                    f"expression ({exc})"
                ) from None
            hits = {op.index for op in ops if any(pattern.search(n) for n in op.outputs)}
        if not hits:
            types = sorted({op.type for op in ops})
            names = [op.name for op in ops[:3]]
            raise InputError(
                f"keep_float: {spec!r} matches no operator; the model's operator types are "
                f"{', '.join(types)}; names look like {', '.join(map(repr, names))}"
            )
        chosen |= hits
    return [op for op in ops if op.index in chosen]


# ---------------------------------------------------------------- measuring


class Evaluation:
    """The evaluation data, the float32 reference's outputs (computed once) and the target."""

    def __init__(
        self,
        reference: bytes,
        x: Any,
        y: Any,
        *,
        max_drop: float | None,
        min_snr: float | None,
    ) -> None:
        from tflkit._inputs import batch_size_of

        self.x = x
        self.y = y
        self.n = batch_size_of(x)
        self.max_drop = max_drop
        self.min_snr = min_snr
        self.reference = self._outputs(reference)
        self.names = list(self.reference)
        self.reference_accuracy = self._accuracy(self.reference)

    def _outputs(self, data: bytes | Any) -> dict[str, Array]:
        from tflkit.runner import Runner

        runner = data if isinstance(data, Runner) else Runner(data)
        with warnings.catch_warnings():  # saturation is what the search measures
            warnings.simplefilter("ignore", SaturationWarning)
            out = runner.predict(self.x)
        if isinstance(out, Mapping):
            return {k: np.asarray(v) for k, v in out.items()}
        return {runner.output_names[0]: np.asarray(out)}

    def _accuracy(self, outputs: Mapping[str, Array]) -> float | None:
        from tflkit._metrics import label_hits

        if self.y is None:
            return None
        _, hits = label_hits(self.names, [outputs], self.y, self.n, None)
        assert hits is not None
        return hits[0] / self.n if self.n else math.nan

    def measure(self, data: bytes) -> tuple[float | None, float, float]:
        """(accuracy, SNR dB, one sample's invoke ms) of a candidate model."""
        from tflkit._metrics import OutputSums
        from tflkit.runner import Runner

        runner = Runner(data)
        out = self._outputs(runner)
        snr = math.inf
        for name in self.names:
            sums = OutputSums()
            sums.add(out[name], self.reference[name])
            snr = min(snr, sums.errors()[3])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SaturationWarning)
            times = runner.time_invoke(_first(self.x), repeat=5, warmup=1)
        return self._accuracy(out), snr, 1000 * float(np.median(times))

    def meets(self, accuracy: float | None, snr: float) -> bool:
        if self.max_drop is not None:
            if accuracy is None or self.reference_accuracy is None:
                return False
            # in points, rounded to hundredths of a point so 0.01-point ties do not flicker
            drop = round(100 * (self.reference_accuracy - accuracy), 6)
            return drop <= self.max_drop
        if self.min_snr is not None:
            return snr >= self.min_snr
        return True


def _first(x: Any) -> Any:
    """The first sample of evaluation inputs (an array, a list or a dict of arrays)."""
    if isinstance(x, Mapping):
        return {k: np.asarray(v)[:1] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [np.asarray(v)[:1] for v in x]
    return np.asarray(x)[:1]


def _head(x: Any, n: int) -> Any:
    if isinstance(x, Mapping):
        return {k: np.asarray(v)[:n] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [np.asarray(v)[:n] for v in x]
    return np.asarray(x)[:n]


# ---------------------------------------------------------------- ranking


def rank_tensors(
    calibrated: bytes, plain: bytes, x: Any, *, how: str = "local"
) -> list[tuple[str, float]]:
    """Activation tensors of the float graph by their own int8 quantization noise, worst first.

    ``local`` (the default, measured best: bench/README.md): each tensor's float values (the
    calibrated graph run on ``x``) are quantized with the scale and zero point the plain int8
    model gives the tensor of the same name, with TFLite's rounding, and dequantized: the SNR
    of that round trip is how much int8 costs that tensor alone, whatever happens upstream.
    ``accumulated``: the plain int8 model's own tensor against the float one (the error that
    arrived there, as ``compare --per-tensor`` measures it). Graph inputs and outputs are left
    out (they are int8 in every candidate); tensors the int8 model does not quantize are too.
    """
    from tflkit.loader import load
    from tflkit.quant import dequantize, quantize
    from tflkit.runner import Runner

    float_model = load(calibrated)
    sg = float_model.primary
    edges = {sg.tensors[i].name for i in (*sg.inputs, *sg.outputs)}
    scales: dict[str, tuple[float, int, str]] = {}
    for t in load(plain).primary.tensors:
        q = t.quantization
        if t.is_constant or q is None or t.dtype not in ("int8", "uint8", "int16") or q.per_channel:
            continue
        scales.setdefault(t.name, (q.scale, q.zero_point, t.dtype))
    head = _head(x, RANK_SAMPLES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SaturationWarning)
        values = Runner(calibrated).intermediates(head)
        int8 = Runner(plain).intermediates(head) if how == "accumulated" else {}
    ranked = []
    for name, value in values.items():
        if name in edges or name not in scales or value.dtype.kind != "f":
            continue
        scale, zero, dtype = scales[name]
        if not scale:
            continue
        real = np.asarray(value, np.float32)
        if how == "accumulated":
            if name not in int8 or int8[name].shape != real.shape:
                continue
            back = np.asarray(int8[name], np.float32)
        else:
            back = dequantize(quantize(real, scale, zero, dtype), scale, zero)
        signal = float(np.sum(np.square(real, dtype=np.float64)))
        noise = float(np.sum(np.square(real.astype(np.float64) - back)))
        snr = (
            math.inf
            if noise == 0
            else (-math.inf if signal == 0 else 10 * math.log10(signal / noise))
        )
        ranked.append((name, snr))
    ranked.sort(key=lambda r: r[1])
    return ranked


def units(ranking: Sequence[tuple[str, float]], ops: Sequence[Op]) -> list[list[Op]]:
    """For each ranked tensor, the operators that must be float for it to be float (its
    producer and consumers among ``ops``); then each operator no tensor brought, alone."""
    touching: dict[str, list[Op]] = {}  # tensor name -> the ops writing or reading it
    for op in ops:
        for name in dict.fromkeys((*op.outputs, *op.inputs)):
            touching.setdefault(name, []).append(op)
    out: list[list[Op]] = []
    seen: set[frozenset[int]] = set()
    for name, _ in ranking:
        unit = touching.get(name, [])
        key = frozenset(op.index for op in unit)
        if unit and key not in seen:
            seen.add(key)
            out.append(unit)
    covered = {op.index for unit in out for op in unit}
    out.extend([op] for op in ops if op.index not in covered)
    return out


# ---------------------------------------------------------------- the search


def run_search(
    route: Route,
    evaluation: Evaluation,
    *,
    target: str,
    limit: float,
    fallback: str,
    keep: Sequence[Op] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    seconds: dict[str, float] | None = None,
    ranking_by: str = "local",
) -> tuple[Search, bytes]:
    """Search (or, with ``keep``, just build and measure) the operators kept out of int8.

    Returns:
        The search and the chosen model's bytes.
    """
    seconds = dict(seconds or {})
    seconds.setdefault("conversions", 0.0)
    seconds.setdefault("evaluation", 0.0)
    steps: list[SearchStep] = []
    built: dict[frozenset[int], int] = {}
    models: list[bytes] = []
    ops = candidate_ops(route.calibrated)

    def tick(stage: str) -> None:
        if progress is not None:
            progress(stage, len(steps), 0)

    def step(phase: str, kept: Sequence[Op]) -> SearchStep:
        key = frozenset(op.index for op in kept)
        if key in built:
            return steps[built[key]]
        started = time.perf_counter()
        data = route.build(kept, fallback)
        seconds["conversions"] += time.perf_counter() - started
        started = time.perf_counter()
        accuracy, snr, invoke_ms = evaluation.measure(data)
        seconds["evaluation"] += time.perf_counter() - started
        s = SearchStep(
            phase=phase,
            kept=tuple(op.name for op in kept),
            kept_types=tuple(op.type for op in kept),
            size_bytes=len(data),
            accuracy=accuracy,
            snr_db=snr,
            invoke_ms=invoke_ms,
            meets=evaluation.meets(accuracy, snr),
        )
        built[key] = len(steps)
        steps.append(s)
        models.append(data)
        tick(phase)
        return s

    ranking: list[tuple[str, float]] = []
    if keep is not None:
        step("int8", [])
        chosen = step("keep-float", list(keep))
        met = True
    else:
        plain = step("int8", [])
        chosen, met = plain, plain.meets
        if not plain.meets:
            started = time.perf_counter()
            ranking = rank_tensors(route.calibrated, models[0], evaluation.x, how=ranking_by)
            groups = units(ranking, ops)
            seconds["ranking"] = time.perf_counter() - started

            def prefix(k: int) -> list[Op]:
                picked: dict[int, Op] = {}
                for unit in groups[:k]:
                    for op in unit:
                        picked.setdefault(op.index, op)
                return list(picked.values())

            everything = step("all", prefix(len(groups)))
            if everything.meets:
                lo, hi = 0, len(groups)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if step("bisect", prefix(mid)).meets:
                        hi = mid
                    else:
                        lo = mid
                kept = prefix(hi)
                for op in reversed(list(kept)):
                    trial = [o for o in kept if o.index != op.index]
                    if step("prune", trial).meets:
                        kept = trial
                chosen = step("prune", kept)  # built already: the cached step
                met = True
            else:
                chosen, met = _best(steps), False
    index = next(i for i, s in enumerate(steps) if s is chosen)
    search = Search(
        target="keep-float" if keep is not None else target,
        limit=math.nan if keep is not None else limit,
        route=route.name,
        fallback=fallback,
        reference_accuracy=evaluation.reference_accuracy,
        ranking=tuple(ranking),
        steps=tuple(steps),
        chosen=index,
        met=met,
        conversions=len(steps),
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    return search, models[index]


def _best(steps: Sequence[SearchStep]) -> SearchStep:
    """The step with the best accuracy (else SNR), fewest kept operators on a tie."""

    def key(s: SearchStep) -> tuple[float, float, int]:
        acc = s.accuracy if s.accuracy is not None else -math.inf
        snr = s.snr_db if not math.isnan(s.snr_db) else -math.inf
        return (acc, snr, -len(s.kept))

    return max(steps, key=key)

"""Selective int8 for ``tflkit.convert``: ``max_drop`` / ``min_snr`` (searched) and
``keep_float`` (given), on either route.

- A Keras model or SavedModel goes through TFLiteConverter's own quantizer
  (``ConverterRoute``): the converter calibrates once (``_experimental_calibrate_only``, as
  TFLite's ``QuantizationDebugger`` does), then each candidate is the calibrated model
  quantized by ``mlir_quantize`` with ``denylisted_nodes`` (the kept operators' output tensor
  names): the QuantizationDebugger's own call, with the user's inference input/output types.
- A float .tflite goes through litert-quantizer (``_quantizer.QuantizerRoute``): calibrated
  once, one recipe per candidate (``no_quantize`` or int16 activations for the kept ops).

``tflkit._search`` decides which candidates to build; every one is a real model measured on
the evaluation data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tflkit._search import Evaluation, Op, Search, candidate_ops, keep_float_ops, run_search
from tflkit.errors import ConversionError, InputError

__all__ = ["ConverterRoute", "Selection", "check_request", "select"]

FALLBACKS = ("float", "int16")


@dataclass(frozen=True)
class Selection:
    """What the selective conversion gives ``convert``: the model and how it was chosen."""

    data: bytes
    plain: bytes  # plain int8 through the same route (the compare row "int8")
    kept: tuple[str, ...]
    kept_types: tuple[str, ...]
    fallback: str
    search: Search | None
    settings: dict[str, Any]
    notes: tuple[str, ...]


def check_request(
    to: str,
    *,
    max_drop: float | None,
    min_snr: float | None,
    keep_float: Sequence[str] | None,
    fallback: str | None,
    eval_x: Any,
    eval_y: Any,
) -> bool:
    """Refuse a selective request that cannot work, before any long work; True if selective.

    Raises:
        InputError: ``max_drop`` without ``eval_x`` / ``eval_y``, ``min_snr`` without
            ``eval_x``, both targets, a target with ``keep_float``, a negative or non-finite
            target, a target for another ``to`` than int8, an unknown ``fallback``.
    """
    selective = max_drop is not None or min_snr is not None or bool(keep_float)
    if fallback is not None and fallback not in FALLBACKS:
        raise InputError(f"fallback={fallback!r}: expected 'float' or 'int16'")
    if not selective:
        if fallback is not None:
            raise InputError(
                f"fallback={fallback!r} applies with max_drop=P, min_snr=DB or keep_float=SPEC"
            )
        return False
    what = (
        "max_drop=P"
        if max_drop is not None
        else "min_snr=DB"
        if min_snr is not None
        else "keep_float=SPEC"
    )
    if to != "int8":
        raise InputError(
            f"{what} chooses operators to keep out of int8: it takes to='int8', got to={to!r}"
        )
    if max_drop is not None and min_snr is not None:
        raise InputError("give max_drop=P (accuracy, with labels) or min_snr=DB, not both")
    if keep_float and (max_drop is not None or min_snr is not None):
        raise InputError(
            f"keep_float=SPEC is a manual choice and {what} searches one: give one of them"
        )
    if isinstance(keep_float, str):
        raise InputError(f"keep_float takes a list of names, got the string {keep_float!r}")
    for name, value in (("max_drop", max_drop), ("min_snr", min_snr)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{name}={value!r}: expected a number")
        if not math.isfinite(value) or (name == "max_drop" and value < 0):
            raise InputError(
                f"{name}={value!r}: expected a finite number"
                + (" of accuracy points, 0 or more" if name == "max_drop" else " of dB")
            )
    if max_drop is not None and (eval_x is None or eval_y is None):
        raise InputError(
            "max_drop=P is top-1 accuracy points below the float32 conversion: it needs "
            "eval_x='x.npy' and eval_y='labels.npy'"
        )
    if min_snr is not None and eval_x is None:
        raise InputError(
            "min_snr=DB is the outputs' SNR against the float32 conversion: it needs eval_x='x.npy'"
        )
    return True


class ConverterRoute:
    """TFLiteConverter's quantizer with ``denylisted_nodes``: calibrated once."""

    name = "tflite-converter"
    fallbacks = ("float",)

    def __init__(self, conv: Any, error: Callable[[BaseException], ConversionError]) -> None:
        """``conv``: a TFLiteConverter configured for int8 (``conversion._configure``), its
        representative dataset set; calibrated here, once."""
        conv._experimental_calibrate_only = True  # what QuantizationDebugger sets
        self._io = conv.inference_input_type  # tf.float32 unless the user asked otherwise
        self._error = error
        self._per_channel_off = bool(getattr(conv, "_experimental_disable_per_channel", False))
        try:
            self.calibrated = bytes(conv.convert())
        except Exception as exc:  # ConverterError, ValueError, RuntimeError... from TF
            raise error(exc) from exc

    def build(self, kept: Sequence[Op], fallback: str) -> bytes:
        from tensorflow.lite.python import convert as tf_convert  # QuantizationDebugger's own

        try:
            return bytes(
                tf_convert.mlir_quantize(
                    self.calibrated,
                    self._per_channel_off,
                    input_data_type=self._io,
                    output_data_type=self._io,
                    denylisted_nodes=[op.name for op in kept] or None,
                )
            )
        except Exception as exc:
            raise self._error(exc) from exc


def select(
    route: Any,
    *,
    evaluation: Evaluation | None,
    keep_float: Sequence[str] | None,
    fallback: str,
    seconds: dict[str, float],
    progress: Callable[[str, int, int], None] | None = None,
) -> Selection:
    """Search (``max_drop`` / ``min_snr``) or build (``keep_float``) on a calibrated route.

    ``evaluation`` holds the data, the float32 reference's outputs (computed once for every
    route and fallback tried) and the target; None: ``keep_float`` built, not measured.
    """
    if fallback not in route.fallbacks:
        raise InputError(
            f"fallback {fallback!r} is not available on the {route.name} route "
            f"(it offers {', '.join(route.fallbacks)})"
        )
    ops = candidate_ops(route.calibrated)
    keep = keep_float_ops(keep_float, ops) if keep_float else None
    notes: list[str] = []
    if evaluation is None:  # keep_float without evaluation data: built, not measured
        assert keep is not None
        started = time.perf_counter()
        plain = route.build([], fallback)
        data = route.build(keep, fallback)
        seconds["conversions"] = round(time.perf_counter() - started, 3)
        return Selection(
            data,
            plain,
            tuple(op.name for op in keep),
            tuple(op.type for op in keep),
            fallback,
            None,
            _settings(route, keep, fallback),
            ("no evaluation data: the model is built, not measured",),
        )
    max_drop, min_snr = evaluation.max_drop, evaluation.min_snr
    target = "max_drop" if max_drop is not None else "min_snr"
    limit = max_drop if max_drop is not None else (min_snr if min_snr is not None else math.nan)
    search, data = run_search(
        route,
        evaluation,
        target=target,
        limit=float(limit),
        fallback=fallback,
        keep=keep,
        progress=progress,
        seconds=seconds,
    )
    result = search.result
    by_name = {op.name: op for op in ops}
    kept_ops = [by_name[n] for n in result.kept]
    plain_step = search.plain
    if keep is None and not search.met:
        notes.append(_not_met(search))
    elif keep is None and not result.kept:
        notes.append("plain int8 meets the target: no operator kept out of int8")
    return Selection(
        data,
        data if plain_step is result else route.build([], fallback),
        result.kept,
        result.kept_types,
        fallback,
        search,
        _settings(route, kept_ops, fallback),
        tuple(notes),
    )


def _settings(route: Any, kept: Sequence[Op], fallback: str) -> dict[str, Any]:
    names = [op.name for op in kept]
    if route.name == "tflite-converter":
        return {
            "selective": "mlir_quantize(calibrated, denylisted_nodes=...) as "
            "tf.lite.experimental.QuantizationDebugger.get_nondebug_quantized_model",
            "denylisted_nodes": names,
        }
    return {"selective": "litert-quantizer recipe", **route.settings(kept, fallback)}


def _not_met(search: Search) -> str:
    best = search.result
    if search.target == "max_drop":
        got = "n/a" if best.accuracy is None else f"{100 * best.accuracy:.1f}%"
        ref = search.reference_accuracy
        want = f"{100 * ref - search.limit:.1f}%" if ref is not None else "?"
        what = f"accuracy {got} (needed {want})"
    else:
        what = f"SNR {best.snr_db:.1f} dB (needed {search.limit:g} dB)"
    return (
        f"target not met: best {what} with {len(best.kept)} operators kept out of int8 "
        f"(written all the same)"
    )

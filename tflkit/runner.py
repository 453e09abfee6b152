"""``Runner``: one batched predict API for float, float16, dynamic-range and quantized models.

The only module that imports the LiteRT runtime (``ai_edge_litert``, falling back to
``tf.lite.Interpreter`` when it is not installed). Tensor descriptions come from ``tflkit.load``;
the interpreter is asked only what the file cannot tell (runtime indices, resized shapes).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit import dtypes
from tflkit.checks import runtime_hazards
from tflkit.errors import (
    DelegateWarning,
    InputError,
    InvalidModelError,
    SaturationWarning,
    TflkitError,
    UnsupportedModelError,
    require_positive,
)
from tflkit.loader import interpreter_source, resolve
from tflkit.model import (
    Model,
    ModelLike,
    Subgraph,
    Tensor,
)
from tflkit.quant import PerTensor, QuantizeStats, _max, _min, dequantize, quantize_with_stats

__all__ = ["Runner"]

Array = npt.NDArray[Any]
Inputs = Any  # ndarray | Sequence[ArrayLike] | Mapping[str, ArrayLike]

_FLOAT32 = np.dtype(np.float32)
_SATURATION_WARN = 0.01  # warn when more than 1% of an input saturates
_CALIBRATION_SAMPLES = 32  # auto batching: samples used to time batched vs per-sample
_STATEFUL_OPS = frozenset({"VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE", "CALL_ONCE"})


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:  # pragma: no cover - exercised only without ai-edge-litert
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise TflkitError(
                "running models needs the LiteRT runtime: pip install ai-edge-litert"
            ) from exc
        return tf.lite.Interpreter


def _per_tensor(t: Tensor) -> PerTensor | None:
    """The resolved quantization of a per-tensor quantized integer tensor, else None."""
    q = t.quantization
    if not t.is_quantized_int or q is None or len(q.scales) != 1 or len(q.zero_points) != 1:
        return None
    return PerTensor(q.scales[0], q.zero_points[0], dtypes.numpy_dtype(t.dtype) or t.dtype)


def _caller_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside tflkit (the user's predict call)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _shape_text(dims: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


class _RuntimeGuard:
    """``with runner._guard:`` turns the runtime's RuntimeError / ValueError into
    UnsupportedModelError naming the op; tflkit's own errors (InputError is a ValueError) pass.

    A plain class, made once per Runner: a ``contextlib.contextmanager`` costs ~1 us per
    ``predict``, 13% of a one-sample call on a small model.
    """

    __slots__ = ("_runner",)

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is not None:
            error = self._runner._translate(exc)
            if error is not None:
                raise error from exc


class Runner:
    """Run a .tflite model on batches of real values, whatever its quantization.

    Real-valued inputs to quantized integer inputs are quantized (ties away from zero,
    saturating, as TFLite's reference kernel), quantized outputs are dequantized to float32, and
    a batch is run as one resized invoke or sample by sample, whichever is faster for the model.

    Args:
        model: a path to a .tflite file (str or os.PathLike), its bytes, or a ``tflkit.Model``.
        num_threads: threads for the runtime's CPU kernels (runtime default when None).
        signature: run this signature (its subgraph, its names); default: subgraph 0, named by
            the signature on subgraph 0 if there is one.
        batch_size: split inputs into chunks of at most this many samples.
        batching: ``"auto"`` (time both on the first batch and keep the faster), ``"batched"``
            or ``"per-sample"``. Fixed-batch and stateful models always run sample by sample.

    Raises:
        InvalidModelError: not a TFLite file.
        UnsupportedModelError: the runtime cannot run it (custom or Flex ops).
        InputError: an unknown signature.

    Example:
        >>> runner = tflkit.Runner("mlp_int8.tflite")
        >>> probs = runner.predict(np.random.rand(1000, 32))  # float32, shape (1000, 10)
    """

    def __init__(
        self,
        model: ModelLike,
        *,
        num_threads: int | None = None,
        signature: str | None = None,
        batch_size: int | None = None,
        batching: str = "auto",
    ) -> None:
        if batching not in ("auto", "batched", "per-sample"):
            raise ValueError(
                f"batching must be 'auto', 'batched' or 'per-sample', got {batching!r}"
            )
        require_positive("batch_size", batch_size)
        self.model: Model = resolve(model)
        self._source: str | bytes = interpreter_source(self.model)
        self.num_threads = num_threads
        self.batch_size = batch_size
        self._batching = batching
        self._decided: str | None = None if batching == "auto" else batching
        # auto: the choice measured for each calibration size (min(n, 32, batch_size)): what
        # wins at batch 4 need not win at batch 32
        self._choices: dict[int, str] = {}
        self._lock = threading.RLock()
        self._warned: set[str] = set()
        self.saturation: dict[str, QuantizeStats] = {}

        sig = None
        if signature is not None:
            try:
                sig = self.model.signature(signature)
            except KeyError as exc:
                raise InputError(f"{self.model.name}: {exc.args[0]}") from None
        else:
            sig = next((s for s in self.model.signatures if s.subgraph_index == 0), None)
        self.signature = signature
        self._subgraph = sig.subgraph_index if sig is not None else 0
        sg = self.model.subgraphs[self._subgraph]
        # by tensor index, inputs and outputs apart: one tensor can be both (a passthrough)
        in_names = {x.tensor_index: x.name for x in sig.inputs} if sig else {}
        out_names = {x.tensor_index: x.name for x in sig.outputs} if sig else {}
        # Order: that of get_input_details() / get_output_details(), i.e. the subgraph's.
        self.inputs: tuple[Tensor, ...] = sg.input_tensors
        self.outputs: tuple[Tensor, ...] = sg.output_tensors
        self.input_names: tuple[str, ...] = tuple(
            in_names.get(t.index, t.name) for t in self.inputs
        )
        self.output_names: tuple[str, ...] = tuple(
            out_names.get(t.index, t.name) for t in self.outputs
        )
        self._signature_key = sig.key if (sig is not None and self._subgraph != 0) else None
        self._stateful = any(
            op.op in _STATEFUL_OPS for s in self.model.subgraphs for op in s.operators
        ) or any(t.is_variable for t in sg.tensors)
        self._in_quant = [_per_tensor(t) for t in self.inputs]
        self._in_dtypes = [dtypes.numpy_dtype(t.dtype) for t in self.inputs]
        #: 0 when axis 0 of the inputs counts samples, None when the model has no batch axis and
        #: each input is fed at the model's own shape, one invoke per call (Subgraph.batch_axis).
        self.batch_axis: int | None = sg.batch_axis
        # A batch axis whose size is fixed at 1 for some input: run sample by sample.
        self._fixed = (
            1
            if self.batch_axis == 0
            and any(t.shape_signature and t.shape_signature[0] >= 0 for t in self.inputs)
            else None
        )
        self._out_quant = [_per_tensor(t) for t in self.outputs]
        # Float inputs quantized by a QUANTIZE op inside the graph clip there as an integer input
        # would: the real values beyond which that op saturates, to warn the same way.
        self._edges = [self._edge(sg, t) for t in self.inputs]
        # (-1 marks a dynamic dimension; any other negative one is read the same way.)
        # Inputs with a dynamic dimension besides the batch are allocated at the shape of the
        # first predict: the stored shape is a placeholder ([1, 1] for [-1, -1]) at which some
        # models cannot be prepared at all (a VALID convolution over 1 sample of audio). A
        # dynamic batch alone is allocated at 1, whatever the stored shape says.
        self._dynamic = any(d < 0 for t in self.inputs for d in t.shape_signature[1:])
        #: ``"xnnpack"`` (the runtime's default delegate) or None (builtin kernels only, after
        #: XNNPACK failed to prepare the model; a DelegateWarning says why).
        self.delegate: str | None = "xnnpack"
        self._guard = _RuntimeGuard(self)
        self._check_runnable()
        self._open()
        self._one = self._one_sample_plan()

    # ------------------------------------------------------------------ runtime

    def _translate(self, exc: BaseException) -> TflkitError | None:
        """The TflkitError for an exception the runtime raised, or None to let it pass."""
        if isinstance(exc, TflkitError):
            return None
        if isinstance(exc, UnicodeDecodeError):  # names the runtime's Python layer decodes
            return InvalidModelError(
                f"{self.model.name}: a name in the model is not valid UTF-8 (byte "
                f"{exc.object[exc.start : exc.start + 1]!r} at position {exc.start} of the "
                "name); the LiteRT runtime cannot read it"
            )
        if isinstance(exc, (RuntimeError, ValueError)):
            return self._unsupported(exc)
        return None

    def _unsupported(self, exc: BaseException) -> UnsupportedModelError:
        """The runtime's failure in the user's terms: the Flex or unresolved custom op it names,
        else its own first line."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        missing = re.search(r"unresolved custom op: ([^\s.]+)", str(exc))
        for sg in self.model.subgraphs:
            for op in sg.operators:
                where = f"{self.model.name}: subgraph {sg.index} operator {op.index} "
                if op.is_flex:
                    return UnsupportedModelError(
                        f"{where}({op.display_name}): Flex ops need the TensorFlow runtime "
                        "(SELECT_TF_OPS), which the LiteRT interpreter does not include"
                    )
                if missing and op.is_custom and op.custom_code == missing.group(1):
                    return UnsupportedModelError(
                        f"{where}({op.display_name}): custom op not registered with the "
                        "runtime (the application that made the model provides its kernel)"
                    )
        return UnsupportedModelError(f"{self.model.name}: the runtime cannot run it: {text}")

    def _check_runnable(self) -> None:
        """Refuse, from the file, what the runtime would crash on or cannot run at all."""
        for hazard in runtime_hazards(self.model):
            # a zero point out of range makes the file invalid; the rest is valid but unrunnable
            invalid = hazard.rule == "zero-point-in-range"
            error = InvalidModelError if invalid else UnsupportedModelError
            raise error(f"{self.model.name}: {hazard.message}")

    def _open_interpreter(self, *, preserve: bool = False, delegate: bool = True) -> Any:
        """A new interpreter for the model: the runtime's default delegate (XNNPACK) unless
        ``delegate`` is False; no delegate and all tensors kept when ``preserve``."""
        cls = _interpreter_class()
        kwargs: dict[str, Any] = {"num_threads": self.num_threads}
        if isinstance(self._source, bytes):
            kwargs["model_content"] = self._source
        else:
            kwargs["model_path"] = self._source
        if preserve or not delegate:
            resolver = sys.modules[cls.__module__].OpResolverType
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if preserve:
            kwargs["experimental_preserve_all_tensors"] = True
        with self._guard:
            return cls(**kwargs)

    def _open(self) -> None:
        self._interp = self._open_interpreter(delegate=self.delegate is not None)
        with self._guard:
            if self._signature_key is not None:
                self._sig_runner = self._interp.get_signature_runner(self._signature_key)
                return
            ins = self._interp.get_input_details()
            self._in_index = [int(d["index"]) for d in ins]
            self._out_index = [int(d["index"]) for d in self._interp.get_output_details()]
        # None: not allocated yet (dynamic inputs wait for the first predict's shapes)
        self._in_shapes: list[tuple[int, ...] | None] = [None] * len(ins)
        if not self._dynamic:  # allocated now, so that a model the runtime refuses fails here
            with self._guard:
                self._resize(
                    [
                        tuple(1 if s < 0 else s for s in t.shape_signature)
                        if any(s < 0 for s in t.shape_signature)
                        else tuple(int(x) for x in d["shape"])  # stored shape, as the runtime
                        for t, d in zip(self.inputs, ins, strict=True)
                    ]
                )

    def _allocate(self) -> None:
        """allocate_tensors(); if XNNPACK fails to prepare, once more on the builtin kernels."""
        try:
            self._interp.allocate_tensors()
            return
        except RuntimeError as exc:
            first = exc
        builtin = None
        if self.delegate is not None and "XNNPack" in str(first):
            # XNNPACK could not prepare the model at these shapes: a new interpreter without
            # the default delegates, at the same shapes. If that fails too, XNNPACK was not
            # the cause and the builtin kernels' reason is the more precise one.
            interp = self._open_interpreter(delegate=False)
            for k, shape in enumerate(self._in_shapes):
                if shape is not None:
                    interp.resize_tensor_input(self._in_index[k], list(shape), strict=False)
            try:
                interp.allocate_tensors()
            except RuntimeError as exc:
                builtin = exc
            else:
                self._interp, self.delegate = interp, None
                warnings.warn(
                    f"{self.model.name}: the XNNPACK delegate could not prepare the model "
                    f"({_one_line(first)}); running it on the builtin kernels instead",
                    DelegateWarning,
                    stacklevel=_caller_stacklevel(),
                )
                return
        if "custom op" in str(first):
            raise self._unsupported(first) from first
        shapes = ", ".join(_shape_text(s) for s in self._in_shapes if s is not None)
        raise UnsupportedModelError(
            f"{self.model.name}: the runtime cannot prepare the model for input shape "
            f"{shapes}: {_one_line(builtin or first)}"
        ) from (builtin or first)

    def reset(self) -> None:
        """Restore the model's initial state (resource variables) by re-opening the runtime."""
        with self._lock:
            self._open()

    @property
    def batching(self) -> str:
        """How batches run: ``batched``, ``per-sample``, ``fixed-batch`` (batch 1 in the model:
        sample by sample), ``auto`` (undecided) or ``none`` (no batch axis: one invoke a call)."""
        if self.batch_axis is None:
            return "none"
        if self._fixed is not None:
            return "fixed-batch"
        if self._stateful:
            return "per-sample"
        return self._decided or "auto"

    def __repr__(self) -> str:
        return (
            f"Runner({self.model.name!r}, inputs={list(self.input_names)}, "
            f"outputs={list(self.output_names)}, batching={self.batching!r})"
        )

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        return {
            "source": self._source,
            "num_threads": self.num_threads,
            "signature": self.signature,
            "batch_size": self.batch_size,
            "batching": self._batching,
            "decided": self._decided,
            "choices": self._choices,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["source"],
            num_threads=state["num_threads"],
            signature=state["signature"],
            batch_size=state["batch_size"],
            batching=state["batching"],
        )
        self._decided = state["decided"]
        self._choices = dict(state.get("choices", {}))

    # ------------------------------------------------------------------ inputs

    @staticmethod
    def _edge(sg: Subgraph, t: Tensor) -> tuple[Tensor, float, float] | None:
        """(the in-graph quantized tensor, low, high): values <= low or >= high saturate."""
        inner = sg.edge_quantization(t.index)
        q = inner.quantization if inner is not None else None
        if inner is None or q is None or len(q.scales) != 1 or not q.scales[0] > 0:
            return None
        qmin, qmax = dtypes.INTEGER_RANGES[inner.dtype]
        s, zp = q.scales[0], q.zero_points[0]  # ties round away from zero, hence the 0.5
        return inner, (qmin - zp - 0.5) * s, (qmax - zp + 0.5) * s

    def _edge_saturation(self, i: int, a: Array) -> None:
        edge = self._edges[i]
        if edge is None or a.dtype.kind != "f":
            return
        inner, low, high = edge
        if a.size and low < _min(a) and _max(a) < high:  # NaN fails both
            stats = QuantizeStats(a.size, 0, 0, 0)
        else:
            stats = QuantizeStats(
                a.size,
                int(np.count_nonzero(a <= low)),
                int(np.count_nonzero(a >= high)),
                int(np.count_nonzero(np.isnan(a))),
            )
        self._saturation(i, inner, stats, inside=True)

    def _where(self, i: int) -> str:
        return f"input {self.input_names[i]!r} (index {i})"

    def input_arrays(self, x: Inputs) -> list[Array]:
        """``x`` as ``predict`` takes it (one array, a list, or a dict by input or tensor name)
        as one array per input, in ``runner.inputs`` order; not yet checked or converted.

        Raises:
            InputError: the wrong number of inputs, an unknown or a missing name.
        """
        n = len(self.inputs)
        if isinstance(x, np.ndarray) and n == 1:  # the common case first
            return [x]
        listed = ", ".join(repr(name) for name in self.input_names)
        if isinstance(x, Mapping):
            lookup = {name: i for i, name in enumerate(self.input_names)}
            lookup.update({t.name: i for i, t in enumerate(self.inputs)})
            values: list[Any] = [None] * n
            for key, value in x.items():
                if key not in lookup:
                    raise InputError(f"unknown input {key!r}; the model's inputs are {listed}")
                values[lookup[key]] = value
            missing = [self.input_names[i] for i, v in enumerate(values) if v is None]
            if missing:
                raise InputError(f"missing input {missing[0]!r}; the model's inputs are {listed}")
        elif isinstance(x, (list, tuple)) and (n != 1 or len(x) == 1):
            if len(x) != n:
                raise InputError(f"expected {n} inputs ({listed}), got {len(x)}")
            values = list(x)
        else:
            if n != 1:
                raise InputError(
                    f"the model has {n} inputs ({listed}): pass a list or a dict, not one array"
                )
            values = [x]
        return [np.asarray(v) for v in values]

    def _check_shape(self, i: int, a: Array) -> None:
        sig = self.inputs[i].shape_signature
        if self.batch_axis is None:
            self._check_whole_shape(i, a, sig)
            return
        if a.ndim == len(sig) and all(
            s < 0 or s == d for s, d in zip(sig[1:], a.shape[1:], strict=True)
        ):
            return
        where = self._where(i)
        if a.ndim == len(sig) - 1 and len(sig) >= 1:
            raise InputError(
                f"{where}: expected shape {_shape_text(sig)} with the batch on axis 0, got "
                f"{_shape_text(a.shape)}; for one sample pass x[None]"
            )
        if a.ndim != len(sig):
            raise InputError(
                f"{where}: expected rank {len(sig)} (shape {_shape_text(sig)}), "
                f"got rank {a.ndim} (shape {_shape_text(a.shape)})"
            )
        for axis in range(1, len(sig)):
            if sig[axis] >= 0 and sig[axis] != a.shape[axis]:
                raise InputError(
                    f"{where}: expected shape {_shape_text(sig)}, got {_shape_text(a.shape)}"
                )

    def _check_whole_shape(self, i: int, a: Array, sig: tuple[int, ...]) -> None:
        """No batch axis: the array is the input itself, at the model's shape."""
        if a.ndim == len(sig) and all(s < 0 or s == d for s, d in zip(sig, a.shape, strict=True)):
            return
        shapes = ", ".join(_shape_text(t.shape_signature) for t in self.inputs)
        hint = (
            "; it takes one array of that shape per call, not a batch of them"
            if a.ndim == len(sig) + 1
            else ""
        )
        raise InputError(
            f"{self._where(i)}: expected shape {_shape_text(sig)}, got {_shape_text(a.shape)} "
            f"(the model has no batch axis: its inputs are {shapes}){hint}"
        )

    def _convert(self, i: int, a: Array, raw: bool) -> Array:
        t = self.inputs[i]
        target = self._in_dtypes[i]
        if target is None:  # string and other types: hand over as they are
            return a
        if not raw and t.is_quantized_int:
            q = t.quantization
            assert q is not None
            fast = self._in_quant[i]
            if fast is not None:
                out, stats = fast.quantize(a)
            else:
                out, stats = quantize_with_stats(
                    a, q.scales, q.zero_points, target, axis=q.quantized_dimension
                )
            self._saturation(i, t, stats)
            return out
        if self._edges[i] is not None:
            self._edge_saturation(i, a)
        if a.dtype == target:
            return a
        if target.kind in "iub":
            return self._cast_exact(self._where(i), t, a, target)
        try:
            return a.astype(target)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{self._where(i)}: cannot cast {a.dtype} to {t.dtype}: {exc}"
            ) from None

    @staticmethod
    def _cast_exact(where: str, t: Tensor, a: Array, target: np.dtype[Any]) -> Array:
        """Cast to an integer or bool dtype only when no value changes."""
        if a.dtype.kind not in "iubf":
            raise InputError(f"{where}: expected {t.dtype} values, got {a.dtype}")
        if a.dtype.kind == "f" and a.size:
            bad = ~np.isfinite(a) | (a != np.trunc(a))
            if bad.any():
                raise InputError(
                    f"{where}: the model takes {t.dtype} (not quantized), got non-integer value "
                    f"{a[bad].flat[0].item()!r}"
                )
        if a.size:
            lo, hi = (0, 1) if target.kind == "b" else dtypes.INTEGER_RANGES[target.name]
            amin, amax = a.min(), a.max()
            if amin < lo or amax > hi:
                raise InputError(
                    f"{where}: values {amin}..{amax} do not fit {t.dtype} ({lo}..{hi})"
                )
        return a.astype(target)

    def _saturation(self, i: int, t: Tensor, stats: QuantizeStats, *, inside: bool = False) -> None:
        name = self.input_names[i]
        self.saturation[name] = stats
        if stats.fraction <= _SATURATION_WARN or name in self._warned:
            return
        self._warned.add(name)
        rr = t.real_range
        expects = f"real values in [{rr[0]:.4g}, {rr[1]:.4g}]" if rr else "smaller values"
        nan = f" ({stats.nan} NaN)" if stats.nan else ""
        where = f"what the {t.dtype} QUANTIZE op inside the model" if inside else f"what {t.dtype}"
        warnings.warn(
            f"input {name!r}: {stats.fraction:.1%} of {stats.total} values{nan} fell outside "
            f"{where} can hold and were clipped; the model expects {expects}",
            SaturationWarning,
            stacklevel=_caller_stacklevel(),
        )

    def intermediates(self, x: Inputs) -> dict[str, Array]:
        """Every tensor the model computes on ``x``, by tensor name, as real values.

        Runs one invoke on a separate interpreter that keeps all intermediate tensors and uses
        no delegate (XNNPACK would fuse them away), so values are those of the builtin kernels.
        Quantized tensors are dequantized to float32 (per channel too), float16 becomes float32,
        other dtypes stay. Inputs, outputs and every non-constant tensor of the running subgraph
        are included; tensors the runtime leaves unallocated are not. A fixed-batch model runs
        its first batch only. Where names repeat, the first tensor wins.

        Raises:
            InputError: as ``predict``.
            UnsupportedModelError: a signature on another subgraph than 0, or the runtime failed.
        """
        self._subgraph_0_only("intermediates()")
        feeds, n = self._prepare(x, raw=False)
        fixed = self._fixed
        valid = n
        if fixed is not None and n is not None:
            valid = min(n, fixed)
            feeds = self._slice(feeds, 0, valid, fixed)
        interp = self._open_interpreter(preserve=True)
        with self._guard:
            for k, f in enumerate(feeds):
                interp.resize_tensor_input(self._in_index[k], list(f.shape), strict=False)
            interp.allocate_tensors()
            for k, f in enumerate(feeds):
                interp.set_tensor(self._in_index[k], np.ascontiguousarray(f) if f.ndim else f)
            interp.invoke()
        result: dict[str, Array] = {}
        for t in self.model.subgraphs[0].tensors:
            if t.is_constant or t.name in result or dtypes.numpy_dtype(t.dtype) is None:
                continue
            try:
                value = interp.get_tensor(t.index)
            except ValueError:  # not allocated (e.g. a tensor only a delegate would use)
                continue
            if fixed is not None and valid is not None and value.ndim and value.shape[0] == fixed:
                value = value[:valid]
            result[t.name] = self._real(t, value)
        return result

    def _subgraph_0_only(self, what: str) -> None:
        if self._signature_key is not None:
            raise UnsupportedModelError(
                f"{self.model.name}: {what} runs subgraph 0; signature "
                f"{self.signature!r} is subgraph {self._subgraph}"
            )

    @staticmethod
    def _real(t: Tensor, value: Array) -> Array:
        """Real values of a tensor's contents: dequantized, or float16 widened to float32."""
        if t.is_quantized_int:
            q = t.quantization
            assert q is not None
            if len(q.scales) == 1:
                return dequantize(value, q.scales[0], q.zero_points[0])
            return dequantize(value, q.scales, q.zero_points, axis=q.quantized_dimension)
        if value.dtype.kind in "fc" and value.dtype != np.float32:
            return value.astype(np.float32)
        return value

    # ------------------------------------------------------------------ running

    def predict(self, x: Inputs, *, raw: bool = False) -> Array | dict[str, Array]:
        """Run the model on a batch.

        Args:
            x: an array (single-input models), a list/tuple in ``runner.inputs`` order, or a dict
                by input name. Each array has the input's rank with the batch on axis 0 (0-d
                inputs stay 0-d and apply to every sample).
            raw: feed and return the stored dtypes untouched (no quantize / dequantize).

        Returns:
            An array for a single-output model, else a dict name -> array in
            ``runner.outputs`` order. Quantized and float outputs are float32 (unless raw);
            other integer and bool outputs keep their dtype.

        Raises:
            InputError: wrong number of inputs, unknown name, wrong rank or shape, values that
                cannot be cast.
            UnsupportedModelError: the runtime failed to run the model.
        """
        one = self._one
        if one is not None and not raw:
            a = x  # a sample at the allocated shape, or the input of a model without batch axis
            if type(x) is dict and len(x) == 1:  # {name: array}, as run, bench and compare pass
                key, a = next(iter(x.items()))
                if key != self.input_names[0] and key != self.inputs[0].name:
                    a = None  # the general path names the unknown input
            if type(a) is np.ndarray:
                shape = a.shape
                if shape == self._in_shapes[0] and (shape[:1] == (1,) or self.batch_axis is None):
                    y = self._predict_one(a, shape, *one)
                    if y is not None:
                        return y
        feeds, n = self._prepare(x, raw)
        with self._lock, self._guard:
            outs = self._run(feeds, n)
        results = [o if raw else self._output(k, o) for k, o in enumerate(outs)]
        if len(results) == 1:
            return results[0]
        return dict(zip(self.output_names, results, strict=True))

    def _one_sample_plan(self) -> tuple[int, int, PerTensor | None, np.dtype[Any]] | None:
        """What the one-sample path needs: single input and output on subgraph 0, the input
        per-tensor quantized or not quantized at all. None: predict takes the general path."""
        if self._signature_key is not None or len(self.inputs) != 1 or len(self.outputs) != 1:
            return None
        target = self._in_dtypes[0]
        quant = self._in_quant[0]
        if target is None or (quant is None and self.inputs[0].is_quantized_int):
            return None
        return self._in_index[0], self._out_index[0], quant, target

    def _predict_one(
        self,
        x: Array,
        shape: tuple[int, ...],
        index: int,
        out_index: int,
        quant: PerTensor | None,
        target: np.dtype[Any],
    ) -> Array | None:
        """One sample of a single-input, single-output model at the allocated shape: convert,
        set_tensor, invoke, get_tensor, convert back; None when x needs the general path."""
        if quant is not None:
            if x.dtype.kind not in "fiu":
                return None
            feed, stats = quant.quantize(x)
            self._saturation(0, self.inputs[0], stats)
        elif x.dtype is target or x.dtype == target:
            feed = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        elif target.kind == "f" and x.dtype.kind == "f":
            feed = x.astype(target)
        else:
            return None
        if quant is None and self._edges[0] is not None:
            self._edge_saturation(0, x)
        with self._lock:
            try:
                if self._in_shapes[0] != shape:  # another thread resized meanwhile
                    self._resize([shape])
                interp = self._interp
                interp.set_tensor(index, feed)
                interp.invoke()
                out = interp.get_tensor(out_index)
            except Exception as exc:
                error = self._translate(exc)
                if error is None:
                    raise
                raise error from exc
        fast = self._out_quant[0]
        if fast is not None:
            return fast.dequantize(out)
        return out if out.dtype is _FLOAT32 else self._real(self.outputs[0], out)

    def _prepare(self, x: Inputs, raw: bool) -> tuple[list[Array], int | None]:
        """Checked, converted feeds in input order, and the batch size (None: one invoke at the
        feeds' own shapes: no batch axis, or all inputs 0-d)."""
        arrays = self.input_arrays(x)
        for i, a in enumerate(arrays):
            self._check_shape(i, a)
        feeds = [self._convert(i, a, raw) for i, a in enumerate(arrays)]
        if self.batch_axis is None:
            return feeds, None  # one invoke at these shapes
        batched = [i for i, f in enumerate(feeds) if f.ndim >= 1]
        sizes = {int(feeds[i].shape[0]) for i in batched}
        if len(sizes) > 1:
            detail = ", ".join(f"{self.input_names[i]!r} has {feeds[i].shape[0]}" for i in batched)
            raise InputError(f"inputs have different batch sizes: {detail}")
        return feeds, (sizes.pop() if sizes else None)

    def _output(self, k: int, o: Array) -> Array:
        fast = self._out_quant[k]
        return fast.dequantize(o) if fast is not None else self._real(self.outputs[k], o)

    def _run(self, feeds: list[Array], n: int | None) -> list[Array]:
        if self._signature_key is not None:
            return self._run_signature(feeds, n)
        fixed = self._fixed
        if n is None:
            return self._invoke(feeds)
        if n == 0:
            return self._empty(feeds)
        if n == 1 and fixed in (None, 1):  # one sample: set_tensor, invoke, get_tensor
            return self._invoke(feeds)
        if fixed is not None:
            return self._chunks(feeds, n, fixed, pad=True)
        if self._stateful:
            return self._per_sample(feeds, 0, n)
        mode = self._decided if self._batching != "auto" else self._choices.get(self._probe(n))
        if mode is None:
            return self._calibrate(feeds, n)
        if mode == "per-sample":
            return self._per_sample(feeds, 0, n)
        return self._chunks(feeds, n, self.batch_size or n, pad=False)

    def _resize(self, shapes: list[tuple[int, ...]]) -> None:
        changed = False
        for k, shape in enumerate(shapes):
            if shape != self._in_shapes[k]:
                self._interp.resize_tensor_input(self._in_index[k], list(shape), strict=False)
                self._in_shapes[k] = shape
                changed = True
        if changed:
            try:
                self._allocate()
            except BaseException:
                self._in_shapes = [None] * len(shapes)  # resize again next time
                raise

    def _invoke(self, feeds: list[Array]) -> list[Array]:
        self._resize([tuple(f.shape) for f in feeds])
        for k, f in enumerate(feeds):
            self._interp.set_tensor(self._in_index[k], np.ascontiguousarray(f) if f.ndim else f)
        self._interp.invoke()
        return [self._interp.get_tensor(i) for i in self._out_index]

    def _slice(self, feeds: list[Array], start: int, stop: int, size: int) -> list[Array]:
        chunk = []
        for f in feeds:
            if f.ndim == 0:
                chunk.append(f)
                continue
            part = f[start:stop]
            if part.shape[0] < size:  # fixed batch: pad the last chunk, drop its outputs
                pad = np.zeros((size - part.shape[0], *part.shape[1:]), dtype=part.dtype)
                part = np.concatenate([part, pad])
            chunk.append(part)
        return chunk

    def _chunks(self, feeds: list[Array], n: int, size: int, *, pad: bool) -> list[Array]:
        if size == 1:
            return self._per_sample(feeds, 0, n)
        parts: list[list[Array]] = []
        for start in range(0, n, size):
            stop = min(start + size, n)
            outs = self._invoke(self._slice(feeds, start, stop, size if pad else stop - start))
            parts.append([o[: stop - start] if o.ndim else o for o in outs])
        return self._join(parts)

    @staticmethod
    def _join(parts: list[list[Array]]) -> list[Array]:
        if len(parts) == 1:
            return parts[0]
        return [
            np.concatenate(group) if group[0].ndim else np.stack(group)
            for group in zip(*parts, strict=True)
        ]

    def _per_sample(self, feeds: list[Array], start: int, stop: int) -> list[Array]:
        """Invoke once per sample on preallocated buffers (raw tensor() access, no set_tensor).

        No numpy view of the interpreter's memory may outlive a statement here: invoke()
        refuses to run while one exists.
        """
        self._resize([(1, *f.shape[1:]) if f.ndim else tuple(f.shape) for f in feeds])
        interp = self._interp
        ins = [interp.tensor(i) for i in self._in_index]
        outs = [interp.tensor(i) for i in self._out_index]
        for k, f in enumerate(feeds):
            if f.ndim == 0:  # tensor() gives a numpy scalar, not a view, for 0-d tensors
                interp.set_tensor(self._in_index[k], f)
        batched = [(ins[k], f) for k, f in enumerate(feeds) if f.ndim]
        count = stop - start
        results: list[Array] = []
        scalar: list[bool] = []
        for s in range(start, stop):
            for fn, f in batched:
                fn()[0] = f[s]
            interp.invoke()
            if not results:
                scalar = [fn().ndim == 0 for fn in outs]
                results = [
                    np.empty((count, *fn().shape[0 if sc else 1 :]), fn().dtype)
                    for fn, sc in zip(outs, scalar, strict=True)
                ]
            for r, fn, sc in zip(results, outs, scalar, strict=True):
                r[s - start] = fn() if sc else fn()[0]
        return results

    def _empty(self, feeds: list[Array]) -> list[Array]:
        """Outputs for a batch of zero samples, with the right trailing shapes and dtypes."""
        outs = self._invoke(self._slice(feeds, 0, 1, 1))
        return [o[:0] if o.ndim else o for o in outs]

    def _probe(self, n: int) -> int:
        """How many samples the batched side of the calibration runs for a batch of n."""
        return min(n, _CALIBRATION_SAMPLES, self.batch_size or n)

    def _calibrate(self, feeds: list[Array], n: int) -> list[Array]:
        """Time a resized batch against a per-sample loop on the first samples; keep the faster
        for batches of this size.

        Costs up to 17 per-sample invokes and two batch invokes more than the run itself (their
        outputs are dropped). Both sides keep the best of two measurements of similar length
        (noise only ever adds): big conv nets can be faster per sample (cache pressure), small
        dense ones are much faster batched, and near ties go either way harmlessly.
        """
        c = self._probe(n)
        k = min(c, 8)
        clock = time.perf_counter
        self._per_sample(feeds, 0, 1)  # warm-up: resize and allocate at one sample
        blocks = []
        for _ in range(2):  # blocks of k samples: each measurement lasts a while, as a batch does
            t0 = clock()
            self._per_sample(feeds, 0, k)
            blocks.append((clock() - t0) / k)
        per_sample = min(blocks)
        chunk = self._slice(feeds, 0, c, c)
        self._invoke(chunk)  # warm-up: allocation and delegate set-up after the resize
        t0 = clock()
        first = self._invoke(chunk)
        t1 = clock()
        self._invoke(chunk)  # the same samples again: a second measurement
        per_batched = min(t1 - t0, clock() - t1) / c
        self._decided = "per-sample" if per_sample < per_batched else "batched"
        self._choices[c] = self._decided
        rest = [first]
        if c < n:
            tail = [f if f.ndim == 0 else f[c:] for f in feeds]
            if self._decided == "per-sample":
                rest.append(self._per_sample(tail, 0, n - c))
            else:
                rest.append(self._chunks(tail, n - c, self.batch_size or (n - c), pad=False))
        return self._join(rest)

    def _run_signature(self, feeds: list[Array], n: int | None) -> list[Array]:
        names = self.input_names
        fixed = self._fixed  # 1 or None
        size = fixed or self.batch_size or (n or 1)
        if n is None:
            chunks = [(feeds, 1)]
        else:
            chunks = [
                (
                    self._slice(
                        feeds, s, min(s + size, n), size if fixed else min(s + size, n) - s
                    ),
                    min(s + size, n) - s,
                )
                for s in range(0, max(n, 1), size)
            ]
        parts = []
        for chunk, valid in chunks:
            result = self._sig_runner(**dict(zip(names, chunk, strict=True)))
            outs = [np.asarray(result[name]) for name in self.output_names]
            parts.append([o[:valid] if (o.ndim and n is not None) else o for o in outs])
        return self._join(parts)

    # ------------------------------------------------------------------ timing

    def time_invoke(self, x: Inputs, *, repeat: int, warmup: int = 2) -> list[float]:
        """Seconds of the runtime's ``invoke()`` alone, once per call, ``repeat`` calls.

        ``x`` (one sample, or a batch run as one resized invoke) is prepared once as ``predict``
        prepares it (checks, quantization, resize, ``set_tensor``); then only ``invoke()`` is
        timed, after ``warmup`` untimed invokes: the model's cost on this machine without the
        Runner's own work (quantize, dequantize, copies). A fixed-batch model gets its batch
        padded, as ``predict`` pads it.

        Raises:
            InputError: as ``predict``; a batch larger than a fixed-batch model's batch.
            UnsupportedModelError: a signature on another subgraph than 0, or the runtime failed.
        """
        self._subgraph_0_only("time_invoke()")
        feeds, n = self._prepare(x, raw=False)
        if self._fixed is not None and n is not None:
            if n > self._fixed:
                raise InputError(
                    f"{self.model.name}: time_invoke() takes at most the model's fixed batch "
                    f"of {self._fixed}, got {n} samples"
                )
            feeds = self._slice(feeds, 0, n, self._fixed)
        times: list[float] = []
        with self._lock, self._guard:
            self._invoke(feeds)  # resize, allocate, set_tensor: the inputs stay set
            interp, clock = self._interp, time.perf_counter
            for _ in range(max(0, warmup)):
                interp.invoke()
            for _ in range(repeat):
                t0 = clock()
                interp.invoke()
                times.append(clock() - t0)
        return times

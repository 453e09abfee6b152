"""The LiteRT runtime's lifecycle for a Runner: the only module that imports ``ai_edge_litert``.

``Session`` opens a model's interpreter (the runtime's default delegate, XNNPACK), allocates it
at the inputs' shapes, prepares it again on the builtin kernels when XNNPACK cannot (a
DelegateWarning says why), resizes, sets, invokes and reads tensors. ``translate`` turns what the
runtime raises into tflkit's errors, naming the Flex or custom op it could not run. Falls back to
``tf.lite.Interpreter`` when ai-edge-litert is not installed.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._feeds import shape_text
from tflkit.errors import (
    DelegateWarning,
    InvalidModelError,
    TflkitError,
    UnsupportedModelError,
    caller_stacklevel,
)
from tflkit.model import Model, Tensor

__all__ = ["RuntimeGuard", "Session", "interpreter_class", "translate", "unsupported"]

Array = npt.NDArray[Any]


def interpreter_class() -> Any:
    """The runtime's Interpreter class (ai_edge_litert's, else TensorFlow's)."""
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def translate(model: Model, exc: BaseException) -> TflkitError | None:
    """The TflkitError for an exception the runtime raised on ``model``, or None to let it
    pass (tflkit's own errors, and what the runtime does not raise)."""
    if isinstance(exc, TflkitError):
        return None
    if isinstance(exc, UnicodeDecodeError):  # names the runtime's Python layer decodes
        return InvalidModelError(
            f"{model.name}: a name in the model is not valid UTF-8 (byte "
            f"{exc.object[exc.start : exc.start + 1]!r} at position {exc.start} of the "
            "name); the LiteRT runtime cannot read it"
        )
    if isinstance(exc, (RuntimeError, ValueError)):
        return unsupported(model, exc)
    return None


def unsupported(model: Model, exc: BaseException) -> UnsupportedModelError:
    """The runtime's failure in the user's terms: the Flex or unresolved custom op it names,
    else its own first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    missing = re.search(r"unresolved custom op: ([^\s.]+)", str(exc))
    for sg in model.subgraphs:
        for op in sg.operators:
            where = f"{model.name}: subgraph {sg.index} operator {op.index} "
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
    return UnsupportedModelError(f"{model.name}: the runtime cannot run it: {text}")


class RuntimeGuard:
    """``with guard:`` turns the runtime's RuntimeError / ValueError into
    UnsupportedModelError naming the op; tflkit's own errors (InputError is a ValueError) pass.

    A plain class, made once per Session: a ``contextlib.contextmanager`` costs ~1 us per
    ``predict``, 13% of a one-sample call on a small model.
    """

    __slots__ = ("_model",)

    def __init__(self, model: Model) -> None:
        self._model = model

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is not None:
            error = translate(self._model, exc)
            if error is not None:
                raise error from exc


class Session:
    """One interpreter for a model's subgraph 0, or for one signature on another subgraph.

    The caller serializes calls (the Runner's lock). ``in_index`` / ``out_index``: the runtime's
    tensor indices of the inputs and outputs (subgraph 0); ``in_shapes``: the shapes the inputs
    are allocated at (None: not yet).

    Raises (from the constructor and ``open``):
        UnsupportedModelError: the runtime cannot run the model.
    """

    def __init__(
        self,
        model: Model,
        source: str | bytes,
        inputs: Sequence[Tensor],
        *,
        num_threads: int | None,
        signature_key: str | None,
    ) -> None:
        self.model = model
        self.source = source
        self.inputs = tuple(inputs)
        self.num_threads = num_threads
        self.signature_key = signature_key
        #: ``"xnnpack"`` (the runtime's default delegate) or None (builtin kernels only, after
        #: XNNPACK failed to prepare the model; a DelegateWarning says why).
        self.delegate: str | None = "xnnpack"
        self.guard = RuntimeGuard(model)
        # (-1 marks a dynamic dimension; any other negative one is read the same way.)
        # Inputs with a dynamic dimension besides the batch are allocated at the shape of the
        # first predict: the stored shape is a placeholder ([1, 1] for [-1, -1]) at which some
        # models cannot be prepared at all (a VALID convolution over 1 sample of audio). A
        # dynamic batch alone is allocated at 1, whatever the stored shape says.
        self._dynamic = any(d < 0 for t in self.inputs for d in t.shape_signature[1:])
        self.interp: Any = None
        self.sig_runner: Any = None
        self.in_index: list[int] = []
        self.out_index: list[int] = []
        self._string_outputs = False  # string outputs: per_sample copies (no tensor() views)
        # resource or variable tensors: a sample changes the state, so no sample runs twice
        self.stateful = model.stateful
        self.in_shapes: list[tuple[int, ...] | None] = []
        self.open()

    def open_interpreter(self, *, preserve: bool = False, delegate: bool = True) -> Any:
        """A new interpreter for the model: the runtime's default delegate (XNNPACK) unless
        ``delegate`` is False; no delegate and all tensors kept when ``preserve``."""
        cls = interpreter_class()
        kwargs: dict[str, Any] = {"num_threads": self.num_threads}
        if isinstance(self.source, bytes):
            kwargs["model_content"] = self.source
        else:
            kwargs["model_path"] = self.source
        if preserve or not delegate:
            resolver = sys.modules[cls.__module__].OpResolverType
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if preserve:
            kwargs["experimental_preserve_all_tensors"] = True
        with self.guard:
            return cls(**kwargs)

    def open(self) -> None:
        """(Re-)open the interpreter: the model's initial state; allocated now unless an input
        has a dynamic dimension besides the batch."""
        self.interp = self.open_interpreter(delegate=self.delegate is not None)
        with self.guard:
            if self.signature_key is not None:
                self.sig_runner = self.interp.get_signature_runner(self.signature_key)
                return
            ins = self.interp.get_input_details()
            self.in_index = [int(d["index"]) for d in ins]
            outs = self.interp.get_output_details()
            self.out_index = [int(d["index"]) for d in outs]
            self._string_outputs = any(np.dtype(d["dtype"]).hasobject for d in outs)
        # None: not allocated yet (dynamic inputs wait for the first predict's shapes)
        self.in_shapes = [None] * len(ins)
        if not ins:  # nothing to resize, hence no allocation on the way: allocate here (a model
            # without inputs, LiteRT's 2_subgraphs.bin, failed "Invoke called on model that is
            # not ready")
            with self.guard:
                self.allocate()
        elif not self._dynamic:  # allocated now, so that a model the runtime refuses fails here
            with self.guard:
                self.resize(
                    [
                        tuple(1 if s < 0 else s for s in t.shape_signature)
                        if any(s < 0 for s in t.shape_signature)
                        else tuple(int(x) for x in d["shape"])  # stored shape, as the runtime
                        for t, d in zip(self.inputs, ins, strict=True)
                    ]
                )

    def allocate(self) -> None:
        """allocate_tensors(); if XNNPACK fails to prepare, once more on the builtin kernels."""
        try:
            self.interp.allocate_tensors()
            return
        except RuntimeError as exc:
            first = exc
        builtin = None
        if self.delegate is not None and "XNNPack" in str(first):
            # XNNPACK could not prepare the model at these shapes: a new interpreter without
            # the default delegates, at the same shapes. If that fails too, XNNPACK was not
            # the cause and the builtin kernels' reason is the more precise one.
            try:
                interp = self._builtin_interpreter()
            except RuntimeError as exc:
                builtin = exc
            else:
                self._use_builtin(interp, "could not prepare the model", first)
                return
        if "custom op" in str(first):
            raise unsupported(self.model, first) from first
        shapes = ", ".join(shape_text(s) for s in self.in_shapes if s is not None)
        raise UnsupportedModelError(
            f"{self.model.name}: the runtime cannot prepare the model for input shape "
            f"{shapes}: {_one_line(builtin or first)}"
        ) from (builtin or first)

    def resize(self, shapes: list[tuple[int, ...]]) -> None:
        """Resize the inputs that change, then allocate again."""
        changed = False
        for k, shape in enumerate(shapes):
            if shape != self.in_shapes[k]:
                self.interp.resize_tensor_input(self.in_index[k], list(shape), strict=False)
                self.in_shapes[k] = shape
                changed = True
        if changed:
            try:
                self.allocate()
            except BaseException:
                self.in_shapes = [None] * len(shapes)  # resize again next time
                raise

    def invoke(self, feeds: list[Array]) -> list[Array]:
        """One invoke at the feeds' shapes (resized if they changed); the outputs."""
        self.resize([tuple(f.shape) for f in feeds])
        interp = self.interp
        for k, f in enumerate(feeds):
            interp.set_tensor(self.in_index[k], np.ascontiguousarray(f) if f.ndim else f)
        try:
            interp.invoke()
        except RuntimeError as exc:
            if self.delegate is None or "XNNPack" not in str(exc):
                raise
            self._builtin_after(exc)
            return self.invoke(feeds)
        return [self.read(i) for i in self.out_index]

    def _builtin_after(self, first: RuntimeError) -> None:
        """XNNPACK failed at invoke (it reshapes there: "XNNPack delegate failed to reshape
        runtime", LiteRT's dynamic_shapes.bin, which the builtin kernels run): on to the
        builtin kernels at the same shapes (a RuntimeError there: the guard names it)."""
        self._use_builtin(self._builtin_interpreter(), "failed to run the model", first)

    def _builtin_interpreter(self) -> Any:
        """A new interpreter without the default delegates, at this Session's input shapes,
        allocated; a RuntimeError is the builtin kernels' own reason."""
        interp = self.open_interpreter(delegate=False)
        for k, shape in enumerate(self.in_shapes):
            if shape is not None:
                interp.resize_tensor_input(self.in_index[k], list(shape), strict=False)
        interp.allocate_tensors()
        return interp

    def _use_builtin(self, interp: Any, failed: str, first: RuntimeError) -> None:
        """Run on ``interp`` (builtin kernels) from now on, with a DelegateWarning."""
        self.interp, self.delegate = interp, None
        warnings.warn(
            f"{self.model.name}: the XNNPACK delegate {failed} ({_one_line(first)}); running it "
            "on the builtin kernels instead",
            DelegateWarning,
            stacklevel=caller_stacklevel(),
        )

    def read(self, index: int) -> Array:
        """get_tensor as an array: a 0-d tensor comes back as a numpy scalar (LiteRT's
        call_once_mul), and a tensor of zero elements makes get_tensor raise "Invalid tensor
        size" (a WHERE that finds nothing, LiteRT's where.bin): an empty array of its shape."""
        interp = self.interp
        try:
            return np.asarray(interp.get_tensor(index))
        except ValueError:
            for d in interp.get_output_details():
                shape = tuple(int(x) for x in d["shape"])
                if int(d["index"]) == index and 0 in shape:
                    return np.zeros(shape, dtype=d["dtype"])
            raise

    def invoke_one(self, feed: Array, shape: tuple[int, ...]) -> Array:
        """set_tensor, invoke, get_tensor for a single-input, single-output model; the runtime's
        errors translated (no guard: a ``with`` costs more than this path's other work)."""
        try:
            if self.in_shapes[0] != shape:  # another thread resized meanwhile
                self.resize([shape])
            interp = self.interp
            interp.set_tensor(self.in_index[0], feed)
            interp.invoke()
            try:
                out = interp.get_tensor(self.out_index[0])
            except ValueError:  # zero elements: read() gives the empty array
                out = self.read(self.out_index[0])
            # a 0-d tensor comes back as a numpy scalar: an array, as every output is
            return out if type(out) is np.ndarray else np.asarray(out)
        except Exception as exc:
            error = translate(self.model, exc)
            if error is None:
                raise
            raise error from exc

    def per_sample(self, feeds: list[Array], start: int, stop: int) -> list[Array]:
        """Invoke once per sample start..stop on preallocated batch-1 buffers (raw tensor()
        access, no set_tensor); the outputs stacked.

        No numpy view of the interpreter's memory may outlive a statement here: invoke()
        refuses to run while one exists.
        """
        self.resize([(1, *f.shape[1:]) if f.ndim else tuple(f.shape) for f in feeds])
        if any(f.dtype.hasobject for f in feeds) or self._string_outputs:
            return self._per_sample_copied(feeds, start, stop)
        views = self._per_sample_views(feeds, start, stop)
        if views is not None:
            return views
        if self.stateful:  # the samples run so far changed the state: none runs twice
            raise UnsupportedModelError(
                f"{self.model.name}: an output changed shape from one sample to the next in a "
                "stateful model; expected the same shape for every sample: pass one sample "
                "per call"
            )
        return self._per_sample_copied(feeds, start, stop)

    def _per_sample_views(self, feeds: list[Array], start: int, stop: int) -> list[Array] | None:
        """The loop on tensor() views; None when an output's shape changed from one sample to
        the next, or has zero elements (tensor() raises "Invalid tensor size" for those)."""
        interp = self.interp
        ins = [interp.tensor(i) for i in self.in_index]
        outs = [interp.tensor(i) for i in self.out_index]
        for k, f in enumerate(feeds):
            if f.ndim == 0:  # tensor() gives a numpy scalar, not a view, for 0-d tensors
                interp.set_tensor(self.in_index[k], f)
        batched = [(ins[k], f) for k, f in enumerate(feeds) if f.ndim]
        count = stop - start
        results: list[Array] = []
        shapes: list[tuple[int, ...]] = []
        for s in range(start, stop):
            for fn, f in batched:
                fn()[0] = f[s]
            interp.invoke()
            i = s - start
            if not results:
                try:
                    shapes = [fn().shape for fn in outs]
                except ValueError:  # zero elements
                    return None
                # a sample's output joins on axis 0 as the copied path joins them: 0-d outputs
                # stacked, others concatenated (an output without a batch axis, SUM's (2, 3) of
                # ai-edge-quantizer's single_sum, gives (2 n, 3), not row 0 of each)
                results = [
                    np.empty((count, *sh) if not sh else (count * sh[0], *sh[1:]), fn().dtype)
                    for fn, sh in zip(outs, shapes, strict=True)
                ]
            try:
                now = [fn() for fn in outs]  # one view of each output a sample
            except ValueError:  # zero elements
                return None
            if i and any(v.shape != sh for v, sh in zip(now, shapes, strict=True)):
                return None  # a shape that follows the values: the copied path joins them
            _place(results, now, shapes, i)
            now = []  # no view of the runtime's memory may live on to the next invoke()
        return results

    def _per_sample_copied(self, feeds: list[Array], start: int, stop: int) -> list[Array]:
        """``per_sample`` through set_tensor / get_tensor: string tensors have no numpy view
        (``tensor()`` of one hands out the runtime's bytes as objects, and writing to it
        crashed the process: LiteRT's string_input_model_with_signature.bin)."""
        interp = self.interp
        parts = []
        for s in range(start, stop):
            for k, f in enumerate(feeds):
                interp.set_tensor(self.in_index[k], f[s : s + 1] if f.ndim else f)
            interp.invoke()
            parts.append([self.read(i) for i in self.out_index])
        return [self._join(k, group) for k, group in enumerate(zip(*parts, strict=True))]

    def _join(self, k: int, group: Sequence[Array]) -> Array:
        """One output of consecutive samples as one array: 0-d stacked, others concatenated;
        an UnsupportedModelError when their shapes after axis 0 differ."""
        first = group[0].shape
        if not first:
            if any(g.shape for g in group):
                raise self._ragged(k, group)
            return np.stack(group)
        if any(g.shape[1:] != first[1:] for g in group):
            raise self._ragged(k, group)
        return np.concatenate(group)

    def _ragged(self, k: int, group: Sequence[Array]) -> UnsupportedModelError:
        shapes = sorted({shape_text(g.shape) for g in group})
        return UnsupportedModelError(
            f"{self.model.name}: output {k}: the samples' outputs have shapes {', '.join(shapes)}, "
            "which do not join into one batch; expected the same shape after axis 0 for every "
            "sample: pass one sample per call"
        )

    def run_signature(self, named: dict[str, Array]) -> dict[str, Any]:
        """One call of the signature's runner on inputs by signature name."""
        return self.sig_runner(**named)  # type: ignore[no-any-return]

    def time_invoke(self, feeds: list[Array], *, repeat: int, warmup: int) -> list[float]:
        """Set the feeds once, invoke ``warmup`` times, then time ``repeat`` invokes alone."""
        self.invoke(feeds)  # resize, allocate, set_tensor: the inputs stay set
        interp, clock = self.interp, time.perf_counter
        for _ in range(max(0, warmup)):
            interp.invoke()
        times: list[float] = []
        for _ in range(repeat):
            t0 = clock()
            interp.invoke()
            times.append(clock() - t0)
        return times

    def all_tensors(self, feeds: list[Array], indexes: Sequence[int]) -> dict[int, Array]:
        """One invoke on a new interpreter that keeps every intermediate tensor and uses no
        delegate (XNNPACK would fuse them away); the contents of those of ``indexes`` (subgraph
        0) that the runtime allocated."""
        interp = self.open_interpreter(preserve=True)
        with self.guard:
            for k, f in enumerate(feeds):
                interp.resize_tensor_input(self.in_index[k], list(f.shape), strict=False)
            interp.allocate_tensors()
            for k, f in enumerate(feeds):
                interp.set_tensor(self.in_index[k], np.ascontiguousarray(f) if f.ndim else f)
            interp.invoke()
        values: dict[int, Array] = {}
        for index in indexes:
            try:
                values[index] = interp.get_tensor(index)
            except ValueError:  # not allocated (e.g. a tensor only a delegate would use)
                continue
        return values


def _place(results: list[Array], now: list[Array], shapes: list[tuple[int, ...]], i: int) -> None:
    """Sample i's outputs into the batch results: 0-d stacked, a leading 1 dropped, other
    shapes concatenated on axis 0."""
    for r, v, sh in zip(results, now, shapes, strict=True):
        if not sh:
            r[i] = v
        elif sh[0] == 1:
            r[i] = v[0]
        else:
            r[i * sh[0] : (i + 1) * sh[0]] = v

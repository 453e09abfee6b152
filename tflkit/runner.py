"""``Runner``: one batched predict API for float, float16, dynamic-range and quantized models.

The facade over three private modules: ``_interpreter`` (the only importer of the LiteRT runtime:
opening, allocating, the XNNPACK fallback, the runtime's errors), ``_feeds`` (inputs checked,
cast and quantized, saturation counted: no runtime) and ``_batching`` (one resized invoke, chunks
or sample by sample). Tensor descriptions come from ``tflkit.load``; the interpreter is asked only
what the file cannot tell (runtime indices, resized shapes).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tflkit import dtypes
from tflkit._batching import BATCHING, Batcher, slice_feeds
from tflkit._feeds import Feeds, Inputs, per_tensor, real_values
from tflkit._interpreter import Session
from tflkit.checks import runtime_hazards
from tflkit.errors import (
    InputError,
    InvalidModelError,
    UnsupportedModelError,
    require_positive,
)
from tflkit.loader import interpreter_source, resolve

if TYPE_CHECKING:  # imported on use: only isolated Runners need sockets and a child
    from tflkit._isolated import IsolatedSession
from tflkit.model import Model, ModelLike, Signature, Tensor
from tflkit.quant import QuantizeStats

__all__ = ["Runner"]

Array = npt.NDArray[Any]

_FLOAT32 = np.dtype(np.float32)


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
        isolated: run the runtime in a child process (``python -m tflkit._isolated``; arrays
            cross through shared memory): a crash of the runtime raises ``RuntimeCrashError``
            instead of ending this process, and the next call starts a new child (a stateful
            model starts again from its initial state). ``close()`` (or ``with``) ends the child.

    Raises:
        InvalidModelError: not a TFLite file.
        UnsupportedModelError: the runtime cannot run it (custom or Flex ops).
        RuntimeCrashError: (isolated) the runtime crashed opening or allocating the model.
        InputError: an unknown signature; ``num_threads`` or ``batch_size`` not an integer of
            at least 1 (an ``InputError`` is a ``ValueError``).

    Example:
        >>> runner = tflkit.Runner("mlp_int8.tflite")
        >>> probs = runner.predict(np.random.rand(1000, 32))  # float32, shape (1000, 10)
        >>> with tflkit.Runner("new.tflite", isolated=True) as runner:
        ...     runner.predict(x)  # a runtime crash raises RuntimeCrashError here
    """

    def __init__(
        self,
        model: ModelLike,
        *,
        num_threads: int | None = None,
        signature: str | None = None,
        batch_size: int | None = None,
        batching: str = "auto",
        isolated: bool = False,
    ) -> None:
        if batching not in BATCHING:
            raise ValueError(
                f"batching must be 'auto', 'batched' or 'per-sample', got {batching!r}"
            )
        require_positive("batch_size", batch_size)
        num_threads = _threads(num_threads)  # a caller's mistake, named before the runtime
        self.model: Model = resolve(model)
        self._source: str | bytes = interpreter_source(self.model)
        self.num_threads = num_threads
        self._lock = threading.RLock()

        sig: Signature | None
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
        in_names = sig.names("input") if sig else {}
        out_names = sig.names("output") if sig else {}
        # Order: that of get_input_details() / get_output_details(), i.e. the subgraph's.
        self.inputs: tuple[Tensor, ...] = sg.input_tensors
        self.outputs: tuple[Tensor, ...] = sg.output_tensors
        self.input_names: tuple[str, ...] = tuple(
            in_names.get(t.index, t.name) for t in self.inputs
        )
        self.output_names: tuple[str, ...] = tuple(
            out_names.get(t.index, t.name) for t in self.outputs
        )
        signature_key = sig.key if (sig is not None and self._subgraph != 0) else None
        self._signature_key = signature_key
        stateful = self.model.stateful
        self._feeds = Feeds(sg, self.input_names)
        #: What the last call clipped of each quantized input, by input name.
        self.saturation: dict[str, QuantizeStats] = self._feeds.saturation
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
        self._out_quant = [per_tensor(t) for t in self.outputs]
        self._check_runnable()
        #: Whether the runtime runs in a child process (``isolated=True``).
        self.isolated = bool(isolated)
        session_class: type[Session | IsolatedSession] = Session
        if self.isolated:
            from tflkit._isolated import IsolatedSession

            session_class = IsolatedSession
        self._session: Session | IsolatedSession = session_class(
            self.model,
            self._source,
            self.inputs,
            num_threads=num_threads,
            signature_key=signature_key,
        )
        self._guard = self._session.guard
        self._batcher = Batcher(
            self._session,
            batching=batching,
            batch_size=batch_size,
            batch_axis=self.batch_axis,
            fixed=self._fixed,
            stateful=stateful,
            signature=(self.input_names, self.output_names) if signature_key else None,
        )
        self._one = self._one_sample_plan()
        # a batch: this Batcher's run, or (isolated) the same run in the child, in one round trip
        self._run: Callable[[list[Array], int | None], list[Array]] = self._batcher.run
        if self.isolated:
            run_batch = self._session.run_batch  # type: ignore[union-attr]
            self._run = functools.partial(run_batch, self._batcher)

    # ------------------------------------------------------------------ runtime

    def _check_runnable(self) -> None:
        """Refuse, from the file, what the runtime would crash on or cannot run at all."""
        for hazard in runtime_hazards(self.model):
            # a zero point out of range makes the file invalid; the rest is valid but unrunnable
            invalid = hazard.rule == "zero-point-in-range"
            error = InvalidModelError if invalid else UnsupportedModelError
            raise error(f"{self.model.name}: {hazard.message}")

    def close(self) -> None:
        """End an isolated Runner's child process (a later call starts a new one); nothing to
        do in process. ``with Runner(...) as runner:`` closes on leaving the block."""
        with self._lock:
            if self.isolated:
                self._session.close()  # type: ignore[union-attr]

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Restore the model's initial state (resource variables) by re-opening the runtime."""
        with self._lock:
            self._session.open()

    @property
    def delegate(self) -> str | None:
        """``"xnnpack"`` (the runtime's default delegate) or None (builtin kernels only, after
        XNNPACK failed to prepare the model; a DelegateWarning says why)."""
        return self._session.delegate

    @property
    def batch_size(self) -> int | None:
        """Inputs are split into chunks of at most this many samples (None: whole batches)."""
        return self._batcher.batch_size

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        self._batcher.batch_size = value

    @property
    def batching(self) -> str:
        """How batches run: ``batched``, ``per-sample``, ``fixed-batch`` (batch 1 in the model:
        sample by sample), ``auto`` (undecided) or ``none`` (no batch axis: one invoke a call)."""
        return self._batcher.mode

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
            "batching": self._batcher.batching,
            "decided": self._batcher.decided,
            "choices": self._batcher.choices,
            "isolated": self.isolated,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["source"],
            num_threads=state["num_threads"],
            signature=state["signature"],
            batch_size=state["batch_size"],
            batching=state["batching"],
            isolated=state.get("isolated", False),
        )
        self._batcher.decided = state["decided"]
        self._batcher.choices = dict(state.get("choices", {}))

    # ------------------------------------------------------------------ inputs

    def input_arrays(self, x: Inputs) -> list[Array]:
        """``x`` as ``predict`` takes it (one array, a list, or a dict by input or tensor name)
        as one array per input, in ``runner.inputs`` order; not yet checked or converted.

        Raises:
            InputError: the wrong number of inputs, an unknown or a missing name.
        """
        return self._feeds.arrays(x)

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
        feeds, n = self._feeds.prepare(x, raw=False)
        fixed = self._fixed
        valid = n
        if fixed is not None and n is not None:
            valid = min(n, fixed)
            feeds = slice_feeds(feeds, 0, valid, fixed)
        tensors = [
            t
            for t in self.model.subgraphs[0].tensors
            if not t.is_constant and dtypes.numpy_dtype(t.dtype) is not None
        ]
        values = self._session.all_tensors(feeds, [t.index for t in tensors])
        result: dict[str, Array] = {}
        for t in tensors:
            value = values.get(t.index)
            if value is None or t.name in result:
                continue
            if fixed is not None and valid is not None and value.ndim and value.shape[0] == fixed:
                value = value[:valid]
            result[t.name] = real_values(t, value)
        return result

    def _subgraph_0_only(self, what: str) -> None:
        if self._signature_key is not None:
            raise UnsupportedModelError(
                f"{self.model.name}: {what} runs subgraph 0; signature "
                f"{self.signature!r} is subgraph {self._subgraph}"
            )

    # ------------------------------------------------------------------ running

    def _one_sample_plan(self) -> bool:
        """Whether predict may take the one-sample path: single input and output on subgraph 0,
        the input per-tensor quantized or not quantized at all. False: the general path."""
        if self._signature_key is not None or len(self.inputs) != 1 or len(self.outputs) != 1:
            return False
        if self._feeds.dtypes[0] is None:
            return False
        return not (self._feeds.quant[0] is None and self.inputs[0].is_quantized_int)

    def _predict_one(self, x: Array, shape: tuple[int, ...]) -> Array | None:
        """One sample of a single-input, single-output model at the allocated shape: convert,
        set_tensor, invoke, get_tensor, convert back; None when x needs the general path."""
        feed = self._feeds.convert_one(x)
        if feed is None:
            return None
        with self._lock:
            out = self._session.invoke_one(feed, shape)
        fast = self._out_quant[0]
        if fast is not None:
            return _array(fast.dequantize(out))
        return out if out.dtype is _FLOAT32 else _array(real_values(self.outputs[0], out))

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
            other integer and bool outputs keep their dtype. With a batch axis, a 0-d output
            gives one value per sample (shape ``(n,)``, n = 1 too), and an output whose axis 0
            is no batch (a leading size the file fixes above 1, what WHERE found) is computed
            sample by sample and the samples' outputs concatenated on axis 0
            (``batching="batched"`` refuses such a model with an UnsupportedModelError).

        Raises:
            InputError: wrong number of inputs, unknown name, wrong rank or shape, values that
                cannot be cast; ragged lists, objects, strings and complex numbers (never cast).
            UnsupportedModelError: the runtime failed to run the model.
        """
        if self._one and not raw:
            a = x  # a sample at the allocated shape, or the input of a model without batch axis
            if type(x) is dict and len(x) == 1:  # {name: array}, as run, bench and compare pass
                key, a = next(iter(x.items()))
                if key != self.input_names[0] and key != self.inputs[0].name:
                    a = None  # the general path names the unknown input
            if type(a) is np.ndarray:
                shape = a.shape
                if shape == self._session.in_shapes[0] and (
                    shape[:1] == (1,) or self.batch_axis is None
                ):
                    y = self._predict_one(a, shape)
                    if y is not None:
                        # one sample's 0-d output is (1,), as n samples' is (n,)
                        return y.reshape(1) if y.ndim == 0 and self.batch_axis == 0 else y
        feeds, n = self._feeds.prepare(x, raw)
        with self._lock, self._guard:
            outs = self._run(feeds, n)
        results = [o if raw else self._output(k, o) for k, o in enumerate(outs)]
        if len(results) == 1:
            return results[0]
        return dict(zip(self.output_names, results, strict=True))

    def _output(self, k: int, o: Array) -> Array:
        fast = self._out_quant[k]
        return _array(fast.dequantize(o) if fast is not None else real_values(self.outputs[k], o))

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
        feeds, n = self._feeds.prepare(x, raw=False)
        if self._fixed is not None and n is not None:
            if n > self._fixed:
                raise InputError(
                    f"{self.model.name}: time_invoke() takes at most the model's fixed batch "
                    f"of {self._fixed}, got {n} samples"
                )
            feeds = slice_feeds(feeds, 0, n, self._fixed)
        with self._lock, self._guard:
            return self._session.time_invoke(feeds, repeat=repeat, warmup=warmup)


def _array(a: Any) -> Array:
    """An array: numpy arithmetic on a 0-d array gives a numpy scalar (a 0-d quantized or
    float16 output, LiteRT's call_once_mul), and predict returns arrays."""
    return a if type(a) is np.ndarray else np.asarray(a)


def _threads(num_threads: Any) -> int | None:
    """``num_threads`` as the runtime takes it (None, or a Python int of at least 1); an
    InputError for anything else."""
    if num_threads is None:
        return None
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
        raise InputError(
            f"num_threads must be an integer of at least 1 (or None: the runtime's default), "
            f"got {num_threads!r}"
        )
    require_positive("num_threads", int(num_threads))
    return int(num_threads)

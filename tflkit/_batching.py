"""How a Runner runs a batch: one resized invoke, chunks, or sample by sample.

``Batcher`` picks the way for each batch: a fixed batch of 1 in the model and stateful models
run sample by sample (padding the last chunk of a fixed batch), ``auto`` times a resized batch
against a per-sample loop on the first batch of each size and keeps the faster, ``batch_size``
splits a batch into chunks, and a signature on another subgraph runs through its signature runner.
It runs through a ``Session`` (``invoke``, ``per_sample``, ``run_signature``) and never touches
the runtime itself: slicing, padding and joining are numpy only.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tflkit._feeds import shape_text
from tflkit.errors import UnsupportedModelError

__all__ = ["BATCHING", "Batcher", "join", "slice_feeds"]

Array = npt.NDArray[Any]

#: The ``batching=`` a Runner takes.
BATCHING = ("auto", "batched", "per-sample")
_CALIBRATION_SAMPLES = 32  # auto batching: samples used to time batched vs per-sample


class _Session(Protocol):
    def invoke(self, feeds: list[Array]) -> list[Array]: ...
    def per_sample(self, feeds: list[Array], start: int, stop: int) -> list[Array]: ...
    def run_signature(self, named: dict[str, Array]) -> dict[str, Any]: ...


def slice_feeds(feeds: list[Array], start: int, stop: int, size: int) -> list[Array]:
    """Samples start..stop of each feed (0-d feeds whole), zero-padded to ``size`` samples."""
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


def join(parts: list[list[Array]]) -> list[Array]:
    """The outputs of consecutive chunks as one batch (0-d outputs stacked)."""
    if len(parts) == 1:
        return parts[0]
    return [
        np.concatenate(group) if group[0].ndim else np.stack(group)
        for group in zip(*parts, strict=True)
    ]


def _name(session: Any) -> str:
    """The model's name for a message (a Session has its model; a stand-in may not)."""
    return str(getattr(getattr(session, "model", None), "name", "the model"))


_FOUND_OPS = frozenset({"WHERE", "UNIQUE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5"})


def _fixed_outputs(session: Any) -> frozenset[int]:
    """Outputs whose file says axis 0 is no batch: 0-d, or a leading dimension fixed at
    another size than 1 (SUM's (2, 3) in ai-edge-quantizer's single_sum, which a batched
    invoke of 2 samples would pass off as two samples)."""
    model = getattr(session, "model", None)
    if model is None:
        return frozenset()
    key = getattr(session, "signature_key", None)
    sg = model.subgraphs[model.signature(key).subgraph_index if key else 0]
    # axis 0 counts what the op found, not samples: a batch of 3 that finds 3 items in all
    # passed for 3 samples (LiteRT's where.bin, coordinates with the batch index in them)
    found = {i for op in sg.operators if op.op in _FOUND_OPS for i in op.outputs}
    return frozenset(
        k
        for k, t in enumerate(sg.output_tensors)
        if not t.shape_signature or t.shape_signature[0] > 1 or t.index in found
    )


def _unbatched(outs: list[Array], c: int, fixed: frozenset[int] = frozenset()) -> int | None:
    """The first output that does not have c samples on axis 0, or None; a 0-d output holds
    one value for the whole batch, not one per sample, and one the file fixes is no batch."""
    for k, o in enumerate(outs):
        if k in fixed or o.ndim == 0 or o.shape[0] != c:
            return k
    return None


class Batcher:
    """The batching strategy of one Runner.

    Args:
        session: what runs the model.
        batching: ``"auto"``, ``"batched"`` or ``"per-sample"``.
        batch_size: chunks of at most this many samples (None: the whole batch).
        batch_axis: 0, or None when the model has no batch axis (one invoke per call).
        fixed: 1 when the model's batch is fixed at 1 (sample by sample, padded), else None.
        stateful: resource variables: always sample by sample.
        signature: input and output names of a signature on another subgraph than 0, run
            through its signature runner; None for subgraph 0.
    """

    def __init__(
        self,
        session: _Session,
        *,
        batching: str,
        batch_size: int | None,
        batch_axis: int | None,
        fixed: int | None,
        stateful: bool,
        signature: tuple[tuple[str, ...], tuple[str, ...]] | None,
    ) -> None:
        self.session = session
        self.batching = batching
        self.batch_size = batch_size
        self.batch_axis = batch_axis
        self.fixed = fixed
        self.stateful = stateful
        self.signature = signature
        self.decided: str | None = None if batching == "auto" else batching
        #: outputs the file says have no batch axis (a batched invoke is refused for them)
        self.fixed_outputs = _fixed_outputs(session)
        # auto: the choice measured for each calibration size (min(n, 32, batch_size)): what
        # wins at batch 4 need not win at batch 32
        self.choices: dict[int, str] = {}

    @property
    def mode(self) -> str:
        """``batched``, ``per-sample``, ``fixed-batch``, ``auto`` (undecided) or ``none``."""
        if self.batch_axis is None:
            return "none"
        if self.fixed is not None:
            return "fixed-batch"
        if self.stateful:
            return "per-sample"
        return self.decided or "auto"

    def run(self, feeds: list[Array], n: int | None) -> list[Array]:
        """The outputs for a batch of n samples (None: one invoke at the feeds' shapes).

        A 0-d output of n samples is their n values stacked, shape (n,), for every n (one
        sample too: ai-edge-quantizer's reshape_with_empty_shape gave () for 1 sample and (3,)
        for 3)."""
        if n is None:
            if self.signature is not None:
                return self._run_signature(feeds, n, *self.signature)
            return self.session.invoke(feeds)
        return [o.reshape(n) if o.ndim == 0 else o for o in self._run(feeds, n)]

    def _run(self, feeds: list[Array], n: int) -> list[Array]:
        if self.signature is not None:
            return self._run_signature(feeds, n, *self.signature)
        fixed = self.fixed
        if n == 0:
            return self._empty(feeds)
        if n == 1 and fixed in (None, 1):  # one sample: set_tensor, invoke, get_tensor
            return self.session.invoke(feeds)
        if fixed is not None:
            return self._chunks(feeds, n, fixed, pad=True)
        if self.stateful:
            return self.session.per_sample(feeds, 0, n)
        mode = self.decided if self.batching != "auto" else self.choices.get(self._probe(n))
        if mode is None:
            return self._calibrate(feeds, n)
        if mode == "per-sample":
            return self.session.per_sample(feeds, 0, n)
        return self._chunks(feeds, n, self.batch_size or n, pad=False)

    def _chunks(self, feeds: list[Array], n: int, size: int, *, pad: bool) -> list[Array]:
        if size == 1:
            return self.session.per_sample(feeds, 0, n)
        parts: list[list[Array]] = []
        for start in range(0, n, size):
            stop = min(start + size, n)
            chunk = slice_feeds(feeds, start, stop, size if pad else stop - start)
            one = pad or stop - start == 1  # one sample's outputs are whatever they are
            outs = self.session.invoke(chunk) if one else self._batched(chunk, stop - start)
            parts.append([o[: stop - start] if o.ndim else o for o in outs])
        return join(parts)

    def _batched(self, chunk: list[Array], c: int) -> list[Array]:
        """One invoke of c > 1 samples resized on axis 0, refused when the runtime cannot
        prepare the model at that batch or an output does not count c samples on axis 0 (a
        leading dimension the model reduces or broadcasts away: ai-edge-quantizer's single_sum
        gave (2, 3) for any batch, LiteRT's broadcast_to failed to prepare at batch 3)."""
        name = _name(self.session)
        hint = "; batching='per-sample' (or 'auto') runs it one sample at a time"
        try:
            outs = self.session.invoke(chunk)
        except UnsupportedModelError as exc:
            raise UnsupportedModelError(f"{exc}{hint}") from exc
        k = _unbatched(outs, c, self.fixed_outputs)
        if k is not None:
            said = " (the file says it is no batch)" if k in self.fixed_outputs else ""
            raise UnsupportedModelError(
                f"{name}: output {k}: expected {c} samples on axis 0 after a batched invoke of "
                f"{c}, got shape {shape_text(outs[k].shape)}{said} (axis 0 of that output is "
                f"not a batch){hint}"
            )
        return outs

    def _empty(self, feeds: list[Array]) -> list[Array]:
        """Outputs for a batch of zero samples, with the right trailing shapes and dtypes."""
        outs = self.session.invoke(slice_feeds(feeds, 0, 1, 1))
        return [o[:0] if o.ndim else o.reshape(1)[:0] for o in outs]

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
        session = self.session
        c = self._probe(n)
        k = min(c, 8)
        clock = time.perf_counter
        session.per_sample(feeds, 0, 1)  # warm-up: resize and allocate at one sample
        blocks = []
        for _ in range(2):  # blocks of k samples: each measurement lasts a while, as a batch does
            t0 = clock()
            session.per_sample(feeds, 0, k)
            blocks.append((clock() - t0) / k)
        per_sample = min(blocks)
        chunk = slice_feeds(feeds, 0, c, c)
        try:  # warm-up: allocation and delegate set-up after the resize
            unbatched = _unbatched(session.invoke(chunk), c, self.fixed_outputs) is not None
        except UnsupportedModelError:  # the runtime cannot prepare the model at batch c
            unbatched = True
        if unbatched:  # a batched invoke is wrong for this model: sample by sample it is
            self.decided = self.choices[c] = "per-sample"
            return session.per_sample(feeds, 0, n)
        t0 = clock()
        first = session.invoke(chunk)
        t1 = clock()
        session.invoke(chunk)  # the same samples again: a second measurement
        per_batched = min(t1 - t0, clock() - t1) / c
        self.decided = "per-sample" if per_sample < per_batched else "batched"
        self.choices[c] = self.decided
        rest = [first]
        if c < n:
            tail = [f if f.ndim == 0 else f[c:] for f in feeds]
            if self.decided == "per-sample":
                rest.append(session.per_sample(tail, 0, n - c))
            else:
                rest.append(self._chunks(tail, n - c, self.batch_size or (n - c), pad=False))
        return join(rest)

    def _run_signature(
        self,
        feeds: list[Array],
        n: int | None,
        input_names: tuple[str, ...],
        output_names: tuple[str, ...],
    ) -> list[Array]:
        fixed = self.fixed  # 1 or None
        one = fixed or self.stateful or self.decided == "per-sample"
        size = 1 if one else (self.batch_size or (n or 1))
        if n is None:
            chunks = [(feeds, 1)]
        else:
            chunks = [
                (
                    slice_feeds(
                        feeds, s, min(s + size, n), size if fixed else min(s + size, n) - s
                    ),
                    min(s + size, n) - s,
                )
                for s in range(0, max(n, 1), size)
            ]
        parts = []
        for chunk, valid in chunks:
            result = self.session.run_signature(dict(zip(input_names, chunk, strict=True)))
            outs = [np.asarray(result[name]) for name in output_names]
            bad = _unbatched(outs, valid, self.fixed_outputs)
            if n is not None and valid > 1 and bad is not None:
                if self.batching == "auto":  # not a batch on axis 0: sample by sample
                    self.decided = "per-sample"
                    return self._run_signature(feeds, n, input_names, output_names)
                raise UnsupportedModelError(
                    f"{_name(self.session)}: output {output_names[bad]!r}: expected {valid} "
                    f"samples on axis 0 after a batched call of {valid}, got shape "
                    f"{shape_text(outs[bad].shape)} (axis 0 of that output is not a batch); "
                    "batching='per-sample' (or 'auto') runs it one sample at a time"
                )
            parts.append([o[:valid] if (o.ndim and n is not None) else o for o in outs])
        return join(parts)

"""``tflkit.convert``: a Keras model, a SavedModel or a float .tflite to a verified .tflite.

The only module of tflkit that imports TensorFlow and Keras (lazily, inside functions): a float
.tflite goes through ``litert-quantizer`` instead (``tflkit._quantizer``), without TensorFlow.
Each conversion is checked in the same step (``tflkit.check`` with the profile ``to`` implies)
and, with evaluation data, compared with the float32 conversion of the same source.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from tflkit._arrays import (
    check_numbers,
    labels_array,
    nonfinite_text,
    require_finite,
    require_samples,
)
from tflkit._source import Source, first_line, load_source, tensorflow
from tflkit.errors import ConversionError, InputError, require_positive

if TYPE_CHECKING:
    from tflkit._search import Search
    from tflkit._selective import Selection
    from tflkit.comparison import Comparison
    from tflkit.model import Model
    from tflkit.report import Report

__all__ = ["TARGETS", "Conversion", "convert"]

Array = npt.NDArray[Any]

#: What ``to`` can be, and the ``quantization_kind`` each gives.
TARGETS: dict[str, str] = {
    "float32": "float32",
    "float16": "float16",
    "dynamic-range": "dynamic-range",
    "int8": "int8",
    "int16x8": "int16x8",
}
#: Weight-only quantization: from a float .tflite (litert-quantizer), or, for
#: ``weight-only-int8``, a Keras 3 model quantized weight-only (converted as it is).
TFLITE_ONLY = ("weight-only-int8", "weight-only-int4")
_PROFILES = {"int8": "int8", "int16x8": "int16x8", "float16": "float16"}
_IO = {"int8": ("int8", "uint8", "float32"), "int16x8": ("int16", "float32")}
_MANY_SAMPLES = 1000


@dataclass(frozen=True)
class Conversion:
    """A converted model and its proof.

    Attributes:
        data: the .tflite bytes.
        model: ``tflkit.load(data)``.
        to: what was asked for (``int8``, ``float16``, ...).
        report: ``tflkit.check`` with the profile ``to`` implies (None for float32 and
            dynamic-range, which have no profile; ``kind_ok`` is their verdict).
        kind_ok: ``quantization_kind`` of the result is what ``to`` asked for.
        kind: ``quantization_kind`` of the result (``int8``, ``mixed``, ...).
        settings: how the model was made, JSON-ready: the converter, its options and the
            calibration used, so the conversion can be reproduced by hand.
        comparison: the result against the float32 conversion of the same source, when
            evaluation data was given.
        notes: things worth saying (many calibration samples, ops left float, ...).
        search: how ``max_drop`` / ``min_snr`` chose the operators kept out of int8 (every
            model built, measured), or the measured ``keep_float`` model; None otherwise.
        kept_float: the operators kept out of int8 (their first output tensor's name).
    """

    data: bytes
    model: Model
    to: str
    report: Report | None
    kind_ok: bool
    kind: str
    settings: dict[str, Any]
    comparison: Comparison | None = None
    notes: tuple[str, ...] = field(default=())
    search: Search | None = None
    kept_float: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """The kind is the one asked for, the profile's check passed and a ``max_drop`` /
        ``min_snr`` target was met."""
        return (
            self.kind_ok
            and (self.report is None or self.report.passed)
            and (self.search is None or self.search.met)
        )

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write the model atomically; refuse to replace a file unless ``force``."""
        from tflkit._files import atomic_write

        if os.path.lexists(path) and not force:  # a dangling symlink exists too
            raise InputError(f"{os.fspath(path)} exists; pass force=True to replace it")
        data = self.data

        def write(f: IO[bytes]) -> None:
            f.write(data)

        atomic_write(path, write)

    def to_html(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        source: str = "",
        output: str | None = None,
    ) -> str:
        """One self-contained HTML page: what was made and how, the check, the search steps
        and the size/accuracy curve (``max_drop`` / ``min_snr``), the comparison. Written
        atomically to ``path`` when given; the page is returned either way."""
        from tflkit.render.html import conversion_html, write_html

        page = conversion_html(self, source=source, output=output)
        if path is not None:
            write_html(page, path)
        return page


# ---------------------------------------------------------------- calibration


def _calibration_arrays(
    calibration: Any, inputs: Sequence[tuple[str, tuple[int | None, ...], str]]
) -> Iterator[dict[str, Array]]:
    """Batches of calibration data as dicts by input name (not yet split into samples)."""
    names = [n for n, _, _ in inputs]
    if isinstance(calibration, (str, os.PathLike)):
        from tflkit._arrays import read_arrays

        calibration = read_arrays(calibration)
        if isinstance(calibration, Mapping) and len(inputs) == 1 and len(calibration) == 1:
            calibration = next(iter(calibration.values()))
    if isinstance(calibration, np.ndarray):
        if len(inputs) != 1:
            raise InputError(
                f"the model has {len(inputs)} inputs ({', '.join(map(repr, names))}): give the "
                "calibration data as a dict (or .npz) by input name"
            )
        yield {names[0]: calibration}
        return
    if isinstance(calibration, Mapping):
        yield _by_name(calibration, names)
        return
    for batch in calibration:  # an iterable of batches
        if isinstance(batch, Mapping):
            yield _by_name(batch, names)
        elif isinstance(batch, (list, tuple)) and len(inputs) > 1:
            if len(batch) != len(inputs):
                raise InputError(
                    f"a calibration batch has {len(batch)} arrays, expected {len(inputs)}"
                )
            yield dict(
                zip(names, (_array(b, n) for n, b in zip(names, batch, strict=True)), strict=True)
            )
        else:
            yield _by_name({names[0]: batch}, names)


def _by_name(arrays: Mapping[str, Any], names: Sequence[str]) -> dict[str, Array]:
    unknown = [k for k in arrays if k not in names]
    missing = [n for n in names if n not in arrays]
    if unknown or missing:
        what = f"unknown input {unknown[0]!r}" if unknown else f"no data for input {missing[0]!r}"
        raise InputError(
            f"calibration: {what}; the model's inputs are {', '.join(map(repr, names))}"
        )
    return {n: _array(arrays[n], n) for n in names}


def _array(value: Any, name: str) -> Array:
    """A calibration batch as one numeric array: ragged lists and objects are refused here,
    not inside the converter."""
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise InputError(f"calibration for input {name!r}: not an array ({exc})") from None
    if a.dtype.kind not in "biuf":
        raise InputError(
            f"calibration for input {name!r}: expected real numbers, got {a.dtype} values"
        )
    return a


def _check_batch(
    batch: Mapping[str, Array], inputs: Sequence[tuple[str, tuple[int | None, ...], str]]
) -> int:
    """Shape and dtype of each input against the model's signature; the batch size."""
    sizes = set()
    for name, shape, dtype in inputs:
        a = batch[name]
        _require_sample_shape(a, shape, f"calibration for input {name!r}")
        if np.dtype(dtype).kind == "f" and a.dtype.kind not in "fiu":
            raise InputError(
                f"calibration for input {name!r}: expected {dtype} values, got {a.dtype}"
            )
        if np.dtype(dtype).kind in "iu" and a.dtype.kind == "f":
            raise InputError(
                f"calibration for input {name!r}: the model takes {dtype}, got {a.dtype} values"
            )
        check_numbers(a.dtype, f"calibration for input {name!r}")
        sizes.add(int(a.shape[0]) if a.ndim else 1)
    if len(sizes) > 1:
        raise InputError(f"calibration inputs have different numbers of samples: {sorted(sizes)}")
    return sizes.pop()


class _Calibration:
    """The converter's representative_dataset: one sample at a time, ``samples`` at most,
    checked against the model's inputs first, counted, with an optional progress callback."""

    def __init__(
        self,
        calibration: Any,
        inputs: Sequence[tuple[str, tuple[int | None, ...], str]],
        samples: int | None,
        progress: Callable[[int], None] | None,
        allow_nonfinite: bool = False,
    ) -> None:
        self.inputs = list(inputs)
        self.samples = samples
        self.progress = progress
        # materialized once: the converter may iterate more than once, and errors should come
        # before it starts
        self.batches: list[dict[str, Array]] = []
        total = 0
        what = _data_name("calibration data", calibration, "calibration")
        dtypes = {n: np.dtype(d) for n, _, d in self.inputs}
        for i, batch in enumerate(_calibration_arrays(calibration, inputs)):
            before = total
            total += _check_batch(batch, inputs)
            # only the samples fed are checked (``samples=300`` of a file with NaN at 900: fine)
            need = None if samples is None else samples - before
            # cast first: a float64 1e300 is inf as float32; the converter is fed the cast
            with np.errstate(over="ignore", invalid="ignore"):
                cast = {
                    k: (v[:need] if v.ndim else v).astype(dtypes[k], copy=False)
                    for k, v in batch.items()
                }
            for name, array in cast.items():
                where = i if i or not _is_single(calibration) else None
                _require_finite(
                    array, what, name, where, batch[name].dtype, allow_nonfinite=allow_nonfinite
                )
            batch = cast
            self.batches.append(batch)
            if samples is not None and total >= samples:
                break
        self.available = total
        self.used = min(total, samples) if samples is not None else total
        require_samples(self.used, what, self.batches[0] if self.batches else None)
        self.fed = 0

    def __call__(self) -> Iterator[dict[str, Array]]:
        names = [n for n, _, _ in self.inputs]
        count = 0
        for batch in self.batches:
            n = next(iter(batch.values())).shape[0]
            for s in range(n):
                if count >= self.used:
                    return
                yield {k: batch[k][s : s + 1] for k in names}
                count += 1
                self.fed = count
                if self.progress is not None:
                    self.progress(count)


def _is_single(calibration: Any) -> bool:
    return isinstance(calibration, (str, os.PathLike, np.ndarray, Mapping))


def _require_finite(
    array: Array,
    source: str,
    name: str,
    batch: int | None,
    given: np.dtype[Any],
    *,
    allow_nonfinite: bool,
) -> None:
    """inf in calibration crashes TensorFlow's calibrator (SIGSEGV, TF 2.21: one inf in the .npy
    was enough): refused even with ``allow_nonfinite``. NaN gives a model without ranges:
    refused unless ``allow_nonfinite``. Checked after the cast to the input's dtype."""
    what = f"{source}, input {name!r}" + (f" (batch {batch})" if batch is not None else "")
    if given != array.dtype:  # a float64 1e300 is finite, and inf as float32
        what += f" as {array.dtype}"
    if array.dtype.kind == "f" and array.size and np.isinf(array).any():
        # with NaN allowed, name the inf alone (its count, where the first one is)
        shown = np.where(np.isnan(array), 0, array) if allow_nonfinite else array
        raise InputError(
            f"{what}: {nonfinite_text(shown)}: the converter crashes on inf in calibration "
            "data, so it is refused even with allow_nonfinite=True"
        )
    require_finite(array, what, allow_nonfinite=allow_nonfinite)


# ---------------------------------------------------------------- converter errors


def _converter_error(exc: BaseException) -> ConversionError:
    """The converter's multi-line MLIR error as one line naming the op and where it was."""
    text = str(exc)
    ops = re.findall(r"'((?:tf|tfl)\.[A-Za-z0-9_]+)' op", text)
    where = re.search(r"error: ([^\n]*)", text)
    loc = re.search(r'loc\(fused\["([^"]+)"', text) or re.search(r'loc\("([^"]+)"', text)
    if "ops are not supported" in text or "neither a custom op nor a flex op" in text:
        listed = re.findall(r"\n\s*(tf\.[A-Za-z0-9_]+)\(", text)
        op = (listed or ops or ["an op"])[0]
        return ConversionError(
            f"the int8 ops set cannot express {op}"
            + (f" (at {loc.group(1)})" if loc else "")
            + ": no TFLite builtin kernel for it; convert with to='float32' / 'dynamic-range', or "
            "change the model"
        )
    detail = where.group(1).strip() if where else first_line(exc)
    detail = re.sub(r"^[^:]*\.py:\d+:\d+: error: ", "", detail)
    return ConversionError(
        f"the converter failed: {detail}" + (f" (at {loc.group(1)})" if loc else "")
    )


# ---------------------------------------------------------------- quiet and progress

P = ParamSpec("P")
R = TypeVar("R")
#: ``progress(done, of, stage)``: ``of`` 0 for a step without counts
Progress = Callable[[int, int, str], None]


def _quietly(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with TensorFlow's output kept off the terminal (``tflkit._quiet``) and its
    ``progress`` callback given stages and called with the terminal back."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from tflkit._quiet import quiet_tensorflow

        with quiet_tensorflow() as captured:
            given: Any = kwargs.get("progress")
            if given is not None:
                kwargs["progress"] = _staged(captured.wrap(given), _takes_stage(given))
            return fn(*args, **kwargs)

    return wrapper


def _takes_stage(fn: Any) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the old form
        return False
    kinds = [p.kind for p in params]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(k in positional for k in kinds) >= 3


def _staged(fn: Any, stages: bool) -> Progress:
    """The three-argument form for tflkit's code; a two-argument callback hears the
    calibration alone, as it always did."""
    if stages:
        return fn  # type: ignore[no-any-return]

    def calibration_only(done: int, of: int, stage: str) -> None:
        if stage == "calibrating":
            fn(done, of)

    return calibration_only


# ---------------------------------------------------------------- convert


@_quietly
def convert(
    source: Any,
    to: str,
    *,
    calibration: Any = None,
    samples: int | None = None,
    io: str | None = None,
    eval_x: Any = None,
    eval_y: Any = None,
    progress: Callable[..., None] | None = None,
    allow_nonfinite: bool = False,
    trust_source: bool = False,
    max_drop: float | None = None,
    min_snr: float | None = None,
    keep_float: Sequence[str] | None = None,
    fallback: str | None = None,
) -> Conversion:
    """Convert a model to ``to`` and prove it in the same step.

    Args:
        source: a Keras model (Keras 3 or tf_keras), a ``.keras`` / ``.h5`` file, a SavedModel
            directory, or a float ``.tflite`` (quantized without TensorFlow by litert-quantizer).
        to: ``float32``, ``float16``, ``dynamic-range``, ``int8`` or ``int16x8``; from a
            ``.tflite`` also ``weight-only-int8`` and ``weight-only-int4`` (litert-quantizer);
            ``weight-only-int8`` also converts a Keras 3 model quantized weight-only
            (``model.quantize("int8", config=Int8QuantizationConfig(activation_quantizer=
            None))``) as it is: the converter keeps its int8 kernels (CAST and MUL in the
            graph), or folds small ones back to float32 (a note says so; measured: a
            32->32 Dense folds, 32->256 does not).
        calibration: representative samples, required for ``int8`` and ``int16x8`` (unless the
            model was trained with quantization-aware training): an array (single input), a
            dict by input name, a ``.npy`` / ``.npz`` path, or an iterable of batches. Fed to
            the converter one sample at a time.
        samples: use at most this many calibration samples (default: all).
        io: the inputs' and outputs' dtype: for ``int8`` ``"int8"`` (default), ``"uint8"`` or
            ``"float32"`` (float I/O, QUANTIZE / DEQUANTIZE inside); for ``int16x8``
            ``"int16"`` (default) or ``"float32"``.
        eval_x: evaluation inputs (arrays as for ``compare``, or a ``.npy`` / ``.npz`` path):
            the result is compared with the float32 conversion of the same source
            (agreement, SNR, max error).
        eval_y: labels for ``eval_x`` (accuracy of both): an array, or a ``.npy`` / ``.npz``
            path (of a ``.npz``, its first array).
        progress: called as ``progress(done, of, stage)`` while it works: stage
            ``"loading"``, ``"calibrating"`` (samples fed of samples to feed),
            ``"converting"``, ``"quantizing"``, ``"evaluating"``, and the search's (with
            ``max_drop`` / ``min_snr`` / ``keep_float``; ``of`` is 0 for a step without
            counts); a two-argument callback is called with (calibration samples
            fed, samples to feed) alone. Called with the real stdout and stderr back.
        allow_nonfinite: use evaluation data holding NaN or inf, and calibration data holding
            NaN, all the same (refused by default); inf in calibration data is always refused:
            it crashes TensorFlow's converter.
        trust_source: load a SavedModel (or a Keras file) holding ops or layers that reach
            outside the model (files, Python, the network: the README's "Errors and exit
            codes" lists them) instead of refusing it. Loading a SavedModel or Keras model
            runs its code: trust its author.
        max_drop: int8 that loses at most this many top-1 accuracy points against the float32
            conversion on ``eval_x`` / ``eval_y``: operators are kept out of int8, as few as
            the search finds (every candidate a real model measured on the evaluation data;
            ``Conversion.search`` has the steps). ``to='int8'`` only.
        min_snr: the same with the outputs' SNR (dB) against the float32 conversion as the
            target (no labels needed).
        keep_float: keep these operators out of int8 (manual selective quantization): operator
            types (``"SOFTMAX"``), output tensor names, or regular expressions over them.
        fallback: what kept operators become: ``"float"``, or ``"int16"`` (int16 activations,
            int8 weights; litert-quantizer route: a float .tflite, or the float32 conversion of
            a Keras model / SavedModel). Default: float on TFLiteConverter's route; from a
            .tflite both are searched and the smaller model meeting the target is kept.

    TensorFlow's and the converter's output (C++ log lines, prints, warnings) is kept off
    the terminal (``tflkit._quiet``): logged at DEBUG level on the ``tflkit`` logger, and
    added to an exception's notes when the conversion fails.

    Returns:
        A ``Conversion``: the bytes, the loaded Model, the check report, the settings, and the
        comparison when ``eval_x`` was given. A conversion that fails its check is returned
        all the same (``conversion.passed`` is False).

    Raises:
        ConversionError: TensorFlow (or litert-quantizer) missing, the converter failed (one
            line naming the op), or the source cannot be converted (Keras 3 quantized model).
            A ``max_drop`` / ``min_snr`` target that no candidate meets is not an error: the
            best model is returned with ``conversion.passed`` False and a note saying so.
        InputError: no calibration for int8, calibration that does not fit the inputs, a
            missing source, an unknown ``to`` or ``io``; calibration or evaluation data
            without samples, or holding NaN or inf (counted, the first one's index given)
            unless ``allow_nonfinite``; a source that cannot be read, a SavedModel holding ops
            that reach outside it (unless ``trust_source``).

    Example:
        >>> c = tflkit.convert("model.keras", "int8", calibration="calib.npy")
        >>> c.passed, c.report.profile
        (True, 'int8')
        >>> c.save("model_int8.tflite")
    """
    targets = {**TARGETS, **{k: k for k in TFLITE_ONLY}}
    if to not in targets:
        raise InputError(f"unknown target {to!r}, expected one of {', '.join(targets)}")
    if io is not None and io not in _IO.get(to, ()):
        allowed = ", ".join(_IO.get(to, ())) or "none (the I/O stays float32)"
        raise InputError(f"io {io!r} does not apply to {to!r}; it takes: {allowed}")
    require_positive("samples", samples)
    from tflkit._selective import check_request

    selective = check_request(
        to,
        max_drop=max_drop,
        min_snr=min_snr,
        keep_float=keep_float,
        fallback=fallback,
        eval_x=eval_x,
        eval_y=eval_y,
    )
    # the evaluation data read and checked before the long work
    eval_what = _data_name("evaluation data", eval_x, "eval_x")
    labels_what = _data_name("evaluation labels", eval_y, "eval_y")
    eval_x, eval_y = _read_eval(eval_x), _read_eval(eval_y, labels=True)
    if eval_x is not None:
        from tflkit._inputs import batch_size_of

        require_samples(batch_size_of(eval_x), eval_what, eval_x)
        require_finite(eval_x, eval_what, allow_nonfinite=allow_nonfinite)
    if eval_y is not None:
        require_finite(labels_array(eval_y), labels_what, allow_nonfinite=allow_nonfinite)
    is_tflite = isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(".tflite")
    src: Source | None = None  # the loaded Keras model / SavedModel, reused by _verify
    if progress is not None:
        progress(0, 0, "loading")
    if selective:
        if not is_tflite:
            src = load_source(source, trust_source=trust_source)
        selection, reference = _select(
            source if is_tflite else src,
            calibration,
            samples,
            io,
            progress,
            allow_nonfinite,
            eval_x,
            eval_y,
            max_drop=max_drop,
            min_snr=min_snr,
            keep_float=keep_float,
            fallback=fallback,
        )
        return _verify(
            selection.data,
            to,
            io,
            selection.settings,
            list(selection.notes),
            source,
            eval_x,
            eval_y,
            src,
            allow_nonfinite,
            selection=selection,
            reference=reference,
            progress=progress,
        )
    original: bytes | None = None  # a float .tflite's bytes: read once, the reference too
    if is_tflite:
        original, model = _float_tflite(os.fspath(source))
        data, settings, notes = _convert_tflite(
            os.fspath(source),
            original,
            model,
            to,
            calibration,
            samples,
            io,
            allow_nonfinite,
            progress,
        )
    else:
        quantized = _keras_quantized_layers(source)
        _require_weight_only_source(to, quantized)
        src = load_source(source, trust_source=trust_source)
        data, settings, notes = _convert_tf(
            src, to, calibration, samples, io, progress, allow_nonfinite
        )
        if quantized:
            settings["keras_quantized_layers"] = quantized
    return _verify(
        data,
        to,
        io,
        settings,
        notes,
        source,
        eval_x,
        eval_y,
        src,
        allow_nonfinite,
        progress=progress,
        reference=original,
    )


# ---------------------------------------------------------------- Keras 3 weight-only

_KERAS_INT4 = (
    "TFLiteConverter unpacks Keras 3 int4 kernels into int8 tensors and float tables larger "
    "than the float model (measured: 66 KiB against 44 KiB for Dense 32->256->10); convert "
    "the float model to='float32', then that .tflite to='weight-only-int4' (litert-quantizer)"
)


def _keras_quantized_layers(source: Any) -> dict[str, str] | None:
    """Layers of a Keras 3 model quantized by ``model.quantize``: name -> mode (``int8``,
    ``int4``, ...), from a model in memory or a .keras / .h5 file's config (read without
    Keras); None for a SavedModel, whose graph does not say."""
    if not isinstance(source, (str, os.PathLike)):
        flatten = getattr(source, "_flatten_layers", None)
        layers = flatten() if flatten is not None else getattr(source, "layers", [])
        return {
            str(layer.name): str(layer.quantization_mode).split("/")[0]
            for layer in layers
            if getattr(layer, "quantization_mode", None)
        }
    path = os.fspath(source)
    if not path.endswith((".keras", ".h5", ".hdf5")):
        return None
    found: dict[str, str] = {}
    stack = [_keras_file_config(path)]
    while stack:  # every layer config, nested models included
        item = stack.pop()
        if isinstance(item, dict):
            config = item.get("config")
            dtype = config.get("dtype") if isinstance(config, dict) else None
            # a quantized layer's dtype policy carries a mode: QuantizedDTypePolicy "int8",
            # Int4DTypePolicy "int4/128" (its block size), GPTQDTypePolicy, ...
            policy = dtype.get("config") if isinstance(dtype, dict) else None
            mode = policy.get("mode") if isinstance(policy, dict) else None
            if isinstance(config, dict) and mode:
                found[str(config.get("name"))] = str(mode).split("/")[0]
            stack.extend(reversed(list(item.values())))  # in the file's order
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _keras_file_config(path: str) -> Any:
    """A .keras (zip) or .h5 file's model config; None when unreadable (the load says why)."""
    import json
    import zipfile

    if not os.path.isfile(path):  # a FIFO would hang the read: loading refuses it, one line
        return None
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                info = z.getinfo("config.json")
                return json.loads(z.read(info)) if info.file_size <= 64 << 20 else None
        import h5py  # type: ignore[import-untyped,unused-ignore]

        with h5py.File(path, "r") as f:
            text = f.attrs.get("model_config")
            return json.loads(text) if text is not None else None
    except Exception:  # a broken file: loading it says what is wrong
        return None


def _require_weight_only_source(to: str, quantized: dict[str, str] | None) -> None:
    """``weight-only-*`` from a Keras model or SavedModel: only a Keras 3 int8 weight-only
    model converts as it is (None: a SavedModel, judged by the result)."""
    if to not in TFLITE_ONLY or quantized is None:
        return
    if not quantized:
        raise InputError(
            f"{to!r} from a Keras model needs one quantized with Keras 3 model.quantize('int8', "
            "config=Int8QuantizationConfig(activation_quantizer=None)); from a float model, "
            f"convert to='float32', then that .tflite to={to!r} (litert-quantizer)"
        )
    modes = sorted(set(quantized.values()))
    if to == "weight-only-int4" or modes != ["int8"]:
        layers = ", ".join(f"{k} ({v})" for k, v in list(quantized.items())[:3])
        why = _KERAS_INT4 if "int4" in modes or to == "weight-only-int4" else "not int8"
        raise InputError(f"{to!r} from the Keras 3 quantized layers {layers}: {why}")


def _data_name(what: str, value: Any, parameter: str) -> str:
    """``evaluation data 'x.npy'`` for a path, ``evaluation data (eval_x)`` for arrays."""
    if isinstance(value, (str, os.PathLike)):
        return f"{what} {os.fspath(value)!r}"
    return f"{what} ({parameter})"


def _read_eval(value: Any, *, labels: bool = False) -> Any:
    """Evaluation data given as a path: its arrays (labels: a .npz's first array)."""
    if not isinstance(value, (str, os.PathLike)):
        return value
    from tflkit._arrays import read_arrays

    arrays = read_arrays(value)
    return next(iter(arrays.values())) if labels and isinstance(arrays, Mapping) else arrays


def _configure(
    src: Source, to: str, calib: _Calibration | None, io: str | None, notes: list[str]
) -> tuple[Any, dict[str, Any]]:
    """A TFLiteConverter for ``to`` and its settings, JSON-ready (the ones a user would set by
    hand): the one place both a plain conversion and the selective route configure it."""
    tf = tensorflow()
    conv = src.make()
    settings: dict[str, Any] = {**src.settings, "to": to}
    if to not in ("float32", *TFLITE_ONLY):  # a Keras 3 weight-only model: as it is
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        settings["optimizations"] = ["DEFAULT"]
    if to == "float16":
        conv.target_spec.supported_types = [tf.float16]
        settings["target_spec.supported_types"] = ["float16"]
    if to in ("int8", "int16x8"):
        ops = (
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
            if to == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        )
        if not (src.qat and calib is None):
            # (a QAT model carries its ranges: TFLITE_BUILTINS_INT8 would demand a
            # representative dataset all the same)
            conv.target_spec.supported_ops = [ops]
            settings["target_spec.supported_ops"] = [ops.name]
        io = io or ("int8" if to == "int8" else "int16")
        if io != "float32":
            conv.inference_input_type = conv.inference_output_type = getattr(tf, io)
            settings["inference_input_type"] = settings["inference_output_type"] = io
        if calib is not None:
            conv.representative_dataset = calib
            settings["representative_dataset"] = {
                "samples": calib.used,
                "one_sample_at_a_time": True,
                "inputs": [n for n, _, _ in src.inputs],
            }
        elif src.qat:
            settings["representative_dataset"] = None
            notes.append("quantization-aware trained model: ranges come from its fake-quant layers")
    settings["quantization_aware_training"] = src.qat
    settings["tensorflow_version"] = tf.__version__
    return conv, settings


def _convert_tf(
    src: Source,
    to: str,
    calibration: Any,
    samples: int | None,
    io: str | None,
    progress: Progress | None,
    allow_nonfinite: bool = False,
) -> tuple[bytes, dict[str, Any], list[str]]:
    notes: list[str] = []
    needs_data = to in ("int8", "int16x8") and not src.qat
    calib: _Calibration | None = None
    unused = ("dynamic-range", "float16", *TFLITE_ONLY)  # targets that calibrate nothing
    if calibration is not None and to in ("int8", "int16x8", *unused):
        if to in unused:
            notes.append(f"calibration data is not used for {to}")
        else:
            tick = None
            if progress is not None:

                def tick(k: int) -> None:
                    n = calib.used if calib else k
                    progress(k, n, "calibrating")
                    if k >= n:  # the converter quantizes after the last sample
                        progress(0, 0, "converting")

            calib = _Calibration(calibration, src.inputs, samples, tick, allow_nonfinite)
            if calib.used > _MANY_SAMPLES and samples is None:
                notes.append(
                    f"calibrating on all {calib.used} samples; a few hundred usually suffice "
                    "(samples=300 takes the first 300)"
                )
    elif needs_data:
        raise InputError(
            f"{to} needs calibration data: the converter measures each activation's range on "
            "real samples (a few hundred of what the model will see). Pass "
            "calibration='calib.npy'; tflkit never calibrates on random data, which gives wrong "
            "ranges for real inputs"
        )
    conv, settings = _configure(src, to, calib, io, notes)
    if progress is not None:
        progress(0, 0, "converting")
    started = time.perf_counter()
    try:
        data = bytes(conv.convert())
    except Exception as exc:  # ConverterError, ValueError, RuntimeError... from TF
        raise _converter_error(exc) from exc
    settings["seconds"] = round(time.perf_counter() - started, 3)
    return data, settings, notes


def _float_tflite(path: str) -> tuple[bytes, Model]:
    """A float32 .tflite to quantize: its Model (loaded from the path, so messages name the
    file; memory-mapped) and its bytes (read once, for the quantizer and the reference)."""
    from tflkit.kinds import quantization_kind
    from tflkit.loader import load

    model = load(path)
    data = _read(path)
    kind = quantization_kind(model)
    if kind != "float32":
        raise InputError(f"{path}: is {kind}, expected a float32 .tflite to quantize")
    return data, model


_NO_CALIBRATION = (
    "int8 needs calibration data (pass calibration='calib.npy'): tflkit never calibrates on "
    "random data"
)


def _convert_tflite(
    path: str,
    original: bytes,
    model: Model,
    to: str,
    calibration: Any,
    samples: int | None,
    io: str | None,
    allow_nonfinite: bool = False,
    progress: Progress | None = None,
) -> tuple[bytes, dict[str, Any], list[str]]:
    from tflkit import _quantizer

    if to in ("float32", "int16x8"):
        raise InputError(
            f"from a .tflite, to is one of int8, dynamic-range, float16, "
            f"{', '.join(TFLITE_ONLY)}; got {to!r}"
        )
    per_sample: list[dict[str, Array]] | None = None
    if calibration is not None:
        calib = _Calibration(calibration, _tflite_inputs(model), samples, None, allow_nonfinite)
        per_sample = list(calib())
    elif to == "int8":
        raise InputError(_NO_CALIBRATION)
    tick = None
    if progress is not None:
        progress(0, 0, "quantizing")
        if per_sample and to == "int8":
            calibrated = progress  # bound for mypy: the closure outlives the narrowing

            def tick(done: int, of: int) -> None:
                calibrated(done, of, "calibrating")
                if done >= of:
                    calibrated(0, 0, "quantizing")

    data, settings = _quantizer.quantize_tflite(
        original, to, calibration=per_sample, io=io, progress=tick
    )
    return data, {"from": "litert-quantizer", "source": path, "to": to, **settings}, []


def _tflite_inputs(model: Model) -> list[tuple[str, tuple[int | None, ...], str]]:
    """(name, shape with None for dynamic sizes, dtype) of each input, named as the signature
    of subgraph 0 names it (litert-quantizer calibrates through signatures)."""
    sig = next((s for s in model.signatures if s.subgraph_index == 0), None)
    by_index = {x.tensor_index: x.name for x in sig.inputs} if sig else {}
    return [
        (
            by_index.get(t.index, t.name),
            tuple(None if d < 0 else d for d in t.shape_signature),
            t.dtype,
        )
        for t in model.inputs
    ]


# ---------------------------------------------------------------- selective int8


def _select(
    source: Any,
    calibration: Any,
    samples: int | None,
    io: str | None,
    progress: Progress | None,
    allow_nonfinite: bool,
    eval_x: Any,
    eval_y: Any,
    *,
    max_drop: float | None,
    min_snr: float | None,
    keep_float: Sequence[str] | None,
    fallback: str | None,
) -> tuple[Selection, bytes]:
    """The selective model (searched or given) and the float32 reference's bytes."""
    from tflkit import _quantizer, _selective

    if calibration is None:
        raise InputError(_NO_CALIBRATION)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    tries: list[tuple[Any, str, dict[str, Any]]] = []  # (route, fallback, settings)
    if isinstance(source, Source):
        if source.qat:
            raise InputError(
                "a quantization-aware trained model carries its own ranges; max_drop, min_snr "
                "and keep_float choose post-training int8 operators: convert the float model"
            )
        _require_eval_fits(eval_x, source.inputs)
        calib = _Calibration(calibration, source.inputs, samples, None, allow_nonfinite)
        reference = _convert_tf(source, "float32", None, None, None, None)[0]
        io = io or "int8"
        seconds["reference"] = time.perf_counter() - started
        started = time.perf_counter()
        auto = fallback is None and not keep_float
        if fallback in (None, "float"):
            conv, base = _configure(source, "int8", calib, io, [])
            tries.append((_selective.ConverterRoute(conv, _converter_error), "float", base))
        # int16 activations per operator: litert-quantizer's route only, from the float32
        # conversion (int8 I/O, one input); tried too when no fallback was given
        if fallback == "int16" or (auto and io == "int8" and len(source.inputs) == 1):
            litert = _quantizer.QuantizerRoute(reference, _renamed(list(calib()), reference))
            via = {**source.settings, "to": "int8", "via": "its float32 conversion"}
            tries.append((litert, "int16", via))
    else:
        path = os.fspath(source)
        reference, model = _float_tflite(path)
        _quantizer.require_int8_io(io)
        inputs = _tflite_inputs(model)
        _require_eval_fits(eval_x, inputs)
        calib = _Calibration(calibration, inputs, samples, None, allow_nonfinite)
        litert = _quantizer.QuantizerRoute(reference, list(calib()), model)
        base = {"from": "litert-quantizer", "source": path, "to": "int8"}
        # no fallback given: float and int16 both (the smaller model meeting the target wins);
        # a keep_float list is a manual choice: float
        for f in [fallback] if fallback else ["float"] if keep_float else ["float", "int16"]:
            tries.append((litert, f, base))
    seconds["calibration"] = time.perf_counter() - started

    def stage(name: str, done: int, of: int) -> None:
        if progress is not None:
            progress(done, of, name)

    evaluation = None
    if eval_x is not None:  # the reference's outputs once, for every route and fallback
        from tflkit._search import Evaluation

        started = time.perf_counter()
        evaluation = Evaluation(reference, eval_x, eval_y, max_drop=max_drop, min_snr=min_snr)
        seconds["reference"] = seconds.get("reference", 0.0) + time.perf_counter() - started
    found = []
    for route, f, settings in tries:
        try:
            selection = _selective.select(
                route,
                evaluation=evaluation,
                keep_float=keep_float,
                fallback=f,
                seconds=dict(seconds),
                progress=stage,
            )
        except ConversionError:
            if len(tries) == 1 or f == tries[0][1]:
                raise  # the int16 try of an automatic choice may fail: float stands
            continue
        found.append(replace(selection, settings={**settings, **selection.settings}))
    return _smaller(found), reference


def _require_eval_fits(
    eval_x: Any, inputs: Sequence[tuple[str, tuple[int | None, ...], str]]
) -> None:
    """Evaluation data of one input, as one array, refused before the search's long work when
    its sample shape is not the model's (several inputs: checked when run)."""
    if isinstance(eval_x, np.ndarray) and len(inputs) == 1:
        name, shape, _ = inputs[0]
        _require_sample_shape(eval_x, shape, f"evaluation data (eval_x) for input {name!r}")


def _require_sample_shape(a: Array, shape: tuple[int | None, ...], what: str) -> None:
    """``a`` holds samples of an input of ``shape`` (None: any size) on axis 0."""
    fits = a.ndim == len(shape) and all(
        s is None or s == d for s, d in zip(shape[1:], a.shape[1:], strict=True)
    )
    if not fits:
        want = "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"
        raise InputError(
            f"{what}: expected shape {want} with samples on axis 0, got {tuple(a.shape)}"
        )


def _renamed(samples: list[dict[str, Array]], model: bytes) -> list[dict[str, Array]]:
    """Calibration samples keyed by a Keras model's input names, keyed by the float32
    conversion's signature names instead (one input; several: refused)."""
    from tflkit.loader import load

    names = [n for n, _, _ in _tflite_inputs(load(model))]
    if len(names) != 1:
        raise InputError(
            "fallback='int16' from a Keras model or SavedModel with several inputs: convert "
            "its float32 .tflite with fallback='int16' instead"
        )
    return [{names[0]: next(iter(s.values()))} for s in samples]


def _smaller(found: list[Selection]) -> Selection:
    """Of selections with other fallbacks, the one meeting the target with the smaller model
    (else the better measured one), with a note naming the other."""
    if len(found) == 1:
        return found[0]

    def key(s: Selection) -> tuple[bool, int]:
        met = s.search is not None and s.search.met
        return (not met, len(s.data))

    best = min(found, key=key)
    others = ", ".join(
        f"{s.fallback}: {len(s.data):,} bytes" + ("" if s.search and s.search.met else " (missed)")
        for s in found
        if s is not best
    )
    note = f"fallback {best.fallback} chosen: {len(best.data):,} bytes (searched too: {others})"
    return replace(best, notes=(*best.notes, note))


def _read(path: str) -> bytes:
    from tflkit._files import open_regular

    with open_regular(path, "model") as f:
        return f.read()


def _weight_only_ok(
    model: Model, kind: str, to: str, settings: dict[str, Any], notes: list[str]
) -> bool:
    """The kind check of ``weight-only-int8`` / ``-int4``, read from the result's constants
    (not from what was asked): weights of that type behind DEQUANTIZE or CAST and MUL
    (``weight-only-*``), or read directly by hybrid kernels (``dynamic-range``: named as
    it is). A Keras 3 weight-only model that the converter folded back to float32 passes
    with a note: its file holds the dequantized weights, nothing quantized."""
    want = to.removeprefix("weight-only-")
    if kind == to:
        ok = True
    elif kind == "dynamic-range":
        weights = {
            t.dtype
            for sg in model.subgraphs
            for t in sg.tensors
            if t.is_constant and t.quantization is not None and t.dtype.startswith(("int", "uint"))
        }
        ok = weights == {want}
        if ok:
            notes.append(
                f"hybrid kernels read the {want} weights directly (dynamic-range): "
                "activations are quantized on the fly, not kept float"
            )
    else:
        ok = False
    layers = settings.get("keras_quantized_layers")
    if layers:
        from tflkit.model import cast_dequantized

        kept = sum(len(cast_dequantized(sg)) for sg in model.subgraphs)
        if kind == "float32":
            ok = True
            notes.append(
                f"the converter folded the int8 kernels of {len(layers)} Keras 3 weight-only "
                "layer(s) back to float32 (it does so for small layers: a 32->32 Dense folds, "
                "32->256 does not): the file holds the dequantized weights, the same function"
            )
        elif ok and kept < len(layers):
            notes.append(
                f"{kept} of {len(layers)} Keras 3 weight-only layers keep int8 kernels; the "
                "converter folded the others back to float32 (small layers)"
            )
    return ok


def _verify(
    data: bytes,
    to: str,
    io: str | None,
    settings: dict[str, Any],
    notes: list[str],
    source: Any,
    eval_x: Any,
    eval_y: Any,
    src: Source | None,
    allow_nonfinite: bool = False,
    *,
    progress: Progress | None = None,
    selection: Selection | None = None,
    reference: bytes | None = None,
) -> Conversion:
    from tflkit.checks import check
    from tflkit.kinds import quantization_kind
    from tflkit.loader import load

    model = load(data)
    kind = quantization_kind(model)
    expected = TARGETS.get(to)
    kept = selection.kept if selection is not None else ()
    if kept and selection is not None:
        kind_ok, text = _kept_out(model, kind, selection)
        if text:
            notes.append(text)
    elif to in TFLITE_ONLY:
        kind_ok = _weight_only_ok(model, kind, to, settings, notes)
    elif io == "float32":  # integer inside, float at the edges: QUANTIZE / DEQUANTIZE
        sg = model.primary
        edges = set(sg.inputs) | set(sg.outputs)
        float_inside = [
            t.name
            for t in sg.tensors
            if not t.is_constant and t.dtype.startswith("float") and t.index not in edges
        ]
        kind_ok = not float_inside and all(
            sg.edge_quantization(i) is not None
            for i in edges
            if sg.tensors[i].dtype.startswith("float")
        )
        if float_inside:
            notes.append(f"float tensors inside the graph: {', '.join(float_inside[:3])}")
    else:
        kind_ok = kind == expected
    report = None
    profile = _PROFILES.get(to)
    if profile is not None:
        # float I/O was asked for: the edges are float on purpose (checked above instead)
        ignore: tuple[str, ...] = (
            ("int8-io-dtype", "no-float-tensors", "int16-activations") if io == "float32" else ()
        )
        if kept:  # the kept operators are float (or int16) on purpose: checked above
            ignore = (*ignore, "no-float-tensors", "int16-activations")
            if kind == "mixed":  # a kept operator at an edge (litert-quantizer's route)
                ignore = (*ignore, "int8-io-dtype")
        report = check(model, profile, allow_uint8_io=(io == "uint8"), ignore=ignore)
    if not kind_ok and not kept:
        notes.append(f"the result is {kind}, not {to}")
        if settings.get("keras_quantized_layers") and to not in TFLITE_ONLY:
            notes.append(
                "the source is a Keras 3 quantized model: to='weight-only-int8' converts an "
                "int8 weight-only one as it is"
            )
    comparison = None
    if eval_x is not None:
        from tflkit.comparison import compare

        if progress is not None:
            progress(0, 0, "evaluating")
        # given: a float .tflite's own bytes, or the selective search's float32 conversion
        if reference is None and src is not None:  # the source loaded once, by convert()
            reference = _convert_tf(src, "float32", None, None, None, None)[0]
            if settings.get("keras_quantized_layers"):
                notes.append(
                    "the float32 conversion of a Keras 3 quantized model keeps its quantized "
                    "kernels: the comparison measures the conversion, not the quantization"
                )
        models: list[Any] = [reference, data]
        names = ["float32", to]
        if kept and selection is not None:  # float32 / plain int8 / the result
            models, names = [reference, selection.plain, data], ["float32", "int8", "selective"]
        if progress is not None:
            progress(0, 2, "evaluating")
        comparison = compare(
            models,
            eval_x,
            eval_y,
            speed=False,
            names=names,
            allow_nonfinite=allow_nonfinite,
        )
        if progress is not None:
            progress(2, 2, "evaluating")
    return Conversion(
        data=data,
        model=model,
        to=to,
        report=report,
        kind_ok=kind_ok,
        kind=kind,
        settings=settings,
        comparison=comparison,
        notes=tuple(notes),
        search=selection.search if selection is not None else None,
        kept_float=kept,
    )


def _kept_out(model: Model, kind: str, selection: Selection) -> tuple[bool, str]:
    """Are exactly the kept operators out of int8? (verdict, a note when not)."""
    from tflkit.kinds import float_operators

    floating = [name for _, name in float_operators(model)]
    if selection.fallback == "float":
        # A graph output keeps its name on the int8 tensor after the QUANTIZE, so the float
        # operator writing it has the name with a digit added ("...:0" -> "...:01").
        def named(kept: str) -> str | None:
            return next((f for f in floating if f == kept), None) or next(
                (f for f in floating if f.startswith(kept) and f[len(kept) :].isdigit()), None
            )

        found = {k: named(k) for k in selection.kept}
        missing = [k for k, f in found.items() if f is None]
        extra = sorted(set(floating) - set(found.values()))
        # "mixed" when a kept operator is at an edge: litert-quantizer then leaves that input
        # or output float
        ok = kind in ("int8-float-islands", "mixed") and not missing and not extra
        if ok:
            return True, ""
        return False, (
            f"the result is {kind}"
            + (f"; float operators not asked for: {', '.join(extra[:3])}" if extra else "")
            + (f"; kept operators not float: {', '.join(missing[:3])}" if missing else "")
        )
    # int16 fallback: no float operator at all; the kept ones compute in int16
    int16 = {
        t.name
        for sg in model.subgraphs
        for t in sg.tensors
        if not t.is_constant and t.dtype == "int16"
    }
    ok = not floating and bool(int16)  # (which ones: the search's steps name them)
    return ok, "" if ok else f"the result is {kind}, expected int8 with int16 operators"

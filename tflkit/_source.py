"""Source models through TensorFlow: Keras models (Keras 3 or tf_keras), .keras / .h5 files
and SavedModels, loaded, described, handed to TFLiteConverter (``tflkit.conversion``) or run on
data (a source as ``compare``'s reference). With ``tflkit.conversion``, the only importers of
TensorFlow and Keras, and only inside functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._files import require_regular
from tflkit.errors import ConversionError, InputError

Array = npt.NDArray[Any]


def is_source_model(model: Any) -> bool:
    """A Keras model, a .keras / .h5 file or a SavedModel directory (not a .tflite)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        return path.endswith((".keras", ".h5", ".hdf5")) or (
            os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb"))
        )
    mro = type(model).__mro__
    return any(c.__name__ in ("Model", "Functional") for c in mro) and any(
        c.__module__.split(".")[0] in ("keras", "tf_keras") for c in mro
    )


def tensorflow() -> Any:
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ConversionError(
            "converting Keras models and SavedModels needs TensorFlow: "
            "pip install 'tflkit[convert]'"
        ) from exc
    return tf


def is_keras_model(obj: Any) -> bool:
    return any(
        c.__module__.split(".")[0] in ("keras", "tf_keras")
        and c.__name__ in ("Model", "Functional")
        for c in type(obj).__mro__
    )


@dataclass
class Source:
    """What the converter is made from, and the inputs it expects (name, shape, dtype)."""

    description: str
    make: Callable[[], Any]  # a new TFLiteConverter
    inputs: list[tuple[str, tuple[int | None, ...], str]]
    settings: dict[str, Any]
    qat: bool = False


def _keras3_quantized(model: Any) -> list[str]:
    """Layers quantized by Keras 3 ``model.quantize`` with quantized activations."""
    names = []
    for layer in getattr(model, "_flatten_layers", lambda: [])():
        if getattr(layer, "quantization_mode", None) and getattr(layer, "inputs_quantizer", None):
            names.append(f"{layer.name} ({layer.quantization_mode})")
    return names


def _is_qat(model: Any) -> bool:
    layers = getattr(model, "_flatten_layers", None)
    found = layers() if layers else getattr(model, "layers", [])
    return any(
        type(layer).__name__ in ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer")
        for layer in found
    )


def _keras_inputs(model: Any) -> list[tuple[str, tuple[int | None, ...], str]]:
    out = []
    for t in model.inputs:
        name = getattr(t, "name", "input").split(":")[0]
        shape = tuple(None if d is None else int(d) for d in t.shape)
        out.append((name, shape, np.dtype(getattr(t.dtype, "name", t.dtype)).name))
    return out


def _from_keras(model: Any, description: str) -> Source:
    quantized = _keras3_quantized(model)
    if quantized:
        raise ConversionError(
            f"{description} was quantized with Keras 3 model.quantize() (layers "
            f"{', '.join(quantized[:3])}{', ...' if len(quantized) > 3 else ''}): TFLiteConverter "
            "cannot lower its int8 ops ('tfl.fully_connected' operand must be float32 or QI8, got "
            "i8). Convert the float model with to='int8': the same per-channel "
            "symmetric int8 weights, plus int8 activations"
        )
    tf = tensorflow()
    return Source(
        description=description,
        make=lambda: tf.lite.TFLiteConverter.from_keras_model(model),
        inputs=_keras_inputs(model),
        settings={"from": "TFLiteConverter.from_keras_model", "source": description},
        qat=_is_qat(model),
    )


def load_source(source: Any) -> Source:
    if is_keras_model(source):
        return _from_keras(source, f"Keras model {getattr(source, 'name', '')!r}".strip())
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "expected a Keras model, a .keras / .h5 file, a SavedModel directory or a float "
            f".tflite, got {type(source).__name__}"
        )
    path = os.fspath(source)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    if not os.path.isdir(path):
        require_regular(path, "model")  # a FIFO would hang TensorFlow's read
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise InputError(f"{path}: a directory without saved_model.pb, expected a SavedModel")
        tf = tensorflow()
        loaded = tf.saved_model.load(path)
        fn = loaded.signatures.get("serving_default")
        if fn is None:
            keys = ", ".join(loaded.signatures) or "none"
            raise InputError(f"{path}: no 'serving_default' signature (signatures: {keys})")
        specs = fn.structured_input_signature[1]
        inputs = [
            (k, tuple(None if d is None else int(d) for d in s.shape), s.dtype.name)
            for k, s in sorted(specs.items())
        ]
        return Source(
            description=path,
            make=lambda: tf.lite.TFLiteConverter.from_saved_model(path),
            inputs=inputs,
            settings={"from": "TFLiteConverter.from_saved_model", "source": path},
        )
    if path.endswith((".keras", ".h5", ".hdf5")):
        tensorflow()
        import keras

        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # Keras raises ValueError, OSError, TypeError...
            raise InputError(f"{path}: cannot load the Keras model: {first_line(exc)}") from exc
        return _from_keras(model, path)
    raise InputError(
        f"{path}: expected a .keras / .h5 file, a SavedModel directory or a float .tflite"
    )


def source_outputs(
    source: Any, x: Mapping[str, Any], output_names: Sequence[str]
) -> dict[str, Array]:
    """A Keras model's or SavedModel's outputs on ``x`` (by the .tflite's input names), named
    as its conversions name them (``compare`` measures the conversions against them).

    Inputs are matched by name, else by position; outputs by name (a SavedModel's signature
    keys are its conversions' names), else by position (a Keras model's ``output_0``, ...).
    """
    tf = tensorflow()
    arrays = [np.asarray(v) for v in x.values()]
    if is_keras_model(source) or os.fspath(source).endswith((".keras", ".h5", ".hdf5")):
        if is_keras_model(source):
            model = source
        else:
            import keras

            require_regular(source, "model")  # a FIFO would hang the read
            model = keras.models.load_model(os.fspath(source), compile=False)
        names = [t.name.split(":")[0] for t in model.inputs]
        feed: Any = [x[n] for n in names] if set(names) <= set(x) else arrays
        result = model(feed[0] if len(feed) == 1 else feed, training=False)
        values = result if isinstance(result, (list, tuple)) else [result]
        if isinstance(result, Mapping):
            values = [result[k] for k in result]
    else:
        fn = tf.saved_model.load(os.fspath(source)).signatures["serving_default"]
        specs = fn.structured_input_signature[1]
        keys = sorted(specs)
        feeds = (
            {k: x[k] for k in keys} if set(keys) <= set(x) else dict(zip(keys, arrays, strict=True))
        )
        out = fn(**{k: tf.constant(v, specs[k].dtype) for k, v in feeds.items()})
        if set(output_names) <= set(out):
            return {k: np.asarray(out[k]) for k in output_names}
        values = [out[k] for k in sorted(out)]
    if len(values) != len(output_names):
        raise InputError(
            f"the source model has {len(values)} outputs, its conversion {len(output_names)}"
        )
    return {k: np.asarray(v) for k, v in zip(output_names, values, strict=True)}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

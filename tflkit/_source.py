"""Source models through TensorFlow: Keras models (Keras 3 or tf_keras), .keras / .h5 files
and SavedModels, loaded, described, handed to TFLiteConverter (``tflkit.conversion``) or run on
data (a source as ``compare``'s reference). With ``tflkit.conversion``, the only importers of
TensorFlow and Keras, and only inside functions.

``open_source`` is the one guard every load goes through: a SavedModel's protobuf is scanned
for ops that reach outside the model (``OUTSIDE_OPS``) and a Keras file's config for layers that
load from outside it, before TensorFlow or Keras reads them, unless ``trust_source``; every
failure to load is one ``InputError`` naming the path.
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


# Ops that reach outside the graph: files, Python, the network. Starts from the denylist of
# `saved_model_cli scan` (TensorFlow 2.21.0, tensorflow/python/tools/saved_model_cli.py,
# _OP_DENYLIST = {WriteFile, ReadFile, PrintV2}: PrintV2's output_stream can be a file://
# path); the rest read or write files named in the graph, call back into Python, or talk to
# other processes over the network (TensorFlow has no op that starts a process). SaveV2,
# RestoreV2 and MergeV2Checkpoints are allowed: every SavedModel with variables holds them in
# its checkpoint functions, which loading does not run (variables are restored from
# variables/ by the loader itself).
SAVED_MODEL_CLI_DENYLIST = frozenset({"WriteFile", "ReadFile", "PrintV2"})
OUTSIDE_OPS = SAVED_MODEL_CLI_DENYLIST | frozenset(
    {
        # files
        "MatchingFiles", "Save", "SaveSlices", "Restore", "RestoreSlice", "ImmutableConst",
        "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "LoadAndRemapMatrix",
        "GenerateVocabRemapping", "DecodeProtoV2", "EncodeProto",
        "TFRecordReader", "TFRecordReaderV2", "TextLineReader", "TextLineReaderV2",
        "WholeFileReader", "WholeFileReaderV2", "FixedLengthRecordReader",
        "FixedLengthRecordReaderV2", "LMDBReader", "TFRecordDataset", "TFRecordDatasetV2",
        "TextLineDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
        "LMDBDataset", "ExperimentalLMDBDataset", "CSVDataset", "CSVDatasetV2",
        "ExperimentalCSVDataset", "SqlDataset", "ExperimentalSqlDataset", "CacheDataset",
        "CacheDatasetV2", "SnapshotDataset", "SnapshotDatasetV2", "SaveDataset",
        "SaveDatasetV2", "LoadDataset", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
        "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary",
        "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary",
        "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent",
        "FlushSummaryWriter", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3",
        "DebugNanCount", "DebugNumericSummary", "DebugNumericSummaryV2",
        # Python
        "PyFunc", "PyFuncStateless", "EagerPyFunc",
        # the network, other processes
        "Rpc", "TryRpc", "RpcClient", "RpcServer", "RpcServerStart", "RpcServerRegister",
        "RpcCall", "RpcCheckStatus", "RpcGetValue", "DataServiceDataset",
        "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4",
        "RegisterDataset", "RegisterDatasetV2", "DistributedSave", "CollectiveReduce",
        "CollectiveReduceV2", "CollectiveReduceV3", "CollectiveGather", "CollectiveGatherV2",
        "CollectiveBcastSend", "CollectiveBcastRecv", "CollectiveBcastSendV2",
        "CollectiveBcastRecvV2", "CollectiveAllToAllV2", "CollectiveAllToAllV3",
        "CollectiveInitializeCommunicator", "GcsConfigureCredentials",
        "GcsConfigureBlockCache",
    }
)  # fmt: skip
# Keras layers that load something from outside the .keras / .h5 file: TFSMLayer loads (and
# runs) a SavedModel from the path in its config, unscanned
OUTSIDE_LAYERS = frozenset({"TFSMLayer"})
_TRUST = "pass trust_source=True to load it anyway (loading a model runs its code)"


def saved_model_ops(path: str) -> set[str]:
    """Every op type in a SavedModel's saved_model.pb (each meta graph's graph and every
    function of its library), read with the protobuf: nothing of it is run."""
    tensorflow()
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(path, "saved_model.pb")
    require_regular(pb, "model")
    with open(pb, "rb") as f:
        data = f.read()
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise InputError(f"{pb}: not a SavedModel protobuf ({first_line(exc)})") from None
    ops: set[str] = set()
    for meta in saved.meta_graphs:
        ops.update(node.op for node in meta.graph_def.node)
        for function in meta.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def scan_saved_model(path: str) -> None:
    """InputError naming the ops of a SavedModel that reach outside the graph (files, Python,
    the network); found by reading its protobuf, before TensorFlow loads or runs anything."""
    found = sorted(saved_model_ops(path) & OUTSIDE_OPS)
    if found:
        raise InputError(
            f"{path}: the SavedModel holds ops that reach outside the model (files, Python or "
            f"the network): {', '.join(found)}; {_TRUST}"
        )


def _keras_config(path: str) -> Any:
    """A .keras or .h5 file's model config (JSON), read without Keras; None if unreadable
    (Keras then says why)."""
    import json
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                info = z.getinfo("config.json")
                if info.file_size > 64 << 20:
                    return None
                return json.loads(z.read(info))
        import h5py  # type: ignore[import-untyped,unused-ignore]

        with h5py.File(path, "r") as f:
            text = f.attrs.get("model_config")
            return json.loads(text) if text is not None else None
    except Exception:  # a broken file: Keras's own load says what is wrong with it
        return None


def _class_names(config: Any) -> set[str]:
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("class_name")
            if isinstance(name, str):
                found.add(name)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def scan_keras_file(path: str) -> None:
    """InputError naming the layers of a .keras / .h5 file that load from outside it."""
    found = sorted(_class_names(_keras_config(path)) & OUTSIDE_LAYERS)
    if found:
        raise InputError(
            f"{path}: the Keras model holds layers that load from outside the file: "
            f"{', '.join(found)}; {_TRUST}"
        )


@dataclass
class Opened:
    """A source model read by ``open_source``: a Keras model, or a loaded SavedModel and its
    ``serving_default`` signature."""

    path: str | None  # None for a Keras model in memory
    keras: Any = None
    signature: Any = None


def open_source(source: Any, *, trust_source: bool = False) -> Opened:
    """Load a source model, every failure one InputError (or ConversionError without
    TensorFlow): the one guard for ``convert`` and ``compare``'s reference.

    A SavedModel's ops are scanned first (``scan_saved_model``), a Keras file's layers too
    (``scan_keras_file``), unless ``trust_source``. Keras files load with ``safe_mode=True``
    whatever ``trust_source`` says: a Lambda layer's Python bytecode is refused.
    """
    if is_keras_model(source):
        return Opened(None, keras=source)
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
        require_regular(
            os.path.join(path, "saved_model.pb"), "model"
        )  # a FIFO would hang TensorFlow
        if not trust_source:
            scan_saved_model(path)
        tf = tensorflow()
        try:
            loaded = tf.saved_model.load(path)
        except Exception as exc:  # OSError, ValueError, tf.errors.*, KeyError from bad protos
            raise InputError(f"{path}: cannot load the SavedModel: {first_line(exc)}") from exc
        fn = getattr(loaded, "signatures", {}).get("serving_default")
        if fn is None:
            keys = ", ".join(getattr(loaded, "signatures", {})) or "none"
            raise InputError(f"{path}: no 'serving_default' signature (signatures: {keys})")
        return Opened(path, signature=fn)
    if path.endswith((".keras", ".h5", ".hdf5")):
        require_regular(path, "model")
        if not trust_source:
            scan_keras_file(path)
        tensorflow()
        import keras

        try:
            model = keras.models.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises ValueError, OSError, TypeError...
            raise InputError(f"{path}: cannot load the Keras model: {first_line(exc)}") from exc
        return Opened(path, keras=model)
    raise InputError(
        f"{path}: expected a .keras / .h5 file, a SavedModel directory or a float .tflite"
    )


def load_source(source: Any, *, trust_source: bool = False) -> Source:
    """What the converter is made from (``open_source``, then the converter's settings)."""
    opened = open_source(source, trust_source=trust_source)
    if opened.keras is not None:
        if opened.path is None:
            description = f"Keras model {getattr(source, 'name', '')!r}".strip()
        else:
            description = opened.path
        return _from_keras(opened.keras, description)
    path = opened.path
    assert path is not None
    tf = tensorflow()
    specs = opened.signature.structured_input_signature[1]
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


def source_outputs(
    source: Any, x: Mapping[str, Any], output_names: Sequence[str], *, trust_source: bool = False
) -> dict[str, Array]:
    """A Keras model's or SavedModel's outputs on ``x`` (by the .tflite's input names), named
    as its conversions name them (``compare`` measures the conversions against them).

    Inputs are matched by name, else by position; outputs by name (a SavedModel's signature
    keys are its conversions' names), else by position (a Keras model's ``output_0``, ...).
    """
    tf = tensorflow()
    opened = open_source(source, trust_source=trust_source)
    arrays = [np.asarray(v) for v in x.values()]
    try:
        if opened.keras is not None:
            model = opened.keras
            names = [t.name.split(":")[0] for t in model.inputs]
            feed: Any = [x[n] for n in names] if set(names) <= set(x) else arrays
            result = model(feed[0] if len(feed) == 1 else feed, training=False)
            values = result if isinstance(result, (list, tuple)) else [result]
            if isinstance(result, Mapping):
                values = [result[k] for k in result]
        else:
            fn = opened.signature
            specs = fn.structured_input_signature[1]
            keys = sorted(specs)
            if set(keys) <= set(x):
                feeds = {k: x[k] for k in keys}
            elif len(keys) == len(arrays):
                feeds = dict(zip(keys, arrays, strict=True))
            else:
                raise InputError(
                    f"the source model takes {len(keys)} inputs ({', '.join(keys)}), "
                    f"the data has {len(arrays)}"
                )
            out = fn(**{k: tf.constant(v, specs[k].dtype) for k, v in feeds.items()})
            if set(output_names) <= set(out):
                return {k: np.asarray(out[k]) for k in output_names}
            values = [out[k] for k in sorted(out)]
    except InputError:
        raise
    except Exception as exc:  # the source's own errors on this data (shapes, dtypes)
        name = opened.path or "the Keras model"
        raise InputError(f"{name}: running it on the data failed: {first_line(exc)}") from exc
    if len(values) != len(output_names):
        raise InputError(
            f"the source model has {len(values)} outputs, its conversion {len(output_names)}"
        )
    return {k: np.asarray(v) for k, v in zip(output_names, values, strict=True)}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

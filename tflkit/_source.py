"""Source models through TensorFlow: Keras models (Keras 3 or tf_keras), .keras / .h5 files
and SavedModels, loaded, described, handed to TFLiteConverter (``tflkit.conversion``) or run on
data (a source as ``compare``'s reference). With ``tflkit.conversion``, the only importers of
TensorFlow and Keras, and only inside functions.

``open_source`` is the one guard every load goes through: a SavedModel's protobuf is scanned
for ops that reach outside the model (``OUTSIDE_OPS``) and a Keras file's config for layers that
load from outside it, before TensorFlow or Keras reads them, unless ``trust_source``; every
failure to load is one ``InputError`` naming the path.

Quantization-aware trained files (tfmot's layers named in a .h5 / .keras config or a
SavedModel's keras_metadata.pb) are loaded with tf_keras under tfmot's ``quantize_scope`` and
convert as the model in memory does; a SavedModel without Keras metadata is QAT when its graph
holds fake-quant ops (``Source.qat``: no calibration needed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._files import open_regular, require_regular
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


def tensorflow(what: str = "converting Keras models and SavedModels") -> Any:
    """The tensorflow module; a ConversionError saying that ``what`` needs it when absent."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ConversionError(f"{what} needs TensorFlow: pip install 'tflkit[convert]'") from exc
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


#: tensorflow-model-optimization's layers: a model (or a file's config) holding one was trained
#: with quantization-aware training and carries its ranges in fake-quant layers
QAT_LAYERS = frozenset({"QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer"})
#: the ops those layers leave in a SavedModel's graph
FAKE_QUANT_OPS = frozenset(
    {"FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "FakeQuantWithMinMaxArgs"}
)
_QAT_INSTALL = (
    "loading it needs tf_keras and tensorflow-model-optimization: pip install 'tflkit[convert]'"
)


def _is_qat(model: Any) -> bool:
    layers = getattr(model, "_flatten_layers", None)
    found = layers() if layers else getattr(model, "layers", [])
    return any(type(layer).__name__ in QAT_LAYERS for layer in found)


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
_QAT_LOAD = "tf_keras.models.load_model under tfmot.quantization.keras.quantize_scope()"
_TRUST = "pass trust_source=True to load it anyway (loading a model runs its code)"


def saved_model_ops(path: str) -> set[str]:
    """Every op type in a SavedModel's saved_model.pb (each meta graph's graph and every
    function of its library), read with the protobuf: nothing of it is run."""
    tensorflow()
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(path, "saved_model.pb")
    with open_regular(pb, "model") as f:
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


def scan_saved_model(path: str, ops: set[str] | None = None) -> None:
    """InputError naming the ops of a SavedModel that reach outside the graph (files, Python,
    the network); found by reading its protobuf (``ops``: already read), before TensorFlow
    loads or runs anything."""
    found = sorted((saved_model_ops(path) if ops is None else ops) & OUTSIDE_OPS)
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


def qat_layers(path: str) -> list[str]:
    """tensorflow-model-optimization's layer classes named in a .keras / .h5 file's config, or
    in a SavedModel's keras_metadata.pb (tf_keras ``model.save(dir)``); read without Keras."""
    if os.path.isdir(path):
        meta = os.path.join(path, "keras_metadata.pb")
        if not os.path.lexists(meta):
            return []
        with open_regular(meta, "model") as f:  # a protobuf: each layer's config as JSON text
            data = f.read(256 << 20)
        return sorted(n for n in QAT_LAYERS if f'"class_name": "{n}"'.encode() in data)
    return sorted(_class_names(_keras_config(path)) & QAT_LAYERS)


def _qat_modules() -> tuple[Any, Any]:
    """tf_keras and tensorflow-model-optimization, imported without changing the process.

    tfmot's import sets ``os.environ["TF_USE_LEGACY_KERAS"] = "1"`` and then reads
    ``tf.keras`` (tensorflow_model_optimization/python/core/keras/compat.py, 0.8.1): a
    ``tf.keras`` not yet resolved would become tf_keras for the rest of the process. It is
    resolved first, under the caller's settings, and the variable put back. tfmot then uses
    tf_keras itself (measured with TensorFlow 2.21: no child process with the variable set is
    needed to load and convert a QAT model).
    """
    tf = tensorflow()
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        getattr(tf.keras, "version", None)
        import tensorflow_model_optimization as tfmot  # type: ignore[import-untyped,unused-ignore]
        import tf_keras  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ConversionError(
            f"a quantization-aware trained model: {_QAT_INSTALL} ({first_line(exc)})"
        ) from None
    finally:
        if before is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = before
    return tf_keras, tfmot


def _keras_file_layers(tf_keras: Any, tfmot: Any) -> dict[str, type]:
    """tfmot 0.8.1's QuantizeLayer and QuantizeWrapperV2, built as when they were saved, for
    tf_keras .keras files (tensorflow/model-optimization PR 1123, open).

    ``model.save("m.keras")`` stores each layer's variables by position. A QuantizeLayer
    deserialized with its ``build_config`` is built twice (5 variables, 3 saved); a wrapper
    from ``quantize_model`` wrapped a built layer and lists its kernel and bias before the
    kernel again (8 saved), one deserialized builds its layer inside (6): both refuse to load.
    Building once, and the wrapped layer first, gives the saved order back.
    """
    with tfmot.quantization.keras.quantize_scope():
        base_layer = tf_keras.utils.get_registered_object("QuantizeLayer")
    base_wrapper = tfmot.quantization.keras.QuantizeWrapperV2

    class QuantizeLayer(base_layer):  # type: ignore[misc,valid-type]
        def build(self, input_shape: Any) -> None:
            if not getattr(self, "built", False):
                super().build(input_shape)
                self.built = True

    class QuantizeWrapperV2(base_wrapper):  # type: ignore[misc,valid-type]
        def build(self, input_shape: Any) -> None:
            if not self.layer.built:
                self.layer.build(input_shape)
            super().build(input_shape)

    return {"QuantizeLayer": QuantizeLayer, "QuantizeWrapperV2": QuantizeWrapperV2}


def load_qat_keras(path: str) -> Any:
    """A quantization-aware trained tf_keras model from a .h5 / .keras file or a SavedModel
    directory: ``tf_keras.models.load_model`` under ``tfmot.quantization.keras.quantize_scope()``
    and in safe mode (a Lambda layer's Python bytecode is refused), every failure one
    InputError naming the path."""
    import contextlib

    tf_keras, tfmot = _qat_modules()
    try:  # .h5 and SavedModels load Lambda bytecode unless safe mode is set around the load
        from tf_keras.src.saving.serialization_lib import (  # type: ignore[import-untyped,unused-ignore]
            SafeModeScope,
        )
    except ImportError as exc:
        raise ConversionError(
            f"{path}: this tf_keras has no safe mode to load a model with: {first_line(exc)}"
        ) from None

    fixes: list[dict[str, type] | None] = [None]
    if not os.path.isdir(path) and zipfile_config(path):
        fixes.insert(0, _keras_file_layers(tf_keras, tfmot))  # then as saved by hand
    first: Exception | None = None
    for fix in fixes:
        with contextlib.ExitStack() as stack:
            stack.enter_context(tfmot.quantization.keras.quantize_scope())
            stack.enter_context(SafeModeScope(True))
            if fix is not None:
                stack.enter_context(tf_keras.utils.custom_object_scope(fix))
            try:
                return tf_keras.models.load_model(path, compile=False)
            except Exception as exc:  # ValueError, OSError, TypeError... from tf_keras
                first = first or exc
    assert first is not None
    raise InputError(
        f"{path}: cannot load the quantization-aware trained model with tf_keras: "
        f"{first_line(first)}"
    ) from first


def zipfile_config(path: str) -> bool:
    """A .keras file (a zip holding config.json), not an HDF5 one."""
    import zipfile

    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


@dataclass
class Opened:
    """A source model read by ``open_source``: a Keras model, or a loaded SavedModel and its
    ``serving_default`` signature."""

    path: str | None  # None for a Keras model in memory
    keras: Any = None
    signature: Any = None
    qat: bool = False  # a quantization-aware trained model (tfmot's layers, fake-quant ops)
    loaded_with: str | None = None  # how a file was loaded, when not the obvious way


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
        ops = saved_model_ops(path)
        if not trust_source:
            scan_saved_model(path, ops)
        if qat_layers(path):  # tf_keras model.save(dir): loaded as its in-memory model
            return Opened(path, keras=load_qat_keras(path), qat=True, loaded_with=_QAT_LOAD)
        tf = tensorflow()
        try:
            loaded = tf.saved_model.load(path)
        except Exception as exc:  # OSError, ValueError, tf.errors.*, KeyError from bad protos
            raise InputError(f"{path}: cannot load the SavedModel: {first_line(exc)}") from exc
        fn = getattr(loaded, "signatures", {}).get("serving_default")
        if fn is None:
            keys = ", ".join(getattr(loaded, "signatures", {})) or "none"
            raise InputError(f"{path}: no 'serving_default' signature (signatures: {keys})")
        return Opened(path, signature=fn, qat=bool(ops & FAKE_QUANT_OPS))
    if path.endswith((".keras", ".h5", ".hdf5")):
        require_regular(path, "model")
        if not trust_source:
            scan_keras_file(path)
        if qat_layers(path):  # Keras 3 cannot read tfmot's layers: tf_keras does
            return Opened(path, keras=load_qat_keras(path), qat=True, loaded_with=_QAT_LOAD)
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
        src = _from_keras(opened.keras, description)
        if opened.loaded_with is not None:
            src.settings["loaded_with"] = opened.loaded_with
        return src
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
        qat=opened.qat,
    )


def source_outputs(
    source: Any, x: Mapping[str, Any], output_names: Sequence[str], *, trust_source: bool = False
) -> dict[str, Array]:
    """A Keras model's or SavedModel's outputs on ``x`` (by the .tflite's input names), named
    as its conversions name them (``compare`` measures the conversions against them).

    Inputs are matched by name, else by position; outputs by name (a SavedModel's signature
    keys are its conversions' names), else by position (a Keras model's ``output_0``, ...).
    """
    tf = tensorflow("running a Keras model or SavedModel as compare's reference")
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

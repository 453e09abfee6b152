"""Assertions on model files for pytest (or any test runner).

Each helper collects every problem before failing and raises one AssertionError listing them
all, so a CI log shows the whole story at once::

    from tflkit.testing import assert_fully_int8, assert_io, assert_ops

    def test_shipped_model_is_fully_int8():
        assert_fully_int8("model_quant_int8.tflite")
        assert_io("model_quant_int8.tflite",
                  inputs=[{"dtype": "int8", "shape": (-1, 32)}],
                  outputs=[{"dtype": "int8", "scale": 1 / 256, "zero_point": -128}])
        assert_ops("model_quant_int8.tflite", forbidden=["CUSTOM", "DEQUANTIZE"])
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tflkit.checks import check
from tflkit.errors import InputError
from tflkit.loader import interpreter_source, resolve
from tflkit.model import Model, ModelLike, Tensor

if TYPE_CHECKING:
    from tflkit.differ import ModelDiff

__all__ = [
    "assert_agrees",
    "assert_fully_int8",
    "assert_io",
    "assert_matches_snapshot",
    "assert_ops",
    "assert_quantization",
    "assert_runs",
    "assert_runs_on",
    "find_model",
    "in_ci",
    "model_snapshot_path",
    "snapshot_diff",
    "snapshot_path",
    "write_snapshot",
]

TensorSpec = Mapping[str, Any]  # any of: dtype, shape, scale, zero_point, name


def _fail(model: Model, what: str, problems: list[str]) -> None:
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise AssertionError(f"{model.name}: {what} ({len(problems)} problems)\n{lines}")


def _close(a: float, b: float, rtol: float) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)


def _compare_tensor(t: Tensor, spec: TensorSpec, where: str, rtol: float) -> list[str]:
    problems = []
    unknown = set(spec) - {"dtype", "shape", "scale", "zero_point", "name"}
    if unknown:
        raise ValueError(
            f"{where}: unknown keys {sorted(unknown)} (use dtype, shape, scale, zero_point)"
        )
    if "dtype" in spec and t.dtype != spec["dtype"]:
        problems.append(f"{where}: dtype is {t.dtype}, expected {spec['dtype']}")
    if "shape" in spec:
        want = tuple(spec["shape"])
        got = t.shape_signature
        ok = len(want) == len(got) and all(
            w is None or w == g for w, g in zip(want, got, strict=True)
        )
        if not ok:
            problems.append(f"{where}: shape is {list(got)}, expected {list(want)}")
    q = t.quantization
    for key in ("scale", "zero_point"):
        if key not in spec:
            continue
        if q is None:
            problems.append(f"{where}: is not quantized, expected {key} {spec[key]}")
            continue
        values = q.scales if key == "scale" else q.zero_points
        if len(values) != 1:
            problems.append(f"{where}: has {len(values)} {key}s (per-channel), expected one")
            continue
        ok = _close(values[0], spec[key], rtol) if key == "scale" else values[0] == spec[key]
        if not ok:
            problems.append(f"{where}: {key} is {values[0]:.9g}, expected {spec[key]:.9g}")
    return problems


def _io_problems(
    model: Model,
    kind: str,
    tensors: tuple[Tensor, ...],
    specs: Sequence[TensorSpec] | Mapping[str, TensorSpec] | None,
    common: TensorSpec,
    rtol: float,
) -> list[str]:
    problems = []
    sig_names = model.signature_names(0, kind)
    label = {t.index: sig_names.get(t.index, t.name) for t in tensors}
    if common:
        for n, t in enumerate(tensors):
            problems += _compare_tensor(t, common, f"{kind} {n} {label[t.index]!r}", rtol)
    if specs is None:
        return problems
    if isinstance(specs, Mapping):
        by_name = {label[t.index]: t for t in tensors} | {t.name: t for t in tensors}
        for name, spec in specs.items():
            found = by_name.get(name)
            if found is None:
                known = ", ".join(repr(label[t.index]) for t in tensors)
                problems.append(f"no {kind} named {name!r} (there are: {known})")
                continue
            problems += _compare_tensor(found, spec, f"{kind} {name!r}", rtol)
        return problems
    if len(specs) != len(tensors):
        problems.append(f"model has {len(tensors)} {kind}s, expected {len(specs)}")
    for n, (t, spec) in enumerate(zip(tensors, specs, strict=False)):  # count checked above
        problems += _compare_tensor(t, spec, f"{kind} {n} {label[t.index]!r}", rtol)
    return problems


def assert_fully_int8(model: ModelLike, *, allow_uint8_io: bool = False) -> None:
    """Assert that the model passes ``tflkit check --profile int8``.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        allow_uint8_io: accept uint8 inputs and outputs.

    Raises:
        AssertionError: listing every violation, each naming its tensor or operator.

    Example:
        >>> assert_fully_int8("mlp_int8.tflite")
    """
    m = resolve(model)
    report = check(m, "int8", allow_uint8_io=allow_uint8_io)
    _fail(m, "is not fully int8", [f"[{f.rule}] {f.message}" for f in report.violations])


def assert_runs_on(
    model: ModelLike,
    target: str,
    *,
    allow_cpu_fallback: bool = False,
    max_arena_bytes: int | None = None,
) -> None:
    """Assert that the model runs on a device: ``tflkit check --target TARGET``, for CI.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        target: ``tflm``, ``ethos-u55``, ``ethos-u65``, ``ethos-u85``, ``edgetpu``, ``gpu`` or
            ``xnnpack``.
        allow_cpu_fallback: with a delegate target, pass when some operators stay on the CPU
            (at least one must reach the target).
        max_arena_bytes: with ``tflm``, the tensor arena the device can give the model.

    Raises:
        AssertionError: listing every operator that does not run on the target, with the
            target's reason, and the arena when it is over ``max_arena_bytes``.

    Example:
        >>> assert_runs_on("kws_int8.tflite", "tflm", max_arena_bytes=64 * 1024)
    """
    m = resolve(model)
    report = check(m, target=target, allow_cpu_fallback=allow_cpu_fallback)
    problems = [f"[{f.rule}] {f.message}" for f in report.violations]
    placed = report.target
    if placed is not None and not report.passed and not problems:
        problems.append(placed.summary)
    if max_arena_bytes is not None:
        memory = placed.memory if placed is not None else None
        if memory is None:
            problems.append(f"{target} has no arena estimate; max_arena_bytes needs tflm")
        elif memory.arena_bytes > max_arena_bytes:
            problems.append(
                f"needs a tensor arena of {memory.arena_bytes:,} bytes, "
                f"more than max_arena_bytes={max_arena_bytes:,}"
            )
    _fail(m, f"does not run on {target}", problems)


def assert_io(
    model: ModelLike,
    *,
    inputs: Sequence[TensorSpec] | Mapping[str, TensorSpec] | None = None,
    outputs: Sequence[TensorSpec] | Mapping[str, TensorSpec] | None = None,
    dtype: str | None = None,
    rtol: float = 1e-6,
) -> None:
    """Assert dtype, shape, scale and zero point of the inputs and outputs of subgraph 0.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        inputs: specs in input order (a list), or by name (a dict; signature or tensor names).
            A spec is a dict with any of ``dtype``, ``shape`` (compared with the shape
            signature: -1 for a dynamic dimension, None for "any"), ``scale``, ``zero_point``.
        outputs: the same for outputs.
        dtype: a dtype every input and output must have.
        rtol: relative tolerance for scales (stored as float32).

    Raises:
        AssertionError: listing every mismatch.

    Example:
        >>> assert_io("m.tflite", dtype="int8", inputs={"keras_tensor": {"shape": (-1, 32)}})
    """
    m = resolve(model)
    common = {"dtype": dtype} if dtype is not None else {}
    problems = _io_problems(m, "input", m.inputs, inputs, common, rtol)
    problems += _io_problems(m, "output", m.outputs, outputs, common, rtol)
    _fail(m, "inputs/outputs differ from what was expected", problems)


def assert_quantization(
    model: ModelLike,
    tensor: str | int,
    *,
    dtype: str | None = None,
    scale: float | Sequence[float] | None = None,
    zero_point: int | Sequence[int] | None = None,
    per_channel: bool | None = None,
    quantized_dimension: int | None = None,
    subgraph: int = 0,
    rtol: float = 1e-6,
) -> None:
    """Assert the quantization of one tensor, by name or index.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        tensor: the tensor's name (or a signature name of an input/output), or its index.
        dtype: expected dtype.
        scale: expected scale, or the list of per-channel scales.
        zero_point: expected zero point, or the list of per-channel zero points.
        per_channel: whether it must be quantized per channel.
        quantized_dimension: expected axis of per-channel quantization.
        subgraph: the subgraph holding the tensor.
        rtol: relative tolerance for scales.

    Raises:
        AssertionError: listing every mismatch.
        KeyError: no such tensor.

    Example:
        >>> assert_quantization("m.tflite", 0, dtype="int8", scale=1 / 255, zero_point=-128)
    """
    m = resolve(model)
    sg = m.subgraphs[subgraph]
    t = _find_tensor(m, subgraph, tensor)
    where = f"subgraph {sg.index} tensor {t.index} {t.name!r}"
    problems = []
    if dtype is not None and t.dtype != dtype:
        problems.append(f"{where}: dtype is {t.dtype}, expected {dtype}")
    q = t.quantization
    if q is None:
        if any(v is not None for v in (scale, zero_point, quantized_dimension)) or per_channel:
            problems.append(f"{where}: is not quantized")
        _fail(m, "quantization differs", problems)
        return
    if per_channel is not None and q.per_channel != per_channel:
        problems.append(
            f"{where}: has {len(q.scales)} scales, expected "
            f"{'per-channel' if per_channel else 'per-tensor'} quantization"
        )
    if quantized_dimension is not None and q.quantized_dimension != quantized_dimension:
        problems.append(
            f"{where}: quantized_dimension is {q.quantized_dimension}, "
            f"expected {quantized_dimension}"
        )
    if scale is not None:
        want_s = [float(scale)] if isinstance(scale, (int, float)) else [float(s) for s in scale]
        if len(want_s) != len(q.scales) or not all(
            _close(a, b, rtol) for a, b in zip(q.scales, want_s, strict=True)
        ):
            problems.append(f"{where}: scales are {_short(q.scales)}, expected {_short(want_s)}")
    if zero_point is not None:
        want_z = [zero_point] if isinstance(zero_point, int) else list(zero_point)
        if list(q.zero_points) != want_z:
            problems.append(
                f"{where}: zero points are {_short(q.zero_points)}, expected {_short(want_z)}"
            )
    _fail(m, "quantization differs", problems)


def _short(values: Iterable[float]) -> str:
    v = list(values)
    text = ", ".join(f"{x:.6g}" for x in v[:4])
    return f"[{text}{', ...' if len(v) > 4 else ''}] ({len(v)})" if len(v) > 1 else f"[{text}]"


def _find_tensor(m: Model, subgraph: int, tensor: str | int) -> Tensor:
    sg = m.subgraphs[subgraph]
    if isinstance(tensor, int):
        if not 0 <= tensor < len(sg.tensors):
            raise KeyError(f"subgraph {subgraph} has no tensor {tensor} (0..{len(sg.tensors) - 1})")
        return sg.tensors[tensor]
    for t in sg.tensors:
        if t.name == tensor:
            return t
    for sig in m.signatures:
        if sig.subgraph_index == subgraph:
            for x in sig.inputs + sig.outputs:
                if x.name == tensor:
                    return sg.tensors[x.tensor_index]
    raise KeyError(f"subgraph {subgraph} has no tensor named {tensor!r}")


def assert_ops(
    model: ModelLike,
    *,
    allowed: Iterable[str] | None = None,
    forbidden: Iterable[str] = (),
) -> None:
    """Assert which operators a model may contain, in every subgraph.

    Names are BuiltinOperator names (``CONV_2D``); a custom op matches ``CUSTOM`` and its custom
    code (``FlexCumprod``); ``FLEX`` matches every Flex op.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        allowed: if given, every operator must match one of these.
        forbidden: no operator may match any of these.

    Raises:
        AssertionError: listing every offending operator.

    Example:
        >>> assert_ops("m.tflite", forbidden=["CUSTOM", "FLEX"])
    """
    m = resolve(model)
    allow = None if allowed is None else set(allowed)
    deny = set(forbidden)
    problems = []
    for sg in m.subgraphs:
        for op in sg.operators:
            names = {op.op}
            if op.is_custom and op.custom_code:
                names.add(op.custom_code)
            if op.is_flex:
                names.add("FLEX")
            where = f"subgraph {sg.index} operator {op.index} ({op.display_name})"
            if names & deny:
                problems.append(f"{where}: is forbidden")
            elif allow is not None and not names & allow:
                problems.append(f"{where}: is not in the allowed list")
    _fail(m, "has operators it should not", problems)


def assert_agrees(
    model: ModelLike,
    reference: ModelLike,
    x: Any = None,
    y: Any = None,
    *,
    min_top1_agreement: float | None = None,
    min_snr_db: float | None = None,
    max_abs_error: float | None = None,
    max_accuracy_drop: float | None = None,
    samples: int | None = None,
    seed: int = 0,
) -> None:
    """Assert that a converted model still computes what its reference computes.

    Runs both with ``tflkit.compare`` (no timing) on ``x``, or on seeded random inputs drawn from
    the quantized input range, and checks every output against the limits given (at least one):
    top-1 agreement (a fraction), signal-to-noise ratio in dB, largest absolute error of the
    dequantized outputs, and, with labels ``y``, the drop in top-1 accuracy (a fraction: 0.01 is
    one percentage point). ``model`` and ``reference`` are each a path (``str`` or
    ``os.PathLike``), bytes, or a ``tflkit.Model``.

    Example::

        assert_agrees("model_int8.tflite", "model_float32.tflite", x_val, y_val,
                      min_top1_agreement=0.99, max_accuracy_drop=0.01)
    """
    from tflkit.comparison import compare

    limits = (min_top1_agreement, min_snr_db, max_abs_error, max_accuracy_drop)
    if all(v is None for v in limits):
        raise ValueError(
            "give at least one limit: min_top1_agreement, min_snr_db, max_abs_error or "
            "max_accuracy_drop"
        )
    if max_accuracy_drop is not None and y is None:
        raise ValueError("max_accuracy_drop needs labels y")
    # compare() runs files or bytes: a Model goes as the path or bytes it was loaded from
    sources = [interpreter_source(resolve(m)) for m in (reference, model)]
    c = compare(sources, x, y, speed=False, samples=samples, seed=seed)
    ref, got = c.models
    problems = []
    for e in got.outputs:
        where = f"output {e.name!r}"
        if min_top1_agreement is not None:
            if e.top1_agreement is None:
                problems.append(f"{where}: no class axis, top-1 agreement does not apply")
            elif e.top1_agreement < min_top1_agreement:
                problems.append(
                    f"{where}: top-1 agreement {e.top1_agreement:.2%} < {min_top1_agreement:.2%}"
                )
        if min_snr_db is not None and not e.snr_db >= min_snr_db:
            problems.append(f"{where}: SNR {e.snr_db:.1f} dB < {min_snr_db:g} dB")
        if max_abs_error is not None and not e.max_abs <= max_abs_error:
            problems.append(f"{where}: max abs error {e.max_abs:.4g} > {max_abs_error:g}")
    if max_accuracy_drop is not None and ref.accuracy is not None and got.accuracy is not None:
        drop = ref.accuracy - got.accuracy
        if drop > max_accuracy_drop:
            problems.append(
                f"top-1 accuracy {got.accuracy:.2%} vs {ref.accuracy:.2%} for {ref.name}: "
                f"a drop of {drop * 100:.2f} points > {max_accuracy_drop * 100:.2f}"
            )
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise AssertionError(
            f"{got.name} does not agree with {ref.name} on {c.samples} samples ({c.data}) "
            f"({len(problems)} problems)\n{lines}"
        )


#: Set to 1 to rewrite snapshots instead of comparing with them (as syrupy's --snapshot-update).
UPDATE_SNAPSHOTS = "TFLKIT_UPDATE_SNAPSHOTS"

#: Set (to anything but ``""``, ``0``, ``false`` or ``no``) by CI services (GitHub Actions,
#: GitLab, CircleCI, Travis...): a missing snapshot then fails instead of being written.
CI = "CI"

#: The folder beside a test file that holds its snapshots (as syrupy's).
SNAPSHOT_DIR = "__snapshots__"


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the tests run in CI: the ``CI`` environment variable is set to anything but
    ``""``, ``0``, ``false`` or ``no`` (in any case).

    In CI a missing snapshot fails the test instead of being written: a mistyped snapshot path
    would otherwise be written afresh on every run and pass for ever (syrupy does the same).

    Example:
        >>> in_ci({"CI": "true"}), in_ci({"CI": "0"}), in_ci({})
        (True, False, False)
    """
    value = (os.environ if environ is None else environ).get(CI, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def find_model(
    name: str | os.PathLike[str],
    *,
    test_file: str | os.PathLike[str] | None = None,
    model_dirs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Where a test's model is: the one way the pytest plugin resolves model names.

    An absolute path is taken as it is. A relative one is looked for in the directory of
    ``test_file``, then in each of ``model_dirs`` in order; the first that exists wins. The
    working directory is never searched, so a test finds the same file from wherever pytest
    runs (a relative name resolved against the working directory picks up whatever file of
    that name lies there).

    Args:
        name: the model's file name or relative path (``"mlp_int8.tflite"``,
            ``"models/kws.tflite"``), or an absolute path.
        test_file: the test module asking (its directory is searched first).
        model_dirs: more directories to search (the plugin's ``--tflkit-model-dir``).

    Returns:
        The model's absolute path.

    Raises:
        InputError: no such file in any of those directories (the message lists them).

    Example:
        >>> find_model("mlp_int8.tflite", test_file=__file__, model_dirs=["fixtures"])
    """
    path = Path(name)
    if path.is_absolute():
        if not os.path.lexists(path):
            raise InputError(f"model {os.fspath(name)!r} not found")
        return path
    dirs = [Path(test_file).resolve().parent] if test_file is not None else []
    dirs += [Path(d).resolve() for d in model_dirs]
    for d in dirs:
        if os.path.lexists(d / path):
            return d / path
    where = ", ".join(str(d) for d in dirs) or "nowhere (no test file, no model directory)"
    raise InputError(f"model {os.fspath(name)!r} not found; looked in {where}")


def snapshot_path(
    test_file: str | os.PathLike[str], test_name: str, name: str | None = None
) -> Path:
    """The snapshot file of a test: ``<test dir>/__snapshots__/<module>/<test>[.<name>].json``.

    ``test_name`` is pytest's name of the test (``test_x`` or ``test_x[param]``); characters a
    file name cannot hold on every system (``/ \\ : * ? " < > |``, control characters) become
    ``_``. ``name`` tells several snapshots of one test apart.

    Raises:
        ValueError: ``name`` is empty.

    Example:
        >>> snapshot_path("/repo/tests/test_models.py", "test_kws[int8]")
        PosixPath('/repo/tests/__snapshots__/test_models/test_kws[int8].json')
    """
    import re

    test = Path(test_file)
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", test_name)
    if name is not None:
        if not name:
            raise ValueError("name='': a snapshot name is not empty")
        stem += "." + re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name)
    return test.resolve().parent / SNAPSHOT_DIR / test.stem / f"{stem}.json"


def model_snapshot_path(
    model: str | os.PathLike[str], snapshot_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The snapshot of a model file outside tests (``tflkit snapshot``, the pre-commit hook):
    ``<model dir>/__snapshots__/<model stem>.json``, or ``<snapshot_dir>/<model stem>.json``.

    Example:
        >>> model_snapshot_path("models/kws.tflite")
        PosixPath('models/__snapshots__/kws.json')
    """
    path = Path(model)
    folder = path.parent / SNAPSHOT_DIR if snapshot_dir is None else Path(snapshot_dir)
    return folder / f"{path.stem}.json"


def _snapshot_text(value: Any, indent: str = "") -> str:
    """JSON, one key a line, lists of numbers on one line (per-channel scales stay short)."""
    import json

    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_snapshot_text(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [inner + _snapshot_text(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    text = json.dumps(value)
    if isinstance(value, list) and len(text) > 96:  # long lists of numbers: a few a line
        rows, row = [], []
        for v in value:
            row.append(json.dumps(v))
            if len(", ".join(row)) > 80:
                rows.append(", ".join(row))
                row = []
        rows += [", ".join(row)] if row else []
        return "[\n" + ",\n".join(inner + r for r in rows) + "\n" + indent + "]"
    return text


def write_snapshot(
    model: ModelLike,
    path: str | os.PathLike[str],
    facts: dict[str, Any] | None = None,
    *,
    force: bool = False,
) -> Path:
    """Write a model's contract as a snapshot file (what ``tflkit snapshot MODEL -o FILE`` does).

    The contract is what ``tflkit.differ.contract`` returns: signatures and their inputs and
    outputs with quantization, the quantization kind, the int8 verdict, op counts per version
    and every tensor's dtype, shape and quantization; no weights.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        path: the JSON file to write (written to a temporary name, then renamed).
        facts: the model's contract when the caller has it already (``contract(model)``).
        force: replace ``path`` whatever it holds. Without it an existing snapshot of the
            same model is replaced, but a snapshot of another model, or a file that is not a
            snapshot, is not.

    Returns:
        The path written.

    Raises:
        InputError: ``path`` holds a snapshot of another model or another file (without
            ``force``), or is not a regular file (a device, FIFO or directory is never
            replaced).

    Example:
        >>> write_snapshot("mlp_int8.tflite", "tests/snapshots/mlp_int8.json")
    """
    from tflkit._files import atomic_write, require_writable
    from tflkit.differ import contract

    target = Path(path)
    m = resolve(model)
    if target.parent.is_dir():  # else made below: checked before the contract is worked out
        require_writable(target)
    if not force:
        _require_replaceable(target, m.name)
    text = _snapshot_text(facts if facts is not None else contract(m)) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    atomic_write(target, lambda f: f.writelines([data]))
    return target


def _require_replaceable(target: Path, model_name: str) -> None:
    """InputError when ``target`` holds anything but a snapshot of ``model_name``."""
    if not os.path.lexists(target):
        return
    try:
        stored: Any = _read_snapshot(target)
    except AssertionError:  # unreadable, not JSON, a dangling symlink, a FIFO: not a snapshot
        stored = None
    if not isinstance(stored, dict) or "tflkit_contract" not in stored:
        raise InputError(
            f"{target} exists and is not a tflkit snapshot; pass force=True to replace it"
        )
    if stored.get("model") != model_name:
        raise InputError(
            f"{target} is the snapshot of another model ({stored.get('model')!r}, not "
            f"{model_name!r}); pass force=True to replace it"
        )


def assert_matches_snapshot(
    model: ModelLike,
    snapshot_path: str | os.PathLike[str],
    *,
    rtol: float = 1e-6,
    update: bool | None = None,
    ci: bool | None = None,
) -> str:
    """Assert that a model still has the contract stored in a snapshot file, for CI.

    The first run writes the snapshot (and says so on stderr); later runs compare the model
    with it and fail with the diff (``tflkit diff``'s lines) when they differ. With
    ``update=True``, or the environment variable ``TFLKIT_UPDATE_SNAPSHOTS=1``, the snapshot
    is rewritten instead, as syrupy's ``--snapshot-update`` and insta's ``INSTA_UPDATE`` do.
    In CI (the ``CI`` environment variable set, see ``in_ci``) a missing snapshot fails
    instead of being written, unless an update is asked for. A relative ``snapshot_path`` is
    taken from the directory of the calling file (the test), else from the working
    directory; a relative model path from the working directory, as everywhere in tflkit
    (the pytest plugin's fixtures resolve both from the test's directory).

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        snapshot_path: the snapshot's JSON file (commit it next to the test).
        rtol: relative tolerance for scales.
        update: rewrite the snapshot (default: from ``TFLKIT_UPDATE_SNAPSHOTS``).
        ci: fail when the snapshot is missing instead of writing it (default: ``in_ci()``).

    Returns:
        ``"written"``, ``"updated"`` or ``"matched"``.

    Raises:
        AssertionError: the snapshot is missing in CI; the model differs from the snapshot,
            listing every change; or the snapshot is malformed (not a file, not UTF-8 JSON,
            sections missing or of another type), naming the file and what is wrong.

    Example:
        >>> assert_matches_snapshot("mlp_int8.tflite", "snapshots/mlp_int8.json")
        'matched'
    """
    import sys

    path = Path(snapshot_path)
    if not path.is_absolute():
        caller = sys._getframe(1).f_globals.get("__file__")
        if caller:
            path = Path(caller).resolve().parent / path
    if update is None:
        update = os.environ.get(UPDATE_SNAPSHOTS, "") not in ("", "0")
    m = resolve(model)
    if not update and not os.path.lexists(path) and (in_ci() if ci is None else ci):
        raise AssertionError(
            f"{path}: no such snapshot, and snapshots are not written in CI ({CI} is set): "
            f"write it where the tests run by hand (a first run, or {UPDATE_SNAPSHOTS}=1) "
            "and commit it"
        )
    if update or not os.path.lexists(path):
        existed = os.path.lexists(path)
        write_snapshot(m, path, force=True)
        sys.stderr.write(f"tflkit: {'updated' if existed else 'wrote'} snapshot {path}\n")
        return "updated" if existed else "written"
    d, lines = _snapshot_changes(m, path, rtol)
    if not d.same:
        raise AssertionError(
            f"{m.name} no longer matches snapshot {path}: {d.summary}\n{lines}\n"
            f"(if the change is intended: {UPDATE_SNAPSHOTS}=1 pytest ... rewrites it)"
        )
    return "matched"


def snapshot_diff(
    model: ModelLike, snapshot_path: str | os.PathLike[str], *, rtol: float = 1e-6
) -> ModelDiff:
    """What changed from the contract stored in a snapshot file to the model now.

    What ``assert_matches_snapshot`` compares, without failing on a difference (``tflkit
    snapshot --check`` and the ``tflkit-snapshot`` pre-commit hook use it). A relative
    ``snapshot_path`` is taken from the working directory.

    Args:
        model: a path (``str`` or ``os.PathLike``), bytes, or a ``tflkit.Model``.
        snapshot_path: the snapshot's JSON file.
        rtol: relative tolerance for scales.

    Returns:
        A ``ModelDiff`` from the snapshot (old) to the model (new): ``d.same`` when they agree.

    Raises:
        AssertionError: the snapshot is missing or malformed (as ``assert_matches_snapshot``).

    Example:
        >>> snapshot_diff("models/kws.tflite", "models/__snapshots__/kws.json").same
        True
    """
    return _snapshot_changes(resolve(model), Path(snapshot_path), rtol)[0]


def _snapshot_changes(m: Model, path: Path, rtol: float) -> tuple[ModelDiff, str]:
    """The diff from the snapshot to ``m`` and its lines; AssertionError naming the file when
    the snapshot cannot be read as one."""
    from tflkit.differ import CONTRACT_VERSION, contract, diff_contracts
    from tflkit.render.diff import change_line

    stored = _read_snapshot(path)
    if stored.get("tflkit_contract") != CONTRACT_VERSION:
        raise AssertionError(
            f"{path}: not a tflkit snapshot of version {CONTRACT_VERSION}; "
            f"rewrite it with {UPDATE_SNAPSHOTS}=1"
        )
    facts = contract(m)
    _check_snapshot_shape(path, stored, facts)
    try:  # a snapshot edited by hand can still hold what the diff cannot read
        d = diff_contracts(stored, facts, rtol=rtol)
        lines = "\n".join(change_line(c, width=100) for c in d.changes)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        raise AssertionError(
            f"{path}: malformed snapshot ({_exception_text(exc)}); "
            f"rewrite it with {UPDATE_SNAPSHOTS}=1"
        ) from None
    return d, lines


def _exception_text(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, KeyError):
        return f"missing key {exc}"
    return f"{type(exc).__name__}: {exc}"


def _read_snapshot(path: Path) -> dict[str, Any]:
    """A snapshot file's JSON object; anything else one AssertionError naming the file (a
    test fails, it does not crash with a JSONDecodeError from inside tflkit)."""
    import json

    from tflkit._files import require_regular

    def bad(what: str) -> AssertionError:
        return AssertionError(
            f"{path}: malformed snapshot ({what}); rewrite it with {UPDATE_SNAPSHOTS}=1"
        )

    try:
        require_regular(path, "snapshot")  # a FIFO would hang the read, a device never ends
        data = path.read_bytes()
    except InputError as exc:
        raise AssertionError(str(exc)) from None
    except OSError as exc:
        raise AssertionError(f"{path}: cannot read the snapshot: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8: byte {exc.start}") from None
    if not text.strip():
        raise bad("the file is empty")
    try:
        stored = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise bad("nested too deeply") from None
    if not isinstance(stored, dict):
        raise bad(f"expected a JSON object, got {type(stored).__name__}")
    return stored


def _check_snapshot_shape(path: Path, stored: dict[str, Any], facts: dict[str, Any]) -> None:
    """Every section a contract has, of the JSON type it has (the snapshot's own values are
    the diff's to judge): one AssertionError listing what is missing or of another type."""
    problems = []
    for key, value in facts.items():
        if key not in stored:
            problems.append(f"missing key {key!r}")
        elif _json_type(stored[key]) != _json_type(value):
            problems.append(f"{key!r} is {_json_type(stored[key])}, expected {_json_type(value)}")
    if problems:
        raise AssertionError(
            f"{path}: malformed snapshot ({'; '.join(problems)}); "
            f"rewrite it with {UPDATE_SNAPSHOTS}=1"
        )


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (true and 1 told apart)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    names = {str: "a string", list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------- runs without crashing the tests


def assert_runs(model: ModelLike, inputs: Any = None) -> Any:
    """Open, allocate and invoke the model once in a child process; fail the test cleanly when
    the runtime crashes on it or refuses it, instead of taking the test process down.

    Args:
        model: a path, bytes or a ``tflkit.Model``.
        inputs: what ``Runner.predict`` takes; None: one seeded random sample per input (a
            model without a batch axis: its inputs at their own shapes).

    Returns:
        The outputs, as ``Runner.predict`` gives them.

    Raises:
        AssertionError: the runtime crashed (``"m.tflite: the runtime crashed (SIGABRT)
            during allocate"``), could not run the model, or the inputs do not fit it.

    Example:
        >>> assert_runs("model_from_the_vendor.tflite")
    """
    from tflkit._inputs import random_inputs
    from tflkit.errors import TflkitError
    from tflkit.runner import Runner

    try:
        with Runner(model, isolated=True) as runner:
            if inputs is None:
                inputs, _ = random_inputs(
                    runner.inputs, runner.input_names, 1, batch_axis=runner.batch_axis
                )
            return runner.predict(inputs)
    except TflkitError as exc:
        raise AssertionError(str(exc)) from None

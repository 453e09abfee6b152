"""Bad array files and bad arrays (issue 20, item 2): the one loader (``tflkit._arrays``), the
finite-data checks, empty data, and what ``Runner.predict`` takes.

Every bad file is made here by hand in ``tmp_path`` (a real file cut at chosen offsets, a header
written with ``numpy.lib.format`` that claims more than the file holds, arrays numpy saves but
tflkit must refuse). The truth is the file itself: each must give one ``InputError`` naming it,
through the loader, the Python API and the command line (exit 2, one line, no traceback).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Cli, fixture_path

import tflkit
from tflkit._arrays import nonfinite_text, read_arrays, require_finite, require_samples
from tflkit.comparison import compare_files
from tflkit.errors import InputError, NonFiniteWarning

F32 = fixture_path("mlp_float32.tflite")
INT8 = fixture_path("mlp_int8.tflite")
X = np.load(fixture_path("mlp_eval_x.npy"))  # (500, 32) float32: the models' input
HUGE = (100_000_000_000, 32)  # 12.8 TB of float32


def huge_header(f: io.BufferedIOBase | io.BytesIO, tail: int = 16) -> None:
    """A version 1.0 .npy header declaring float32 ``HUGE``, then ``tail`` bytes of data."""
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": HUGE})
    f.write(b"\0" * tail)


def _good_npy(p: Path) -> None:
    np.save(p, X[:4])


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# name -> (how the file is made, what the message says besides the file's name)
BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty.npy": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "huge.npy": (
        lambda p: huge_header(p.open("wb")),  # type: ignore[arg-type]
        "declares float32 (100000000000, 32)",
    ),
    "bad_header.npy": (
        lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4}  \n"),
        "not a .npy array numpy can read",
    ),
    "text.npy": (lambda p: p.write_bytes(b"0.5,0.25\n1,2\n"), "not a .npy or .npz file"),
    "object.npy": (
        lambda p: np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
        "pickled object array",
    ),
    "strings.npy": (lambda p: np.save(p, np.array([["0.5"] * 32])), "strings (<U3), not numbers"),
    "bytes.npy": (lambda p: np.save(p, np.array([[b"1"] * 32])), "strings (|S1), not numbers"),
    "complex.npy": (
        lambda p: np.save(p, X[:4].astype(np.complex64)),
        "complex64 values: the imaginary part would be lost",
    ),
    "structured.npy": (
        lambda p: np.save(p, np.zeros(4, dtype=[("a", "<f4"), ("b", "<i4")])),
        "structured records",
    ),
    "void.npy": (lambda p: np.save(p, np.zeros(4, dtype="V8")), "raw bytes (|V8)"),
    "dates.npy": (lambda p: np.save(p, np.zeros(4, dtype="M8[s]")), "datetime64[s] values"),
    "truncated.npz": (
        lambda p: p.write_bytes(_npz_bytes(x=X[:8])[:300]),
        "not a .npz archive numpy can read",
    ),
    "object_member.npz": (
        lambda p: np.savez(p, x=X[:4], extra=np.array([None, 1], dtype=object)),
        "array 'extra': a pickled object array",
    ),
    "complex_member.npz": (
        lambda p: np.savez(p, x=X[:4].astype(np.complex128)),
        "array 'x': complex128 values",
    ),
    "huge_member.npz": (lambda p: _huge_npz(p), "array 'x': the header declares float32"),
    "not_npy_member.npz": (lambda p: _zip_with(p, "notes.txt", b"hello"), "'notes.txt'"),
    "not_parquet.parquet": (lambda p: p.write_bytes(b"PAR1 not really"), ".parquet"),
}


def _huge_npz(p: Path) -> None:
    member = io.BytesIO()
    huge_header(member, tail=8)
    _zip_with(p, "x.npy", member.getvalue())


def _zip_with(p: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(name, data)


def make(tmp_path: Path, name: str) -> tuple[Path, str]:
    build, says = BAD[name]
    path = tmp_path / name
    build(path)
    return path, says


def one_error_line(stderr: str, *parts: str) -> None:
    lines = [line for line in stderr.splitlines() if not line.startswith("INFO:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tflkit: error: "), stderr
    assert "Traceback" not in stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


# ---------------------------------------------------------------- the loader


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_bad_file_is_one_input_error_naming_it(tmp_path: Path, name: str) -> None:
    path, says = make(tmp_path, name)
    with pytest.raises(InputError) as caught:
        read_arrays(path)
    assert str(path) in str(caught.value)
    if not name.endswith(".parquet"):  # pyarrow's reason, or that pyarrow is missing
        assert says in str(caught.value)


def test_a_huge_header_is_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    path, _ = make(tmp_path, "huge.npy")
    with pytest.raises(InputError, match=r"12,800,000,000,000 bytes\), the file holds 16 bytes"):
        read_arrays(path)
    assert path.stat().st_size < 200  # what numpy would have been asked to allocate: 12.8 TB


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.3, 0.5, 0.7, 0.99])
def test_npy_cut_anywhere_is_an_input_error(tmp_path: Path, fraction: float) -> None:
    good = tmp_path / "good.npy"
    _good_npy(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(data[: max(1, int(len(data) * fraction))])
    with pytest.raises(InputError, match="cut.npy"):
        read_arrays(cut)


@pytest.mark.parametrize("fraction", [0.01, 0.2, 0.5, 0.8, 0.99])
@pytest.mark.parametrize("compressed", [False, True])
def test_npz_cut_anywhere_is_an_input_error(
    tmp_path: Path, fraction: float, compressed: bool
) -> None:
    good = tmp_path / "good.npz"
    (np.savez_compressed if compressed else np.savez)(good, x=X[:16], y=np.arange(16))
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError, match="cut.npz"):
        read_arrays(cut)


def test_a_corrupted_npz_member_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "flipped.npz"
    data = bytearray(_npz_bytes(x=X[:16]))
    data[200] ^= 0xFF  # inside the stored member: its CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="flipped.npz"):
        read_arrays(path)


def test_good_files_read_as_saved(tmp_path: Path) -> None:
    a = X[:5]
    cases = {
        "c.npy": a,
        "f.npy": np.asfortranarray(a),
        "be.npy": a.astype(">f4"),
        "b.npy": a > 0,
        "i.npy": np.arange(10, dtype=np.int16),
        "h.npy": a.astype(np.float16),
        "s.npy": np.float32(2.5),
        "e.npy": np.zeros((0, 32), np.float32),  # read; refused later, where samples matter
    }
    for name, want in cases.items():
        np.save(tmp_path / name, want)
        got = read_arrays(tmp_path / name)
        assert isinstance(got, np.ndarray)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.asarray(want).dtype
    np.savez(tmp_path / "p.npz", x=a, y=np.arange(5))
    np.savez_compressed(tmp_path / "z.npz", a, np.arange(5))
    for name, keys in (("p.npz", ("x", "y")), ("z.npz", ("arr_0", "arr_1"))):
        got = read_arrays(tmp_path / name)
        assert isinstance(got, dict) and tuple(got) == keys
        np.testing.assert_array_equal(got[keys[0]], a)
        np.testing.assert_array_equal(got[keys[1]], np.arange(5))


def test_parquet_of_strings_is_refused_naming_the_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"x": pa.array(["a", "b"])}), path)
    with pytest.raises(InputError, match=r"s.parquet: column 'x': Python objects"):
        read_arrays(path)


def test_what_is_not_a_regular_file_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    with pytest.raises(
        InputError, match=r"fifo.npy is a named pipe \(FIFO\), expected a regular file"
    ):
        read_arrays(fifo)
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(InputError, match=r"dir.npy is a directory, expected a regular file"):
        read_arrays(tmp_path / "dir.npy")


# ---------------------------------------------------------------- the Python API


@pytest.mark.parametrize("name", sorted(BAD))
def test_run_and_compare_name_the_bad_file(tmp_path: Path, name: str) -> None:
    path, _ = make(tmp_path, name)
    with pytest.raises(InputError, match=name):
        tflkit.run(F32, path)
    with pytest.raises(InputError, match=name):
        compare_files([F32, INT8], path, speed=False)


@pytest.mark.parametrize("name", ["empty.npy", "huge.npy", "object_member.npz", "complex.npy"])
def test_convert_names_the_bad_calibration_and_eval_file(tmp_path: Path, name: str) -> None:
    path, _ = make(tmp_path, name)
    with pytest.raises(InputError, match=name):
        tflkit.convert(F32, "int8", calibration=path)
    with pytest.raises(InputError, match=name):
        tflkit.convert(F32, "dynamic-range", eval_x=path)


@pytest.mark.parametrize("name", ["empty.npy", "truncated.npz", "strings.npy"])
def test_labels_and_reference_outputs_name_the_bad_file(tmp_path: Path, name: str) -> None:
    path, _ = make(tmp_path, name)
    with pytest.raises(InputError, match=name):
        compare_files([F32, INT8], fixture_path("mlp_eval_x.npy"), path, speed=False)
    with pytest.raises(InputError, match=name):
        tflkit.compare([F32, INT8], X[:8], speed=False, reference_outputs=path)


def test_a_bad_shard_among_good_ones_is_named(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "a.npy", X[:10])
    huge_header((shards / "b.npy").open("wb"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="b.npy: the header declares"):
        tflkit.compare_stream([F32, INT8], shards, speed=False)
    with pytest.raises(InputError, match="b.npy: the header declares"):
        tflkit.run(F32, shards)


# ---------------------------------------------------------------- NaN and inf


def nonfinite_x() -> np.ndarray:
    """X with NaN at (12, 4), (40, 0), (41, 31) and inf at (30, 2), -inf at (499, 0)."""
    x = X.copy()
    for i, j in ((12, 4), (40, 0), (41, 31)):
        x[i, j] = np.nan
    x[30, 2], x[499, 0] = np.inf, -np.inf
    return x


def test_require_finite_counts_and_the_first_index() -> None:
    x = nonfinite_x()
    assert nonfinite_text(x) == "3 NaN and 2 inf values, the first at index (12, 4)"
    with pytest.raises(InputError) as caught:
        require_finite(x, "calibration data 'x.npy'")
    assert str(caught.value) == (
        "calibration data 'x.npy': 3 NaN and 2 inf values, the first at index (12, 4); "
        "pass allow_nonfinite=True to use them anyway"
    )
    require_finite(x, "data", allow_nonfinite=True)
    require_finite(X, "data")
    require_finite(np.arange(10), "data")  # integers are always finite
    assert nonfinite_text(np.array([1.0, np.inf])) == "1 inf value, the first at index (1,)"
    with pytest.raises(InputError, match=r"^data, input 'b': 1 NaN value, the first at index"):
        require_finite({"a": X, "b": np.array([[np.nan]])}, "data")


def test_compare_refuses_nonfinite_data_and_labels_unless_allowed(tmp_path: Path) -> None:
    x = nonfinite_x()
    with pytest.raises(InputError, match=r"3 NaN and 2 inf values, the first at index \(12, 4\)"):
        tflkit.compare([F32, INT8], x, speed=False)
    c = tflkit.compare([F32, INT8], x, speed=False, allow_nonfinite=True)
    assert c.samples == 500
    labels = np.eye(10, dtype=np.float32)[np.arange(500) % 10]
    labels[7, 3] = np.nan
    with pytest.raises(InputError, match=r"labels \(y\): 1 NaN value, the first at index \(7, 3\)"):
        tflkit.compare([F32, INT8], X, labels, speed=False)
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(InputError, match="data '.*nan.npy'"):
        compare_files([F32, INT8], tmp_path / "nan.npy", speed=False)
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "a.npy", X[:20])
    np.save(shards / "b.npy", x[:20])
    with pytest.raises(InputError, match=r"b.npy'.*1 NaN value, the first at index \(12, 4\)"):
        tflkit.compare_stream([F32, INT8], shards, speed=False)
    assert (
        tflkit.compare_stream([F32, INT8], shards, speed=False, allow_nonfinite=True).samples == 40
    )


def test_convert_refuses_nonfinite_calibration_and_eval(tmp_path: Path) -> None:
    x = nonfinite_x()
    with pytest.raises(InputError, match=r"calibration data \(calibration\).*3 NaN and 2 inf"):
        tflkit.convert(F32, "int8", calibration=x)
    # only the samples fed are checked: the first 12 hold no NaN
    assert tflkit.convert(F32, "int8", calibration=x, samples=12).kind == "int8"
    # inf crashes TensorFlow's converter: refused even when non-finite data is allowed
    with pytest.raises(InputError, match=r"2 inf values, the first at index \(30, 2\): the conv"):
        tflkit.convert(F32, "int8", calibration=x, allow_nonfinite=True)
    np.save(tmp_path / "eval.npy", x)
    with pytest.raises(InputError, match=r"evaluation data '.*eval.npy'.*3 NaN and 2 inf"):
        tflkit.convert(F32, "dynamic-range", eval_x=tmp_path / "eval.npy")


def test_run_runs_nonfinite_inputs_and_warns_with_counts() -> None:
    x = nonfinite_x()
    with pytest.warns(NonFiniteWarning, match=r"3 NaN and 2 inf values, the first at index"):
        result = tflkit.run(F32, x)
    assert result.samples == 500
    assert result.arrays is not None
    assert np.isnan(result.arrays[next(iter(result.arrays))][12]).any()  # run as they are


# ---------------------------------------------------------------- empty data


def test_empty_data_is_a_usage_error(tmp_path: Path) -> None:
    empty = np.zeros((0, 32), np.float32)
    with pytest.raises(InputError, match=r"no samples \(input 'keras_tensor' of shape \(0, 32\)\)"):
        tflkit.compare([F32, INT8], empty, speed=False)
    with pytest.raises(InputError, match=r"^inputs: no samples \(shape \(0, 32\)\)"):
        tflkit.run(F32, empty)
    with pytest.raises(InputError, match=r"calibration data \(calibration\): no samples"):
        tflkit.convert(F32, "int8", calibration=empty)
    with pytest.raises(InputError, match=r"evaluation data \(eval_x\): no samples"):
        tflkit.convert(F32, "dynamic-range", eval_x=empty)
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "a.npy", empty)
    with pytest.raises(InputError, match="no samples"):
        tflkit.compare_stream([F32, INT8], shards, speed=False)
    with pytest.raises(InputError, match="no samples"):
        tflkit.run(F32, shards)


def test_require_samples_says_what_came() -> None:
    require_samples(1, "data")
    with pytest.raises(InputError, match=r"^data 'x.npy': no samples \(shape \(0, 8\)\)"):
        require_samples(0, "data 'x.npy'", np.zeros((0, 8)))


# ---------------------------------------------------------------- Runner


@pytest.mark.parametrize("model", [F32, INT8])
def test_predict_refuses_ragged_object_and_complex_input(model: Path) -> None:
    r = tflkit.Runner(model)
    with pytest.raises(InputError, match="ragged"):
        r.predict([[0.0] * 32, [0.0] * 31])
    with pytest.raises(InputError, match="ragged"):
        r.predict([np.zeros(32), np.zeros(31)])
    with pytest.raises(InputError, match=r"Python objects \(dtype object\)"):
        r.predict(np.array([[object()] * 32]))
    with pytest.raises(InputError, match="complex128 values: the imaginary part would be lost"):
        r.predict(np.zeros((2, 32), np.complex128))
    with pytest.raises(InputError, match="strings"):
        r.predict({"keras_tensor": np.array([["1"] * 32])})


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_runner_num_threads_is_checked_before_the_runtime(
    threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tflkit.runner

    def no_runtime(*args: object, **kwargs: object) -> None:
        raise AssertionError("the runtime was opened")

    monkeypatch.setattr(tflkit.runner, "Session", no_runtime)
    with pytest.raises(ValueError, match=r"num_threads must be") as caught:
        tflkit.Runner(F32, num_threads=threads)  # type: ignore[arg-type]
    assert isinstance(caught.value, InputError)


def test_runner_num_threads_takes_numpy_integers() -> None:
    r = tflkit.Runner(F32, num_threads=np.int64(2))  # type: ignore[arg-type]
    assert r.num_threads == 2 and type(r.num_threads) is int
    assert r.predict(X[:2]).shape == (2, 10)


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("name", sorted(BAD))
def test_cli_run_on_a_bad_file(cli: Cli, tmp_path: Path, name: str) -> None:
    path, says = make(tmp_path, name)
    out = tmp_path / "out.npz"
    r = cli.invoke("run", F32, "-i", path, "-o", out)
    assert r.exit_code == 2, r.output
    one_error_line(r.stderr, name, "" if name.endswith(".parquet") else says)
    assert r.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("name", ["empty.npy", "huge.npy"])
def test_cli_bad_file_in_a_child_process(cli: Cli, tmp_path: Path, name: str) -> None:
    path, says = make(tmp_path, name)
    for args in (
        ["run", F32, "-i", path],
        ["compare", F32, INT8, "--data", path, "--no-speed"],
        ["convert", F32, "-o", tmp_path / "m.tflite", "--to", "int8", "-c", path],
    ):
        r = cli.invoke(*args, entry="-m", timeout=120)
        assert r.exit_code == 2, (args, r.output)
        one_error_line(r.stderr, name, says)
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.parametrize("name", ["truncated.npz", "object_member.npz", "complex.npy"])
def test_cli_compare_and_convert_on_a_bad_file(cli: Cli, tmp_path: Path, name: str) -> None:
    path, says = make(tmp_path, name)
    r = cli.invoke("compare", F32, INT8, "--data", path, "--no-speed")
    assert r.exit_code == 2, r.output
    one_error_line(r.stderr, name, says)
    r = cli.invoke("convert", F32, "-o", tmp_path / "m.tflite", "--to", "int8", "-c", path)
    assert r.exit_code == 2, r.output
    one_error_line(r.stderr, name, says)
    assert not (tmp_path / "m.tflite").exists()


def test_cli_fifo_input_does_not_hang(cli: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    r = cli.invoke("run", F32, "-i", fifo, entry="-m", timeout=60)
    assert r.exit_code == 2
    one_error_line(r.stderr, "x.npy is a named pipe (FIFO)")


def test_cli_nonfinite_data(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "nan.npy"
    np.save(path, nonfinite_x())
    r = cli.invoke("compare", F32, INT8, "--data", path, "--no-speed")
    assert r.exit_code == 2, r.output
    one_error_line(r.stderr, "nan.npy", "3 NaN and 2 inf values", "pass --allow-nonfinite to")
    r = cli.invoke("compare", F32, INT8, "--data", path, "--no-speed", "--allow-nonfinite")
    # compared all the same: NaN in the outputs is a failed check (1), not a crash
    assert r.exit_code == 1 and "NaN or inf in the compared outputs" in r.stderr, r.output
    r = cli.invoke("convert", F32, "-o", tmp_path / "m.tflite", "--to", "int8", "-c", path)
    assert r.exit_code == 2, r.output
    one_error_line(r.stderr, "calibration data", "nan.npy", "refused even with --allow-nonfinite")
    assert not (tmp_path / "m.tflite").exists()
    r = cli.invoke("run", F32, "-i", path, "--json")
    assert r.exit_code == 0, r.output
    assert "tflkit: warning: " in r.stderr and "3 NaN and 2 inf values" in r.stderr
    assert '"samples":500' in r.stdout


def test_cli_empty_data(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 32), np.float32))
    for args in (
        ["run", F32, "-i", path],
        ["compare", F32, INT8, "--data", path, "--no-speed"],
        ["convert", F32, "-o", tmp_path / "m.tflite", "--to", "int8", "-c", path],
    ):
        r = cli.invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        one_error_line(r.stderr, "empty.npy", "no samples", "(0, 32)")

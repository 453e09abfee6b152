"""tflkit._files: the one reader check and the one writer of every path a user gives, and the
commands that use them (issue 20): a FIFO, device node, socket or directory is refused before
it is opened, never waited on, never replaced; outputs are checked before the work starts; a
failed write names the user's path, never the temporary file.

Bad paths are made here: FIFOs with os.mkfifo, device nodes with os.mknod in tmp_path (skipped
where that is not permitted), never a real file of /dev (but /dev/full, only written to, as the
stdout of a child)."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, fixture_path

import tflkit
from tflkit._files import (
    DEFAULT_UMASK,
    atomic_write,
    current_umask,
    open_regular,
    require_regular,
    require_writable,
)
from tflkit.comparison import compare_files
from tflkit.errors import InputError, InvalidModelError
from tflkit.testing import assert_matches_snapshot, write_snapshot

INT8 = fixture_path("mlp_int8.tflite")
FLOAT32 = fixture_path("mlp_float32.tflite")
X = fixture_path("mlp_eval_x.npy")

# ---------------------------------------------------------------- bad paths, made by hand


def fifo(tmp_path: Path, name: str = "pipe.npy") -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def char_device(tmp_path: Path, name: str = "dev") -> Path:
    """A character device node like /dev/null (1, 3), in tmp_path; skip where mknod is not
    permitted (not root, or a container without CAP_MKNOD)."""
    path = tmp_path / name
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


def is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tflkit-"))


# ---------------------------------------------------------------- require_regular


def test_a_fifo_is_refused_by_name_and_kind(tmp_path: Path) -> None:
    path = fifo(tmp_path, "x.npy")
    with pytest.raises(InputError) as info:
        require_regular(path)
    assert str(info.value) == f"{path} is a named pipe (FIFO), expected a regular file"
    with pytest.raises(InputError, match=r"^labels .*x\.npy is a named pipe"):
        require_regular(path, "labels")


def test_a_directory_device_and_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory, expected a regular file"):
        require_regular(tmp_path)
    with pytest.raises(InputError, match="is a character device"):
        require_regular(char_device(tmp_path))


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    if len(os.fsencode(path)) > 100:
        pytest.skip("tmp_path too long for a unix socket")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.fspath(path))
        with pytest.raises(InputError, match="is a socket"):
            require_regular(path)


def test_regular_files_and_symlinks_to_them_pass(tmp_path: Path) -> None:
    (tmp_path / "a.npy").write_bytes(b"x")
    (tmp_path / "link.npy").symlink_to(tmp_path / "a.npy")
    require_regular(tmp_path / "a.npy")
    require_regular(tmp_path / "link.npy")
    (tmp_path / "to_fifo").symlink_to(fifo(tmp_path))
    with pytest.raises(InputError, match="named pipe"):
        require_regular(tmp_path / "to_fifo")  # what the link points at counts


def test_a_missing_path_is_an_oserror_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        require_regular(tmp_path / "nope.npy")
    assert info.value.filename == os.fspath(tmp_path / "nope.npy")


def test_open_regular_reads_a_regular_file_and_refuses_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")
    with open_regular(tmp_path / "a.bin") as f:
        assert f.read() == b"abc"
        assert os.get_blocking(f.fileno())  # O_NONBLOCK cleared once checked
    with pytest.raises(InputError, match="named pipe"):
        open_regular(fifo(tmp_path))


# ---------------------------------------------------------------- readers of user paths


def test_every_reader_refuses_a_fifo_without_waiting(tmp_path: Path) -> None:
    # in process: each call would block forever on open() if it reached it
    pipe = fifo(tmp_path, "p.tflite")
    with pytest.raises(InvalidModelError, match="named pipe"):
        tflkit.load(pipe)
    arrays = fifo(tmp_path, "p.npy")
    with pytest.raises(InputError, match="named pipe"):
        tflkit.run(INT8, arrays)
    with pytest.raises(InputError, match="named pipe"):
        compare_files([INT8, INT8], arrays)
    with pytest.raises(InputError, match="named pipe"):
        compare_files([INT8, INT8], X, labels=arrays)
    with pytest.raises(InputError, match="named pipe"):
        compare_files([INT8, INT8], X, reference_outputs=arrays)
    with pytest.raises(InputError, match="named pipe"):
        tflkit.convert(FLOAT32, "int8", calibration=arrays)
    with pytest.raises(InputError, match="named pipe"):
        tflkit.convert(FLOAT32, "weight-only-int8", eval_x=arrays)
    parquet = fifo(tmp_path, "p.parquet")
    with pytest.raises(InputError, match="named pipe"):
        tflkit.run(INT8, parquet)
    with pytest.raises(AssertionError, match="snapshot .* is a named pipe"):
        assert_matches_snapshot(INT8, fifo(tmp_path, "s.json"))


def test_a_directory_as_a_model_is_still_an_invalid_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelError, match="is a directory, expected a regular file"):
        tflkit.load(tmp_path)


# ---------------------------------------------------------------- atomic_write


def _write(data: bytes) -> Any:
    return lambda f: f.write(data)


def test_atomic_write_writes_with_the_umask_mode_without_changing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027 or not os.path.exists("/proc/self/status")

        def no_umask(mask: int) -> int:  # setting it, even back, races with other threads
            raise AssertionError("atomic_write changed the process umask")

        monkeypatch.setattr(os, "umask", no_umask)
        atomic_write(tmp_path / "out.bin", _write(b"data"))
        monkeypatch.undo()
    finally:
        os.umask(before)
    expected = 0o640 if os.path.exists("/proc/self/status") else 0o666 & ~DEFAULT_UMASK
    assert stat.S_IMODE(os.stat(tmp_path / "out.bin").st_mode) == expected
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert leftovers(tmp_path) == []


def test_atomic_write_fsyncs_the_file_and_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write(tmp_path / "out.bin", _write(b"data"))
    assert synced == ["file", "dir"]


def test_a_device_target_is_refused_and_stays_a_device(tmp_path: Path) -> None:
    dev = char_device(tmp_path)
    with pytest.raises(InputError) as info:
        atomic_write(dev, _write(b"data"))
    assert str(info.value) == f"output {dev} is a character device, expected a regular file"
    assert is_char_device(dev)
    assert leftovers(tmp_path) == []
    link = tmp_path / "link"
    link.symlink_to(dev)
    with pytest.raises(InputError, match="is a character device"):
        atomic_write(link, _write(b"data"))
    assert link.is_symlink() and is_char_device(dev)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fifo_or_directory_target_is_refused(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        target = fifo(tmp_path, "out.npz")
    else:
        target = tmp_path / "out.npz"
        target.mkdir()
    with pytest.raises(InputError, match="named pipe|is a directory"):
        atomic_write(target, _write(b"data"))
    assert stat.S_ISFIFO(os.stat(target).st_mode) or target.is_dir()
    assert leftovers(tmp_path) == []


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "p.png"
    with pytest.raises(InputError) as info:
        require_writable(target, "plot")
    assert str(info.value) == f"plot {target}: no such directory {tmp_path / 'missing'}"
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(InputError, match="is not a directory"):
        require_writable(tmp_path / "file" / "p.png")


def test_a_failed_write_names_the_target_and_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def full(f: Any) -> None:
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")  # as a full disk says it

    with pytest.raises(OSError) as info:
        atomic_write(target, full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == os.fspath(target)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_set_of_files_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``atomic_write_all``, and ``Comparison.to_explorer`` with it: the disk fills up at the
    third file's fsync; nothing is renamed, the old file stays, no temporary file is left."""
    from tflkit._files import atomic_write_all

    old = tmp_path / "a.json"
    old.write_bytes(b"old")
    real_fsync, calls = os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files = [tmp_path / n for n in ("a.json", "b.json", "c.json")]
    with pytest.raises(OSError) as info:
        atomic_write_all([(f, _write(b"new")) for f in files])
    assert info.value.errno == errno.ENOSPC and info.value.filename == os.fspath(files[2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert old.read_bytes() == b"old"

    comparison = tflkit.compare([FLOAT32, INT8], np.load(X)[:8], speed=False, per_tensor=True)
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    (nodes / "mlp_int8.snr.json").write_bytes(b"old")
    calls.clear()
    with pytest.raises(OSError, match="No space left"):
        comparison.to_explorer(nodes)
    assert sorted(p.name for p in nodes.iterdir()) == ["mlp_int8.snr.json"]
    assert (nodes / "mlp_int8.snr.json").read_bytes() == b"old"
    monkeypatch.undo()
    assert len(comparison.to_explorer(nodes)) == 4  # and with room on the disk, all four


def test_a_read_only_folder_is_named_not_the_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("root writes into read-only folders")
        with pytest.raises(PermissionError) as info:
            atomic_write(folder / "out.bin", _write(b"data"))
        assert info.value.filename == os.fspath(folder / "out.bin")
        assert ".tflkit-" not in str(info.value)
    finally:
        folder.chmod(0o700)


def test_a_temporary_file_that_cannot_be_made_is_reported_as_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what a read-only folder does as a user other than root, on any machine
    import tempfile

    def denied(*args: Any, dir: str = ".", **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, ".tflkit-x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as info:
        atomic_write(tmp_path / "out.bin", _write(b"data"))
    assert info.value.filename == os.fspath(tmp_path / "out.bin")
    assert ".tflkit-" not in str(info.value)


def test_a_dangling_symlink_is_replaced_by_the_library_writer(tmp_path: Path) -> None:
    link = tmp_path / "out.bin"
    link.symlink_to(tmp_path / "nowhere")
    atomic_write(link, _write(b"data"))
    assert not link.is_symlink() and link.read_bytes() == b"data"
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------- snapshots


def test_write_snapshot_refuses_another_models_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    write_snapshot(INT8, out)
    before = out.read_bytes()
    write_snapshot(INT8, out)  # the same model: replaced
    with pytest.raises(InputError, match="snapshot of another model .*force=True"):
        write_snapshot(FLOAT32, out)
    assert out.read_bytes() == before
    write_snapshot(FLOAT32, out, force=True)
    assert json.loads(out.read_text())["model"] == "mlp_float32.tflite"


def test_write_snapshot_refuses_a_file_that_is_no_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "model.tflite"
    out.write_bytes(INT8.read_bytes())  # `snapshot m.tflite -o m.tflite` by mistake
    with pytest.raises(InputError, match="is not a tflkit snapshot"):
        write_snapshot(INT8, out)
    assert out.read_bytes() == INT8.read_bytes()


# ---------------------------------------------------------------- the command line

FIFO_COMMANDS = {
    "inspect": ["inspect", "{fifo}"],
    "inspect-json": ["inspect", "--json", "{fifo}"],
    "check": ["check", "{fifo}"],
    "diff": ["diff", "{fifo}", str(INT8)],
    "snapshot": ["snapshot", "{fifo}", "-o", "{tmp}/s.json"],
    "run": ["run", "{fifo}", "-i", str(X)],
    "run-input": ["run", str(INT8), "-i", "{fifo}"],
    "compare-data": ["compare", str(INT8), str(INT8), "--data", "{fifo}"],
    "compare-labels": ["compare", str(INT8), str(INT8), "-d", str(X), "--labels", "{fifo}"],
    "compare-reference": [
        "compare",
        str(INT8),
        str(INT8),
        "-d",
        str(X),
        "--reference-outputs",
        "{fifo}",
    ],  # fmt: skip
    "bench": ["bench", "{fifo}"],
    "convert-keras": ["convert", "{keras}", "--to", "float16", "-o", "{tmp}/o.tflite"],
    "compare-keras": ["compare", "{keras}", str(INT8), "-d", str(X), "--no-speed"],
}


@pytest.mark.parametrize("name", sorted(FIFO_COMMANDS))
def test_a_fifo_never_hangs_a_command(tmp_path: Path, cli: Cli, name: str) -> None:
    pipe = fifo(tmp_path, "pipe.keras" if "{keras}" in FIFO_COMMANDS[name] else "pipe.npy")
    args = [a.format(fifo=pipe, keras=pipe, tmp=tmp_path) for a in FIFO_COMMANDS[name]]
    result = cli.invoke(*args, entry="-m", timeout=120)  # a hang fails as a timeout
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tflkit: error: "), result.stderr
    assert "is a named pipe (FIFO), expected a regular file" in lines[0]
    assert str(pipe) in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "o.tflite").exists()


OUTPUT_COMMANDS = {
    "run": ["run", str(INT8), "-i", str(X), "-o", "{out}"],
    "convert": ["convert", str(FLOAT32), "--to", "weight-only-int8", "-o", "{out}", "--force"],
    "snapshot": ["snapshot", str(INT8), "-o", "{out}"],
    "snapshot-force": ["snapshot", str(INT8), "-o", "{out}", "--force"],
    "compare-plot": ["compare", str(INT8), str(INT8), "-d", str(X), "--plot", "{out}"],
    "compare-html": [
        "compare",
        str(INT8),
        str(INT8),
        "-d",
        str(X),
        "--no-speed",
        "--html",
        "{out}",
    ],
    "convert-html": [
        "convert",
        str(FLOAT32),
        "--to",
        "weight-only-int8",
        "-o",
        "{tmp}/c.tflite",
        "--html",
        "{out}",
        "--force",
    ],  # fmt: skip
    "compare-explorer": [
        "compare",
        str(INT8),
        str(FLOAT32),
        "-d",
        str(X),
        "--no-speed",
        "--explorer",
        "{out}",
    ],  # fmt: skip
}
#: What an output is called in the messages (``plot p.png is a ...``); else ``output``.
OUTPUT_NAMES = {
    "compare-plot": "plot",
    "compare-html": "report",
    "convert-html": "report",
    "compare-explorer": "explorer",
}


@pytest.mark.parametrize("name", sorted(OUTPUT_COMMANDS))
def test_a_device_node_output_is_refused_and_stays_a_device(
    tmp_path: Path, cli: Cli, name: str
) -> None:
    if name == "compare-plot":
        pytest.importorskip("matplotlib")
    dev = char_device(tmp_path)
    args = [a.format(out=dev, tmp=tmp_path) for a in OUTPUT_COMMANDS[name]]
    result = cli.invoke(*args)
    assert result.exit_code == 2, result.output
    expected = "a directory" if name == "compare-explorer" else "a regular file"
    assert result.stderr.splitlines() == [
        f"tflkit: error: {OUTPUT_NAMES.get(name, 'output')} {dev} is a character "
        f"device, expected {expected}"
    ]
    assert result.stdout == ""  # refused before the work: nothing computed, nothing shown
    assert is_char_device(dev) and leftovers(tmp_path) == []


@pytest.mark.parametrize("name", sorted(OUTPUT_COMMANDS))
def test_an_output_in_a_missing_folder_fails_before_the_work(
    tmp_path: Path, cli: Cli, name: str
) -> None:
    if name == "compare-plot":
        pytest.importorskip("matplotlib")
    out = tmp_path / "missing_dir" / "out.bin"
    result = cli.invoke(*[a.format(out=out, tmp=tmp_path) for a in OUTPUT_COMMANDS[name]])
    if name.startswith("snapshot"):  # a snapshot's folder is made (tests/snapshots/...)
        assert result.exit_code == 0 and out.is_file(), result.output
        return
    if name == "compare-explorer":  # the node-data folder is made, with its parents
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in out.iterdir()) == [
            "mlp_float32.max_abs.json",
            "mlp_float32.rmse.json",
            "mlp_float32.snr.json",
            "mlp_int8.range.json",
        ]
        return
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and f"no such directory {tmp_path / 'missing_dir'}" in line
    assert result.stdout == ""  # no table: nothing was compared, run or converted
    assert not (tmp_path / "missing_dir").exists()


def test_compare_prints_the_report_when_the_plot_cannot_be_written(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    from tflkit._results import Comparison

    plot = tmp_path / "p.png"

    def disk_full(self: Any, path: Any) -> None:  # the disk fills up during the comparison
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path))

    monkeypatch.setattr(Comparison, "plot", disk_full)
    result = cli.invoke("compare", INT8, FLOAT32, "-d", X, "--no-speed", "--plot", plot, "--json")
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)  # the work is not lost
    assert [m["name"] for m in doc["models"]] == ["mlp_int8", "mlp_float32"]
    assert result.stderr.splitlines()[-1] == f"tflkit: error: {plot}: no space left on device"


def test_compare_prints_the_report_when_the_explorer_files_cannot_be_written(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tflkit._results import Comparison

    nodes = tmp_path / "nodes"

    def disk_full(self: Any, directory: Any) -> None:  # the disk fills up meanwhile
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(directory))

    monkeypatch.setattr(Comparison, "to_explorer", disk_full)
    result = cli.invoke(
        "compare", INT8, FLOAT32, "-d", X, "--no-speed", "--explorer", nodes, "--json"
    )
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)  # the work is not lost; no file listed as written
    assert [m["name"] for m in doc["models"]] == ["mlp_int8", "mlp_float32"]
    assert "explorer" not in doc
    assert result.stderr.splitlines()[-1] == f"tflkit: error: {nodes}: no space left on device"


@pytest.mark.parametrize(
    "name", ["compare-plot", "compare-html", "convert-html", "compare-explorer"]
)
def test_an_output_in_a_read_only_folder_fails_before_the_work(
    tmp_path: Path, cli: Cli, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name == "compare-plot":
        pytest.importorskip("matplotlib")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        # root writes into read-only folders: answer for the folder as for any other user
        if os.path.abspath(os.fspath(path)) == str(folder) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    try:
        out = folder / "out"
        result = cli.invoke(*[a.format(out=out, tmp=tmp_path) for a in OUTPUT_COMMANDS[name]])
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines() == [f"tflkit: error: {out}: permission denied"]
        assert result.stdout == "" and os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_convert_treats_a_dangling_symlink_as_existing(tmp_path: Path, cli: Cli) -> None:
    link = tmp_path / "out.tflite"
    link.symlink_to(tmp_path / "nowhere.tflite")
    result = cli.invoke("convert", FLOAT32, "--to", "weight-only-int8", "-o", link)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"tflkit: error: {link} exists; add --force to replace it"
    assert link.is_symlink() and not (tmp_path / "nowhere.tflite").exists()


def test_snapshot_refuses_to_replace_another_models_snapshot(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "s.json"
    assert cli.invoke("snapshot", INT8, "-o", out).exit_code == 0
    written = out.read_bytes()
    again = cli.invoke("snapshot", INT8, "-o", out)  # the same model: fine
    assert again.exit_code == 0 and out.read_bytes() == written, again.output
    other = cli.invoke("snapshot", FLOAT32, "-o", out)
    assert other.exit_code == 2, other.output
    assert other.stderr.splitlines() == [
        f"tflkit: error: {out} is the snapshot of another model ('mlp_int8.tflite', not "
        "'mlp_float32.tflite'); pass --force to replace it"
    ]
    assert out.read_bytes() == written
    forced = cli.invoke("snapshot", FLOAT32, "-o", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads(out.read_text())["model"] == "mlp_float32.tflite"


@pytest.mark.parametrize(
    "args",
    [["check"], ["check", "--json"], ["inspect"], ["inspect", "--json"], ["diff", str(INT8)]],
    ids=["check", "check-json", "inspect", "inspect-json", "diff"],
)
def test_a_full_stdout_is_one_line_and_exit_2(cli: Cli, args: list[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:  # written to only: a write fails with ENOSPC
        result = cli.invoke(*args, INT8, entry="-m", stdout=full, timeout=120)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == ["tflkit: error: stdout: no space left on device"]


def test_run_output_is_checked_before_the_run(tmp_path: Path) -> None:
    dev = char_device(tmp_path)
    with pytest.raises(InputError, match="is a character device"):
        tflkit.run(INT8, np.zeros((2, 32), np.float32), output=dev)
    assert is_char_device(dev)

"""Every path a user gives, read or written: regular files only, written all at once.

Reading: ``require_regular`` refuses what is not a regular file (a FIFO would hang the read, a
device would be read forever or have side effects, a directory fails later with a worse
message) from ``os.stat``, before anything opens it; ``open_regular`` opens after that check
and checks the opened file again (``O_NONBLOCK``, so a FIFO swapped in meanwhile cannot hang).

Writing: ``require_writable`` checks an output location before the work starts (its folder
exists, the target is not a device, FIFO, socket or directory); ``atomic_write`` writes a
temporary file in the target's folder, fsyncs it, renames it over the target and fsyncs the
folder; ``atomic_write_all`` does so for files that belong together, renaming none until
all are written. Messages name the user's path, never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from typing import IO

from tflkit.errors import InputError

__all__ = [
    "DEFAULT_UMASK",
    "atomic_write",
    "atomic_write_all",
    "current_umask",
    "file_kind",
    "open_regular",
    "require_directory",
    "require_regular",
    "require_writable",
]

#: The umask assumed where the process's cannot be read without changing it (no
#: ``/proc/self/status``, e.g. macOS): the usual 022 (files 0644).
DEFAULT_UMASK = 0o022


def file_kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is, for a message (``"a named pipe (FIFO)"``); None for
    a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"  # pragma: no cover - doors, whiteouts, ...


def _refusal(path: str, what: str, kind: str) -> InputError:
    named = path if what == "file" else f"{what} {path}"
    return InputError(f"{named} is {kind}, expected a regular file")


def require_regular(path: str | os.PathLike[str], what: str = "file") -> None:
    """Refuse, before anything opens it, a path that is not a regular file (after symlinks).

    Args:
        path: the user's path (named in the message as given).
        what: what the path is for (``"model"``, ``"labels"``), named before it in the
            message; the default names the path alone.

    Raises:
        InputError: a FIFO, character or block device, socket or directory:
            ``x.npy is a named pipe (FIFO), expected a regular file``.
        OSError: the path cannot be looked up (missing, permission denied, symlink loop);
            its ``filename`` is the path.

    Example:
        >>> require_regular("calib.npy", "calibration")
    """
    text = os.fspath(path)
    kind = file_kind(os.stat(text).st_mode)
    if kind is not None:
        raise _refusal(text, what, kind)


def open_regular(path: str | os.PathLike[str], what: str = "file") -> IO[bytes]:
    """``require_regular``, then the file opened for reading in binary mode.

    The opened file is checked again (``fstat``): a FIFO put there after the first check is
    refused, not waited on (it is opened with ``O_NONBLOCK``, cleared once it is known to be
    a regular file).

    Raises:
        InputError, OSError: as ``require_regular``.
    """
    text = os.fspath(path)
    require_regular(text, what)
    fd = os.open(text, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _refusal(text, what, kind)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def require_writable(path: str | os.PathLike[str], what: str = "output") -> None:
    """Check, before the work starts, that ``atomic_write`` can put a file at ``path``.

    Its folder must exist, be a folder and be writable; an existing target (symlinks
    followed) must be a regular file: a device, FIFO, socket or directory is never replaced.

    Args:
        path: the user's output path.
        what: what it is (``"output"``, ``"plot"``), named before it in messages.

    Raises:
        InputError: the target is not a regular file, or the folder does not exist or is not
            a folder: ``plot out/p.png: no such directory out``.
        OSError: the folder is not writable (``PermissionError`` naming ``path``).

    Example:
        >>> require_writable("report.png", "plot")
    """
    text = os.fspath(path)
    directory = os.path.dirname(text) or "."
    named = f"{what} {text}"
    try:
        mode = os.stat(directory).st_mode
    except FileNotFoundError:
        raise InputError(f"{named}: no such directory {directory}") from None
    if not stat.S_ISDIR(mode):
        raise InputError(f"{named}: {directory} is not a directory")
    kind = _existing_kind(text)
    if kind is not None:
        raise _refusal(text, what, kind)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), text)


def require_directory(directory: str | os.PathLike[str], what: str = "directory") -> None:
    """Check, before the work starts, that an output folder can be used or made: an
    existing path must be a folder (symlinks followed); a missing one is made later, inside
    its nearest existing ancestor, which must be a writable folder.

    Raises:
        InputError: ``explorer out.json is a regular file, expected a directory``;
            ``explorer a/b: a is not a directory``.
        OSError: the folder (or the one it is to be made in) is not writable
            (``PermissionError`` naming ``directory``).
    """
    text = os.fspath(directory)
    try:
        mode = os.stat(text).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a/b/c with a missing, or a file
        mode = None
    if mode is not None:
        if not stat.S_ISDIR(mode):
            raise InputError(
                f"{what} {text} is {file_kind(mode) or 'a regular file'}, expected a directory"
            )
        existing = text
    else:  # made with its missing parents: the first ancestor that exists must be a folder
        existing = os.path.dirname(os.path.abspath(text))
        while not os.path.lexists(existing) and existing != os.path.dirname(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise InputError(f"{what} {text}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), text)


def _existing_kind(path: str) -> str | None:
    """``file_kind`` of what ``path`` names (symlinks followed); None when nothing is there
    or a dangling symlink (which a rename replaces, without following it)."""
    try:
        return file_kind(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only set it, and
    setting it back races with other threads creating files).

    Linux: the ``Umask:`` line of ``/proc/self/status``; elsewhere ``DEFAULT_UMASK`` (022).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    return DEFAULT_UMASK


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - a folder we just wrote in
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that cannot sync a directory
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file next to ``path``, then rename it over ``path``.

    The temporary file is fsynced before the rename and the folder after it, so the target is
    either the old file or the whole new one, also after a power cut. A failure leaves nothing
    behind (never a half-written file). The result gets the usual permissions (0666 minus the
    umask, read with ``current_umask``), not mkstemp's 0600.

    Raises:
        InputError: ``path`` exists and is not a regular file (a device, FIFO, socket or
            directory is refused, never replaced), or its folder does not exist.
        OSError: the file cannot be written; its ``filename`` is ``path``, never the
            temporary name.
    """
    atomic_write_all([(path, write)])


def atomic_write_all(
    files: Sequence[tuple[str | os.PathLike[str], Callable[[IO[bytes]], None]]],
) -> None:
    """``atomic_write`` for a set of files that belong together (``--explorer``'s node data):
    every one is written to its temporary file first, and only when all of them are whole
    are they renamed into place; a failure before that (a full disk) leaves every target as it
    was and no temporary file. Raises as ``atomic_write``, naming the target that failed."""
    targets = [os.fspath(path) for path, _ in files]
    for target in targets:
        require_writable(target)
    temps: list[str] = []
    try:
        for target, (_, write) in zip(targets, files, strict=True):
            temps.append(_temporary(target, write))
        for target in targets:  # again just before the renames: never over a device
            kind = _existing_kind(target)
            if kind is not None:
                raise _refusal(target, "output", kind)
        for tmp, target in zip(temps, targets, strict=True):
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise _renamed(exc, target) from exc
    except BaseException:
        for tmp in temps:  # those renamed are gone already
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for directory in dict.fromkeys(os.path.dirname(t) or "." for t in targets):
        _fsync_directory(directory)


def _temporary(target: str, write: Callable[[IO[bytes]], None]) -> str:
    """A new temporary file next to ``target`` holding what ``write`` wrote, fsynced, with the
    usual permissions; its name. Nothing is left when it fails."""
    import tempfile  # here: reading a model (``inspect --json``) does not need it

    try:
        fd, tmp = tempfile.mkstemp(
            prefix=".tflkit-", suffix=".tmp", dir=os.path.dirname(target) or "."
        )
    except OSError as exc:
        raise _renamed(exc, target) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _renamed(exc, target) from exc
        raise
    return tmp


def _renamed(exc: OSError, target: str) -> OSError:
    """The same error about ``target``: the user's path, not the temporary file's."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), target)  # its subclass

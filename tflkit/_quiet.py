"""Keep TensorFlow's output off the user's terminal: ``quiet_tensorflow()``.

TensorFlow and its converter talk on four channels, none of which a setting closes for good:
C++ log lines on file descriptor 2 (absl's ``W0000 00:00:...``, the converter's ``fully_quantize:
0, inference_type: 6 ...``), prints on ``sys.stdout`` (Keras's ``Saved artifact at '/tmp/...'``
block, once per conversion), Python warnings ("Statistics for quantized inputs were expected,
but not specified", "tf.lite.Interpreter is deprecated") and its logger (on ``sys.stderr``).
While quiet, file descriptors 1 and 2 point at one temporary file, ``sys.stdout`` and
``sys.stderr`` write into it too, and warnings are recorded: everything lands in order in
``Captured.text()``. Warnings raised by tflkit itself are raised again afterwards (they are
the user's). Progress meant for the user reaches the real terminal through
``terminal_stderr()`` (a stream on the saved descriptor 2) or ``Captured.passthrough()``.

Used by ``tflkit.convert`` (the Python API) and by the CLI (``--verbose`` prints the capture);
nested uses share the outermost capture. Process-wide (file descriptors are): output of other
threads meanwhile is captured too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any, TextIO

__all__ = ["Captured", "quiet_tensorflow", "terminal_stderr"]

_TFLKIT = os.path.dirname(os.path.abspath(__file__))
_NOTE_LINES = 40  # of the capture, added to an exception's notes
log = logging.getLogger("tflkit")


class _Into(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` while quiet: writes go to the capture's file; a stream
    kept past the block (a logger's handler made meanwhile) writes to the current one."""

    def __init__(self, fd: int, name: str) -> None:
        self._fd: int | None = fd
        self._name = name

    def write(self, s: str) -> int:
        if self._fd is not None:
            os.write(self._fd, s.encode("utf-8", "replace"))
            return len(s)
        current = getattr(sys, self._name)
        target = current if current is not self else getattr(sys, f"__{self._name}__")
        return int(target.write(s)) if target is not None else len(s)

    def flush(self) -> None:
        if self._fd is None:
            current = getattr(sys, self._name)
            if current is not self and current is not None:
                current.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def release(self) -> None:
        self._fd = None


class Captured:
    """What was kept off the terminal while quiet, and a way back to it.

    ``text()`` is everything written meanwhile, in order: C++ lines, prints, logger lines,
    then the warnings of others than tflkit (``file:line: Category: message``).
    """

    def __init__(self, tmp: IO[bytes], saved_out: int, saved_err: int) -> None:
        self._tmp = tmp
        self._saved = (saved_out, saved_err)
        self._warnings: list[str] = []
        self._terminal: TextIO | None = None
        self._streams: tuple[Any, Any] = (None, None)  # sys.stdout, sys.stderr outside
        self._final: str | None = None  # the whole text, once the block has ended

    def text(self) -> str:
        """The captured output so far (inside the block) or in all (after it)."""
        if self._final is not None:
            return self._final
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        self._tmp.flush()
        with contextlib.suppress(OSError, ValueError):
            fd = self._tmp.fileno()
            if hasattr(os, "pread"):  # leaves the offset the redirected fds write at alone
                data = os.pread(fd, os.fstat(fd).st_size, 0)
            else:  # Windows: read, then back to the end
                self._tmp.seek(0)
                data = self._tmp.read()
            return data.decode("utf-8", "replace") + "".join(self._warnings)
        return "".join(self._warnings)

    def terminal(self) -> TextIO:
        """The user's stderr, valid until the block ends (progress bars): a stream on the
        saved descriptor 2, or the ``sys.stderr`` of outside the block when that is no file
        descriptor's (a notebook's, a test runner's)."""
        outside = self._streams[1]
        try:
            on_fd2 = outside is not None and outside.fileno() == 2
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation included
            on_fd2 = False
        if not on_fd2:
            return outside if outside is not None else sys.__stderr__  # type: ignore[return-value]
        if self._terminal is None:
            self._terminal = os.fdopen(
                os.dup(self._saved[1]), "w", buffering=1, encoding="utf-8", errors="replace"
            )
        return self._terminal

    @contextlib.contextmanager
    def passthrough(self) -> Iterator[None]:
        """The real stdout and stderr back for a moment (a user's progress callback)."""
        out, err = self._streams
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        quiet = os.dup(1), os.dup(2)
        quiet_streams = sys.stdout, sys.stderr
        try:
            os.dup2(self._saved[0], 1)
            os.dup2(self._saved[1], 2)
            sys.stdout, sys.stderr = out, err
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            sys.stdout, sys.stderr = quiet_streams
            os.dup2(quiet[0], 1)
            os.dup2(quiet[1], 2)
            os.close(quiet[0])
            os.close(quiet[1])

    def wrap(self, fn: Callable[..., Any] | None) -> Callable[..., Any] | None:
        """``fn`` called with the real terminal back (see ``passthrough``)."""
        if fn is None:
            return None

        def called(*args: Any) -> Any:
            with self.passthrough():
                return fn(*args)

        return called


_active: Captured | None = None


def terminal_stderr() -> TextIO:
    """The user's stderr: the real one while quiet (for progress), else ``sys.stderr``."""
    return _active.terminal() if _active is not None else sys.stderr


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[Captured]:
    """Keep TensorFlow's C++ log lines, prints, warnings and logger lines off the terminal.

    Yields a ``Captured``; its ``text()`` holds what was kept back. Nested uses share the
    outermost capture. An exception leaving the block carries the capture's last lines as a
    note (shown under its traceback); the capture is logged at DEBUG level on the ``tflkit``
    logger either way. tflkit's own warnings are raised again after the block.

    Example:
        >>> with quiet_tensorflow() as captured:
        ...     data = converter.convert()
        >>> "Saved artifact" in captured.text()
        True
    """
    global _active
    if _active is not None:
        yield _active
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    streams = sys.stdout, sys.stderr
    saved_out, saved_err = os.dup(1), os.dup(2)
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    captured = Captured(tmp, saved_out, saved_err)
    captured._streams = streams
    into = _Into(tmp.fileno(), "stdout"), _Into(tmp.fileno(), "stderr")
    failed: BaseException | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            sys.stdout, sys.stderr = into
            _active = captured
            try:
                yield captured
            except BaseException as exc:
                failed = exc
                raise
            finally:
                _active = None
                for stream in into:
                    stream.release()
                sys.stdout, sys.stderr = streams
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
                if captured._terminal is not None:
                    with contextlib.suppress(OSError, ValueError):
                        captured._terminal.close()
                ours = [w for w in caught if os.path.abspath(w.filename).startswith(_TFLKIT)]
                captured._warnings = [
                    f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n"
                    for w in caught
                    if w not in ours
                ]
        for w in ours:  # tflkit's own, for the user's filters to show
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    finally:
        text = captured.text()
        os.close(saved_out)
        os.close(saved_err)
        tmp.close()
        captured._final = text
        if text.strip():
            log.debug("TensorFlow's output (kept off the terminal):\n%s", text.rstrip())
        if failed is not None and text.strip():
            lines = text.rstrip().splitlines()
            shown = lines[-_NOTE_LINES:]
            head = "TensorFlow's output (kept off the terminal)"
            if len(lines) > len(shown):
                head += f", its last {len(shown)} of {len(lines)} lines"
            failed.add_note(head + ":\n" + "\n".join(shown))

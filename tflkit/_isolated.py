"""Isolated runs: the LiteRT interpreter in a child process, so that a crash of the runtime
(SIGSEGV, SIGABRT) becomes ``RuntimeCrashError`` instead of ending the caller's process.

``IsolatedSession`` stands where a Runner's ``_interpreter.Session`` stands and has its methods
(``invoke``, ``invoke_one``, ``per_sample``, ``run_signature``, ``time_invoke``, ``all_tensors``,
``open``): the Runner's feeds, batching and (de)quantization stay in the caller, only the
runtime's calls cross. The child is ``python -m tflkit._isolated``, started with ``subprocess``
(never a fork of a process that may hold threads, and unlike multiprocessing's "spawn" it does
not re-import the caller's ``__main__``). Arrays cross through one shared-memory arena (an
anonymous ``memfd``, a deleted temporary file where there is none), which both processes map: a
socket carries only small pickled control messages, and the arena's file descriptor. An
unnamed arena cannot outlive the processes that map it: nothing is left in ``/dev/shm``, even
when the caller is killed, and no resource-tracker process is started.

What the child was doing when it died is byte 0 of the arena (``PHASES``), written before each
runtime call: the error names the signal, the model and that call. The operator is not named:
LiteRT's Python API has no per-operator hook to record the last operator run.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import warnings
import weakref
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import recvfds, sendfds
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit.errors import RuntimeCrashError, TflkitError, caller_stacklevel
from tflkit.model import Model, Tensor

__all__ = ["PHASES", "IsolatedSession", "main"]

Array = npt.NDArray[Any]

#: What byte 0 of the arena says the child was doing: named in RuntimeCrashError.
PHASES = {0: "start-up", 1: "open", 2: "allocate", 3: "invoke", 4: "idle"}
_OPEN, _ALLOCATE, _INVOKE, _IDLE = 1, 2, 3, 4
_HEADER = 64  # byte 0: the phase; arrays start here, 64-byte aligned
_MIN_ARENA = 1 << 20
_START_TIMEOUT = 120.0  # seconds for the child's first reply (imports, loading the model)

# A layout entry: (offset in the arena, dtype str, shape), or ("inline", array) for arrays
# that cannot live in shared memory (object dtype: strings).
Layout = list[Any]


def _align(n: int) -> int:
    return (n + 63) & ~63


def _anonymous_file(size: int) -> int:
    """A file descriptor of ``size`` bytes of memory no name points at."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("tflkit-isolated", os.MFD_CLOEXEC)
    else:  # pragma: no cover - macOS: a temporary file, deleted at once
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    os.ftruncate(fd, size)
    return fd


def _layout(arrays: Sequence[Array], start: int = _HEADER) -> tuple[list[Any], int]:
    """Where each array goes in the arena, and the bytes needed."""
    out: list[Any] = []
    end = start
    for a in arrays:
        if a.dtype.hasobject:
            out.append(("inline", a))
            continue
        out.append((end, a.dtype.str, a.shape))
        end = _align(end + a.nbytes)
    return out, end


def _write(buf: mmap.mmap, layout: list[Any], arrays: Sequence[Array]) -> None:
    for entry, a in zip(layout, arrays, strict=True):
        if entry[0] != "inline" and a.nbytes:
            view: Array = np.ndarray(a.shape, a.dtype, buffer=buf, offset=entry[0])
            np.copyto(view, a, casting="no")


def _read(buf: mmap.mmap, layout: list[Any], *, copy: bool) -> list[Array]:
    out: list[Array] = []
    for entry in layout:
        if entry[0] == "inline":
            out.append(entry[1])
            continue
        offset, dtype, shape = entry
        a: Array = np.ndarray(shape, np.dtype(dtype), buffer=buf, offset=offset)
        out.append(a.copy() if copy else a)
    return out


# ---------------------------------------------------------------------------- the caller's side


class _Child:
    """The child process, its socket and the arena: what the finalizer ends (never the
    IsolatedSession itself, so that it can be collected)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.sock: socket.socket | None = None
        self.fd = -1
        self.buf: mmap.mmap | None = None
        self.size = 0

    def resize(self, size: int) -> None:
        """A new arena of at least ``size`` bytes (the child is told by the caller)."""
        size = max(_MIN_ARENA, 1 << (size - 1).bit_length())
        fd = _anonymous_file(size)
        self.close_arena()
        self.fd, self.size = fd, size
        self.buf = mmap.mmap(fd, size)

    def close_arena(self) -> None:
        if self.buf is not None:
            with contextlib.suppress(BufferError):  # a view still alive: the GC unmaps it
                self.buf.close()
            self.buf = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def stop(self) -> None:
        """End the child (EOF on its socket, then SIGKILL if it does not exit) and reap it."""
        proc, self.proc = self.proc, None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a child stuck in the runtime
                proc.kill()
                proc.wait()

    def shutdown(self) -> None:
        self.stop()
        self.close_arena()


def _child_env() -> dict[str, str]:
    """The caller's environment, with this tflkit first on the path: the child imports the
    same copy (a checkout, a worktree) whatever the working directory."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = here + (os.pathsep + path if path else "")
    return env


class IsolatedSession:
    """A Session whose interpreter lives in a child process (see the module's docstring).

    Same constructor and methods as ``_interpreter.Session``; ``close()`` ends the child, and
    the next call starts a new one (so does any call after a crash). The caller serializes
    calls (the Runner's lock).

    Raises (from any call):
        RuntimeCrashError: the child died (a signal, or an exit) during the call.
        UnsupportedModelError: as the in-process Session, raised in the child and passed on.
    """

    def __init__(
        self,
        model: Model,
        source: str | bytes,
        inputs: Sequence[Tensor],
        *,
        num_threads: int | None,
        signature_key: str | None,
    ) -> None:
        from tflkit._interpreter import RuntimeGuard

        self.model = model
        self.source = os.path.abspath(source) if isinstance(source, str) else source
        self.inputs = tuple(inputs)
        self.num_threads = num_threads
        self.signature_key = signature_key
        self.delegate: str | None = "xnnpack"
        self.guard = RuntimeGuard(model)
        self.in_shapes: list[tuple[int, ...] | None] = [None] * len(self.inputs)
        #: Child processes started so far (1 + restarts).
        self.starts = 0
        self._child = _Child()
        self._finalizer = weakref.finalize(self, self._child.shutdown)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ the child's life

    @property
    def pid(self) -> int | None:
        """The child's process id, None when none runs."""
        proc = self._child.proc
        return proc.pid if proc is not None else None

    def _start(self) -> None:
        """Start a child and open the model in it (the runtime's ``open`` and ``allocate``)."""
        child = self._child
        if child.buf is None:  # closed: a new arena
            child.resize(_MIN_ARENA)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        model_fd = -1
        try:
            source: Any = self.source
            if isinstance(source, bytes):  # the bytes cross through memory, not the socket
                model_fd = _anonymous_file(len(source))
                with mmap.mmap(model_fd, len(source)) as m:
                    m[:] = source
                source = ("fd", model_fd, len(source))
            fds = [theirs.fileno(), child.fd] + ([model_fd] if model_fd >= 0 else [])
            assert child.buf is not None
            child.buf[0] = 0  # start-up
            child.proc = subprocess.Popen(
                [sys.executable, "-m", "tflkit._isolated", *(str(f) for f in fds)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                stdout=2,  # stdout carries data: the runtime's prints go to stderr
                env=_child_env(),
                close_fds=True,
            )
            self.starts += 1
        finally:
            theirs.close()
            if model_fd >= 0:
                os.close(model_fd)
        child.sock = mine
        child.conn = Connection(os.dup(mine.fileno()))
        self._call(
            "open",
            [],
            (source, child.size, self.num_threads, self.signature_key),
            timeout=_START_TIMEOUT,
        )

    def close(self) -> None:
        """End the child process and unmap the arena; a later call starts a new child."""
        self._child.shutdown()

    def _crash(self, call: str) -> RuntimeCrashError:
        """The error for a child that died; the child reaped, the next call starts a new one."""
        child = self._child
        proc = child.proc
        phase = PHASES.get(child.buf[0] if child.buf is not None else 0, call)
        if phase == "idle":
            phase = call
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        child.stop()
        self.in_shapes = [None] * len(self.inputs)
        name = None
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
        return RuntimeCrashError(self.model.name, phase, signal=name, exit_code=code)

    def _call(
        self,
        command: str,
        arrays: Sequence[Array],
        args: tuple[Any, ...] = (),
        *,
        timeout: float | None = None,
    ) -> Any:
        """One command to the child: arrays through the arena, the reply's arrays copied out
        of it. A child that died becomes RuntimeCrashError (the phase it was in)."""
        child = self._child
        if child.proc is None:
            self._start()
        layout, need = _layout(arrays)
        if need > child.size:
            self._new_arena(need)
        assert child.buf is not None and child.conn is not None
        _write(child.buf, layout, arrays)
        call = "invoke" if command not in ("open", "reset") else "open"
        try:
            child.conn.send((command, layout, args))
            while True:
                if timeout is not None and not child.conn.poll(timeout):
                    raise TimeoutError  # pragma: no cover - a child that never answers
                reply = child.conn.recv()
                if reply[0] != "grow":
                    break
                self._new_arena(reply[1])  # outputs larger than the arena: again, in a new one
                child.conn.send(("fetch", [], ()))
        except (EOFError, OSError, TimeoutError):
            raise self._crash(call) from None
        except BaseException:
            child.stop()  # interrupted mid-call: the next call starts afresh
            raise
        status, result, state, caught = reply
        if state is not None:
            self.in_shapes, self.delegate = state
        for category, message in caught:
            warnings.warn(message, category, stacklevel=caller_stacklevel())
        if status == "err":
            raise result
        out_layout, extra = result
        return _read(child.buf, out_layout, copy=True), extra

    def _new_arena(self, need: int) -> None:
        child = self._child
        child.resize(need)
        if child.proc is not None and child.conn is not None and child.sock is not None:
            try:
                child.conn.send(("arena", [], (child.size,)))
                sendfds(child.sock, [child.fd])
            except OSError:
                raise self._crash("invoke") from None

    # ------------------------------------------------------------------ Session's methods

    def open(self) -> None:
        """Re-open the interpreter in the child (the model's initial state)."""
        if self._child.proc is None:
            self._start()
        else:
            self._call("reset", [])

    def invoke(self, feeds: list[Array]) -> list[Array]:
        outs, _ = self._call("invoke", feeds)
        return outs  # type: ignore[no-any-return]

    def invoke_one(self, feed: Array, shape: tuple[int, ...]) -> Array:
        outs, _ = self._call("invoke_one", [feed], (shape,))
        return outs[0]  # type: ignore[no-any-return]

    def per_sample(self, feeds: list[Array], start: int, stop: int) -> list[Array]:
        outs, _ = self._call("per_sample", feeds, (start, stop))
        return outs  # type: ignore[no-any-return]

    def run_signature(self, named: dict[str, Array]) -> dict[str, Any]:
        outs, names = self._call("run_signature", list(named.values()), (list(named),))
        return dict(zip(names, outs, strict=True))

    def time_invoke(self, feeds: list[Array], *, repeat: int, warmup: int) -> list[float]:
        _, times = self._call("time_invoke", feeds, (repeat, warmup))
        return times  # type: ignore[no-any-return]

    def all_tensors(self, feeds: list[Array], indexes: Sequence[int]) -> dict[int, Array]:
        outs, found = self._call("all_tensors", feeds, (list(indexes),))
        return dict(zip(found, outs, strict=True))


# ---------------------------------------------------------------------------- the child's side


class _Server:
    """The child's loop: one Session, commands in, replies out."""

    def __init__(self, conn: Connection, sock: socket.socket, arena_fd: int) -> None:
        self.conn = conn
        self.sock = sock
        self.arena_fd = arena_fd
        self.buf: mmap.mmap | None = None
        self.session: Any = None
        self.pending: list[Array] = []  # outputs kept until they fit the arena
        self.extra: Any = None
        self.caught: list[tuple[type[Warning], str]] = []

    def phase(self, code: int) -> None:
        assert self.buf is not None
        self.buf[0] = code

    def map(self, size: int) -> None:
        if self.buf is not None:
            self.buf.close()
        self.buf = mmap.mmap(self.arena_fd, size)
        os.close(self.arena_fd)

    def open(self, source: Any, size: int, num_threads: Any, key: Any) -> None:
        from tflkit._interpreter import Session
        from tflkit.loader import load

        self.map(size)
        if isinstance(source, tuple):  # ("fd", fd, size): the model's bytes
            _, fd, n = source
            with mmap.mmap(fd, n, prot=mmap.PROT_READ) as m:
                source = bytes(m)
            os.close(fd)
        model = load(source)
        sig = model.signature(key) if key is not None else None
        if sig is None:
            sig = next((s for s in model.signatures if s.subgraph_index == 0), None)
        sg = model.subgraphs[sig.subgraph_index if sig is not None else 0]
        server = self

        class ChildSession(Session):
            """Marks the phase before the runtime's calls that may crash."""

            def open_interpreter(self, *, preserve: bool = False, delegate: bool = True) -> Any:
                server.phase(_OPEN)
                try:
                    return super().open_interpreter(preserve=preserve, delegate=delegate)
                finally:
                    server.phase(_INVOKE)

            def allocate(self) -> None:
                server.phase(_ALLOCATE)
                try:
                    super().allocate()
                finally:
                    server.phase(_INVOKE)

        self.session = ChildSession(
            model, source, sg.input_tensors, num_threads=num_threads, signature_key=key
        )

    def handle(self, command: str, layout: list[Any], args: tuple[Any, ...]) -> Any:
        """The command's outputs (a list of arrays) and extra data."""
        session = self.session
        if command == "open":
            self.open(*args)
            return [], None
        assert self.buf is not None
        arrays = _read(self.buf, layout, copy=False)
        self.phase(_INVOKE)
        if command == "invoke_one":
            return [session.invoke_one(arrays[0], args[0])], None
        if command == "invoke":
            return session.invoke(arrays), None
        if command == "per_sample":
            return session.per_sample(arrays, *args), None
        if command == "run_signature":
            names = args[0]
            result = session.run_signature(dict(zip(names, arrays, strict=True)))
            keys = list(result)
            return [np.asarray(result[k]) for k in keys], keys
        if command == "time_invoke":
            return [], session.time_invoke(arrays, repeat=args[0], warmup=args[1])
        if command == "all_tensors":
            values = session.all_tensors(arrays, args[0])
            return list(values.values()), list(values)
        if command == "reset":
            session.open()
            return [], None
        raise ValueError(f"unknown command {command!r}")  # pragma: no cover

    def reply_outputs(self) -> Any:
        """The pending outputs in the arena, or ("grow", bytes) when they do not fit."""
        layout, need = _layout(self.pending)
        assert self.buf is not None
        if need > len(self.buf):
            return ("grow", need)
        _write(self.buf, layout, self.pending)
        self.pending = []
        return ("ok", (layout, self.extra), self.state(), self.flush())

    def state(self) -> Any:
        s = self.session
        return None if s is None else (list(s.in_shapes), s.delegate)

    def flush(self) -> list[tuple[type[Warning], str]]:
        caught, self.caught = self.caught, []
        return caught

    def serve(self) -> None:
        conn = self.conn
        while True:
            try:
                command, layout, args = conn.recv()
            except (EOFError, OSError):
                return
            if command == "arena":
                self.arena_fd = recvfds(self.sock, 1)[0]
                self.map(args[0])
                continue
            if command != "fetch":
                try:
                    self.pending, self.extra = self.handle(command, layout, args)
                    if self.buf is not None:
                        self.phase(_IDLE)
                except BaseException as exc:  # noqa: BLE001 - every error goes to the caller
                    if self.buf is not None:
                        self.phase(_IDLE)
                    self.pending = []
                    conn.send(("err", _picklable(exc), self.state(), self.flush()))
                    continue
            conn.send(self.reply_outputs())


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure: the text is what matters
        if isinstance(exc, TflkitError):
            return TflkitError(str(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def main(argv: Sequence[str]) -> None:
    """The child: ``python -m tflkit._isolated SOCKET_FD ARENA_FD [MODEL_FD]``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    sock = socket.socket(fileno=int(argv[0]))
    server = _Server(Connection(os.dup(sock.fileno())), sock, int(argv[1]))

    def record(message: Any, category: Any, *rest: Any, **kwargs: Any) -> None:
        server.caught.append((category, str(message)))

    warnings.simplefilter("always")  # the caller's filters decide
    warnings.showwarning = record
    server.serve()
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: the runtime's destructors are not needed


if __name__ == "__main__":
    main(sys.argv[1:])

"""Isolated runs: the LiteRT interpreter in a child process, so that a crash of the runtime
(SIGSEGV, SIGABRT) becomes ``RuntimeCrashError`` instead of ending the caller's process.

``IsolatedSession`` stands where a Runner's ``_interpreter.Session`` stands and has its methods
(``invoke``, ``invoke_one``, ``per_sample``, ``run_signature``, ``time_invoke``, ``all_tensors``,
``open``), plus ``run_batch``: a predict's whole batch crosses once, and a ``Batcher`` in the
child with the Runner's settings runs it there (the same code as in process: chunks, padding,
auto batching's timing), so a call costs the in-process work plus one round trip. The Runner's
feeds and (de)quantization stay in the caller. The child is ``python -m tflkit._isolated``,
started with ``subprocess`` (never a fork of a process that may hold threads, and unlike
multiprocessing's "spawn" it does not re-import the caller's ``__main__``). Arrays cross
through one shared-memory arena (an anonymous ``memfd``, a deleted temporary file where there
is none), which both processes map: a socket carries only small pickled control messages, and
the arena's file descriptor; a message equal to the last one crosses as 4 bytes (a predict
loop at one batch size: the same command and reply layout every call). An unnamed arena
cannot outlive the processes that map it: nothing is left in ``/dev/shm``, even when the
caller is killed, and no resource-tracker process is started. Each side may poll for the
other's message a short while before sleeping (``SPIN``, ``IDLE_SPIN``), unless the machine
is busy.

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
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._batching import Batcher
from tflkit._interpreter import RuntimeGuard
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
#: Seconds the caller polls for the child's reply (``SPIN``), and the child for the caller's
#: next command (``IDLE_SPIN``), before sleeping in the kernel; read when a child starts. On an
#: idle virtual machine a vCPU that sleeps halts, and waking it costs more than the call
#: (bench/README.md: a 1,024-sample call of the int8 MLP 1.5-1.9x the in-process one asleep,
#: 1.1-1.35x polling); on a busy machine polling stops by itself (below). A millisecond
#: covers a 1,024-sample call of a small model with room for a slow moment of the host, and
#: bounds what a poller costs the other process when the scheduler puts both on one CPU and a
#: yield does not hand it over (seen once with 2 ms: calls took the whole 2 ms). Never when
#: this process may use one CPU only. Set both to 0 before creating a Runner to never poll
#: (bench/isolated_bench.py's third column does).
SPIN = 0.001
IDLE_SPIN = 0.001
# On a busy machine polling loses: the poller holds a CPU another process needs (on 2 cores
# at load 10, polling made a 1,024-sample call 3.5x the in-process one, against 2.5x asleep).
# So a channel sleeps at once for _RECHECK seconds after it finds more threads runnable than
# the machine has CPUs (/proc/loadavg: its own and its partner's count). A poller yields the
# core every _YIELD_EVERY polls: when the partner was woken on the same CPU, it runs at once.
# A yield that takes long is no reason to stop: the old rule (a yield over 100 us: sleep for
# 1 s) fired on an idle machine whenever both processes shared a CPU for a moment, and kept
# polling off most of the time (2,462 of 3,001 waits; bench/README.md).
_RECHECK = 0.05
_YIELD_EVERY = 1
_REPEAT = b"\0\0\0\0"  # a message of length 0: the last message again (see _Channel)

# A layout entry: (offset in the arena, dtype str, shape), or ("inline", array) for arrays
# that cannot live in shared memory (object dtype: strings).


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


def _readable(sock: socket.socket | None, timeout: float) -> bool:
    import select

    return sock is not None and bool(select.select([sock], [], [], timeout)[0])


def _layout(arrays: Sequence[Array], start: int = _HEADER) -> tuple[list[Any], int, bool]:
    """Where each array goes in the arena, the bytes needed, and whether any array goes inline
    (in the message, not the arena)."""
    out: list[Any] = []
    end = start
    inline = False
    for a in arrays:
        if a.dtype.hasobject:
            out.append(("inline", a))
            inline = True
            continue
        out.append((end, a.dtype.str, a.shape))
        end = _align(end + a.nbytes)
    return out, end, inline


class _Views:
    """numpy views of one arena by layout entry, made once: a call at the same shapes as the
    last reuses them (making a view costs more than copying a small array into it). Cleared
    before the arena is unmapped: a live view keeps the mapping exported."""

    def __init__(self) -> None:
        self.buf: mmap.mmap | None = None
        self.views: dict[Any, Array] = {}

    def get(self, buf: mmap.mmap, entry: tuple[int, str, tuple[int, ...]]) -> Array:
        if buf is not self.buf:
            self.views = {}
            self.buf = buf
        view = self.views.get(entry)
        if view is None:
            if len(self.views) > 64:  # many shapes: keep the newest only
                self.views = {}
            offset, dtype, shape = entry
            view = np.ndarray(shape, np.dtype(dtype), buffer=buf, offset=offset)
            self.views[entry] = view
        return view

    def clear(self) -> None:
        self.views = {}
        self.buf = None


def _write(buf: mmap.mmap, layout: list[Any], arrays: Sequence[Array], views: _Views) -> None:
    for entry, a in zip(layout, arrays, strict=True):
        if entry[0] != "inline" and a.nbytes:
            np.copyto(views.get(buf, entry), a, casting="no")


def _read(buf: mmap.mmap, layout: list[Any], views: _Views, *, copy: bool) -> list[Array]:
    out: list[Array] = []
    for entry in layout:
        if entry[0] == "inline":
            out.append(entry[1])
            continue
        a = views.get(buf, entry)
        out.append(a.copy() if copy else a)
    return out


class _Channel:
    """Pickled messages over a stream socket, a 4-byte length first, one syscall each way for
    a small message (multiprocessing's Connection reads header and body apart); a message may
    carry file descriptors (SCM_RIGHTS). One message in flight each way at a time.

    A message equal to the last one sent goes as a length of 0 (``_REPEAT``) and the other
    side takes its last message again: a predict loop at one batch size sends the same command
    and gets the same reply layout every call, and pickling them was half of a round trip's
    ~50 us. So messages are values: neither side changes one after sending or receiving it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray(1 << 16)
        self.anc = socket.CMSG_SPACE(struct.calcsize("i"))
        self.sent: Any = None  # the last message sent (None: none to repeat) and received
        self.received: Any = None
        self.calm_after = 0.0  # no polling before this time (perf_counter): the CPU is busy
        self.checked = 0.0  # when to read the machine's load again

    def send(self, obj: Any, fds: Sequence[int] = (), *, fresh: bool = False) -> None:
        """Send ``obj`` (with ``fds``); ``fresh``: never as a repeat (it holds arrays, whose
        contents may have changed under an equal identity)."""
        if not fds and not fresh and self.sent is not None:
            try:
                same = obj == self.sent
            except (ValueError, TypeError):  # arrays inside (inline strings) do not compare
                same = False
            if same is True:  # the same message again (a predict loop): 4 bytes, no pickle
                self.sock.sendall(_REPEAT)
                return
        body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        data = struct.pack("<I", len(body)) + body
        self.sent = None if fds else obj
        if fds:
            sent = socket.send_fds(self.sock, [data], list(fds))
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def recv(self, *, fds: bool = False, spin: float = 0.0) -> tuple[Any, list[int]]:
        """The next message and the file descriptors that came with it; EOFError when the other
        end is gone. ``spin``: poll for it this many seconds before sleeping in the kernel,
        unless the machine is crowded (see ``SPIN``)."""
        if spin > 0:
            self._poll(spin)
        # a small message whole in one recv, into the buffer: no loop, no new bytes object
        if fds:
            n, anc, _, _ = self.sock.recvmsg_into([self.buf], self.anc)
            got = _fds(anc)
        else:
            n, got = self.sock.recv_into(self.buf), []
        if not n:
            raise EOFError
        if n >= 4 and n == 4 + struct.unpack_from("<I", self.buf)[0]:
            if n == 4:  # _REPEAT: the last message again
                return self.received, got
            with memoryview(self.buf) as whole:
                self.received = pickle.loads(whole[4:n])
            return self.received, got
        return self._rest(n, got, fds)  # the rest to come

    def _poll(self, spin: float) -> None:
        """Return once the socket has something to read, or after ``spin`` seconds, or at once
        when the machine is crowded (then the caller sleeps in the kernel)."""
        clock = time.perf_counter
        now = clock()
        if now < self.calm_after:
            return
        if now > self.checked:  # at most every _RECHECK seconds
            self.checked = now + _RECHECK
            if _crowded():
                self.calm_after = self.checked
                return
        deadline = now + spin
        peek, flags = self.sock.recv, socket.MSG_PEEK | socket.MSG_DONTWAIT
        polls = 0
        while True:
            try:
                peek(1, flags)
                return  # a message (or the end of the stream) to read
            except BlockingIOError:
                pass
            polls += 1
            if polls % _YIELD_EVERY == 0:
                os.sched_yield()  # a shared core goes to whoever waits for it
            if clock() > deadline:
                return

    def _rest(self, have: int, got: list[int], fds: bool) -> tuple[Any, list[int]]:
        """``recv`` once ``have`` bytes of the message are in ``self.buf``."""
        need = 4
        while True:
            if have >= 4 and need == 4:
                need = 4 + struct.unpack_from("<I", self.buf)[0]
                if need > len(self.buf):
                    self.buf.extend(bytes(need - len(self.buf)))
            if have >= need:
                break
            with memoryview(self.buf) as whole, whole[have:] as view:
                if fds:
                    n, anc, _, _ = self.sock.recvmsg_into([view], self.anc)
                    got += _fds(anc)
                else:
                    n = self.sock.recv_into(view)
            if n == 0:
                raise EOFError
            have += n
        if need == 4:
            return self.received, got
        with memoryview(self.buf) as whole:
            self.received = pickle.loads(whole[4:need])
        return self.received, got


def _fds(anc: list[tuple[int, int, bytes]]) -> list[int]:
    """The file descriptors in a message's ancillary data (SCM_RIGHTS)."""
    got: list[int] = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got += struct.unpack(f"{len(data) // 4}i", data[: len(data) // 4 * 4])
    return got


# ---------------------------------------------------------------------------- the caller's side


class _Child:
    """The child process, its socket and the arena: what the finalizer ends (never the
    IsolatedSession itself, so that it can be collected)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.chan: _Channel | None = None
        self.sock: socket.socket | None = None
        self.fd = -1
        self.buf: mmap.mmap | None = None
        self.size = 0
        self.views = _Views()
        self.pid = os.getpid()  # the process that owns the child

    def abandon(self) -> None:
        """In a fork of the owner: let go of this process's copies of the socket and the
        arena, leaving the owner's child alone."""
        self.proc = None
        self.shutdown()

    def resize(self, size: int) -> None:
        """A new arena of at least ``size`` bytes (the child is told by the caller)."""
        size = max(_MIN_ARENA, 1 << (size - 1).bit_length())
        fd = _anonymous_file(size)
        self.close_arena()
        self.fd, self.size = fd, size
        self.buf = mmap.mmap(fd, size)

    def close_arena(self) -> None:
        self.views.clear()
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
        self.chan = None
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


def _spin() -> tuple[float, float]:
    """How long to poll for a message before sleeping (``SPIN``); 0 when this process may run
    on one CPU only: the other process needs that CPU to answer."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS has no affinity
        cpus = os.cpu_count() or 1
    return (SPIN, IDLE_SPIN) if cpus > 1 else (0.0, 0.0)


def _crowded() -> bool:
    """Whether more threads are runnable right now than the machine has CPUs: the 4th field
    of /proc/loadavg, "runnable/total", counts this one too (~20 us to read)."""
    try:
        with open("/proc/loadavg", "rb") as f:
            runnable = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):  # pragma: no cover - no /proc (macOS)
        return False
    return runnable > (os.cpu_count() or 1)


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
        self._spin = 0.0
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
            # The Model and the inputs the Runner resolved (its signature's subgraph), pickled
            # (the bytes too when the model came as bytes), cross through memory, not the
            # socket: the child neither parses the file again (~0.1 s) nor derives the inputs
            data = pickle.dumps((self.model, self.inputs), protocol=pickle.HIGHEST_PROTOCOL)
            model_fd = _anonymous_file(len(data))
            with mmap.mmap(model_fd, len(data)) as m:
                m[:] = data
            source = self.source if isinstance(self.source, str) else None
            fds = [theirs.fileno(), child.fd, model_fd]
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
        child.chan = _Channel(mine)
        self._spin, idle_spin = _spin()
        self._call(
            "open",
            [],
            (source, len(data), child.size, self.num_threads, self.signature_key, idle_spin),
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
        if child.pid != os.getpid():  # this process is a fork: a child of its own
            self._finalizer.detach()
            child.abandon()
            self._child = child = _Child()
            self._finalizer = weakref.finalize(self, child.shutdown)
        if child.proc is None:
            self._start()
        layout, need, inline = _layout(arrays)
        arena: tuple[Any, list[int]] = (None, [])
        if need > child.size:  # a new arena, sent with the command
            child.resize(need)
            arena = (child.size, [child.fd])
        assert child.buf is not None and child.chan is not None
        _write(child.buf, layout, arrays, child.views)
        call = "invoke" if command not in ("open", "reset") else "open"
        chan = child.chan
        try:
            chan.send((command, layout, args, arena[0]), arena[1], fresh=inline)
            while True:
                if timeout is not None and not _readable(child.sock, timeout):
                    raise TimeoutError  # pragma: no cover - a child that never answers
                reply, _ = chan.recv(spin=self._spin)
                if reply[0] != "grow":
                    break
                child.resize(reply[1])  # outputs larger than the arena: again, in a new one
                chan.send(("fetch", [], (), child.size), [child.fd])
        except (EOFError, OSError, TimeoutError):
            raise self._crash(call) from None
        except BaseException:
            child.stop()  # interrupted mid-call: the next call starts afresh
            raise
        status, result, state, caught = reply
        if state is not None:
            self.in_shapes, self.delegate = list(state[0]), state[1]
        for category, message in caught:
            warnings.warn(message, category, stacklevel=caller_stacklevel())
        if status == "err":
            raise result
        out_layout, extra = result
        return _read(child.buf, out_layout, child.views, copy=True), extra

    # ------------------------------------------------------------------ Session's methods

    def open(self) -> None:
        """Re-open the interpreter in the child (the model's initial state)."""
        if self._child.proc is None:
            self._start()
        else:
            self._call("reset", [])

    def run_batch(self, batcher: Batcher, feeds: list[Array], n: int | None) -> list[Array]:
        """``batcher.run(feeds, n)`` in one round trip: the whole batch crosses once and a
        Batcher in the child with this one's settings runs it there (the same code as in
        process: chunks, padding, auto batching's timing); what that Batcher decided comes
        back into ``batcher``."""
        b = batcher
        settings = (b.batching, b.batch_size, b.batch_axis, b.fixed, b.stateful, b.signature)
        outs, (b.decided, b.choices) = self._call(
            "batch", feeds, (n, settings, b.decided, dict(b.choices))
        )
        return outs  # type: ignore[no-any-return]

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

    def __init__(self, chan: _Channel, arena_fd: int, model_fd: int) -> None:
        self.chan = chan
        self.arena_fd = arena_fd
        self.model_fd = model_fd
        self.sent_shapes: Any = None  # the state last sent (see state())
        self.sent_delegate: Any = None
        self.views = _Views()
        self.buf: mmap.mmap | None = None
        self.session: Any = None
        self.pending: list[Array] = []  # outputs kept until they fit the arena
        self.batcher: Batcher | None = None
        self.spin = 0.0
        self.extra: Any = None
        self.caught: list[tuple[type[Warning], str]] = []

    def phase(self, code: int) -> None:
        assert self.buf is not None
        self.buf[0] = code

    def map(self, size: int) -> None:
        self.views.clear()
        if self.buf is not None:
            self.buf.close()
        self.buf = mmap.mmap(self.arena_fd, size)
        os.close(self.arena_fd)

    def open(self, source: Any, n: int, size: int, num_threads: Any, key: Any, spin: float) -> None:
        from tflkit._interpreter import Session
        from tflkit.loader import interpreter_source

        self.map(size)
        self.spin = spin
        with mmap.mmap(self.model_fd, n, prot=mmap.PROT_READ) as m:
            model, inputs = pickle.loads(m)
        os.close(self.model_fd)
        if source is None:  # the bytes the caller's Model was loaded from
            source = interpreter_source(model)
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
            model, source, inputs, num_threads=num_threads, signature_key=key
        )

    def handle(self, command: str, layout: list[Any], args: tuple[Any, ...]) -> Any:
        """The command's outputs (a list of arrays) and extra data."""
        session = self.session
        if command == "open":
            self.open(*args)
            return [], None
        assert self.buf is not None
        arrays = _read(self.buf, layout, self.views, copy=False)
        self.phase(_INVOKE)
        if command == "batch":
            return self.run_batch(arrays, *args)
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

    def run_batch(
        self,
        feeds: list[Array],
        n: int | None,
        settings: tuple[Any, ...],
        decided: str | None,
        choices: dict[int, str],
    ) -> Any:
        """The caller's ``Batcher.run`` here: a Batcher with its settings on this Session."""
        b = self.batcher
        batching, size, axis, fixed, stateful, signature = settings
        if b is None or (b.batch_axis, b.fixed, b.stateful, b.signature) != settings[2:]:
            b = self.batcher = Batcher(
                self.session,
                batching=batching,
                batch_size=size,
                batch_axis=axis,
                fixed=fixed,
                stateful=stateful,
                signature=signature,
            )
        # copies: a message is never changed after it came or went (see _Channel)
        b.batching, b.batch_size, b.decided, b.choices = batching, size, decided, dict(choices)
        return b.run(feeds, n), (b.decided, dict(b.choices))

    def reply_outputs(self) -> Any:
        """The pending outputs in the arena, or ("grow", bytes) when they do not fit; and
        whether any output goes inline."""
        layout, need, inline = _layout(self.pending)
        assert self.buf is not None
        if need > len(self.buf):
            return ("grow", need), False
        _write(self.buf, layout, self.pending, self.views)
        self.pending = []
        return ("ok", (layout, self.extra), self.state(), self.flush()), inline

    def state(self) -> Any:
        """The Session's input shapes and delegate when they changed since the last reply."""
        s = self.session
        if s is None or (s.in_shapes == self.sent_shapes and s.delegate == self.sent_delegate):
            return None
        self.sent_shapes, self.sent_delegate = list(s.in_shapes), s.delegate
        return self.sent_shapes, s.delegate

    def flush(self) -> list[tuple[type[Warning], str]]:
        caught, self.caught = self.caught, []
        return caught

    def serve(self) -> None:
        chan = self.chan
        while True:
            try:
                (command, layout, args, arena), fds = chan.recv(fds=True, spin=self.spin)
            except (EOFError, OSError):
                return
            if arena is not None:  # a new arena came with the command
                self.arena_fd = fds[0]
                self.map(arena)
            if command != "fetch":
                try:
                    self.pending, self.extra = self.handle(command, layout, args)
                    if self.buf is not None:
                        self.phase(_IDLE)
                except BaseException as exc:  # noqa: BLE001 - every error goes to the caller
                    if self.buf is not None:
                        self.phase(_IDLE)
                    self.pending = []
                    chan.send(("err", _picklable(exc), self.state(), self.flush()))
                    continue
            reply, inline = self.reply_outputs()
            chan.send(reply, fresh=inline)


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure: the text is what matters
        if isinstance(exc, TflkitError):
            return TflkitError(str(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def main(argv: Sequence[str]) -> None:
    """The child: ``python -m tflkit._isolated SOCKET_FD ARENA_FD MODEL_FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    sock = socket.socket(fileno=int(argv[0]))
    server = _Server(_Channel(sock), int(argv[1]), int(argv[2]))

    def record(message: Any, category: Any, *rest: Any, **kwargs: Any) -> None:
        server.caught.append((category, str(message)))

    warnings.simplefilter("always")  # the caller's filters decide
    warnings.showwarning = record
    server.serve()
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: the runtime's destructors are not needed


if __name__ == "__main__":
    main(sys.argv[1:])

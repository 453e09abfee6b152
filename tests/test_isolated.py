"""Isolated runs (issue 23, items 4-5): ``Runner(model, isolated=True)`` runs the runtime in a
child process; a crash becomes ``RuntimeCrashError`` and this process lives on.

Truths: the MANIFEST's crash facts (``aborts_at_allocate``, ``allocate_exit_code``), the exit
status of LiteRT's own interpreter run by hand in a subprocess on the same bytes, the
in-process Runner (outputs equal bit for bit), and /proc and /dev/shm (nothing left behind).

The Runner refuses the crashes it knows from the file before any runtime starts; to crash the
runtime for real these tests switch that refusal off with ``monkeypatch`` (``without_refusal``):
the child never refuses anything itself, so what it meets is what an unknown file would do.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MODELS, ROOT, Cli, edited

import tflkit
from tflkit import RuntimeCrashError, UnsupportedModelError
from tflkit._inputs import random_inputs
from tflkit.testing import assert_runs

CRASHING = sorted(n for n, m in MODELS.items() if m.get("aborts_at_allocate"))
RUNNABLE = sorted(n for n, m in MODELS.items() if m["runs_in_litert"])
MLP = FIXTURES / "mlp_int8.tflite"


@pytest.fixture
def without_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Runner's refusal of known crashes switched off (this process only: the child
    refuses nothing)."""
    monkeypatch.setattr("tflkit.runner.runtime_hazards", lambda model: iter(()))


def _zero_point_mutant() -> bytes:
    """quantize_int8.tflite with its int8 output's zero point at 100000: LiteRT indexes a table
    with it (the mutants the Runner now refuses from the file)."""

    def edit(model: Any) -> None:
        q = model.subgraphs[0].tensors[1].quantization
        q.zeroPoint = [100000] * len(q.zeroPoint)

    return edited("quantize_int8.tflite", edit)


def _plain_interpreter_exit(data: bytes, tmp_path: Path) -> int:
    """The exit status of LiteRT's interpreter opening and allocating the bytes, by hand."""
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    code = (
        "import sys\nfrom ai_edge_litert.interpreter import Interpreter\n"
        "Interpreter(model_path=sys.argv[1]).allocate_tensors()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=120)
    return done.returncode


def _our_fds() -> set[str]:
    """This process's open files that are isolated arenas."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "tflkit-isolated" in target:
            out.add(fd)
    return out


def _children() -> set[int]:
    """Live (not zombie) child processes of this process."""
    me = os.getpid()
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(pid))
    return found


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test when it leaves a child process, an arena or a /dev/shm segment behind."""
    gc.collect()
    shm, fds, kids = set(os.listdir("/dev/shm")), _our_fds(), _children()
    yield
    gc.collect()
    assert _children() - kids == set()
    assert _our_fds() - fds == set()
    assert set(os.listdir("/dev/shm")) - shm == set()


def _inputs(runner: Any, n: int) -> dict[str, np.ndarray]:
    x, _ = random_inputs(runner.inputs, runner.input_names, n, seed=7, batch_axis=runner.batch_axis)
    return x


# ---------------------------------------------------------------- crashes


@pytest.mark.parametrize("name", CRASHING)
def test_crashing_fixture_raises_and_the_next_runner_works(
    name: str, without_refusal: None, no_leaks: None
) -> None:
    facts = MODELS[name]
    want = signal.Signals(-facts["allocate_exit_code"]).name  # -6: SIGABRT
    with pytest.raises(RuntimeCrashError) as caught:
        tflkit.Runner(FIXTURES / name, isolated=True)
    exc = caught.value
    assert (exc.signal, exc.phase, exc.model) == (want, "allocate", name)
    assert str(exc) == f"{name}: the runtime crashed ({want}) during allocate"
    assert isinstance(exc, tflkit.UnsupportedModelError) and isinstance(exc, tflkit.TflkitError)
    # this process lives on, and the next isolated runner runs
    x = np.random.default_rng(0).random((4, 32), dtype=np.float32)
    with tflkit.Runner(MLP, isolated=True) as runner:
        np.testing.assert_array_equal(runner.predict(x), tflkit.Runner(MLP).predict(x))


def test_zero_point_mutant_crash_matches_the_plain_interpreter(
    tmp_path: Path, without_refusal: None, no_leaks: None
) -> None:
    data = _zero_point_mutant()
    truth = _plain_interpreter_exit(data, tmp_path)
    assert truth < 0  # the runtime dies of a signal on it
    with pytest.raises(RuntimeCrashError) as caught:
        tflkit.Runner(data, isolated=True)
    assert caught.value.exit_code == truth
    assert caught.value.signal == signal.Signals(-truth).name
    assert str(caught.value).startswith("<bytes>: the runtime crashed (SIG")


def test_known_crashes_are_still_refused_before_any_child(no_leaks: None) -> None:
    for name in CRASHING:
        with pytest.raises(UnsupportedModelError) as caught:
            tflkit.Runner(FIXTURES / name, isolated=True)
        assert not isinstance(caught.value, RuntimeCrashError)


@pytest.mark.parametrize("poll", [0.0, 0.5], ids=["asleep", "polling"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV])
def test_child_killed_between_calls_raises_once_then_restarts(
    sig: int, poll: float, monkeypatch: pytest.MonkeyPatch, no_leaks: None
) -> None:
    # both ways of waiting for a reply: asleep in the kernel, and polling (machine load aside)
    monkeypatch.setattr("tflkit._isolated.SPIN", poll)
    monkeypatch.setattr("tflkit._isolated._crowded", lambda: False)
    x = np.random.default_rng(1).random((64, 32), dtype=np.float32)
    want = tflkit.Runner(MLP).predict(x)
    with tflkit.Runner(MLP, isolated=True) as runner:
        np.testing.assert_array_equal(runner.predict(x), want)
        pid = runner._session.pid
        os.kill(pid, sig)
        with pytest.raises(RuntimeCrashError) as caught:
            runner.predict(x)
        assert caught.value.signal == signal.Signals(sig).name
        assert caught.value.phase == "invoke"
        assert not Path(f"/proc/{pid}").exists()  # reaped
        np.testing.assert_array_equal(runner.predict(x), want)  # a new child
        np.testing.assert_array_equal(runner.predict(x[:1]), want[:1])
        assert runner._session.pid not in (None, pid)


def test_crash_error_survives_pickling() -> None:
    exc = RuntimeCrashError("m.tflite", "invoke", signal="SIGSEGV", exit_code=-11)
    back = pickle.loads(pickle.dumps(exc))
    assert (back.model, back.phase, back.signal, back.exit_code, str(back)) == (
        "m.tflite",
        "invoke",
        "SIGSEGV",
        -11,
        "m.tflite: the runtime crashed (SIGSEGV) during invoke",
    )


# ---------------------------------------------------------------- same outputs, no leaks


@pytest.mark.parametrize("name", RUNNABLE)
def test_isolated_outputs_equal_in_process_bit_for_bit(name: str, no_leaks: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        here = tflkit.Runner(FIXTURES / name)
        with tflkit.Runner(FIXTURES / name, isolated=True) as there:
            assert there.isolated and not here.isolated
            sizes = [1, 5] if here.batch_axis is not None else [1]
            for n in sizes:
                x = _inputs(here, n)
                for raw in (False, True):
                    if raw and any(t.is_quantized_int for t in here.inputs):
                        continue  # raw feeds take the stored dtypes: drawn for real values here
                    a, b = here.predict(x, raw=raw), there.predict(x, raw=raw)
                    a = a if isinstance(a, dict) else {"": a}
                    b = b if isinstance(b, dict) else {"": b}
                    assert a.keys() == b.keys()
                    for k in a:
                        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                        np.testing.assert_array_equal(a[k], b[k])
            assert there.delegate == here.delegate  # (auto batching: timed, may differ)


def test_signature_on_another_subgraph_intermediates_and_state(no_leaks: None) -> None:
    two = FIXTURES / "two_signatures.tflite"
    here = tflkit.Runner(two, signature="encode")
    with tflkit.Runner(two, signature="encode", isolated=True) as there:
        x = _inputs(here, 3)
        np.testing.assert_array_equal(here.predict(x), there.predict(x))
    here = tflkit.Runner(MLP)
    with tflkit.Runner(MLP, isolated=True) as there:
        x = _inputs(here, 2)
        a, b = here.intermediates(x), there.intermediates(x)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        assert len(there.time_invoke(x, repeat=3)) == 3
    counter = FIXTURES / "stateful_counter.tflite"
    here = tflkit.Runner(counter)
    with tflkit.Runner(counter, isolated=True) as there:
        x = _inputs(here, 3)
        for _ in range(2):  # the state carries over calls, and reset() restores it
            np.testing.assert_array_equal(here.predict(x), there.predict(x))
        here.reset()
        there.reset()
        np.testing.assert_array_equal(here.predict(x), there.predict(x))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("mlp_fixed_batch1.tflite", {}),  # sample by sample, padded
        ("mlp_int8.tflite", {"batch_size": 7}),  # chunks
        ("mlp_int8.tflite", {"batching": "per-sample"}),
        ("mlp_int8.tflite", {}),  # auto: timed on the first batch
        ("stateful_counter.tflite", {}),  # sample by sample, state carried
    ],
)
def test_a_batch_crosses_once(
    name: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch, no_leaks: None
) -> None:
    from tflkit._isolated import IsolatedSession

    here = tflkit.Runner(FIXTURES / name, **options)
    with tflkit.Runner(FIXTURES / name, isolated=True, **options) as there:
        x = _inputs(here, 40)
        commands: list[str] = []
        call = IsolatedSession._call

        def counted(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
            commands.append(command)
            return call(self, command, *args, **kwargs)

        monkeypatch.setattr(IsolatedSession, "_call", counted)
        for _ in range(2):
            np.testing.assert_array_equal(there.predict(x), here.predict(x))
        assert commands == ["batch", "batch"]
        # what the child's Batcher decided is the Runner's, and survives pickling
        assert there.batching in ("batched", "per-sample", "fixed-batch")
        again = pickle.loads(pickle.dumps(there))
        try:
            assert again.batching == there.batching and again.isolated
            fresh = tflkit.Runner(FIXTURES / name, **options)  # a stateful model starts afresh
            np.testing.assert_array_equal(again.predict(x), fresh.predict(x))
        finally:
            again.close()


def test_a_message_equal_to_the_last_crosses_as_four_bytes() -> None:
    """The wire (read raw from the socket): a message equal to the last one goes as a length
    of 0, a changed one, one marked fresh (it holds arrays) or one carrying a file descriptor
    goes whole; the receiving side gets each message's value."""
    import copy
    import socket
    import struct

    from tflkit._isolated import _Channel

    command = ("batch", [(64, "|i1", (5, 32))], (5, ("auto", None, 0, None, False, None)), None)
    changed = ("batch", [(64, "|i1", (6, 32))], (6, ("auto", None, 0, None, False, None)), None)
    sends: list[tuple[Any, dict[str, Any]]] = [
        (command, {}),
        (copy.deepcopy(command), {}),  # equal, another object
        (command, {"fresh": True}),
        (changed, {}),
        (changed, {}),
        (command, {}),
    ]
    whole = [True, False, True, True, False, True]
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(10)
        sender = _Channel(a)
        for (message, kwargs), want_whole in zip(sends, whole, strict=True):
            sender.send(message, **kwargs)
            data = b.recv(1 << 16)
            (length,) = struct.unpack_from("<I", data)
            assert length == len(data) - 4
            assert (length > 0) is want_whole
        with open(os.devnull, "rb") as f:  # a file descriptor goes with it: whole
            sender.send(command)
            assert len(b.recv(1 << 16)) == 4
            sender.send(command, [f.fileno()])
            data, anc, _, _ = b.recvmsg(1 << 16, socket.CMSG_SPACE(4))
            assert len(data) > 4 and anc
            for _, _, fd in anc:
                os.close(int.from_bytes(fd[:4], sys.byteorder))
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(10)
        sender, receiver = _Channel(a), _Channel(b)
        for message, kwargs in sends:
            sender.send(message, **kwargs)
            got, fds = receiver.recv()
            assert got == message and fds == []


@pytest.mark.parametrize("batching", ["auto", "batched", "per-sample"])
def test_repeated_calls_follow_new_values_and_sizes(batching: str, no_leaks: None) -> None:
    """Calls at one size repeat the last command (4 bytes), yet each call's values cross, and
    a new size, the decisions of auto batching and a size seen before all come through."""
    here = tflkit.Runner(MLP, batching=batching)
    rng = np.random.default_rng(11)
    with tflkit.Runner(MLP, isolated=True, batching=batching) as there:
        for n in (5, 5, 5, 40, 40, 5, 1, 1, 40):
            x = rng.random((n, 32), dtype=np.float32)
            np.testing.assert_array_equal(there.predict(x), here.predict(x))
        x = rng.random((5, 32), dtype=np.float32)
        before = there.predict(x)
        x *= 0.5  # the same array object, new values: not a repeat of the values
        after = there.predict(x)
        np.testing.assert_array_equal(after, here.predict(x))
        assert not np.array_equal(before, after)


def test_batches_larger_than_the_arena(no_leaks: None) -> None:
    x = np.random.default_rng(2).random((40_000, 32), dtype=np.float32)  # 5 MB in, 1.6 MB out
    want = tflkit.Runner(MLP).predict(x)
    with tflkit.Runner(MLP, isolated=True) as runner:
        # small first (views of the first arena made), then the arena grows on both sides,
        # then small again in the new one
        for k in (3, 40_000, 3, 3):
            np.testing.assert_array_equal(runner.predict(x[:k]), want[:k])


def test_model_given_as_bytes(no_leaks: None) -> None:
    data = MLP.read_bytes()
    x = np.random.default_rng(3).random((5, 32), dtype=np.float32)
    with tflkit.Runner(data, isolated=True) as runner:
        np.testing.assert_array_equal(runner.predict(x), tflkit.Runner(data).predict(x))


def test_close_ends_the_child_and_a_forgotten_runner_is_collected(no_leaks: None) -> None:
    runner = tflkit.Runner(MLP, isolated=True)
    pid = runner._session.pid
    assert pid is not None and pid in _children()
    runner.close()
    assert pid not in _children() and runner._session.pid is None
    assert runner.predict(np.zeros((1, 32), np.float32)).shape == (1, 10)  # starts again
    forgotten = tflkit.Runner(MLP, isolated=True)
    pid = forgotten._session.pid
    del forgotten, runner
    gc.collect()
    assert pid not in _children()


def test_errors_from_the_child_keep_their_type(no_leaks: None) -> None:
    # TILE with a negative multiple: the runtime (only in the child here) refuses it at invoke;
    # the truth is the in-process Runner's error, raised by the same runtime in this process
    tile = FIXTURES / "nb_tile.tflite"
    good = {"serving_default_multiples:0": np.array([2, 1], np.int32)}
    good["serving_default_x:0"] = np.arange(6, dtype=np.float32).reshape(2, 3)
    bad = {**good, "serving_default_multiples:0": np.array([-1, 2], np.int32)}
    with pytest.raises(UnsupportedModelError) as truth:
        tflkit.Runner(tile).predict(bad)
    assert "Multipliers must be non-negative" in str(truth.value)
    with tflkit.Runner(tile, isolated=True) as runner:
        pid = runner._session.pid
        with pytest.raises(UnsupportedModelError) as caught:
            runner.predict(bad)
        assert type(caught.value) is type(truth.value)  # not a RuntimeCrashError
        assert str(caught.value) == str(truth.value)
        assert runner._session.pid == pid  # the child lives on and runs the next call
        np.testing.assert_array_equal(runner.predict(good), tflkit.Runner(tile).predict(good))
        with pytest.raises(tflkit.InputError):
            runner.predict({**good, "serving_default_x:0": np.zeros(3)})  # refused here


# ---------------------------------------------------------------- assert_runs


def test_assert_runs_passes_on_a_good_model_and_fails_cleanly_on_a_crash(
    without_refusal: None, no_leaks: None
) -> None:
    out = assert_runs(MLP)
    assert out.shape == (1, 10)
    x = np.ones((2, 32), np.float32)
    np.testing.assert_array_equal(assert_runs(MLP, x), tflkit.Runner(MLP).predict(x))
    for name in CRASHING:
        with pytest.raises(
            AssertionError, match=r"the runtime crashed \(SIGABRT\) during allocate"
        ):
            assert_runs(FIXTURES / name)


def test_assert_runs_fails_on_a_refused_model(no_leaks: None) -> None:
    for name in CRASHING:
        with pytest.raises(AssertionError, match=name):
            assert_runs(FIXTURES / name)


# ---------------------------------------------------------------- item 5: check and inspect


@pytest.mark.parametrize("name", CRASHING)
def test_check_and_inspect_never_start_the_runtime(name: str, cli: Cli) -> None:
    # in a fresh process: the runtime is never imported, so it cannot crash
    code = (
        "import sys, tflkit\n"
        f"tflkit.check({str(FIXTURES / name)!r})\n"
        f"tflkit.load({str(FIXTURES / name)!r})\n"
        "assert 'ai_edge_litert' not in sys.modules and 'tensorflow' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    for command in ("check", "inspect"):  # a child each: a crash would end it with a signal
        result = cli.invoke(command, FIXTURES / name, entry="-m")
        assert result.exit_code in (0, 1), result.stderr
        assert "Traceback" not in result.stderr
    result = cli.invoke("check", FIXTURES / name)
    assert result.exit_code == 1 and "blockwise" in result.stdout


# ---------------------------------------------------------------- compare, run, bench --isolated


def _write_mutant(tmp_path: Path) -> Path:
    path = tmp_path / "zp_mutant.tflite"
    path.write_bytes(_zero_point_mutant())
    return path


def test_compare_isolated_leaves_out_a_crashing_model(
    tmp_path: Path, without_refusal: None, cli: Cli, no_leaks: None
) -> None:
    import json

    from jsonschema import validate

    mutant = _write_mutant(tmp_path)
    truth = _plain_interpreter_exit(mutant.read_bytes(), tmp_path)
    want = signal.Signals(-truth).name
    ref = FIXTURES / "quantize_int8.tflite"
    other = tmp_path / "copy.tflite"
    other.write_bytes(ref.read_bytes())
    result = cli.invoke(
        "compare", ref, mutant, other, "--isolated", "--no-speed", "-n", "8", "--json"
    )
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    schema = json.loads((ROOT / "schemas" / "compare.schema.json").read_text())
    validate(doc, schema)
    line = f"zp_mutant.tflite: the runtime crashed ({want}) during allocate; left out of the comparison"
    assert doc["crashed"] == [line] and line in doc["notes"]
    assert [m["name"] for m in doc["models"]] == ["quantize_int8", "copy"]
    assert result.stderr.strip().splitlines()[-1] == f"tflkit: error: {line}"
    # human output: the same line among the notes, exit 1
    result = cli.invoke("compare", ref, mutant, "--isolated", "--no-speed", "-n", "8")
    assert result.exit_code == 1 and "zp_mutant.tflite: the runtime crashed" in result.stdout


def test_compare_isolated_crash_during_the_run(no_leaks: None) -> None:
    x = np.random.default_rng(4).random((16, 32), dtype=np.float32)
    victim = tflkit.Runner(FIXTURES / "mlp_float32.tflite", isolated=True)
    os.kill(victim._session.pid, signal.SIGSEGV)
    c = tflkit.compare(
        [MLP, victim, FIXTURES / "mlp_float16.tflite"], x, speed=False, isolated=True
    )
    assert c.crashed == (
        "mlp_float32.tflite: the runtime crashed (SIGSEGV) during invoke; left out of the "
        "comparison",
    )
    assert [m.name for m in c.models] == ["mlp_int8", "mlp_float16"] and c.reference == 0
    plain = tflkit.compare([MLP, FIXTURES / "mlp_float16.tflite"], x, speed=False)
    assert c.models[1].outputs == plain.models[1].outputs
    victim.close()
    with pytest.raises(RuntimeCrashError):  # the reference crashing ends the comparison
        victim = tflkit.Runner(MLP, isolated=True)
        os.kill(victim._session.pid, signal.SIGKILL)
        tflkit.compare([victim, FIXTURES / "mlp_float16.tflite"], x, speed=False, isolated=True)
    victim.close()


def test_run_and_bench_isolated(tmp_path: Path, cli: Cli, no_leaks: None) -> None:
    import json

    x = np.random.default_rng(5).random((50, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    for flag in ([], ["--isolated"]):
        out = tmp_path / f"out{len(flag)}.npz"
        result = cli.invoke("run", MLP, "-i", tmp_path / "x.npy", "-o", out, *flag)
        assert result.exit_code == 0, result.stderr
    a, b = np.load(tmp_path / "out0.npz"), np.load(tmp_path / "out1.npz")
    assert a.files == b.files
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])
    result = cli.invoke("bench", MLP, "--isolated", "-s", "0.05", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["calls"] >= 10
    result = cli.invoke("run", MLP, "-i", tmp_path / "x.npy", "--isolated", "--ray")
    assert result.exit_code == 2 and "--isolated" in result.stderr


def test_a_forked_process_gets_a_child_of_its_own(no_leaks: None) -> None:
    x = np.random.default_rng(6).random((8, 32), dtype=np.float32)
    want = tflkit.Runner(MLP).predict(x)
    with tflkit.Runner(MLP, isolated=True) as runner:
        np.testing.assert_array_equal(runner.predict(x), want)
        owner = runner._session.pid
        pid = os.fork()
        if pid == 0:  # the fork: its own child, the parent's left alone
            code = 1
            try:
                ok = np.array_equal(runner.predict(x), want)
                code = 0 if ok and runner._session.pid not in (None, owner) else 1
                runner.close()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        np.testing.assert_array_equal(runner.predict(x), want)
        assert runner._session.pid == owner


# ---------------------------------------------------------------- the mutants, unrefused


def _unprotected_outcomes() -> dict[int, str]:
    """Each mutant's outcome in a plain process without the refusal: "ok", an error class
    name, or "crash -N" (the worker died of signal N on it)."""
    import json

    from test_runner_mutants import MODELS as MUTATED

    worker = Path(__file__).with_name("_unrefused_worker.py")
    paths = [str(FIXTURES / m) for m in MUTATED]
    outcomes: dict[int, str] = {}
    start = 0
    while start < 40 * len(paths):
        done = subprocess.run(
            [sys.executable, str(worker), str(start), *paths],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
        )
        current = None
        for line in done.stdout.splitlines():
            event = json.loads(line)
            if "start" in event:
                current = event["start"]
            else:
                outcomes[event["done"]], current = event["outcome"], None
        if current is None:
            break
        outcomes[current] = f"crash {done.returncode}"
        start = current + 1
    return outcomes


def test_every_mutant_gives_the_unprotected_outcome_and_a_crash_one_error(
    without_refusal: None, no_leaks: None
) -> None:
    from _mutant_worker import mutants, zeros
    from _unrefused_worker import outcome
    from test_runner_mutants import MODELS as MUTATED

    truth = _unprotected_outcomes()
    cases = mutants([str(FIXTURES / m) for m in MUTATED])
    assert len(truth) == len(cases) == 160
    crashes = {i for i, o in truth.items() if o.startswith("crash")}
    assert crashes, "no mutant crashes the runtime any more: the test proves nothing"

    def isolated(data: bytes) -> Any:
        return tflkit.Runner(data, isolated=True)

    for i, data in enumerate(cases):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if i in crashes:
                with pytest.raises(RuntimeCrashError) as caught:
                    runner = isolated(data)
                    names, inputs = runner.input_names, runner.inputs
                    runner.predict({n: zeros(t) for n, t in zip(names, inputs, strict=True)})
                code = int(truth[i].split()[1])
                assert caught.value.exit_code == code, (i, truth[i], str(caught.value))
            else:
                assert outcome(isolated, data) == truth[i], i

"""What the LiteRT runtime would crash on or cannot run, known from the file alone.

``Runner`` refuses a model with any of these before it opens the runtime: a crash (SIGSEGV,
SIGABRT) would take the whole process with it, not raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from tflkit.checks._text import op_text
from tflkit.checks.conformance import zero_point_finding
from tflkit.checks.profiles import blockwise_findings
from tflkit.model import Model, Operator, Subgraph
from tflkit.report import Finding

# Zero points the runtime's kernels never index a table with: int32 and int64 (biases).
_WIDE = ("int32", "int64")


def runtime_hazards(model: Model) -> Iterator[Finding]:
    """What the LiteRT runtime would crash on or cannot run, from the file, in this order:
    per subgraph, its Flex operators (rule ``builtin-ops-only``), its integer SVDF operators
    whose weights_time or state is not int16 (``svdf-int16``) and its zero points outside
    their dtype's range (``zero-point-in-range``; int32 and int64 excluded); then blockwise
    quantization outside the kernels that read it (``blockwise-ops``).

    A zero point out of range makes the file invalid (LiteRT's kernels index tables with it: a
    segfault); Flex ops and blockwise quantization on other kernels make a valid file the
    runtime cannot run (an int8 ADD of a blockwise constant aborts it at allocate_tensors()).

    Example:
        >>> next(runtime_hazards(tflkit.load("flex_cumprod.tflite"))).message
        "subgraph 0 operator 0 (CUSTOM 'FlexCumprod'): Flex ops need the TensorFlow runtime ..."
    """
    for sg in model.subgraphs:
        for op in sg.operators:
            if op.is_flex:
                yield Finding(
                    "builtin-ops-only",
                    f"subgraph {sg.index} {op_text(op)}: Flex ops need the TensorFlow runtime "
                    "(SELECT_TF_OPS), which the LiteRT interpreter does not include",
                    sg.index,
                    None,
                    op.index,
                )
            elif op.op == "SVDF":
                yield from _svdf(sg, op)
        for t in sg.tensors:
            found = None if t.dtype in _WIDE else zero_point_finding(sg, t)
            if found is not None:
                yield replace(found, message=f"{found.message}; the runtime would crash on it")
    yield from blockwise_findings(model)


def _svdf(sg: Subgraph, op: Operator) -> Iterator[Finding]:
    """LiteRT's full-integer SVDF (int8 input) reads weights_time (input 2) and the state
    (input 4) as int16 whatever their type (LiteRT@f67457790c9c tflite/kernels/svdf.cc:400-401,
    no check in Prepare): tflite-micro's int8 variant of either (keyword_scrambled_8bit.tflite)
    made it read past the buffers and abort the process."""
    ins = op.inputs
    if len(ins) < 5 or ins[0] < 0 or sg.tensors[ins[0]].dtype != "int8":
        return
    for k, what in ((2, "weights_time"), (4, "state")):
        t = sg.tensors[ins[k]] if ins[k] >= 0 else None
        if t is not None and t.dtype != "int16":
            yield Finding(
                "svdf-int16",
                f"subgraph {sg.index} {op_text(op)}: input {k} ({what}) {t.name!r} is "
                f"{t.dtype}, expected int16 with an int8 input: LiteRT's integer SVDF kernel "
                "reads it as int16 and would crash (tflite-micro's int8 variant)",
                sg.index,
                t.index,
                op.index,
            )
            return

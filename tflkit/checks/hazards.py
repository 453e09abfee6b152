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
from tflkit.model import Model
from tflkit.report import Finding

# Zero points the runtime's kernels never index a table with: int32 and int64 (biases).
_WIDE = ("int32", "int64")


def runtime_hazards(model: Model) -> Iterator[Finding]:
    """What the LiteRT runtime would crash on or cannot run, from the file, in this order:
    per subgraph, its Flex operators (rule ``builtin-ops-only``) and its zero points outside
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
        for t in sg.tensors:
            found = None if t.dtype in _WIDE else zero_point_finding(sg, t)
            if found is not None:
                yield replace(found, message=f"{found.message}; the runtime would crash on it")
    yield from blockwise_findings(model)

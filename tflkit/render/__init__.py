"""Results to JSON-ready dicts and rich renderables, one module per result type. Never prints,
never computes: what it shows comes from the result.

- ``model``: ``tflkit inspect`` (a Model); ``report``: ``tflkit check`` (a Report, the rules);
  ``conversion``: ``tflkit convert``; ``comparison``: ``tflkit compare`` (also Markdown);
  ``speed``: ``tflkit bench``; ``run``: ``tflkit run`` (a RunResult); ``diff``: ``tflkit
  diff`` and ``snapshot`` (plain lines).
- ``_text``: what they share: JSON numbers, sizes, ``shorten_middle`` (the one way a name is
  shortened: its start and end kept), the rich cells and lines that fit names to a terminal.

The dicts follow ``tflkit/schemas/*.schema.json``; the rich output fits an 80-column terminal.
Every name below is imported from its module on first use (PEP 562), so that ``import
tflkit.render`` stays light: ``tflkit inspect --json`` imports neither rich nor the renderers it
does not use, and rich is imported inside the functions that draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tflkit.render._text import ELLIPSIS, human_size, json_float, shorten_middle
    from tflkit.render.comparison import (
        CALL_MEANS,
        INVOKE_MEANS,
        comparison_markdown,
        comparison_renderables,
        comparison_to_dict,
    )
    from tflkit.render.conversion import conversion_renderables, conversion_to_dict
    from tflkit.render.diff import change_line, diff_lines, diff_to_dict, snapshot_to_dict
    from tflkit.render.model import batch_axis_text, inspect_renderables, model_to_dict
    from tflkit.render.report import (
        checked_summary,
        report_renderables,
        report_to_dict,
        rules_renderables,
    )
    from tflkit.render.run import run_renderables
    from tflkit.render.speed import benchmark_renderables

__all__ = [
    "CALL_MEANS",
    "ELLIPSIS",
    "INVOKE_MEANS",
    "batch_axis_text",
    "benchmark_renderables",
    "change_line",
    "checked_summary",
    "comparison_markdown",
    "comparison_renderables",
    "comparison_to_dict",
    "conversion_renderables",
    "conversion_to_dict",
    "diff_lines",
    "diff_to_dict",
    "human_size",
    "inspect_renderables",
    "json_float",
    "model_to_dict",
    "report_renderables",
    "report_to_dict",
    "rules_renderables",
    "run_renderables",
    "shorten_middle",
    "snapshot_to_dict",
]

# Where each public name lives (module names in full: the import-circle check reads them).
_HOME = {
    "ELLIPSIS": "tflkit.render._text",
    "human_size": "tflkit.render._text",
    "json_float": "tflkit.render._text",
    "shorten_middle": "tflkit.render._text",
    "batch_axis_text": "tflkit.render.model",
    "inspect_renderables": "tflkit.render.model",
    "model_to_dict": "tflkit.render.model",
    "checked_summary": "tflkit.render.report",
    "report_renderables": "tflkit.render.report",
    "report_to_dict": "tflkit.render.report",
    "rules_renderables": "tflkit.render.report",
    "conversion_renderables": "tflkit.render.conversion",
    "conversion_to_dict": "tflkit.render.conversion",
    "CALL_MEANS": "tflkit.render.comparison",
    "INVOKE_MEANS": "tflkit.render.comparison",
    "comparison_markdown": "tflkit.render.comparison",
    "comparison_renderables": "tflkit.render.comparison",
    "comparison_to_dict": "tflkit.render.comparison",
    "benchmark_renderables": "tflkit.render.speed",
    "run_renderables": "tflkit.render.run",
    "change_line": "tflkit.render.diff",
    "diff_lines": "tflkit.render.diff",
    "diff_to_dict": "tflkit.render.diff",
    "snapshot_to_dict": "tflkit.render.diff",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'tflkit.render' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

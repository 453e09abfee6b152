"""``tflkit diff`` without typer: what both the typer command and ``main()``'s fast path run.

``tflkit diff OLD NEW [--json] [--all]`` is meant to take about 0.3 s on two MobileNets, and
importing typer costs ~40 ms of that, so ``tflkit.cli.main`` runs the plain spellings here
directly, as it does ``inspect --json``; anything else (``--help``, options in other forms,
errors of usage) goes to the typer app. Both paths print the same lines and exit codes.
"""

from __future__ import annotations

import os
import sys

from tflkit.cli._common import EXIT_ERROR, EXIT_FAILED, EXIT_OK, echo_error, error_text, print_json


def diff_args(args: list[str]) -> tuple[str, str, bool, bool] | None:
    """(OLD, NEW, json, all) when ``args`` (after ``diff``) hold exactly those, else None."""
    flags = [a for a in args if a.startswith("-")]
    paths = [a for a in args if not a.startswith("-")]
    if len(paths) != 2 or not all(paths) or any(f not in ("--json", "--all") for f in flags):
        return None
    if len(set(flags)) != len(flags):
        return None
    return paths[0], paths[1], "--json" in flags, "--all" in flags


def run_diff(old: str | os.PathLike[str], new: str | os.PathLike[str], json_: bool,
             all_changes: bool) -> int:  # fmt: skip
    """Print the diff of two models; the exit code: 0 same, 1 different (errors raise)."""
    from tflkit.differ import diff
    from tflkit.render.diff import diff_lines, diff_to_dict

    d = diff(old, new)
    if json_:
        print_json(diff_to_dict(d))
    else:
        # Plain lines, already within 80 columns and without trailing spaces (what
        # print_trimmed is for): rich would add ~60 ms of imports to this command.
        lines = diff_lines(d, all_changes=all_changes)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in lines))
        sys.stdout.flush()
    return EXIT_OK if d.same else EXIT_FAILED


def diff_main(old: str, new: str, json_: bool, all_changes: bool) -> int:
    """``run_diff`` as the app runs it: a user error is one line on stderr and exit 2, a bug
    keeps its traceback and exits 2, an interrupt exits 130."""
    from pathlib import Path

    from tflkit.cli._common import report_bug
    from tflkit.errors import TflkitError

    try:
        try:
            # as typer passes them: Paths (which normalise "./m.tflite" to "m.tflite")
            return run_diff(Path(old), Path(new), json_, all_changes)
        except (TflkitError, OSError) as exc:
            echo_error(f"tflkit: error: {error_text(exc)}")
            return EXIT_ERROR
    except KeyboardInterrupt:
        echo_error("tflkit: interrupted")
        return 130
    except Exception as exc:
        raise SystemExit(EXIT_ERROR) from report_bug(exc)

"""``tflkit compare``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tflkit.cli._common import (
    print_json,
)
from tflkit.cli._shared import (
    AddressOpt,
    JsonOpt,
    RayOpt,
    error,
    print_trimmed,
    quiet_runtime,
    quiet_tensorflow,
    read_inputs,
    status,
)


def compare(
    models: Annotated[
        list[Path],
        typer.Argument(
            help="The reference model (usually float32, or the Keras / SavedModel source), then "
            "the models to compare with it.",
            show_default=False,
            metavar="BASE OTHER...",
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Inputs: a .npy, a .npz keyed by input name, or a directory or glob of shards "
            "(streamed; default: random).",
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            "-l",
            help="Class labels (.npy): indices or one-hot; shards with --data shards.",
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples", "-n", help="Use the first N samples (or draw N; default 256).", min=1
        ),
    ] = None,
    label_output: Annotated[
        str | None,
        typer.Option("--label-output", help="The output the labels are for (default: the first)."),
    ] = None,
    reference_outputs: Annotated[
        Path | None,
        typer.Option(
            "--reference-outputs",
            help="Measure errors against these outputs (.npz by output name, .npy for one "
            "output) instead of the first model's.",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG with size, latency and accuracy bars."),
    ] = None,
    per_tensor: Annotated[
        bool,
        typer.Option("--per-tensor", help="Also compare intermediate tensors with the same name."),
    ] = False,
    speed: Annotated[
        bool, typer.Option("--speed/--no-speed", help="Measure latency and throughput.")
    ] = True,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Threads for the runtime's kernels.", min=1)
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random inputs.")] = 0,
    ray: RayOpt = False,
    address: AddressOpt = None,
    json_: JsonOpt = False,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the tables as Markdown (for a pull request)."),
    ] = False,
) -> None:
    """Compare models with the first: size, accuracy, agreement, error and speed."""
    from tflkit._inputs import read_arrays
    from tflkit.comparison import compare as run_compare
    from tflkit.runner import Runner

    if json_ and markdown:
        error("--json and --markdown exclude each other (see 'tflkit compare --help')")
    if plot is not None:
        from tflkit._plot import require_matplotlib

        require_matplotlib()
    from tflkit._source import is_source_model

    # A Keras file or SavedModel first: the reference, run through TensorFlow by compare()
    source = [models[0]] if len(models) > 1 and is_source_model(models[0]) else []
    with quiet_runtime():
        runners = [Runner(m, num_threads=threads) for m in models[len(source) :]]
    from tflkit._stream import is_shard_spec

    use_ray = ray or address is not None
    if use_ray and (data is None or not is_shard_spec(data)):
        error("--ray compares shards: give a directory or a glob of shards as --data")
    if data is not None and is_shard_spec(data):
        if source or reference_outputs is not None or per_tensor or samples is not None:
            error(
                "--data shards stream through tflite models only: leave out a Keras/SavedModel "
                "reference, --reference-outputs, --per-tensor and --samples"
            )
        from tflkit.comparison import compare_stream

        if use_ray:
            from tflkit import ray as tray

            with quiet_runtime():
                workers = tray._start(address, threads or 1)
                with status(f"comparing models on shards ({workers} Ray actors)"):
                    result = tray._compare_shards(
                        runners,
                        data,
                        labels,
                        concurrency=workers,
                        num_threads=threads or 1,
                        speed=speed,
                        label_output=label_output,
                    )
            _show(result, plot, json_, markdown)
            return
        with quiet_runtime(), status("comparing models on shards"):
            result = compare_stream(
                runners, data, labels, num_threads=threads, speed=speed, label_output=label_output
            )
        _show(result, plot, json_, markdown)
        return
    x = read_inputs(data, runners[0]) if data is not None else None
    y = None
    if labels is not None:
        y = read_arrays(labels)
        if isinstance(y, dict):
            if len(y) != 1:
                error(f"{labels}: expected one array of labels, found {len(y)}")
            y = next(iter(y.values()))
    quiet = quiet_tensorflow() if source else contextlib.nullcontext()
    with quiet_runtime(), quiet, status("comparing models"):
        result = run_compare(
            [*source, *runners],
            x,
            y,
            samples=samples,
            seed=seed,
            num_threads=threads,
            speed=speed,
            per_tensor=per_tensor,
            label_output=label_output,
            data=str(data) if data is not None else None,
            reference_outputs=reference_outputs,
        )
    _show(result, plot, json_, markdown)


def _show(result: Any, plot: Path | None, json_: bool, markdown: bool) -> None:
    if plot is not None:
        result.plot(plot)
    if json_:
        print_json(result.to_dict())
    elif markdown:
        sys.stdout.write(result.to_markdown())
        sys.stdout.flush()
    else:
        from tflkit.render import comparison_renderables

        print_trimmed(comparison_renderables(result))
    if plot is not None:
        typer.echo(f"plot written to {plot}", err=True)

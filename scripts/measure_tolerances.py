#!/usr/bin/env python3
"""Measure how much a preset's scores move across execution environments and write its tolerance file.

Reruns ``reconbench bench --preset PRESET`` from scratch (stage cache off) once
per execution environment, each in its own process with its own variables:
torch/BLAS thread counts, ``ATEN_CPU_CAPABILITY`` (ATen's vector kernels),
``OPENBLAS_CORETYPE`` (numpy/scipy's BLAS kernels), ``ONEDNN_MAX_CPU_ISA``
(torch's convolutions) and ``MKL_ENABLE_INSTRUCTIONS`` (torch's BLAS), alone and
combined. Capabilities the CPU lacks (``avx512``) are skipped and reported. Then
it derives per-row tolerances against the reference leaderboard
(``reconbench.leaderboard.tolerances``) and writes ``tolerances.json`` beside it.

    python scripts/measure_tolerances.py --preset ci --reference results/ci --work /tmp/tolerance-runs

``--reference`` is the committed results folder; ``--regenerate-reference``
first reruns the preset in the plain environment into that folder (the command
of ``tox -e regression``'s reference). Runs already present under ``--work``
are reused (delete the folder to measure again). Prints one line per
environment with its largest change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.tolerances import (
    ENVIRONMENTS,
    PLAIN_THREADS,
    SAFETY,
    SEED_FACTOR,
    Environment,
    cpu_flags,
    derive_tolerances,
    supported,
    write_tolerances,
)


def bench(preset: str, data: Path, out: Path, environment: Environment | None, methods: str | None, grid: str = "headline") -> None:
    """Run ``reconbench bench`` in a child process with the environment's variables."""
    environment = environment or Environment("plain", {}, PLAIN_THREADS)
    env = environment.process_environment(os.environ)
    threads = environment.threads
    command = [
        sys.executable,
        "-m",
        "reconbench",
        "bench",
        "--preset",
        preset,
        "--data",
        str(data),
        "--out",
        str(out),
        "--threads",
        str(threads),
        "--no-compare",
    ]
    command += ["--grid", grid]
    if methods:
        command += ["--methods", methods]
    name = environment.name
    print(f"[{name}] {' '.join(command[1:])}", flush=True)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ci")
    parser.add_argument("--reference", type=Path, required=True, help="results folder of the reference (e.g. results/ci)")
    parser.add_argument("--work", type=Path, required=True, help="folder for the data and the reruns")
    parser.add_argument("--regenerate-reference", action="store_true")
    parser.add_argument("--methods", default=None, help="restrict the reruns to these methods (default: the preset's)")
    parser.add_argument("--grid", default="headline", help="the preset's grid the reference was made with (headline or all)")
    parser.add_argument("--safety", type=float, default=SAFETY)
    parser.add_argument("--seed-factor", type=float, default=SEED_FACTOR)
    parser.add_argument("--regenerate", default=None, help="the command that regenerates the reference, recorded for 'compare' (default: this script's)")
    parser.add_argument("--only", default=None, help="comma-separated environment names (default: all supported)")
    parser.add_argument("--parallel", type=int, default=1, help="reruns at a time (results do not depend on it)")
    args = parser.parse_args(argv)

    flags = cpu_flags()
    chosen = [e for e in ENVIRONMENTS if args.only is None or e.name in args.only.split(",")]
    skipped = [e.name for e in chosen if not supported(e, flags)]
    environments = [e for e in chosen if supported(e, flags)]
    if skipped:
        print(f"skipped (not supported by this CPU): {', '.join(skipped)}")
    data = args.work / "data"
    if args.regenerate_reference:
        shutil.rmtree(args.reference, ignore_errors=True)
        bench(args.preset, data, args.reference, None, args.methods, args.grid)
    reruns = {e.name: args.work / e.name for e in environments}
    todo = [e for e in environments if not (reruns[e.name] / "leaderboard" / "leaderboard.csv").is_file()]
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        list(pool.map(lambda e: bench(args.preset, data, reruns[e.name], e, args.methods, args.grid), todo))
    notes = f"measured on: {platform_line()}; skipped: {', '.join(skipped) or 'none'}"
    if args.methods:
        notes += f"; reruns restricted to {args.methods} (and the reference rows)"
    regenerate = args.regenerate or (
        f"python scripts/measure_tolerances.py --preset {args.preset} --grid {args.grid} --reference {args.reference} --work WORK_FOLDER --regenerate-reference"
        + (f" --methods {args.methods}" if args.methods else "")
        + (f" --only {args.only}" if args.only else "")
    )
    content = derive_tolerances(
        args.reference,
        reruns,
        environments,
        safety=args.safety,
        seed_factor=args.seed_factor,
        preset=args.preset,
        notes=notes,
        require_all=not args.methods,
        regenerate=regenerate,
    )
    write_tolerances(args.reference / "tolerances.json", content)
    for env in content["environments"]:
        print(f"{env['name']:>22}: largest change {env['largest_change']:.4g}")
    print(f"wrote {args.reference / 'tolerances.json'} ({len(content['rows'])} rows)")
    return 0


def platform_line() -> str:
    """CPU model name, core count and Python version, for the record."""
    import platform

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ReconbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)

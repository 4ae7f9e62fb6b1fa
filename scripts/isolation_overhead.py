#!/usr/bin/env python3
"""What per-cell process isolation costs, as ratios measured in one run.

Two modes:

``records RESULTS``
    Reads ``RESULTS/cells/*.json`` of a finished run (e.g. ``tox -e bench`` at
    ``default``) and reports, per cell and in total, the isolation overhead the
    run paid: ``method_process_seconds - fit_seconds - reconstruct_seconds``
    (start-up, sealing, job transfer and replies of the method process, as the
    parent saw them), against ``cell_seconds`` (the whole cell: data loading,
    method process, scoring). The total ratio is the overhead of the run's cells
    relative to what they would have taken in-process.

``measure --data DIR [--methods a,b] [--rounds N]``
    Runs the same cells of a simulated dataset both ways in this one process,
    alternating: isolated (``reconbench.bench.sandbox.run_method``: a forked,
    sealed method process) and in-process (``fit`` and ``reconstruct`` called
    here on the same ``TrainData``/``TestInput``). Prints each cell's wall times
    and the ratio isolated / in-process. The first isolated call of the run also
    starts the method-process server; it is reported apart ("cold").

Neither mode asserts anything: they print what they measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def _records(results: Path) -> int:
    cells = sorted((results / "cells").glob("*.json"))
    if not cells:
        print(f"no cell records in {results / 'cells'}", file=sys.stderr)
        return 2
    total_cell = total_overhead = 0.0
    counted = 0
    print(f"{'cell':<52} {'cell s':>8} {'fit+rec s':>9} {'process s':>9} {'overhead s':>10}")
    for path in cells:
        record = json.loads(path.read_text())
        overhead = record.get("isolation_overhead_seconds")
        cell_seconds = record.get("cell_seconds")
        spec = record.get("spec", {})
        label = f"{spec.get('method')}[{spec.get('param_set')}] {spec.get('subject')} s{spec.get('seed')}"
        if overhead is None or cell_seconds is None:
            print(f"{label:<52} {'(reference cell or older record: no process timing)':>40}")
            continue
        in_method = (record.get("fit_seconds") or 0.0) + (record.get("reconstruct_seconds") or 0.0)
        print(f"{label:<52} {cell_seconds:8.2f} {in_method:9.2f} {record['method_process_seconds']:9.2f} {overhead:10.2f}")
        total_cell += cell_seconds
        total_overhead += overhead
        counted += 1
    if counted:
        print(
            f"\n{counted} isolated cells: {total_cell:.1f} s of cell wall time, {total_overhead:.1f} s of isolation overhead "
            f"({total_overhead / counted:.2f} s per cell); overhead relative to the same cells in-process: "
            f"{100 * total_overhead / max(total_cell - total_overhead, 1e-9):.2f}%"
        )
    return 0


def _measure(data: Path, methods: list[str], rounds: int, threads: int) -> int:
    import numpy as np

    from reconbench.bench.cell import _load_split_cached
    from reconbench.bench.executors import limit_threads
    from reconbench.bench.registry import get_method
    from reconbench.bench.sandbox import method_kwargs, run_method, shutdown

    limit_threads(threads)
    split = _load_split_cached(str(data), "sub-01", None)
    test_inputs = dict(split.test_inputs)
    hidden = [str(data), str(data.resolve())]
    results: dict[str, dict[str, list[float]]] = {}
    cold = None
    for _ in range(rounds):
        for name in methods:
            method_name, _, param_set = name.partition(":")
            cls = get_method(method_name)
            params = cls.parameter_sets[param_set or "default"]
            request = {
                "method": method_name,
                "methods_dir": None,
                "params": dict(params),
                "seed": 0,
                "threads": threads,
                "seal": True,
                "module": cls.__module__,
                "class": cls.__qualname__,
                "file": sys.modules[cls.__module__].__file__,
            }
            start = time.perf_counter()
            outcome = run_method(request, split.train, test_inputs, hidden=hidden)
            isolated = time.perf_counter() - start
            if outcome.fit.error:
                print(f"{name}: {outcome.fit.error}", file=sys.stderr)
                return 1
            start = time.perf_counter()
            method = cls(**method_kwargs(cls, params, 0))
            method = method.fit(split.train) or method
            for test_input in test_inputs.values():
                np.asarray(method.reconstruct(test_input))
            in_process = time.perf_counter() - start
            if cold is None:
                cold = (name, isolated, in_process)
                continue
            entry = results.setdefault(name, {"isolated": [], "in_process": [], "child": []})
            entry["isolated"].append(isolated)
            entry["in_process"].append(in_process)
            entry["child"].append(outcome.fit.seconds + sum(t.seconds for t in outcome.test_sets.values()))
    shutdown()
    print(f"cold first cell ({cold[0]}, includes starting the method-process server): isolated {cold[1]:.2f} s, in-process {cold[2]:.2f} s")
    print(f"{'method':<28} {'in-process s':>12} {'isolated s':>10} {'child fit+rec s':>15} {'overhead s':>10} {'ratio':>7}")
    overheads = []
    for name, entry in results.items():
        iso, inp = statistics.median(entry["isolated"]), statistics.median(entry["in_process"])
        overheads.append(iso - inp)
        print(f"{name:<28} {inp:12.3f} {iso:10.3f} {statistics.median(entry['child']):15.3f} {iso - inp:10.3f} {iso / inp:7.3f}")
    print(f"\nmedian per-cell overhead (isolated - in-process, medians of {rounds} rounds, cold call excluded): {statistics.median(overheads):.3f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    records = sub.add_parser("records", help="overhead paid by a finished run, from its cell records")
    records.add_argument("results", type=Path)
    measure = sub.add_parser("measure", help="time the same cells isolated and in-process")
    measure.add_argument("--data", type=Path, required=True, help="a simulated dataset folder (e.g. the tiny preset)")
    measure.add_argument("--methods", default="mean_image,pixel_ridge,nearest_neighbor,category_prototype")
    measure.add_argument("--rounds", type=int, default=3)
    measure.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.mode == "records":
        return _records(args.results)
    return _measure(args.data, [m for m in args.methods.split(",") if m], max(1, args.rounds), args.threads)


if __name__ == "__main__":
    sys.exit(main())

"""What running a cell's method in a method process of its own costs (issue 26), on ``tiny``.

The same ``mean_image`` cell (fit, then a reconstruction of every test set, checked and
resized to the evaluation size) three ways, in one run, so the rows of the one group
compare directly (pytest-benchmark prints each row's ratio to the fastest):

- ``in_process``: ``fit`` and ``reconstruct`` called here, the method's output checked
  and resized here (what the method process does, without the process);
- ``unsealed``: :func:`reconbench.bench.sandbox.run_method` with sealing off: a process
  forked by the method-process server, the job sent to it, the replies checked;
- ``sealed``: the same with Landlock, as every run does where the kernel has it.

``sealed - in_process`` is the isolation overhead of one cell, ``sealed - unsealed`` the
part of it that sealing is. ``mean_image`` does almost nothing, so the overhead is nearly
all of its time; a cell of a real method pays the same overhead on a longer run. The
method-process server is started (once per process that runs cells) before the rounds.

Run: ``pytest benchmarks/test_isolation_speed.py --benchmark-only``
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    from reconbench.bench.cell import _load_split_cached
    from reconbench.datasets.simulated.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "tiny"
    simulate(preset="tiny", out=out, seed=0, force=False, progress=False)
    return _load_split_cached(str(out), "sub-01", None)


@pytest.fixture(scope="module")
def mean_image_request(tiny_split):
    from reconbench.bench import sandbox
    from reconbench.bench.evaluator import evaluation_size
    from reconbench.bench.registry import get_method, method_source

    cls = get_method("mean_image")
    native = int(next(iter(tiny_split.test_images.values()))[1].shape[-1])
    sandbox.prestart()
    yield {
        "method": "mean_image",
        "methods_dir": None,
        "params": dict(cls.parameter_sets["default"]),
        "seed": 0,
        "threads": 1,
        "size": evaluation_size("simulated:tiny", native),
    } | method_source(cls)
    sandbox.shutdown()


def _in_process(request, split, cls) -> list[np.ndarray]:
    from reconbench.bench.evaluator import check_reconstructions
    from reconbench.bench.sandbox import method_kwargs
    from reconbench.core.images import resize

    method = cls(**method_kwargs(cls, request["params"], request["seed"]))
    method = method.fit(split.train) or method
    out = []
    for test_input in split.test_inputs.values():
        images = check_reconstructions(method.reconstruct(test_input), len(test_input.stimulus_ids), method=request["method"])
        out.append(resize(images, request["size"]))
    return out


def _isolated(request, split, seal: bool) -> list[np.ndarray]:
    from reconbench.bench.sandbox import run_method

    outcome = run_method(request | {"seal": seal}, split.train, dict(split.test_inputs), timeout=300)
    assert not outcome.fit.error and not any(r.error for r in outcome.test_sets.values()), outcome
    return [outcome.test_sets[name].predictions for name in split.test_inputs]


@pytest.mark.benchmark(group="isolation: one mean_image cell on tiny")
@pytest.mark.parametrize("mode", ["in_process", "unsealed", "sealed"])
def test_cell(benchmark, tiny_split, mean_image_request, mode) -> None:
    from reconbench.bench.executors import limit_threads
    from reconbench.bench.registry import get_method

    limit_threads(mean_image_request["threads"])  # as in the method process
    cls = get_method(mean_image_request["method"])  # looked up once, as the grid does
    run = {"in_process": lambda: _in_process(mean_image_request, tiny_split, cls)}.get(mode) or (
        lambda: _isolated(mean_image_request, tiny_split, seal=mode == "sealed")
    )
    run()  # the method-process server's start and the first call's imports, outside the rounds
    images = benchmark.pedantic(run, rounds=15, iterations=1)
    assert len(images) == len(tiny_split.test_inputs)

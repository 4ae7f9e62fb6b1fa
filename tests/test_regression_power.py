"""The regression check has power: real faults fail ``compare``, reruns in other environments pass.

Runs the ``ci`` preset (the one ``tox -e regression`` reruns) against the
committed ``results/ci`` with its measured ``tolerances.json``:

- four injected faults, each a regression the check exists for, must FAIL it
  (each compared with the reference entries it reran, ``compare --subset``; the
  report gives each fault's margin: its largest move over that row's tolerance):
  training labels shuffled (a label mapping bug in the data), decoders fed the
  wrong ROI (``VC`` selects the higher visual cortex only, ``V1``/``V2``/``V3``
  select LOC/FFA/PPA), the generator bypassed (divide-and-conquer returns its
  decoded shape map), and the evaluation image shifted by one pixel;
- reruns of the whole preset under other execution environments (threads,
  ATen capability, BLAS and oneDNN kernels; ``RECONBENCH_POWER_ALL=1`` for every
  environment of the measurement, otherwise the most different ones: one thread,
  four threads under the other ATen capability than this CPU's own, and the old-CPU
  combination) must PASS it, the whole grid compared.

It takes several minutes, so it runs in ``tox -e power`` (CI) and is skipped in
``tox -e py`` unless ``RECONBENCH_POWER=1``. Each case prints its largest move
(``pytest -rP`` shows it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

from reconbench.bench import evaluator as evaluator_module
from reconbench.bench.runner import run_benchmark
from reconbench.cli import leaderboard_writer
from reconbench.datasets.simulated.simulate import simulate
from reconbench.leaderboard.regression import compare_leaderboards
from reconbench.leaderboard.tolerances import ENVIRONMENTS, PLAIN_THREADS, Environment, Tolerances, cpu_flags, supported
from reconbench.methods import _generator

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "ci"

pytestmark = [
    pytest.mark.power,
    pytest.mark.skipif(
        not os.environ.get("RECONBENCH_POWER"),
        reason="the regression power test reruns the ci preset several times: tox -e power (or RECONBENCH_POWER=1)",
    ),
]


@pytest.fixture(scope="module")
def ci_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("power") / "ci-data"
    simulate(preset="ci", out=data, seed=0)
    return data


@pytest.fixture(scope="module")
def tolerances() -> Tolerances:
    return Tolerances.read(REFERENCE / "tolerances.json")


@pytest.fixture(autouse=True)
def cold_stages(monkeypatch):
    # Every stage is recomputed, as in tox -e regression.
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", "off")


def _copy_data(src: Path, dst: Path) -> Path:
    """A copy of the dataset without its split manifest (the faulty copy gets its own)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("reconbench_split.json"))
    return dst


def _set_key_rows(path: Path, replacements: dict[str, str]) -> None:
    """In a BData file, make metadata key K select the columns of key V (a wrong-ROI bug)."""
    with h5py.File(path, "r+") as handle:
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in handle["metadata/key"][()]]
        values = handle["metadata/value"][()]
        for target, source in replacements.items():
            values[keys.index(target)] = values[keys.index(source)]
        handle["metadata/value"][...] = values


def _shuffle_training_labels(path: Path, seed: int = 1) -> None:
    """Map every training stimulus id to another one, consistently over repetitions (a label mapping bug)."""
    with h5py.File(path, "r+") as handle:
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in handle["metadata/key"][()]]
        values = handle["metadata/value"][()]
        data = handle["dataset"][()]
        label_columns = np.flatnonzero(values[keys.index("Label")] == 1)
        id_column = label_columns[-1]
        ids = data[:, id_column]
        unique = np.unique(ids)
        permuted = np.random.default_rng(seed).permutation(unique)
        mapping = dict(zip(unique.tolist(), permuted.tolist()))
        rows_of = {u: np.flatnonzero(ids == u) for u in unique.tolist()}
        shuffled = data.copy()
        for old, new in mapping.items():
            # every label column (image index and id) of the trials of `old` takes the values of `new`
            shuffled[rows_of[old][:, None], label_columns] = data[rows_of[new][0], label_columns]
        handle["dataset"][...] = shuffled


def _run(data: Path, out: Path, methods: list[str]) -> Path:
    run_benchmark("simulated:ci", data, out, methods=methods, seeds=(0,), threads=PLAIN_THREADS, leaderboard=leaderboard_writer)
    return out / "leaderboard" / "leaderboard.csv"


def _report(name: str, report, *, fault: bool) -> None:
    moved = report.moved
    methods = ", ".join(sorted(set(moved["method"]))) if len(moved) else "-"
    verdict = ("caught" if not report.moved.empty else "NOT caught") if fault else ("passes" if report.ok else "FAILS")
    margin = ""
    if fault and len(moved):
        ratio = moved["change"].abs() / moved["tolerance"]
        worst = moved.loc[ratio.idxmax()]
        per_method = ", ".join(f"{m} {r:.1f}x" for m, r in ratio.groupby(moved["method"]).max().items())
        margin = (
            f"; margin: largest move / tolerance {ratio.max():.1f}x ({worst['test_set']} {worst['method']}[{worst['param_set']}] {worst['metric']}: "
            f"{worst['change']:+.4f}, tolerance {worst['tolerance']:.4g}); per method {per_method}"
        )
    print(f"{name}: largest move {report.max_change:.4f}; {len(moved)} of {report.n_compared} scores beyond tolerance ({methods}); {verdict}{margin}")


def _check_caught(name: str, new_csv: Path, tolerances: Tolerances, expected_methods: set[str]):
    # The fault reran some entries of the reference: compare those (a missing entry would fail it for no fault of the scores).
    report = compare_leaderboards(new_csv, REFERENCE, tolerances=tolerances, subset=True)
    _report(name, report, fault=True)
    assert report.missing.empty and report.added.empty, f"{name}: the rerun and the reference cover different rows"
    assert not report.moved.empty, f"{name}: the regression check did not catch the fault (largest move {report.max_change})"
    assert expected_methods <= set(report.moved["method"]), f"{name}: expected moves in {sorted(expected_methods)}, got {sorted(set(report.moved['method']))}"
    return report


def test_shuffled_training_labels_are_caught(ci_data, tmp_path, tolerances) -> None:
    data = _copy_data(ci_data, tmp_path / "data")
    _shuffle_training_labels(data / "sub-01_perceptionNaturalImageTraining_original_VC.h5")
    csv = _run(data, tmp_path / "out", ["pixel_ridge:default", "nearest_neighbor", "divide_and_conquer:default"])
    _check_caught("training labels shuffled", csv, tolerances, {"pixel_ridge", "nearest_neighbor", "divide_and_conquer"})


def test_decoders_fed_the_wrong_roi_are_caught(ci_data, tmp_path, tolerances) -> None:
    data = _copy_data(ci_data, tmp_path / "data")
    for path in sorted(data.glob("sub-01_*.h5")):
        _set_key_rows(path, {"ROI_VC": "ROI_HVC", "ROI_V1": "ROI_LOC", "ROI_V2": "ROI_FFA", "ROI_V3": "ROI_PPA"})
    csv = _run(data, tmp_path / "out", ["pixel_ridge:default", "divide_and_conquer:default"])
    # The divide-and-conquer cell runs too, but on ci (400 training images, SNR 0.2) it scores near chance and
    # higher areas carry image content as well: its rows do not move beyond their seed spread (docs/regression.md).
    _check_caught("decoders fed the wrong ROI", csv, tolerances, {"pixel_ridge"})


#: Installed in the method's process (its own interpreter when cells are isolated) by a sitecustomize module on
#: PYTHONPATH, and in this process by monkeypatch: divide-and-conquer's generator returns the decoded shape map.
BYPASS = """
import numpy as np

def shape_map_as_image(net, shape_inputs, semantic_inputs, batch_size=64, threads=0):
    gray = np.asarray(shape_inputs, dtype=np.float32)  # (M, 1, R, R), centred around 0
    gray = np.clip(gray - gray.min(axis=(1, 2, 3), keepdims=True), 0, None)
    gray = gray / np.maximum(gray.max(axis=(1, 2, 3), keepdims=True), 1e-6)
    return np.repeat(gray, 3, axis=1)
"""


def test_bypassed_generator_is_caught(ci_data, tmp_path, tolerances, monkeypatch) -> None:
    namespace: dict = {}
    exec(BYPASS, namespace)
    monkeypatch.setattr(_generator, "generate", namespace["shape_map_as_image"])
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BYPASS + "\nimport reconbench.methods._generator as _generator\n_generator.generate = shape_map_as_image\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    csv = _run(ci_data, tmp_path / "out", ["divide_and_conquer:default"])
    _check_caught("generator bypassed", csv, tolerances, {"divide_and_conquer"})


def test_evaluation_image_shifted_by_one_pixel_is_caught(ci_data, tmp_path, tolerances, monkeypatch) -> None:
    original = evaluator_module.Evaluator.__init__

    def shifted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.true_images = np.ascontiguousarray(np.roll(self.true_images, 1, axis=3))

    monkeypatch.setattr(evaluator_module.Evaluator, "__init__", shifted)
    csv = _run(ci_data, tmp_path / "out", ["mean_image", "pixel_ridge:default"])
    _check_caught("evaluation image shifted by one pixel", csv, tolerances, {"pixel_ridge"})


def _environments():
    flags = cpu_flags()
    if os.environ.get("RECONBENCH_POWER_ALL"):
        chosen = list(ENVIRONMENTS)
    else:
        # Four threads under the ATen kernels this CPU does not pick by itself (avx2 on an AVX-512 CPU, else default).
        other = "avx2" if "avx512f" in flags else "default"
        chosen = [e for e in ENVIRONMENTS if e.name in ("threads-1", "old-cpu-combined")]
        chosen.append(Environment(f"aten-{other}-threads-4", {"ATEN_CPU_CAPABILITY": other}, 4))
    return [e for e in chosen if supported(e, flags)]


def _bench_in(environment, data: Path, out: Path) -> subprocess.CompletedProcess:
    env = environment.process_environment(os.environ)
    command = [
        sys.executable, "-m", "reconbench", "bench", "--preset", "ci", "--data", str(data), "--out", str(out),
        "--threads", str(environment.threads), "--no-compare",
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True)


def test_reruns_under_every_environment_variation_pass(ci_data, tmp_path, tolerances) -> None:
    environments = _environments()
    assert environments
    # Two single-thread environments at a time use the two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda e: (e, _bench_in(e, ci_data, tmp_path / e.name)), environments))
    failures = []
    for environment, process in done:
        assert process.returncode == 0, f"{environment.name}: bench failed:\n{process.stderr[-3000:]}"
        report = compare_leaderboards(tmp_path / environment.name, REFERENCE, tolerances=tolerances)
        _report(f"rerun in {environment.name}", report, fault=False)
        if not report.ok:
            failures.append((environment.name, report.moved.to_string()))
    assert not failures, failures

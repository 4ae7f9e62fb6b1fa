"""The runner on the tiny preset: the grid, its rows and scores, resume, bad requests, presets."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from reconbench.bench.runner import run_benchmark
from reconbench.core.errors import ReconbenchError
from reconbench.core.method import params_hash
from tests.data.grid_run import GRID_METHODS, GRID_METRICS, REPO, natural_values


def test_grid_and_row_schema(tiny_grid_run) -> None:
    rows = tiny_grid_run.rows
    # my_lowres_ridge has 2 parameter sets; + nearest-category, noise-free-ridge and noise-ceiling references
    # (no category-only: tiny's test categories are unseen); 1 subject, 1 seed.
    assert tiny_grid_run.n_cells == 2 + 4 + 3
    ok = rows[rows["status"] == "ok"]
    assert not ok.duplicated(["method", "param_set", "test_set", "metric", "stimulus_id", "seed", "subject"]).any()
    ridge = ok[(ok["method"] == "my_lowres_ridge") & (ok["param_set"] == "default")]
    assert set(ridge["test_set"]) == {"natural", "shapes", "letters"}
    assert set(ridge["metric"]) == set(GRID_METRICS)
    assert ridge["params_hash"].iloc[0] == params_hash("my_lowres_ridge", {"alpha": 100.0, "size": 8, "roi": "VC"})
    assert json.loads(ridge["params"].iloc[0]) == {"alpha": 100.0, "size": 8, "roi": "VC"}
    assert (ridge["fit_seconds"] > 0).all() and (ridge["peak_memory_mb"] > 10).all()
    assert json.loads(ridge["package_versions"].iloc[0])["numpy"] == np.__version__
    assert ridge["code_version"].iloc[0]


def test_scores_equal_an_independent_computation(tiny_grid_run, tiny_data_dir, grid_methods_dir) -> None:
    import importlib.util

    from reconbench.bench.evaluator import evaluation_size
    from reconbench.datasets.splits import load_split

    split = load_split(tiny_data_dir, "sub-01")
    # The test imports the example itself (the harness only ever imports a plugin in a sealed process).
    spec = importlib.util.spec_from_file_location("example_my_method", grid_methods_dir / "my_method.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    method = module.LowResRidge(alpha=100.0, size=8, roi="VC").fit(split.train)
    test_input = split.test_inputs["natural"]
    pred = method.reconstruct(test_input)
    ids, true = split.test_images["natural"]
    position = {s: k for k, s in enumerate(test_input.stimulus_ids)}
    pred = pred[[position[s] for s in ids]]
    size = evaluation_size("simulated:tiny", true.shape[-1])

    def resized(x):
        out = F.interpolate(torch.from_numpy(np.asarray(x, np.float32)), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return np.clip(out.numpy(), 0, 1)

    p, t = resized(pred), resized(true)
    expected = {s: scipy.stats.pearsonr(p[k].ravel(), t[k].ravel())[0] for k, s in enumerate(ids)}
    got = natural_values(tiny_grid_run.rows, "my_lowres_ridge", "pixcorr")
    assert set(got.index) == set(expected)
    np.testing.assert_allclose([got[s] for s in ids], [expected[s] for s in ids], rtol=1e-4, atol=1e-5)


def test_rerun_skips_and_rewrites_identical_files(tiny_grid_run, tiny_data_dir, grid_methods_dir) -> None:
    out = tiny_grid_run.out

    def digest() -> dict[str, str]:
        return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}

    before = digest()
    again = run_benchmark("simulated:tiny", tiny_data_dir, out, methods=GRID_METHODS, metrics=GRID_METRICS, methods_dir=grid_methods_dir)
    assert again.n_run == 0 and again.n_skipped == tiny_grid_run.n_cells
    assert digest() == before
    retried = run_benchmark(
        "simulated:tiny", tiny_data_dir, out, methods=GRID_METHODS, metrics=GRID_METRICS, methods_dir=grid_methods_dir, retry_failed=True, leaderboard=False
    )
    assert retried.n_run == 2  # the two failed cells only


def test_bad_requests_are_clear(tiny_data_dir, grid_methods_dir, tmp_path) -> None:
    with pytest.raises(ReconbenchError, match="unknown method 'nope'; available: .*my_lowres_ridge"):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, methods=["nope"], methods_dir=grid_methods_dir)
    with pytest.raises(ReconbenchError, match="no parameter set 'fast'; available: default, lvc"):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, methods=["my_lowres_ridge:fast"], methods_dir=grid_methods_dir)
    with pytest.raises(ReconbenchError, match="simulated with preset 'tiny'; use --dataset simulated:tiny"):
        run_benchmark("simulated:default", tiny_data_dir, tmp_path, methods_dir=grid_methods_dir)
    with pytest.raises(ReconbenchError, match="sub-09 not in"):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, subjects=["sub-09"], methods_dir=grid_methods_dir)
    with pytest.raises(ReconbenchError, match="unknown dataset 'mnist'"):
        run_benchmark("mnist", tiny_data_dir, tmp_path)


def test_bench_refuses_folders_it_cannot_use(tiny_data_dir, tmp_path) -> None:
    from reconbench.bench.runner import run_preset

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a dataset")
    with pytest.raises(ReconbenchError, match="holds no simulated dataset"):
        run_preset("tiny", data=tmp_path / "other", out=tmp_path / "out")
    with pytest.raises(ReconbenchError, match="holds the 'tiny' preset, not 'default'"):
        run_preset("default", data=tiny_data_dir, out=tmp_path / "out")
    with pytest.raises(ReconbenchError, match="unknown preset 'huge'"):
        run_preset("huge", data=tmp_path / "x", out=tmp_path / "out")
    # A folder simulated by an older reconbench (format 1 had no extra_images/) is refused, not half-used.
    stale = tmp_path / "stale"
    (stale / "ground_truth").mkdir(parents=True)
    (stale / "ground_truth" / "simulation.json").write_text(json.dumps({"format_version": "reconbench-simulation/1", "preset": "tiny"}))
    with pytest.raises(ReconbenchError, match=r"simulated by another reconbench version .*reconbench simulate --preset tiny --out .*stale --force"):
        run_preset("tiny", data=stale, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_changing_a_methods_code_reruns_its_cells(tiny_data_dir, tmp_path) -> None:
    folder = tmp_path / "methods"
    folder.mkdir()
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    kwargs = dict(methods=["my_lowres_ridge:default"], metrics=["pixcorr"], methods_dir=folder, references=False, leaderboard=False)
    assert run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", **kwargs).n_run == 1
    assert run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", **kwargs).n_run == 0
    (folder / "_helper.py").write_text("# a private helper beside the method changed\n")
    assert run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", **kwargs).n_run == 1


def test_bench_grids_and_default_folders() -> None:
    from pathlib import Path

    from reconbench.bench.presets import BENCH_GRIDS, bench_grid, default_bench_out, default_bench_reference
    from reconbench.bench.registry import discover_methods
    from reconbench.datasets.simulated.simulate import PRESETS

    assert set(BENCH_GRIDS) == set(PRESETS)
    methods = discover_methods()
    for preset in PRESETS:
        for name in ("headline", "all"):
            grid = bench_grid(preset, name)
            assert grid.seeds and grid.description
            for entry in grid.methods or ():
                method, _, param_set = entry.partition(":")
                assert method in methods and (not param_set or param_set in methods[method].parameter_sets), entry
    # The regression preset bounds its seeded rows by their seed spread: three seeds.
    assert bench_grid("ci").seeds == (0, 1, 2)
    # The headline grid of default holds the published set and the K-means variant; 'all' is every set, three seeds.
    assert {"divide_and_conquer:published", "divide_and_conquer_kmeans"} <= set(bench_grid("default").methods)
    assert bench_grid("default", "all").methods is None and bench_grid("default", "all").seeds == (0, 1, 2)
    with pytest.raises(ReconbenchError, match="unknown grid 'most'; expected one of headline, all"):
        bench_grid("default", "most")
    # A run never writes into the committed reference unless asked to.
    assert default_bench_out("default") == Path("runs/default") and default_bench_reference("default") == Path("results/default")
    assert default_bench_out("tiny", "god") == Path("runs/simulated-god-tiny")


@pytest.mark.weights
@pytest.mark.cuda
def test_a_tiny_bench_end_to_end_on_cuda(tiny_data_dir, alexnet_weights_cache, tmp_path, monkeypatch) -> None:
    """The harness on a GPU: the generator sets train and generate on CUDA in a sealed method process, the
    network metrics score there, every row names the GPU, and a CPU-only method scores as on the CPU."""
    from reconbench.bench.landlock import abi_version
    from reconbench.core.device import resolve_device

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", str(tmp_path / "stages"))
    device = resolve_device("cuda")
    methods = ["mean_image", "divide_and_conquer:default", "divide_and_conquer:published", "divide_and_conquer_kmeans:default"]
    on_gpu = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "gpu", methods=methods, references=False, leaderboard=False, device=device)
    rows = on_gpu.rows
    assert on_gpu.n_failed == 0, on_gpu.failures
    assert set(rows["status"]) == {"ok"} and np.isfinite(rows.loc[rows["metric"] != "pixcorr", "value"]).all()
    assert set(rows["device"]) == {device} and set(rows["gpu_name"]) == {torch.cuda.get_device_name()}
    assert set(rows["cuda_version"]) == {torch.version.cuda} and set(rows["torch_version"]) == {torch.__version__}
    if abi_version() > 0:
        assert set(rows["sealed"]) == {"yes"}, "a sealed method process opens the GPU's device files"
    for key in rows.loc[rows["method"] != "mean_image", "cell_key"].unique():
        record = json.loads((tmp_path / "gpu" / "cells" / f"{key}.json").read_text())
        assert record["device"] == device and record["gpu_peak_memory_mb"] > 0, record["stage_log"]
    # mean_image computes on the CPU: on a GPU run only its network metrics move, by float rounding.
    on_cpu = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "cpu", methods=["mean_image"], references=False, leaderboard=False, device="cpu")
    assert set(on_cpu.rows["cell_key"]).isdisjoint(set(rows["cell_key"]))
    index = ["test_set", "metric", "stimulus_id"]
    cpu_values = on_cpu.rows.set_index(index)["value"].sort_index()
    gpu_values = rows[rows["method"] == "mean_image"].set_index(index)["value"].sort_index()
    assert list(cpu_values.index) == list(gpu_values.index)
    for metric in ("pixcorr", "ssim", "pairwise_identification"):
        np.testing.assert_array_equal(gpu_values.xs(metric, level="metric"), cpu_values.xs(metric, level="metric"), err_msg=metric)
    np.testing.assert_allclose(gpu_values.xs("lpips", level="metric"), cpu_values.xs("lpips", level="metric"), rtol=0, atol=1e-4)


def test_a_plugin_folder_runs_beside_the_headline_grid() -> None:
    from reconbench.bench.presets import bench_grid, grid_methods_with_plugins
    from tests.data.grid_run import REPO

    headline = bench_grid("default")
    assert grid_methods_with_plugins(headline, None) == headline.methods
    with_plugin = grid_methods_with_plugins(headline, REPO / "examples")
    assert with_plugin[: len(headline.methods)] == headline.methods and "my_lowres_ridge" in with_plugin[len(headline.methods) :]
    assert grid_methods_with_plugins(bench_grid("tiny"), REPO / "examples") is None  # every method already

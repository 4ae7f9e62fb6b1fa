"""The runner on the tiny preset: scores, failures, oracles, references, resume,
local processes and Dask, and the CLI commands around it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from reconbench.bench.runner import run_benchmark
from reconbench.cli import app
from reconbench.core.errors import ReconbenchError
from reconbench.core.method import params_hash
from reconbench.store.results import comparable, load_results

REPO = Path(__file__).resolve().parents[2]
METRICS = ["pairwise_identification", "pixcorr"]

# Test methods are files in a folder (as a user's would be), so spawned workers can import them.
TEST_METHODS = {
    "always_fails.py": '''
        from reconbench.core.method import Method

        class AlwaysFails(Method):
            name = "always_fails"
            def fit(self, train):
                raise ValueError("deliberate failure in fit")
            def reconstruct(self, test):
                raise AssertionError("never reached")
    ''',
    "oracle_copy.py": '''
        import numpy as np
        from reconbench.core.method import Method

        class OracleCopy(Method):
            name = "oracle_copy"
            is_oracle = True
            def fit(self, train):
                return self
            def reconstruct(self, test):
                return np.asarray(test.oracle_images)
    ''',
    "seeded_grey.py": '''
        import numpy as np
        from reconbench.core.method import Method

        class SeededGrey(Method):
            """Noise images from its seed; refuses to run if it was handed true images."""
            name = "seeded_grey"
            parameter_sets = {"default": {"amplitude": 0.2}}
            def __init__(self, amplitude=0.2, seed=0):
                self.amplitude = amplitude
                self.seed = seed
            def fit(self, train):
                self.shape_ = train.images.shape[1:]
                return self
            def reconstruct(self, test):
                if test.oracle_images is not None:
                    raise AssertionError("a non-oracle method was handed the true test images")
                rng = np.random.default_rng(self.seed)
                noise = rng.uniform(-self.amplitude, self.amplitude, (len(test.stimulus_ids),) + self.shape_)
                return np.clip(0.5 + noise, 0, 1).astype(np.float32)
    ''',
    "wrong_count.py": '''
        import numpy as np
        from reconbench.core.method import Method

        class WrongCount(Method):
            name = "wrong_count"
            def fit(self, train):
                return self
            def reconstruct(self, test):
                return np.zeros((len(test.stimulus_ids) + 1, 3, 8, 8), dtype=np.float32)
    ''',
}


@pytest.fixture(scope="module")
def methods_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("methods")
    for name, source in TEST_METHODS.items():
        (folder / name).write_text(textwrap.dedent(source))
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    return folder


METHODS = ["my_lowres_ridge", "always_fails", "oracle_copy", "seeded_grey", "wrong_count"]


@pytest.fixture(scope="module")
def serial_run(tiny_data_dir, methods_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "serial"
    summary = run_benchmark(
        "simulated:tiny", tiny_data_dir, out, methods=METHODS, metrics=METRICS, methods_dir=methods_dir, jobs=1,
    )
    return summary


def _natural_rows(rows: pd.DataFrame, method: str, metric: str, param_set: str = "default") -> pd.Series:
    sel = rows[(rows["method"] == method) & (rows["param_set"] == param_set) & (rows["test_set"] == "natural") & (rows["metric"] == metric)]
    return sel.set_index("stimulus_id")["value"]


def test_grid_and_row_schema(serial_run) -> None:
    rows = serial_run.rows
    # my_lowres_ridge has 2 parameter sets; + category-only and noise-ceiling references; 1 subject, 1 seed.
    assert serial_run.n_cells == 2 + 4 + 2
    ok = rows[rows["status"] == "ok"]
    assert not ok.duplicated(["method", "param_set", "test_set", "metric", "stimulus_id", "seed", "subject"]).any()
    ridge = ok[(ok["method"] == "my_lowres_ridge") & (ok["param_set"] == "default")]
    assert set(ridge["test_set"]) == {"natural", "shapes", "letters"}
    assert set(ridge["metric"]) == set(METRICS)
    assert ridge["params_hash"].iloc[0] == params_hash("my_lowres_ridge", {"alpha": 100.0, "size": 8, "roi": "VC"})
    assert json.loads(ridge["params"].iloc[0]) == {"alpha": 100.0, "size": 8, "roi": "VC"}
    assert (ridge["fit_seconds"] > 0).all() and (ridge["peak_memory_mb"] > 10).all()
    assert json.loads(ridge["package_versions"].iloc[0])["numpy"] == np.__version__
    assert ridge["code_version"].iloc[0]


def test_scores_equal_an_independent_computation(serial_run, tiny_data_dir, methods_dir) -> None:
    from reconbench.bench.evaluator import evaluation_size
    from reconbench.bench.registry import get_method
    from reconbench.datasets.splits import load_split

    split = load_split(tiny_data_dir, "sub-01")
    method = get_method("my_lowres_ridge", methods_dir)(alpha=100.0, size=8, roi="VC").fit(split.train)
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
    got = _natural_rows(serial_run.rows, "my_lowres_ridge", "pixcorr")
    assert set(got.index) == set(expected)
    np.testing.assert_allclose([got[s] for s in ids], [expected[s] for s in ids], rtol=1e-4, atol=1e-5)


def test_failures_are_recorded_and_the_run_goes_on(serial_run) -> None:
    rows = serial_run.rows
    failed = rows[rows["method"] == "always_fails"]
    assert list(failed["status"]) == ["failed"]
    assert failed["error"].iloc[0] == "ValueError: deliberate failure in fit"
    record = json.loads((serial_run.out / "cells" / f"{failed['cell_key'].iloc[0]}.json").read_text())
    assert record["status"] == "failed" and "deliberate failure in fit" in record["tracebacks"]["fit"]
    wrong = rows[rows["method"] == "wrong_count"]
    assert set(wrong["status"]) == {"failed"} and set(wrong["test_set"]) == {"natural", "shapes", "letters"}
    assert wrong["error"].str.contains("reconstructions for").all()
    assert serial_run.n_failed == 2
    assert (rows.loc[rows["method"] == "my_lowres_ridge", "status"] == "ok").all()


def test_only_oracles_see_true_images(serial_run) -> None:
    rows = serial_run.rows
    oracle = rows[rows["method"] == "oracle_copy"]
    assert set(oracle["kind"]) == {"oracle"} and set(oracle["status"]) == {"ok"}
    np.testing.assert_allclose(oracle.loc[oracle["metric"] == "pixcorr", "value"], 1.0, atol=1e-5)
    grey = rows[rows["method"] == "seeded_grey"]
    assert set(grey["status"]) == {"ok"}, grey["error"].unique()  # it raises if handed true images
    assert set(grey["kind"]) == {"method"}


def test_category_only_reference(serial_run, tiny_data_dir) -> None:
    from reconbench.datasets.simulated.ground_truth import load_ground_truth
    from reconbench.datasets.splits import load_split

    truth = load_ground_truth(tiny_data_dir)
    split = load_split(tiny_data_dir, "sub-01")
    rows = serial_run.rows
    reference = rows[rows["method"] == "category-only"]
    assert set(reference["kind"]) == {"reference"}
    assert set(reference["test_set"]) == {"natural"}, "shapes and letters have no category"
    train_categories = np.array([truth.category[s] for s in split.train.stimulus_ids])
    ids, true = split.test_images["natural"]
    got = _natural_rows(rows, "category-only", "pixcorr")
    for k, stimulus_id in enumerate(ids):
        mean_image = split.train.images[train_categories == truth.category[stimulus_id]].mean(axis=0)
        expected = scipy.stats.pearsonr(mean_image.ravel(), true[k].ravel())[0]
        assert got[stimulus_id] == pytest.approx(expected, abs=2e-3)  # small: the resize to evaluation size


def test_rerun_skips_and_rewrites_identical_files(serial_run, tiny_data_dir, methods_dir) -> None:
    out = serial_run.out

    def digest() -> dict[str, str]:
        return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}

    before = digest()
    again = run_benchmark("simulated:tiny", tiny_data_dir, out, methods=METHODS, metrics=METRICS, methods_dir=methods_dir)
    assert again.n_run == 0 and again.n_skipped == serial_run.n_cells
    assert digest() == before
    retried = run_benchmark("simulated:tiny", tiny_data_dir, out, methods=METHODS, metrics=METRICS,
                            methods_dir=methods_dir, retry_failed=True, leaderboard=False)
    assert retried.n_run == 2  # the two failed cells only


@pytest.mark.slow
def test_force_local_processes_and_dask_give_identical_rows(serial_run, tiny_data_dir, methods_dir, tmp_path) -> None:
    from distributed import LocalCluster

    # A subset of the grid keeps this quick: a fitted method, a failing one and an oracle.
    methods = ["my_lowres_ridge", "always_fails", "oracle_copy"]
    # The serial run used cpu_count threads per cell and -j 2 uses cpu_count // 2; each row says which
    # (these methods happen to round alike), so the thread count is left out of this comparison.
    expected = comparable(serial_run.rows[serial_run.rows["method"].isin(methods + ["category-only", "noise-ceiling"])]).drop(columns=["threads"])
    local = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "j2", methods=methods, metrics=METRICS,
                          methods_dir=methods_dir, jobs=2, leaderboard=False)
    assert local.n_run == 6
    assert set(local.rows["threads"]) == {max(1, (os.cpu_count() or 1) // 2)}
    pd.testing.assert_frame_equal(comparable(local.rows).drop(columns=["threads"]), expected)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        # An address, as given to --scheduler.
        dask = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "dask", methods=methods, metrics=METRICS,
                             methods_dir=methods_dir, scheduler=cluster.scheduler_address, leaderboard=False)
    pd.testing.assert_frame_equal(comparable(dask.rows).drop(columns=["threads"]), expected)
    forced = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "dask", methods=["my_lowres_ridge:lvc"],
                           metrics=METRICS, methods_dir=methods_dir, force=True, leaderboard=False)
    assert forced.n_run == 3  # the selected parameter set + the two reference cells


def test_seed_reaches_methods_that_take_one(tiny_data_dir, methods_dir, tmp_path) -> None:
    summary = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, methods=["seeded_grey"], metrics=["pixcorr"],
                            methods_dir=methods_dir, seeds=[0, 1], references=False, leaderboard=False)
    rows = summary.rows
    assert summary.n_cells == 2 and set(rows["seed"]) == {0, 1}
    assert rows["params_hash"].nunique() == 1, "the seed is not a hyperparameter"
    by_seed = [rows[rows["seed"] == s].set_index(["test_set", "stimulus_id"])["value"].sort_index() for s in (0, 1)]
    assert not np.allclose(by_seed[0].to_numpy(), by_seed[1].to_numpy())


def test_bad_requests_are_clear(tiny_data_dir, methods_dir, tmp_path) -> None:
    with pytest.raises(ReconbenchError, match="unknown method 'nope'; available: .*my_lowres_ridge"):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, methods=["nope"], methods_dir=methods_dir)
    with pytest.raises(ReconbenchError, match="no parameter set 'fast'; available: default, lvc"):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, methods=["my_lowres_ridge:fast"], methods_dir=methods_dir)
    with pytest.raises(ReconbenchError, match="simulated with preset 'tiny'; use --dataset simulated:tiny"):
        run_benchmark("simulated:default", tiny_data_dir, tmp_path, methods_dir=methods_dir)
    with pytest.raises(ReconbenchError, match="sub-09 not in"):
        run_benchmark("simulated:tiny", tiny_data_dir, tmp_path, subjects=["sub-09"], methods_dir=methods_dir)
    with pytest.raises(ReconbenchError, match="unknown dataset 'mnist'"):
        run_benchmark("mnist", tiny_data_dir, tmp_path)


def test_cli_list_shows_a_one_file_method(methods_dir) -> None:
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["list", "--methods-dir", str(REPO / "examples")])
    assert result.exit_code == 0, result.output
    assert "my_lowres_ridge" in result.output and "lvc" in result.output
    assert "pairwise_identification" in result.output and "simulated:default" in result.output


def test_cli_run_with_the_readme_example(tiny_data_dir, tmp_path) -> None:
    """The README's worked example: one file in a folder, run and shown on the leaderboard."""
    out = tmp_path / "mine"
    result = CliRunner().invoke(app, [
        "run", "--dataset", "simulated:tiny", "--data", str(tiny_data_dir), "--out", str(out),
        "--methods-dir", str(REPO / "examples"), "--methods", "my_lowres_ridge", "--metrics", "pixcorr,ssim",
    ])
    assert result.exit_code == 0, result.output
    rows = load_results(out)
    assert set(rows["method"]) == {"my_lowres_ridge", "category-only"}  # no noise ceiling without pairwise_identification
    board = (out / "leaderboard" / "leaderboard.md").read_text()
    assert "| 1 | my_lowres_ridge |" in board and "my_lowres_ridge [lvc]" in board
    result = CliRunner().invoke(app, ["leaderboard", str(out), "--out", str(tmp_path / "board")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "board" / "leaderboard.md").read_text() == board


def test_noise_ceiling_reference(serial_run, tiny_data_dir) -> None:
    """The ideal-observer identification, recomputed with scipy's Pearson r on the saved noise-free responses."""
    from reconbench.datasets.simulated.ground_truth import load_ground_truth
    from reconbench.datasets.splits import load_split

    truth = load_ground_truth(tiny_data_dir)
    split = load_split(tiny_data_dir, "sub-01")
    rows = serial_run.rows
    ceiling = rows[rows["method"] == "noise-ceiling"]
    assert set(ceiling["kind"]) == {"reference"} and set(ceiling["metric"]) == {"pairwise_identification"}
    assert set(ceiling["test_set"]) == {"natural", "shapes", "letters"}
    test_input = split.test_inputs["shapes"]
    names = list(truth.noise_free_names["sub-01"]["ArtificialImage"])
    model = truth.noise_free["sub-01"]["ArtificialImage"][[names.index(s) for s in test_input.stimulus_ids]]
    measured = test_input.fmri["VC"]
    z = lambda x: scipy.stats.zscore(x, axis=0)  # noqa: E731 - per voxel over stimuli
    xm, mm = z(measured), z(model)
    n = len(xm)
    r = np.array([[scipy.stats.pearsonr(xm[i], mm[j])[0] for j in range(n)] for i in range(n)])
    expected = np.array([(r[i] < r[i, i]).sum() / (n - 1) for i in range(n)])
    got = ceiling[ceiling["test_set"] == "shapes"].set_index("stimulus_id")["value"]
    np.testing.assert_allclose([got[s] for s in test_input.stimulus_ids], expected, atol=1e-12)
    assert 0.5 < expected.mean() <= 1.0


def test_a_method_cannot_change_the_shared_training_data(tiny_data_dir, tmp_path) -> None:
    """Cells share the loaded split within a worker; an in-place edit must fail that cell, not leak."""
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "vandal.py").write_text(textwrap.dedent('''
        from reconbench.core.method import Method

        class Vandal(Method):
            name = "vandal"
            def fit(self, train):
                train.images[:] = 0.0
                return self
            def reconstruct(self, test):
                raise AssertionError("never reached")
    '''))
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    summary = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", methods=["vandal", "my_lowres_ridge:default"],
                            metrics=["pixcorr"], methods_dir=folder, references=False, leaderboard=False)
    rows = summary.rows
    assert rows.loc[rows["method"] == "vandal", "error"].iloc[0].startswith("ValueError: assignment destination is read-only")
    assert (rows.loc[rows["method"] == "my_lowres_ridge", "status"] == "ok").all()


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


@pytest.mark.slow
def test_bench_simulates_when_absent_then_skips(tmp_path, monkeypatch) -> None:
    """The README's main command, cut down to one method: simulate, run, rerun."""
    monkeypatch.setenv("RECONBENCH_DATA", str(tmp_path / "data"))
    out = tmp_path / "results"
    args = ["bench", "--preset", "tiny", "--out", str(out), "--methods-dir", str(REPO / "examples"),
            "--methods", "my_lowres_ridge:default"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "ground_truth" / "simulation.json").is_file()
    first = (out / "leaderboard" / "leaderboard.html").read_bytes()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "0 run, 3 already done (skipped)" in result.output
    assert (out / "leaderboard" / "leaderboard.html").read_bytes() == first


def test_changing_a_methods_code_reruns_its_cells(tiny_data_dir, tmp_path) -> None:
    folder = tmp_path / "methods"
    folder.mkdir()
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    kwargs = dict(methods=["my_lowres_ridge:default"], metrics=["pixcorr"], methods_dir=folder, references=False, leaderboard=False)
    assert run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", **kwargs).n_run == 1
    assert run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", **kwargs).n_run == 0
    (folder / "_helper.py").write_text("# a private helper beside the method changed\n")
    assert run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", **kwargs).n_run == 1


@pytest.mark.weights
def test_cell_record_keeps_a_methods_stage_log(tiny_data_dir, weights_cache, tmp_path, monkeypatch) -> None:
    # divide_and_conquer exposes per-stage times, cache hits and peak memory; the harness records them.
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", str(tmp_path / "stages"))
    summary = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", methods=["divide_and_conquer:no_semantics"],
                            metrics=["pixcorr"], references=False, leaderboard=False)
    key = summary.rows["cell_key"].iloc[0]
    record = json.loads((tmp_path / "out" / "cells" / f"{key}.json").read_text())
    stages = {entry["stage"]: entry for entry in record["stage_log"]}
    assert set(stages) == {"shape_decoder", "generator"}
    for entry in stages.values():
        assert entry["cache_hit"] is False and entry["seconds"] > 0
        # Peak resident memory (MB) of the process during the stage: within the cell's overall peak.
        assert 10 < entry["peak_rss_mb"] <= record["peak_memory_mb"] + 1

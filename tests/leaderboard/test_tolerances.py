"""Per-row tolerances: the floor from the metric's resolution, the measured spread, lookup and use by compare."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.regression import compare_leaderboards
from reconbench.leaderboard.render import to_csv
from reconbench.leaderboard.tables import summarise
from reconbench.leaderboard.tolerances import (
    CONTINUOUS_FLOOR,
    FORMAT_VERSION,
    SEED_FACTOR,
    STEP_FLOOR,
    Environment,
    Tolerances,
    derive_tolerances,
    find_tolerance_file,
    metric_floor,
    write_tolerances,
)
from reconbench.metrics.identification import pairwise_identification
from reconbench.metrics.registry import get_metric


def test_resolution_is_the_smallest_step_of_a_mean_identification_score() -> None:
    # Every per-image value is k / (N - 1), so the mean over N images is a multiple of 1 / (N (N - 1)):
    # check it on real scores of random images, with exact fractions.
    rng = np.random.default_rng(0)
    n = 7
    step = Fraction(1, n * (n - 1))
    assert get_metric("pairwise_identification").resolution(n) == pytest.approx(float(step))
    for _ in range(5):
        values = pairwise_identification(rng.random((n, 3, 8, 8)), rng.random((n, 3, 8, 8)))
        total = sum(Fraction(round(v * (n - 1)), n - 1) for v in values) / n
        assert (total / step).denominator == 1
        assert float(total) == pytest.approx(float(np.mean(values)))
    assert get_metric("alexnet5").resolution(50) == pytest.approx(1 / 2450)
    assert get_metric("pixcorr").resolution(50) is None


def test_floors() -> None:
    assert metric_floor("pairwise_identification", 10) == pytest.approx(STEP_FLOOR / 90)
    assert metric_floor("ssim", 10) == CONTINUOUS_FLOOR
    assert metric_floor("not_a_registered_metric", 10) == CONTINUOUS_FLOOR


@pytest.fixture
def reference_csv(tmp_path, three_methods):
    summary = summarise(three_methods)
    path = tmp_path / "ref" / "leaderboard" / "leaderboard.csv"
    path.parent.mkdir(parents=True)
    path.write_text(to_csv(summary))
    return summary, path


def _variant(tmp_path, summary, name, shift):
    """The same leaderboard with ``shift(row) -> change`` added to each computed mean."""
    frame = summary.copy()
    frame["mean"] = [m + shift(r) if r["kind"] in ("method", "oracle", "reference") else m for m, (_, r) in zip(frame["mean"], frame.iterrows())]
    path = tmp_path / name / "leaderboard.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_csv(frame))
    return path


def test_derived_tolerance_is_the_floor_or_the_safety_times_the_largest_measured_move(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    a = _variant(tmp_path, summary, "a", lambda r: 0.004 if r["method"] == "poor" else 0.0)
    b = _variant(tmp_path, summary, "b", lambda r: -0.01 if r["method"] == "poor" else 1e-9)
    envs = [Environment("a", {"ATEN_CPU_CAPABILITY": "default"}, 1), Environment("b", {}, 2)]
    content = derive_tolerances(ref, {"a": a, "b": b}, envs, safety=3.0, preset="test")
    rows = {(r["method"], r["metric"]): r for r in content["rows"]}
    poor = rows[("poor", "pairwise_identification")]
    assert poor["measured"] == pytest.approx(0.01, abs=1e-6)
    assert poor["tolerance"] == pytest.approx(0.03, abs=1e-5)  # above the floor 2 / 90
    good = rows[("good", "pairwise_identification")]
    assert good["measured"] < 1e-6
    assert good["tolerance"] == pytest.approx(STEP_FLOOR / 90) and good["resolution"] == pytest.approx(1 / 90)
    assert rows[("good", "lpips")]["tolerance"] == CONTINUOUS_FLOOR
    assert [e["largest_change"] for e in content["environments"]] == pytest.approx([0.004, 0.01], abs=1e-6)
    assert {r["kind"] for _, r in summary.iterrows()} >= {"chance"}  # chance rows exist but are not in the file
    assert not any(r["method"] == "chance" for r in content["rows"])


def test_derive_refuses_a_rerun_that_lacks_a_row_and_mismatched_names(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    fewer = tmp_path / "fewer.csv"
    fewer.write_text(to_csv(summary[summary["method"] != "poor"]))
    with pytest.raises(ReconbenchError, match="lacks"):
        derive_tolerances(ref, {"a": fewer}, [Environment("a", {}, 1)])
    with pytest.raises(ReconbenchError, match="do not match"):
        derive_tolerances(ref, {"a": ref}, [Environment("b", {}, 1)])
    with pytest.raises(ReconbenchError, match="safety"):
        derive_tolerances(ref, {"a": ref}, [Environment("a", {}, 1)], safety=math.nan)


def test_compare_uses_the_tolerance_file_beside_the_reference(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    a = _variant(tmp_path, summary, "a", lambda r: 0.004 if r["method"] == "poor" else 0.0)
    content = derive_tolerances(ref, {"a": a}, [Environment("a", {}, 1)], safety=3.0)
    write_tolerances(ref.parent.parent / "tolerances.json", content)
    assert find_tolerance_file(ref) == ref.parent.parent / "tolerances.json"
    assert find_tolerance_file(ref.parent.parent) == ref.parent.parent / "tolerances.json"
    # poor may move 3 x 0.004 = 0.012 (lpips) or the floor 2 / 90 (identification); good only its floor (2 / 90 for identification, 1e-4 for lpips).
    within = _variant(tmp_path, summary, "within", lambda r: 0.01 if r["method"] == "poor" else 0.0)
    report = compare_leaderboards(within, ref)
    assert report.ok and report.tolerance_source.endswith("tolerances.json")
    good_moves = _variant(tmp_path, summary, "good_moves", lambda r: 0.001 if (r["method"], r["metric"]) == ("good", "lpips") else 0.0)
    report = compare_leaderboards(good_moves, ref)
    assert not report.ok
    assert list(report.moved["method"]) == ["good"] and report.moved["tolerance"].iloc[0] == CONTINUOUS_FLOOR
    # A flat tolerance overrides the file.
    assert compare_leaderboards(good_moves, ref, tolerance=0.01).ok


def test_nan_means_and_tolerances_never_pass(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    frame = summary.copy()
    frame.loc[(frame["method"] == "good") & (frame["metric"] == "lpips"), "mean"] = np.nan
    nan_csv = tmp_path / "nan.csv"
    nan_csv.write_text(to_csv(frame))
    report = compare_leaderboards(nan_csv, ref, tolerance=0.5)
    assert not report.ok and list(report.moved["method"]) == ["good"]
    for bad in (math.nan, -1.0, math.inf):
        with pytest.raises(ReconbenchError, match="tolerance"):
            compare_leaderboards(ref, ref, tolerance=bad)


def test_a_row_without_its_own_entry_uses_its_groups_largest(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    content = derive_tolerances(ref, {"a": ref}, [Environment("a", {}, 1)])
    content["rows"] = [r for r in content["rows"] if r["method"] != "near_good"]
    table = Tolerances(content)
    row = summary[(summary["method"] == "near_good") & (summary["metric"] == "lpips")].iloc[0]
    assert table.lookup(row) == (CONTINUOUS_FLOOR, False)
    report = compare_leaderboards(ref, ref, tolerances=table)
    assert report.ok and any("without a measured tolerance" in note for note in report.notes)


def test_bad_tolerance_files_are_refused(tmp_path) -> None:
    path = tmp_path / "tolerances.json"
    path.write_text("[1, 2]")
    with pytest.raises(ReconbenchError, match="JSON object"):
        Tolerances.read(path)
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ReconbenchError, match="format"):
        Tolerances.read(path)
    path.write_text(
        json.dumps(
            {
                "format": FORMAT_VERSION,
                "rows": [{"dataset": "d", "test_set": "t", "method": "m", "param_set": "p", "params_hash": "h", "metric": "ssim", "tolerance": None}],
            }
        )
    )
    with pytest.raises(ReconbenchError, match="not a finite number"):
        Tolerances.read(path)


def test_leaderboards_of_different_datasets_are_refused(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    other = tmp_path / "other.csv"
    other.write_text(to_csv(summary.assign(dataset="simulated:default")))
    with pytest.raises(ReconbenchError, match="different datasets"):
        compare_leaderboards(other, ref)


def test_partial_reruns_leave_unmeasured_rows_out_and_compare_says_so(tmp_path, reference_csv) -> None:
    summary, ref = reference_csv
    fewer = tmp_path / "fewer.csv"
    fewer.write_text(to_csv(summary[summary["method"] != "poor"]))
    content = derive_tolerances(ref, {"a": fewer}, [Environment("a", {}, 1)], require_all=False)
    assert content["unmeasured_rows"] == 2 and not any(r["method"] == "poor" for r in content["rows"])
    report = compare_leaderboards(ref, ref, tolerances=Tolerances(content))
    assert report.ok and any("2 row(s) without a measured tolerance" in note for note in report.notes)


def test_process_environment_clears_every_kernel_variable_and_sets_its_own() -> None:
    base = {"HOME": "/root", "OPENBLAS_CORETYPE": "Zen", "ATEN_CPU_CAPABILITY": "avx2", "RECONBENCH_STAGE_CACHE": "/c"}
    env = Environment("x", {"ONEDNN_MAX_CPU_ISA": "SSE41"}, 1).process_environment(base)
    assert env == {"HOME": "/root", "ONEDNN_MAX_CPU_ISA": "SSE41", "RECONBENCH_STAGE_CACHE": "off"}


def _results_folder(path, rows):
    """A results folder as a run leaves it: results.parquet and leaderboard/leaderboard.csv."""
    (path / "leaderboard").mkdir(parents=True)
    rows.to_parquet(path / "results.parquet")
    (path / "leaderboard" / "leaderboard.csv").write_text(to_csv(summarise(rows, n_boot=200, n_perm=200)))
    return path


@pytest.fixture
def seeded_reference(tmp_path):
    """A GAN-like entry with three seeds (per-seed offsets), a second seeded entry, and a one-seed ridge."""
    from tests.leaderboard.conftest import make_rows

    rng = np.random.default_rng(1)
    base = 0.7 + 0.1 * rng.standard_normal(10)
    gan = np.stack([base + offset + 0.01 * rng.standard_normal(10) for offset in (0.0, 0.03, -0.02)])
    other = np.stack([base + offset for offset in (0.0, 0.001, 0.002)])
    rows = make_rows(
        {
            ("gan", "method", "pixcorr"): gan,
            ("other_gan", "method", "pixcorr"): other,
            ("ridge", "method", "pixcorr"): base[None, :],
        },
        metrics={"pixcorr": (True, None)},
        seeds=(0, 1, 2),
    )
    return rows, gan, other, _results_folder(tmp_path / "ref", rows)


def test_seeded_rows_are_bounded_by_their_seed_spread(seeded_reference) -> None:
    rows, gan, other, ref = seeded_reference
    content = derive_tolerances(ref, {}, [], preset="test", regenerate="make the reference")
    found = {r["method"]: r for r in content["rows"]}
    # numpy, independently: the sd (ddof 1) of the per-seed means, and their root mean square over the seeded rows.
    sd_gan, sd_other = np.std(gan.mean(axis=1), ddof=1), np.std(other.mean(axis=1), ddof=1)
    pooled = math.sqrt((sd_gan**2 + sd_other**2) / 2)
    assert found["gan"]["n_seeds"] == 3 and found["gan"]["seed_sd"] == pytest.approx(sd_gan, rel=1e-9)
    assert found["gan"]["pooled_seed_sd"] == pytest.approx(pooled, rel=1e-9)
    assert found["gan"]["tolerance"] == pytest.approx(SEED_FACTOR * max(sd_gan, pooled), rel=1e-9)
    # A seeded row with a tiny own spread still gets the pooled one (three seeds estimate an sd poorly).
    assert found["other_gan"]["tolerance"] == pytest.approx(SEED_FACTOR * pooled, rel=1e-9)
    # A one-seed row that no rerun measured gets no entry.
    assert "ridge" not in found and content["unmeasured_rows"] == 1
    assert content["regenerate"] == "make the reference" and "seed_factor" in content["rule"]


def test_a_rerun_of_the_same_seed_deviates_by_exactly_zero(tmp_path, seeded_reference) -> None:
    rows, gan, _, ref = seeded_reference
    write_tolerances(ref / "tolerances.json", derive_tolerances(ref, {}, []))
    seed0 = _results_folder(tmp_path / "new", rows[rows["seed"] == 0])
    report = compare_leaderboards(seed0, ref, subset=True)
    assert report.ok and report.max_change == 0.0
    assert any("same seed(s) (0)" in note for note in report.notes)
    # Without the result rows only the leaderboards' means can be compared: the seed-0 mean against the 3-seed mean.
    (seed0 / "results.parquet").unlink()
    report = compare_leaderboards(seed0, ref, subset=True)
    assert report.max_change == pytest.approx(abs(gan[0].mean() - gan.mean()), abs=1e-5)

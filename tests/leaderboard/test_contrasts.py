"""Paired contrasts between two entries (``reconbench contrast``), checked against references computed here:
seed-averaged differences by hand with numpy, intervals against ``scipy.stats.bootstrap`` and p-values against
``scipy.stats.permutation_test``."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from typer.testing import CliRunner

from reconbench.cli import app, main
from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.contrasts import ContrastError, Entry, contrast, contrast_plot, contrasts, parse_entry, parse_pair
from reconbench.store.results import normalise
from tests.leaderboard.rows import result_row

METRICS = {"pairwise_identification": (True, 0.5), "lpips": (False, None)}
PLAIN = "simulated:default"
LOW, HIGH = "simulated:default@category_surface=0.25", "simulated:default@category_surface=1"
DATASETS = (PLAIN, LOW, HIGH)
SUBJECTS = ("sub-01", "sub-02")
STIMULI = tuple(f"img{k}" for k in range(6))  # 12 units: 2^12 sign flips, so the permutation test is exact
A, B, C = Entry("divide_and_conquer", "default"), Entry("divide_and_conquer", "swapped"), Entry("pixel_ridge", "default")


def _row(dataset, test_set, entry: Entry, metric, subject, stimulus, seed, value, status="ok") -> dict:
    higher, chance = METRICS[metric]
    return result_row(
        dataset=dataset,
        subject=subject,
        test_set=test_set,
        method=entry.method,
        param_set=entry.param_set,
        params_hash=f"h-{entry.name}",
        seed=seed,
        metric=metric,
        stimulus_id=stimulus,
        value=float(value),
        higher_is_better=higher,
        chance=np.nan if chance is None else chance,
        status=status,
        cell_key=f"{entry.name}-{dataset}-{subject}-{seed}",
    )


def build_rows(values: dict[tuple[Entry, str, str, str], np.ndarray], extra: list[dict] | None = None) -> pd.DataFrame:
    """Rows from ``{(entry, dataset, test_set, metric): array (subjects, stimuli, seeds)}``; a NaN there is a row left out."""
    out = []
    for (entry, dataset, test_set, metric), array in values.items():
        for i, subject in enumerate(SUBJECTS[: array.shape[0]]):
            for k, stimulus in enumerate(STIMULI[: array.shape[1]]):
                for seed in range(array.shape[2]):
                    if not np.isnan(array[i, k, seed]):
                        out.append(_row(dataset, test_set, entry, metric, subject, stimulus, seed, array[i, k, seed]))
    return normalise(pd.DataFrame(out + (extra or [])))


def hand_contrast(va: np.ndarray, vb: np.ndarray) -> dict:
    """The reference: per unit the mean over the seeds present (NaN: absent), the units both have, their differences,
    and per common seed the mean difference over the units both have at that seed."""

    def seed_mean(values: np.ndarray) -> np.ndarray:
        present = ~np.isnan(values)
        count = present.sum(axis=2)
        return np.where(count > 0, np.where(present, values, 0.0).sum(axis=2) / np.maximum(count, 1), np.nan)

    unit_a, unit_b = seed_mean(va), seed_mean(vb)
    both = ~np.isnan(unit_a) & ~np.isnan(unit_b)
    per_seed = []
    for seed in range(min(va.shape[2], vb.shape[2])):
        here = both & ~np.isnan(va[:, :, seed]) & ~np.isnan(vb[:, :, seed])
        if here.any():
            per_seed.append(float(np.mean(va[:, :, seed][here] - vb[:, :, seed][here])))
    return {"a": unit_a[both], "b": unit_b[both], "d": unit_a[both] - unit_b[both], "per_seed": per_seed}


@pytest.fixture(scope="module")
def sweep_values() -> dict:
    """Two entries (3 seeds) and a single-seed third on the plain preset and two sweep points, two test sets, two
    metrics; B lacks one unit everywhere and one seed of another unit; A lacks one unit at one point."""
    rng = np.random.default_rng(7)
    values = {}
    for d_index, dataset in enumerate(DATASETS):
        for test_set in ("natural", "shapes"):
            base = rng.uniform(0.3, 0.9, size=(2, 6, 1))
            for metric in METRICS:
                sign = 1.0 if metric == "pairwise_identification" else -1.0
                va = base + 0.03 * rng.standard_normal((2, 6, 3))
                vb = base - sign * (0.02 + 0.03 * d_index) + 0.05 * rng.standard_normal((2, 6, 3))
                vb[1, 1, :] = np.nan  # sub-02 img1: B never scored it
                vb[0, 3, 2] = np.nan  # sub-01 img3: B's seed 2 missing
                if dataset == HIGH:
                    va[0, 2, :] = np.nan  # sub-01 img2: A absent at this point only
                values[(A, dataset, test_set, metric)] = va
                values[(B, dataset, test_set, metric)] = vb
                values[(C, dataset, test_set, metric)] = base[:, :, :1] + 0.01
    return values


@pytest.fixture(scope="module")
def sweep_rows(sweep_values) -> pd.DataFrame:
    # A failed row with a wild value must not count.
    failed = _row(LOW, "natural", A, "pairwise_identification", "sub-01", "img0", 0, 100.0, status="failed")
    return build_rows(sweep_values, extra=[failed])


@pytest.fixture(scope="module")
def natural(sweep_rows) -> pd.DataFrame:
    return contrast(sweep_rows, A, B, test_set="natural")


def _row_of(table: pd.DataFrame, dataset: str, test_set: str = "natural") -> pd.Series:
    found = table[(table["dataset"] == dataset) & (table["test_set"] == test_set)]
    assert len(found) == 1
    return found.iloc[0]


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_difference_is_the_mean_of_seed_averaged_per_image_differences(natural, sweep_values, dataset) -> None:
    ref = hand_contrast(sweep_values[(A, dataset, "natural", "pairwise_identification")], sweep_values[(B, dataset, "natural", "pairwise_identification")])
    row = _row_of(natural, dataset)
    assert row["n_units"] == ref["d"].size == (10 if dataset == HIGH else 11)  # units missing from one entry are dropped
    assert row["difference"] == pytest.approx(ref["d"].mean(), abs=1e-12)
    assert row["mean_a"] == pytest.approx(ref["a"].mean(), abs=1e-12)
    assert row["mean_b"] == pytest.approx(ref["b"].mean(), abs=1e-12)
    assert row["n_seeds"] == 3
    assert row["seed_min"] == pytest.approx(min(ref["per_seed"]), abs=1e-12)
    assert row["seed_max"] == pytest.approx(max(ref["per_seed"]), abs=1e-12)
    assert row["metric"] == "pairwise_identification"  # the leaderboard's ranking metric by default


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_interval_agrees_with_scipy_bootstrap(natural, sweep_values, dataset) -> None:
    ref = hand_contrast(sweep_values[(A, dataset, "natural", "pairwise_identification")], sweep_values[(B, dataset, "natural", "pairwise_identification")])
    scipy_ci = stats.bootstrap(
        (ref["d"],), np.mean, n_resamples=10_000, confidence_level=0.95, method="percentile", random_state=np.random.default_rng(123)
    ).confidence_interval
    row = _row_of(natural, dataset)
    # Monte Carlo error of a 2.5% quantile from 10,000 resamples is about 0.03 bootstrap standard errors.
    tolerance = 0.2 * ref["d"].std() / math.sqrt(ref["d"].size)
    assert row["ci_low"] == pytest.approx(scipy_ci.low, abs=tolerance)
    assert row["ci_high"] == pytest.approx(scipy_ci.high, abs=tolerance)


@pytest.mark.parametrize("dataset", DATASETS)
def test_p_equals_scipy_exact_permutation_test(natural, sweep_values, dataset) -> None:
    ref = hand_contrast(sweep_values[(A, dataset, "natural", "pairwise_identification")], sweep_values[(B, dataset, "natural", "pairwise_identification")])
    result = stats.permutation_test(
        (ref["a"], ref["b"]),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=10_000,  # more than 2^11 or 2^10 sign vectors: scipy enumerates them all
        alternative="two-sided",
    )
    assert _row_of(natural, dataset)["p"] == pytest.approx(result.pvalue, rel=1e-9)


def test_p_agrees_with_scipy_random_permutations_on_many_units() -> None:
    rng = np.random.default_rng(3)
    # 40 units (beyond exhaustive enumeration): stimuli reused under more subject names.
    subjects = [f"sub-{i:02d}" for i in range(8)]
    stimuli = [f"img{k}" for k in range(5)]
    va = rng.uniform(0.4, 0.9, size=(8, 5))
    vb = va - 0.02 + 0.08 * rng.standard_normal((8, 5))
    rows = [
        _row(PLAIN, "natural", entry, "pairwise_identification", s, k, 0, v[i, j])
        for entry, v in ((A, va), (B, vb))
        for i, s in enumerate(subjects)
        for j, k in enumerate(stimuli)
    ]
    got = contrast(normalise(pd.DataFrame(rows)), A, B).iloc[0]
    reference = stats.permutation_test(
        (va.ravel(), vb.ravel()),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=10_000,
        alternative="two-sided",
        random_state=np.random.default_rng(11),
    ).pvalue
    assert 0.01 < reference < 0.9  # a p where Monte Carlo agreement is informative
    assert got["p"] == pytest.approx(reference, abs=0.03)
    assert got["difference"] == pytest.approx(np.mean(va - vb), abs=1e-12)


def test_lower_is_better_metric_favours_the_lower_entry(sweep_rows, sweep_values) -> None:
    table = contrast(sweep_rows, A, B, metric="lpips", test_set="shapes")
    for dataset in DATASETS:
        ref = hand_contrast(sweep_values[(A, dataset, "shapes", "lpips")], sweep_values[(B, dataset, "shapes", "lpips")])
        row = _row_of(table, dataset, "shapes")
        assert not row["higher_is_better"]
        assert row["difference"] == pytest.approx(ref["d"].mean(), abs=1e-12)
        assert row["better"] == (A.name if ref["d"].mean() < 0 else B.name)
    # B was made worse (higher lpips) at every point: A is better with a negative difference.
    assert (table["difference"] < 0).all() and (table["better"] == A.name).all()


def test_rows_per_test_set_and_sweep_point(sweep_rows) -> None:
    table = contrast(sweep_rows, A, B)
    assert list(zip(table["test_set"], table["dataset"])) == [(ts, d) for ts in ("natural", "shapes") for d in DATASETS]
    plain, low, high = (_row_of(table, d) for d in DATASETS)
    assert (plain["knob"], math.isnan(plain["value"])) == ("", True)  # the plain preset: a row of its own, no knob value
    assert (low["knob"], low["value"], low["base"]) == ("category_surface", 0.25, PLAIN)
    assert (high["knob"], high["value"]) == ("category_surface", 1.0)


def test_a_single_seed_entry_has_no_seed_range(sweep_rows) -> None:
    row = _row_of(contrast(sweep_rows, A, C, test_set="natural"), PLAIN)
    assert row["n_seeds"] == 1 and math.isnan(row["seed_min"]) and math.isnan(row["seed_max"])
    assert row["n_units"] == 12


def test_a_constant_difference_gives_a_degenerate_interval() -> None:
    va = np.arange(12, dtype=float).reshape(2, 6, 1).repeat(2, axis=2) / 16  # exact binary fractions
    rows = build_rows({(A, PLAIN, "natural", "pairwise_identification"): va, (B, PLAIN, "natural", "pairwise_identification"): va - 0.25})
    row = contrast(rows, A, B).iloc[0]
    assert row["difference"] == row["ci_low"] == row["ci_high"] == 0.25
    assert row["seed_min"] == row["seed_max"] == 0.25
    assert row["p"] == pytest.approx(2 / 2**12)  # only the observed signs and their mirror are as extreme
    assert row["better"] == A.name


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=12, max_size=12),
    st.lists(st.floats(0, 1), min_size=12, max_size=12),
)
def test_swapping_the_entries_negates_the_difference_and_mirrors_the_interval(a_values, b_values) -> None:
    rows = build_rows(
        {
            (A, PLAIN, "natural", "pairwise_identification"): np.array(a_values).reshape(2, 6, 1),
            (B, PLAIN, "natural", "pairwise_identification"): np.array(b_values).reshape(2, 6, 1),
        }
    )
    ab = contrast(rows, A, B, n_boot=300, n_perm=300).iloc[0]
    ba = contrast(rows, B, A, n_boot=300, n_perm=300).iloc[0]
    assert ba["difference"] == pytest.approx(-ab["difference"], abs=1e-12)
    assert ba["ci_low"] == pytest.approx(-ab["ci_high"], abs=1e-12)
    assert ba["ci_high"] == pytest.approx(-ab["ci_low"], abs=1e-12)
    assert ba["p"] == pytest.approx(ab["p"], abs=1e-12)
    assert (ba["mean_a"], ba["mean_b"]) == (ab["mean_b"], ab["mean_a"])
    assert ba["better"] == ab["better"]


def test_entries_are_spelled_as_methods_are() -> None:
    assert parse_entry("divide_and_conquer") == Entry("divide_and_conquer", "default")
    assert parse_entry("divide_and_conquer:swapped") == Entry("divide_and_conquer", "swapped")
    assert parse_pair("a, b:x") == (Entry("a", "default"), Entry("b", "x"))
    for bad in ("a", "a,b,c", "a,", "a,a:default", "a:,b", "a/b,c"):
        with pytest.raises(ReconbenchError):
            parse_pair(bad)


def test_errors_name_what_is_missing(sweep_rows) -> None:
    with pytest.raises(ContrastError, match=r"entry divide_and_conquer:nope is not in the results; entries: .*divide_and_conquer:default"):
        contrast(sweep_rows, A, Entry("divide_and_conquer", "nope"))
    with pytest.raises(ContrastError, match=r"metric 'pixcorr' is not in the results; metrics: pairwise_identification, lpips"):
        contrast(sweep_rows, A, B, metric="pixcorr")
    with pytest.raises(ContrastError, match=r"test set 'letters' is not in the results"):
        contrast(sweep_rows, A, B, test_set="letters")
    apart = build_rows(
        {
            (A, LOW, "natural", "pairwise_identification"): np.full((2, 6, 1), 0.5),
            (B, HIGH, "natural", "pairwise_identification"): np.full((2, 6, 1), 0.5),
        }
    )
    with pytest.raises(ContrastError, match="share no test image"):
        contrast(apart, A, B)


def test_log_axis_only_when_values_are_positive_and_span_four_times(sweep_rows) -> None:
    table = contrasts(sweep_rows, [(A, B), (A, C)], test_set="natural")
    sweep = table[table["knob"] != ""]
    svg = contrast_plot(sweep, "category_surface", {})
    assert "category_surface (log scale)" in svg  # 0.25 to 1: positive, a factor of 4
    assert svg.count("<polyline") == 2  # one line per pair
    shifted = sweep.assign(value=sweep["value"] - 0.25)  # 0 and 0.75: no log of zero
    assert "category_surface (linear)" in contrast_plot(shifted, "category_surface", {})
    assert 'stroke-dasharray="4 3"' in svg  # the zero line


def test_cli_prints_tables_and_writes_three_files(sweep_rows, tmp_path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    sweep_rows.to_parquet(folder / "results.parquet")
    out = tmp_path / "contrasts"
    result = CliRunner().invoke(app, ["contrast", str(folder), "--pair", f"{A.name},{B.name}", "--pair", f"{A.method},{C.method}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "## divide_and_conquer:default − divide_and_conquer:swapped · natural" in result.stdout
    assert "| category_surface=0.25 | 11 |" in result.stdout and "| simulated:default | 12 |" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["contrasts.csv", "contrasts.html", "contrasts.md"]
    written = pd.read_csv(out / "contrasts.csv", keep_default_na=False, na_values=[""])
    expected = contrasts(sweep_rows, [(A, B), (A, C)])
    assert len(written) == len(expected) == 12  # 2 pairs x 2 test sets x 3 datasets
    assert np.allclose(written["difference"], expected["difference"], atol=1e-5)
    page = (out / "contrasts.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # per test set: the datasets that are no sweep point, and the category_surface sweep
    assert not re.search(r"(src|href)\s*=|<script|<link|url\(", page)  # self-contained
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * 4  # only the SVG namespace
    assert (out / "contrasts.md").read_text(encoding="utf-8").strip() in result.stdout


def test_cli_reads_a_csv_file_and_picks_a_test_set(sweep_rows, tmp_path) -> None:
    path = tmp_path / "results.csv"
    sweep_rows.to_csv(path, index=False)
    result = CliRunner().invoke(app, ["contrast", str(path), "--pair", f"{A.name},{B.name}", "--test-set", "shapes", "--metric", "lpips"])
    assert result.exit_code == 0, result.output
    assert "· shapes" in result.stdout and "· natural" not in result.stdout and "lpips ↓" in result.stdout


def test_cli_missing_entry_is_one_line_and_exit_status_2(sweep_rows, tmp_path, capsys) -> None:
    sweep_rows.to_parquet(tmp_path / "results.parquet")
    with pytest.raises(SystemExit) as exit_info:
        main(["contrast", str(tmp_path), "--pair", "divide_and_conquer,ghost:fast"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: entry ghost:fast is not in the results; entries: ")

"""Leaderboard aggregation: means, intervals, ranking, best/tied marks, unranked rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.tables import CITATION_COLUMNS, read_citations, summarise
from tests.leaderboard.conftest import make_rows


def _get(summary: pd.DataFrame, method: str, metric: str) -> pd.Series:
    sel = summary[(summary["method"] == method) & (summary["metric"] == metric)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_means_ranks_and_directions(three_methods) -> None:
    summary = summarise(three_methods)
    raw = three_methods
    for method in ("good", "near_good", "poor"):
        values = raw[(raw["method"] == method) & (raw["metric"] == "lpips")]["value"]
        assert _get(summary, method, "lpips")["mean"] == pytest.approx(values.mean())
    ranked = summary[summary["kind"] == "method"].drop_duplicates("method")
    assert list(ranked["method"][:1]) == ["good"] or list(ranked["method"][:1]) == ["near_good"]
    assert _get(summary, "poor", "pairwise_identification")["rank"] == 3
    # lpips is lower-is-better: the best is the one with the smallest mean.
    lp = summary[(summary["metric"] == "lpips") & (summary["kind"] == "method")]
    assert lp.loc[lp["best"], "mean"].iloc[0] == lp["mean"].min()
    assert not _get(summary, "poor", "lpips")["higher_is_better"]


def test_oracles_and_references_are_not_ranked(three_methods) -> None:
    summary = summarise(three_methods)
    for method in ("copy_truth", "category-only"):
        row = _get(summary, method, "pairwise_identification")
        assert pd.isna(row["rank"]) and not row["best"] and not row["tied_with_best"]
    # The oracle's perfect score does not take "best" from the ranked methods.
    best = summary[(summary["metric"] == "pairwise_identification") & summary["best"]]
    assert list(best["kind"]) == ["method"]
    kinds = list(dict.fromkeys(summary[summary["metric"] == "pairwise_identification"]["kind"]))
    assert kinds == ["method", "oracle", "reference", "chance"]


def test_tie_marks_follow_an_exact_scipy_permutation_test(three_methods) -> None:
    summary = summarise(three_methods)
    best = summary[(summary["metric"] == "pairwise_identification") & summary["best"]].iloc[0]["method"]
    raw = three_methods[three_methods["metric"] == "pairwise_identification"]
    best_values = raw[raw["method"] == best].sort_values("stimulus_id")["value"].to_numpy()
    for method in {"good", "near_good", "poor"} - {best}:
        values = raw[raw["method"] == method].sort_values("stimulus_id")["value"].to_numpy()
        reference = scipy.stats.permutation_test(
            (values, best_values),
            lambda x, y: np.mean(x - y),
            permutation_type="samples",
            alternative="two-sided",
            n_resamples=np.inf,
        ).pvalue
        row = _get(summary, method, "pairwise_identification")
        assert row["p_vs_best"] == pytest.approx(reference, rel=1e-9)
        assert row["tied_with_best"] == (reference >= 0.05)
    assert not _get(summary, "poor", "pairwise_identification")["tied_with_best"]


def test_interval_matches_the_normal_approximation_for_many_images() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.5, 0.1, 400)
    summary = summarise(make_rows({("m", "method", "pairwise_identification"): values}))
    row = _get(summary, "m", "pairwise_identification")
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    assert (row["ci_high"] - row["ci_low"]) / 2 == pytest.approx(half_width, rel=0.1)
    assert row["n_images"] == 400


def test_seeds_are_averaged_per_image_before_the_interval() -> None:
    values = np.array([[0.2, 0.4, 0.6], [0.4, 0.6, 0.8]])  # two seeds, three images
    summary = summarise(make_rows({("m", "method", "pairwise_identification"): values}, seeds=(0, 1)))
    row = _get(summary, "m", "pairwise_identification")
    assert row["mean"] == pytest.approx(0.5)
    assert row["n_images"] == 3 and row["n_seeds"] == 2
    # The seed spread: the lowest and highest per-seed mean over the images (numpy's means of the two rows).
    assert (row["seed_min"], row["seed_max"]) == (pytest.approx(values[0].mean()), pytest.approx(values[1].mean()))
    from reconbench.leaderboard.render import cell_text, to_markdown

    assert cell_text(row).endswith("{seeds 0.400–0.600}")
    assert "1–2 seed(s) per method" in to_markdown(
        summarise(make_rows({("m", "method", "pairwise_identification"): values, ("n", "method", "pairwise_identification"): values[:1]}, seeds=(0, 1)))
    )
    single = _get(summarise(make_rows({("m", "method", "pairwise_identification"): values[:1]})), "m", "pairwise_identification")
    assert np.isnan(single["seed_min"]) and "seeds" not in cell_text(single)


def test_chance_and_literature_rows(tmp_path, three_methods) -> None:
    citations = tmp_path / "citations.csv"
    pd.DataFrame(
        [
            {
                "dataset": "simulated:tiny",
                "test_set": "natural",
                "method": "Some et al. 2099",
                "metric": "lpips",
                "value": 0.42,
                "ci_low": "",
                "ci_high": "",
                "source": "Some et al. (2099), Table 1",
                "note": "",
            }
        ],
        columns=CITATION_COLUMNS,
    ).to_csv(citations, index=False)
    summary = summarise(three_methods, citations=read_citations(citations))
    chance = _get(summary, "chance", "pairwise_identification")
    assert chance["kind"] == "chance" and chance["mean"] == 0.5
    assert summary[(summary["method"] == "chance") & (summary["metric"] == "lpips")].empty, "lpips has no chance level"
    lit = _get(summary, "Some et al. 2099", "lpips")
    assert lit["kind"] == "literature" and lit["mean"] == 0.42 and "not computed here" in lit["source"]
    assert pd.isna(lit["rank"])


def test_citations_need_a_source(tmp_path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(",".join(CITATION_COLUMNS) + "\nsimulated:tiny,natural,X,lpips,0.4,,,,\n")
    with pytest.raises(ReconbenchError, match="row\\(s\\) 2 have no source"):
        read_citations(path)


def test_packaged_citations_file_has_the_header() -> None:
    table = read_citations()
    assert list(table.columns) == CITATION_COLUMNS


def test_failed_rows_are_left_out(three_methods) -> None:
    failed = three_methods.iloc[:1].copy()
    failed[["method", "status", "metric", "stimulus_id"]] = ["broken", "failed", "", ""]
    summary = summarise(pd.concat([three_methods, failed], ignore_index=True))
    assert "broken" not in set(summary["method"])

"""Result rows -> leaderboard tables (one per dataset and test set).

How a table is made (the same for every method; nothing method-specific):

- **Unit of analysis**: a test image of a subject. A method's per-image
  scores are averaged over seeds, giving one value per (subject, stimulus id).
- **Mean and interval**: the mean over units with a bootstrap 95% interval
  (``reconbench.metrics.stats.bootstrap_ci``, 10,000 resamples, seed 0).
- **Ranking**: ranked methods (``kind == "method"``) are ordered by the mean of
  the ranking metric (:data:`RANKING_METRICS`, the first one present: pairwise
  identification), best first, in that metric's direction.
- **Best and ties**: per metric, the best ranked method is marked; every other
  ranked method whose paired permutation test against it
  (``reconbench.metrics.stats.paired_permutation_test``, 10,000 permutations,
  seed 0, over the units both have) gives p >= 0.05 is marked "not
  significantly different from the best". No correction for multiple
  comparisons: the mark errs towards calling methods tied.
- **Rows that are not ranked**: ``oracle`` methods (given the true test
  images), ``reference`` rows computed by the harness (reconbench.references), the
  ``chance`` level of each metric where the registry knows it, and
  ``literature`` rows from ``citations.csv`` (numbers reported in papers, not
  computed here).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import pandas as pd

from reconbench.core.errors import ReconbenchError
from reconbench.metrics import list_metrics
from reconbench.metrics.stats import bootstrap_ci, paired_permutation_test

#: The metric that orders methods, first one present.
RANKING_METRICS = ("pairwise_identification", "pairwise_id")
#: Significance level of the "not different from the best" mark.
ALPHA = 0.05
N_BOOT = 10_000
N_PERM = 10_000
#: Kinds of rows, in the order tables show them.
KIND_ORDER = ("method", "oracle", "reference", "chance", "literature")
CITATIONS_PATH = Path(__file__).with_name("citations.csv")
CITATION_COLUMNS = ["dataset", "test_set", "method", "metric", "value", "ci_low", "ci_high", "source", "note"]

SUMMARY_COLUMNS = [
    "dataset",
    "test_set",
    "rank",
    "method",
    "param_set",
    "params_hash",
    "kind",
    "metric",
    "higher_is_better",
    "mean",
    "ci_low",
    "ci_high",
    "n_images",
    "n_subjects",
    "n_seeds",
    "p_vs_best",
    "best",
    "tied_with_best",
    "source",
    # Images left out of the mean because their score is NaN (undefined, e.g. the
    # correlation of a constant image); whether the entry ran unsealed (any cell).
    "n_omitted",
    "unsealed",
    # With several seeds: the lowest and highest per-seed mean (over the same images), else NaN.
    "seed_min",
    "seed_max",
]


def metric_order(rows: pd.DataFrame) -> list[str]:
    """Metrics in registry order (those not in the registry last, sorted)."""
    present = sorted(m for m in rows["metric"].unique() if m)
    try:
        registry = [m for m in list_metrics(include_optional=True) if m in present]
    except ImportError:  # pragma: no cover - the metrics package is part of reconbench
        registry = []
    return registry + [m for m in present if m not in registry]


def ranking_metric(metrics: Sequence[str]) -> str:
    """The metric that orders the table (see :data:`RANKING_METRICS`), else the first metric."""
    for name in RANKING_METRICS:
        if name in metrics:
            return name
    if not metrics:
        raise ReconbenchError("no metric to rank by")
    return metrics[0]


def read_citations(path: str | Path | None = None) -> pd.DataFrame:
    """Read literature rows (``citations.csv``): numbers reported in papers, not computed here.

    Every row must name its ``source``.
    """
    path = CITATIONS_PATH if path is None else Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=CITATION_COLUMNS)
    table = pd.read_csv(
        path,
        dtype={"dataset": str, "test_set": str, "method": str, "metric": str, "source": str, "note": str},
        keep_default_na=False,
        na_values={"value": [""], "ci_low": [""], "ci_high": [""]},
    )
    missing = [c for c in CITATION_COLUMNS if c not in table.columns]
    if missing:
        raise ReconbenchError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(CITATION_COLUMNS)}")
    unsourced = table[table["source"].str.strip() == ""]
    if len(unsourced):
        raise ReconbenchError(f"{path}: row(s) {', '.join(str(i + 2) for i in unsourced.index)} have no source")
    return table[CITATION_COLUMNS]


def _unit_values(group: pd.DataFrame) -> pd.Series:
    """Per-image values averaged over seeds, indexed by (subject, stimulus_id)."""
    return group.groupby(["subject", "stimulus_id"], sort=True)["value"].mean()


def summarise(rows: pd.DataFrame, *, citations: pd.DataFrame | None = None, n_boot: int = N_BOOT, n_perm: int = N_PERM) -> pd.DataFrame:
    """Aggregate result rows into leaderboard rows.

    Parameters
    ----------
    rows : DataFrame
        Result rows (:data:`reconbench.store.results.COLUMNS`).
    citations : DataFrame, optional
        Literature rows (:func:`read_citations`); default: the packaged file.

    Returns
    -------
    DataFrame with :data:`SUMMARY_COLUMNS`, one row per (dataset, test set,
    entry, metric), entries ordered: ranked methods by rank, then oracles,
    references, chance, literature.
    """

    citations = read_citations() if citations is None else citations
    ok = rows[(rows["status"] == "ok") & (rows["metric"] != "")]
    out: list[dict] = []
    for (dataset, test_set), table_rows in ok.groupby(["dataset", "test_set"], sort=True):
        metrics = metric_order(table_rows)
        direction = {m: bool(table_rows.loc[table_rows["metric"] == m, "higher_is_better"].iloc[0]) for m in metrics}
        entries = []  # (method, param_set, params_hash, kind) -> {metric: unit series}
        for (method, param_set, phash, kind), group in table_rows.groupby(["method", "param_set", "params_hash", "kind"], sort=True):
            per_metric = {m: _unit_values(g) for m, g in group.groupby("metric")}
            seed_means = {m: g.groupby("seed")["value"].mean() for m, g in group.groupby("metric")}
            entries.append(
                {
                    "method": method,
                    "param_set": param_set,
                    "params_hash": phash,
                    "kind": kind,
                    "units": per_metric,
                    "n_subjects": group["subject"].nunique(),
                    "n_seeds": group["seed"].nunique(),
                    "seed_range": {m: (float(v.min()), float(v.max())) if len(v) > 1 else (float("nan"), float("nan")) for m, v in seed_means.items()},
                    "unsealed": bool((group["sealed"] == "no").any()) if "sealed" in group else False,
                }
            )
        for entry in entries:
            entry["stats"] = {}
            entry["omitted"] = {}
            for metric, values in entry["units"].items():
                # A NaN score is data (stored with its reason); the mean leaves it out and says how many.
                finite = values.dropna()
                entry["omitted"][metric] = int(len(values) - len(finite))
                if finite.empty:  # every score undefined: shown, with the count, never ranked
                    entry["stats"][metric] = (float("nan"), float("nan"), float("nan"), 0)
                    continue
                mean, low, high = bootstrap_ci(finite.to_numpy(), level=0.95, n_boot=n_boot, seed=0)
                entry["stats"][metric] = (float(mean), float(low), float(high), int(len(finite)))

        rank_by = ranking_metric(metrics)
        ranked = [e for e in entries if e["kind"] == "method" and rank_by in e["stats"] and e["stats"][rank_by][3] > 0]
        sign = 1.0 if direction[rank_by] else -1.0
        ranked.sort(key=lambda e: (-sign * e["stats"][rank_by][0], e["method"], e["param_set"]))
        for position, entry in enumerate(ranked, start=1):
            entry["rank"] = position

        best_of: dict[str, dict] = {}
        for metric in metrics:
            candidates = [e for e in ranked if metric in e["stats"] and e["stats"][metric][3] > 0]
            if candidates:
                s = 1.0 if direction[metric] else -1.0
                best_of[metric] = max(candidates, key=lambda e: (s * e["stats"][metric][0], -e["rank"]))

        others = [e for e in entries if e["kind"] != "method" or not any(e is r for r in ranked)]
        others.sort(key=lambda e: (KIND_ORDER.index(e["kind"]) if e["kind"] in KIND_ORDER else 99, e["method"], e["param_set"]))
        for entry in ranked + others:
            for metric in metrics:
                if metric not in entry["stats"]:
                    continue
                mean, low, high, n = entry["stats"][metric]
                best = best_of.get(metric)
                is_best = best is entry
                p_value = float("nan")
                if entry["kind"] == "method" and best is not None and not is_best:
                    a, b = entry["units"][metric].align(best["units"][metric], join="inner")
                    both = a.notna() & b.notna()
                    a, b = a[both], b[both]
                    if len(a) >= 2:
                        p_value = float(paired_permutation_test(a.to_numpy(), b.to_numpy(), n_perm=n_perm, seed=0))
                out.append(
                    {
                        "dataset": dataset,
                        "test_set": test_set,
                        "rank": entry.get("rank", pd.NA),
                        "method": entry["method"],
                        "param_set": entry["param_set"],
                        "params_hash": entry["params_hash"],
                        "kind": entry["kind"],
                        "metric": metric,
                        "higher_is_better": direction[metric],
                        "mean": mean,
                        "ci_low": low,
                        "ci_high": high,
                        "n_images": n,
                        "n_subjects": entry["n_subjects"],
                        "n_seeds": entry["n_seeds"],
                        "p_vs_best": p_value,
                        "best": is_best,
                        "tied_with_best": bool(entry["kind"] == "method" and not is_best and p_value >= ALPHA),
                        "source": "computed here",
                        "n_omitted": entry["omitted"].get(metric, 0),
                        "unsealed": entry["unsealed"],
                        "seed_min": entry["seed_range"][metric][0],
                        "seed_max": entry["seed_range"][metric][1],
                    }
                )

        for metric in metrics:
            chance = table_rows.loc[table_rows["metric"] == metric, "chance"].dropna()
            if len(chance):
                out.append(
                    _fixed_row(
                        dataset, test_set, "chance", "", "chance", metric, direction[metric], float(chance.iloc[0]), source="metric definition (registry)"
                    )
                )
        for _, cite in citations[(citations["dataset"] == dataset) & (citations["test_set"] == test_set)].iterrows():
            if cite["metric"] in direction:
                out.append(
                    _fixed_row(
                        dataset,
                        test_set,
                        cite["method"],
                        "",
                        "literature",
                        cite["metric"],
                        direction[cite["metric"]],
                        float(cite["value"]),
                        low=cite["ci_low"],
                        high=cite["ci_high"],
                        source=f"{cite['source']} (not computed here)",
                    )
                )
    if not out:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frame = pd.DataFrame(out, columns=SUMMARY_COLUMNS)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame


def _fixed_row(dataset, test_set, method, param_set, kind, metric, higher, value, *, low=float("nan"), high=float("nan"), source=""):
    return {
        "dataset": dataset,
        "test_set": test_set,
        "rank": pd.NA,
        "method": method,
        "param_set": param_set,
        "params_hash": "",
        "kind": kind,
        "metric": metric,
        "higher_is_better": higher,
        "mean": value,
        "ci_low": float(low) if low not in ("", None) else float("nan"),
        "ci_high": float(high) if high not in ("", None) else float("nan"),
        "n_images": pd.NA,
        "n_subjects": pd.NA,
        "n_seeds": pd.NA,
        "p_vs_best": float("nan"),
        "best": False,
        "tied_with_best": False,
        "source": source,
        "n_omitted": 0,
        "unsealed": False,
    }


def write_citations_template(path: str | Path) -> None:
    """Write an empty citations file (header only)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(CITATION_COLUMNS)

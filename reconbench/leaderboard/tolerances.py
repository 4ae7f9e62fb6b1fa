"""Regression tolerances, one per leaderboard row, by a rule written in the file.

Float results differ between CPUs (BLAS, ATen and oneDNN kernels, thread
counts). For a linear decoder that is a rounding error (about 1e-7); for a
method that trains stochastically (a GAN) it is chaotic: another CPU perturbs
its training the way a new seed does, so no set of environments emulated on
one machine bounds what an unseen CPU does to it. A *tolerance file*
(``results/<preset>/tolerances.json``) therefore holds, for every computed row
of a reference leaderboard (dataset, test set, method, parameter set, params
hash, metric):

- ``measured``: the largest absolute change of the row's mean over reruns of
  the preset under a set of execution environments (recorded in the file with
  the variables each set and its own largest change), or null where the row
  was not rerun;
- ``seed_sd``: for a row the reference holds with several seeds (a method that
  takes a seed: every divide-and-conquer set, the oracles included), the
  standard deviation of its per-seed means, and ``pooled_seed_sd``, the root
  mean square of ``seed_sd`` over the seeded rows of its dataset, test set and
  metric (three seeds give a noisy estimate; the pool steadies it);
- ``tolerance``:

  - seeded rows: ``max(floor, safety x measured, seed_factor x max(seed_sd, pooled_seed_sd))``;
  - other rows: ``max(floor, safety x measured)``;

  where ``floor`` is ``STEP_FLOOR`` steps of the metric's resolution for the
  identification metrics (the mean over N images moves in steps of
  1 / (N (N - 1)); :meth:`reconbench.metrics.registry.MetricSpec.resolution`)
  and ``CONTINUOUS_FLOOR`` for continuous metrics.

``reconbench compare`` uses the file beside the reference
(:func:`find_tolerance_file`) unless ``--tolerance`` asks for one flat number.
``scripts/measure_tolerances.py`` runs the measurement and writes the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from reconbench.core.atomic import write_text
from reconbench.core.errors import ReconbenchError
from reconbench.metrics.registry import REGISTRY

FORMAT_VERSION = "reconbench-tolerances/2"
TOLERANCE_FILE = "tolerances.json"
#: Identification metrics: the floor is this many steps of 1 / (N (N - 1)).
STEP_FLOOR = 2
#: Continuous metrics (PixCorr, SSIM, LPIPS): absolute floor; far above the 1e-7 measured for linear decoders,
#: far below what a real regression moves (a one-pixel shift of the evaluation image moves PixCorr by ~1e-2).
CONTINUOUS_FLOOR = 1e-4
#: The measured spread is multiplied by this: the environments emulated on one machine are a sample of the CPUs
#: a user has, not all of them.
SAFETY = 3.0
#: Seeded rows: this many standard deviations of the seed-to-seed spread. A new run's mean on another CPU
#: differs from the reference's like two independent draws at worst (sd x sqrt(2) when one seed is compared
#: with one seed, less when means over seeds are compared), so 5 sd leave 3.5 such sds to spare.
SEED_FACTOR = 5.0
#: A row is seeded when the reference holds it with at least this many seeds.
MIN_SEEDS = 2
KEY_COLUMNS = ("dataset", "test_set", "method", "param_set", "params_hash", "metric")
COMPARED_KINDS = ("method", "oracle", "reference")


def metric_floor(metric: str, n_images: int) -> float:
    """The tolerance floor of ``metric`` on a test set of ``n_images`` images (see the module docstring)."""
    spec = REGISTRY.get(metric)
    step = spec.resolution(int(n_images)) if spec is not None else None
    return CONTINUOUS_FLOOR if step is None else STEP_FLOOR * step


def _row_key(row: Mapping) -> tuple[str, ...]:
    return tuple(str(row[c]) for c in KEY_COLUMNS)


def read_leaderboard_rows(path: str | Path, extra: Sequence[str] = ()) -> pd.DataFrame:
    """The computed rows of a leaderboard CSV (or of a results folder holding one): key columns, ``mean``,
    ``n_images`` and the ``extra`` columns present (e.g. ``n_seeds``)."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "leaderboard.csv", path / "leaderboard" / "leaderboard.csv"]
        path = next((p for p in candidates if p.is_file()), candidates[-1])
    if not path.is_file():
        raise ReconbenchError(f"no leaderboard CSV at {path}; run 'reconbench leaderboard' first")
    try:
        table = pd.read_csv(path, dtype={"param_set": str, "params_hash": str}, keep_default_na=False, na_values={"mean": [""]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReconbenchError(f"{path}: not a readable leaderboard CSV ({exc})") from None
    missing = [c for c in (*KEY_COLUMNS, "kind", "mean", "n_images") if c not in table.columns]
    if missing:
        raise ReconbenchError(f"{path}: not a leaderboard CSV (missing {', '.join(missing)})")
    table = table[table["kind"].isin(COMPARED_KINDS)].copy()
    table["mean"] = pd.to_numeric(table["mean"], errors="coerce")
    duplicated = table.duplicated(list(KEY_COLUMNS))
    if duplicated.any():
        raise ReconbenchError(f"{path}: duplicate rows for {table.loc[duplicated, list(KEY_COLUMNS)].iloc[0].to_dict()}")
    return table[[*KEY_COLUMNS, "mean", "n_images", *(c for c in extra if c in table.columns)]].reset_index(drop=True)


@dataclass(frozen=True)
class Environment:
    """One execution environment of a measurement: a name, the variables it sets and the torch/BLAS threads."""

    name: str
    variables: Mapping[str, str]
    threads: int

    def process_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` (e.g. ``os.environ``) with every kernel-selecting variable cleared, this environment's set,
        and the stage cache off (a measurement recomputes every stage)."""
        env = {k: v for k, v in base.items() if k not in ENVIRONMENT_VARIABLES}
        env.update(self.variables)
        env["RECONBENCH_STAGE_CACHE"] = "off"
        return env


#: Variables that select float kernels: ATen's vector code, numpy/scipy's OpenBLAS, torch's oneDNN
#: convolutions and torch's MKL BLAS. A measurement clears them all, then sets an environment's own.
ENVIRONMENT_VARIABLES = ("ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
#: torch/BLAS threads of the plain environment (``tox -e regression`` and the committed reference).
PLAIN_THREADS = 2
#: The environments of a measurement (``scripts/measure_tolerances.py``, ``tests/test_regression_power.py``).
ENVIRONMENTS = (
    Environment("threads-1", {}, 1),
    Environment("threads-4", {}, 4),
    Environment("aten-default", {"ATEN_CPU_CAPABILITY": "default"}, PLAIN_THREADS),
    Environment("aten-avx2", {"ATEN_CPU_CAPABILITY": "avx2"}, PLAIN_THREADS),
    Environment("aten-avx512", {"ATEN_CPU_CAPABILITY": "avx512"}, PLAIN_THREADS),
    Environment("openblas-sandybridge", {"OPENBLAS_CORETYPE": "Sandybridge"}, PLAIN_THREADS),
    Environment("openblas-prescott", {"OPENBLAS_CORETYPE": "Prescott"}, PLAIN_THREADS),
    Environment("onednn-sse41", {"ONEDNN_MAX_CPU_ISA": "SSE41"}, PLAIN_THREADS),
    Environment("mkl-sse42", {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, PLAIN_THREADS),
    Environment(
        "old-cpu-combined",
        {"ATEN_CPU_CAPABILITY": "default", "OPENBLAS_CORETYPE": "Prescott", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
        1,
    ),
)


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def supported(environment: Environment, flags: set[str]) -> bool:
    """False for an environment that asks for an instruction set this CPU lacks (ATen refuses it)."""
    return not (environment.variables.get("ATEN_CPU_CAPABILITY") == "avx512" and "avx512f" not in flags)


#: The columns naming an entry (one cell family: a method's parameter set on one dataset).
ENTRY_COLUMNS = ("dataset", "method", "param_set", "params_hash")


def results_beside(leaderboard: str | Path) -> Path | None:
    """The ``results.parquet`` of the results folder a leaderboard CSV (or folder) belongs to, if any."""
    path = Path(leaderboard)
    folder = path if path.is_dir() else path.parent
    for candidate in (folder / "results.parquet", folder.parent / "results.parquet"):
        if candidate.is_file():
            return candidate
    return None


def _scored_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The scores a leaderboard row is computed from: status ok, a metric, a compared kind."""
    return rows[(rows["status"] == "ok") & (rows["metric"] != "") & rows["kind"].isin(COMPARED_KINDS)]


def seed_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Per leaderboard row and seed, the mean score over its images (NaN scores left out):
    :data:`KEY_COLUMNS` + ``seed``, ``mean``."""
    scored = _scored_rows(rows)
    return scored.groupby([*KEY_COLUMNS, "seed"], sort=True)["value"].mean().rename("mean").reset_index()


def row_means(rows: pd.DataFrame, seeds: Mapping[tuple[str, ...], frozenset[int]] | None = None) -> pd.DataFrame:
    """Per leaderboard row, the mean as the tables compute it (each image's score averaged over
    seeds, then the mean over images, NaN left out), from result rows.

    ``seeds`` maps an entry (:data:`ENTRY_COLUMNS`) to the seeds to keep; entries
    it does not name keep all their seeds. Returns :data:`KEY_COLUMNS`, ``mean``, ``n_seeds``.
    """
    scored = _scored_rows(rows)
    if seeds:
        entry = list(zip(*(scored[c].astype(str) for c in ENTRY_COLUMNS)))
        keep = [e not in seeds or int(seed) in seeds[e] for e, seed in zip(entry, scored["seed"])]
        scored = scored[keep]
    units = scored.groupby([*KEY_COLUMNS, "subject", "stimulus_id"], sort=True)["value"].mean()
    means = units.groupby(level=list(range(len(KEY_COLUMNS)))).mean().rename("mean")
    counts = scored.groupby(list(KEY_COLUMNS))["seed"].nunique().rename("n_seeds")
    return pd.concat([means, counts], axis=1).reset_index()


def _seeds_by_entry(rows: pd.DataFrame) -> dict[tuple[str, ...], frozenset[int]]:
    """The seeds each entry (:data:`ENTRY_COLUMNS`) of a run's result rows holds."""
    return {entry: frozenset(int(s) for s in group["seed"]) for entry, group in rows.groupby(list(ENTRY_COLUMNS))}


def means_over_matching_seeds(new, reference, new_rows: pd.DataFrame, ref_rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Replace both sides' means by means computed from their result rows (:func:`row_means`), the
    reference's over the seeds the new run has where it holds them all: a seed-0 rerun is compared
    with the reference's seed 0. Unchanged when either side lacks its ``results.parquet``.
    Returns the new rows, the reference rows and a note (a list of at most one line)."""
    from reconbench.store.results import load_results

    new_found, ref_found = results_beside(new), results_beside(reference)
    if new_found is None or ref_found is None:
        return new_rows, ref_rows, []
    new_results, ref_results = load_results(new_found), load_results(ref_found)
    new_seeds, ref_seeds = _seeds_by_entry(new_results), _seeds_by_entry(ref_results)
    matched = {e: seeds for e, seeds in new_seeds.items() if e in ref_seeds and seeds < ref_seeds[e]}
    notes = []
    if matched:
        shown = sorted({",".join(map(str, sorted(s))) for s in matched.values()})
        notes.append(f"{len(matched)} entr{'y' if len(matched) == 1 else 'ies'} compared with the reference's mean over the same seed(s) ({'; '.join(shown)})")

    def with_means(rows: pd.DataFrame, results: pd.DataFrame, seeds) -> pd.DataFrame:
        means = row_means(results, seeds).astype({c: str for c in KEY_COLUMNS})
        out = rows.drop(columns="mean").astype({c: str for c in KEY_COLUMNS}).merge(means[[*KEY_COLUMNS, "mean"]], on=list(KEY_COLUMNS), how="left")
        return out[[*KEY_COLUMNS, "mean", "n_images"]]

    return with_means(new_rows, new_results, None), with_means(ref_rows, ref_results, matched), notes


def derive_tolerances(
    reference: str | Path,
    reruns: Mapping[str, str | Path],
    environments: Sequence[Environment],
    *,
    safety: float = SAFETY,
    seed_factor: float = SEED_FACTOR,
    preset: str | None = None,
    notes: str = "",
    require_all: bool = True,
    regenerate: str = "",
) -> dict:
    """Build a tolerance file's content from a reference results folder and its reruns.

    Parameters
    ----------
    reference : path
        The reference results folder (its ``leaderboard/leaderboard.csv`` and,
        for the seed spread, its ``results.parquet``).
    reruns : mapping of str to path
        Environment name -> leaderboard of the same preset rerun in that
        environment (may be empty: seeded rows are then bounded by their seed
        spread alone).
    environments : sequence of Environment
        What each rerun changed (names match ``reruns``).
    safety : float
        Factor on the measured spread.
    seed_factor : float
        Factor on the seed-to-seed standard deviation of seeded rows.
    require_all : bool
        False: reruns may cover only some reference rows (e.g. the deterministic
        methods of an expensive preset); a row that no rerun covers and that
        has a single seed gets no entry (``compare`` then uses the largest
        tolerance of its test set and metric and says so) and is counted in
        ``unmeasured_rows``.
    regenerate : str
        The command that regenerates the reference; ``compare`` names it when
        the reference is stale.

    Returns
    -------
    dict
        JSON-ready: format, preset, the rule and its constants, the
        environments with their largest change, and one entry per row (keys,
        n_images, resolution, n_seeds, seed_sd, pooled_seed_sd, measured, tolerance).
    """
    for name, value in (("safety", safety), ("seed factor", seed_factor)):
        if not (math.isfinite(value) and value >= 1):
            raise ReconbenchError(f"{name} must be a finite number >= 1, got {value}")
    names = {e.name for e in environments}
    if set(reruns) != names:
        raise ReconbenchError(f"reruns {sorted(reruns)} do not match the environments {sorted(names)}")
    ref = read_leaderboard_rows(reference)
    if ref["mean"].isna().any():
        raise ReconbenchError(f"{reference}: the reference has rows without a mean; cannot derive tolerances from it")
    measured = pd.Series(0.0, index=ref.index)
    covered = pd.Series(False, index=ref.index)
    env_max: dict[str, float] = {}
    for name, path in reruns.items():
        new, paired_ref, _ = means_over_matching_seeds(path, reference, read_leaderboard_rows(path), ref)
        merged = paired_ref.merge(new[[*KEY_COLUMNS, "mean"]], on=list(KEY_COLUMNS), how="left", suffixes=("", "_new"))
        absent = merged["mean_new"].isna()
        if absent.any() and require_all:
            row = merged.loc[absent, list(KEY_COLUMNS)].iloc[0].to_dict()
            raise ReconbenchError(f"rerun {name!r} ({path}) lacks {int(absent.sum())} reference row(s), e.g. {row}")
        covered |= ~absent
        change = (merged["mean_new"] - merged["mean"]).abs()
        env_max[name] = float(change.max()) if change.notna().any() else 0.0
        measured = pd.concat([measured, change.fillna(0.0)], axis=1).max(axis=1)

    spread = _seed_spread(reference, ref)
    rows = []
    for i, row in ref.iterrows():
        seeded = spread["n_seeds"][i] >= MIN_SEEDS
        if not (covered[i] or seeded):
            continue
        spec = REGISTRY.get(row["metric"])
        n = int(row["n_images"])
        floor = metric_floor(row["metric"], n)
        tolerance = max(floor, safety * float(measured[i])) if covered[i] else floor
        if seeded:
            tolerance = max(tolerance, seed_factor * max(spread["seed_sd"][i], spread["pooled_seed_sd"][i]))
        rows.append(
            {
                **{c: str(row[c]) for c in KEY_COLUMNS},
                "n_images": n,
                "resolution": spec.resolution(n) if spec is not None else None,
                "n_seeds": int(spread["n_seeds"][i]),
                "seed_sd": float(spread["seed_sd"][i]) if seeded else None,
                "pooled_seed_sd": float(spread["pooled_seed_sd"][i]) if seeded else None,
                "measured": float(measured[i]) if covered[i] else None,
                "tolerance": float(tolerance),
            }
        )
    return {
        "format": FORMAT_VERSION,
        "preset": preset,
        "safety": safety,
        "seed_factor": seed_factor,
        "min_seeds": MIN_SEEDS,
        "step_floor": STEP_FLOOR,
        "continuous_floor": CONTINUOUS_FLOOR,
        "rule": "seeded rows (n_seeds >= min_seeds): tolerance = max(floor, safety * measured, seed_factor * max(seed_sd, pooled_seed_sd)); "
        "other rows: tolerance = max(floor, safety * measured); floor = step_floor / (N (N - 1)) for identification metrics, "
        "continuous_floor otherwise; measured = largest |rerun mean - reference mean| over the environments (null: not rerun); "
        "seed_sd = standard deviation (ddof 1) of the row's per-seed means; pooled_seed_sd = root mean square of seed_sd over "
        "the seeded rows of the same dataset, test set and metric",
        "regenerate": regenerate,
        "notes": notes,
        "unmeasured_rows": int(len(ref) - len(rows)),
        "environments": [{"name": e.name, "variables": dict(e.variables), "threads": e.threads, "largest_change": env_max[e.name]} for e in environments],
        "rows": rows,
    }


def _seed_spread(reference: str | Path, ref: pd.DataFrame) -> pd.DataFrame:
    """For each row of ``ref``: ``n_seeds``, ``seed_sd`` (ddof 1; NaN with one seed) and
    ``pooled_seed_sd`` (root mean square over the seeded rows of its dataset, test set and metric),
    from the ``results.parquet`` beside the reference."""
    from reconbench.store.results import load_results

    spread = pd.DataFrame({"n_seeds": 1, "seed_sd": math.nan, "pooled_seed_sd": math.nan}, index=ref.index)
    listed = read_leaderboard_rows(reference, extra=("n_seeds",))
    if "n_seeds" in listed and (pd.to_numeric(listed["n_seeds"], errors="coerce").fillna(1) < MIN_SEEDS).all():
        return spread
    found = results_beside(reference)
    if found is None:
        raise ReconbenchError(f"{reference}: rows with several seeds but no results.parquet beside the leaderboard to measure their seed spread from")
    per_seed = seed_means(load_results(found))
    stats = per_seed.groupby(list(KEY_COLUMNS))["mean"].agg(n_seeds="count", seed_sd=lambda v: float(v.std(ddof=1)) if len(v) > 1 else math.nan)
    stats = stats.reset_index()
    seeded = stats[stats["n_seeds"] >= MIN_SEEDS]
    pooled = seeded.groupby(["dataset", "test_set", "metric"])["seed_sd"].apply(lambda v: float(math.sqrt((v**2).mean()))).rename("pooled_seed_sd")
    stats = stats.merge(pooled.reset_index(), on=["dataset", "test_set", "metric"], how="left")
    keyed = ref[list(KEY_COLUMNS)].astype(str).merge(stats.astype({c: str for c in KEY_COLUMNS}), on=list(KEY_COLUMNS), how="left")
    keyed.index = ref.index
    spread["n_seeds"] = keyed["n_seeds"].fillna(1).astype(int)
    spread["seed_sd"] = keyed["seed_sd"]
    spread["pooled_seed_sd"] = keyed["pooled_seed_sd"]
    return spread


def write_tolerances(path: str | Path, content: Mapping) -> None:
    """Write a tolerance file atomically (sorted keys, 2-space indent)."""
    write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


class Tolerances:
    """Per-row tolerances read from a tolerance file."""

    def __init__(self, content: Mapping, source: str = "<memory>"):
        if content.get("format") != FORMAT_VERSION:
            raise ReconbenchError(f"{source}: not a tolerance file of format {FORMAT_VERSION!r} (found {content.get('format')!r})")
        self.source = source
        self.content = content
        self._by_key: dict[tuple[str, ...], float] = {}
        for row in content.get("rows", []):
            value = row.get("tolerance")
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ReconbenchError(f"{source}: tolerance {value!r} of {_row_key(row)} is not a finite number >= 0")
            self._by_key[_row_key(row)] = float(value)
        self._by_group: dict[tuple[str, str, str], float] = {}
        for key, value in self._by_key.items():
            group = (key[0], key[1], key[5])
            self._by_group[group] = max(self._by_group.get(group, 0.0), value)

    @classmethod
    def read(cls, path: str | Path) -> "Tolerances":
        path = Path(path)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReconbenchError(f"cannot read the tolerance file {path}: {exc}") from None
        if not isinstance(content, dict):
            raise ReconbenchError(f"{path}: a tolerance file is a JSON object, found {type(content).__name__}")
        return cls(content, source=str(path))

    def lookup(self, row: Mapping) -> tuple[float, bool]:
        """Return ``(tolerance, measured)`` for a leaderboard row.

        A row without its own entry gets the largest tolerance of its dataset,
        test set and metric, with ``measured = False``; a row whose group has no
        entry at all raises.
        """
        key = _row_key(row)
        if key in self._by_key:
            return self._by_key[key], True
        group = (key[0], key[1], key[5])
        if group in self._by_group:
            return self._by_group[group], False
        raise ReconbenchError(
            f"{self.source} has no tolerance for {key[0]} {key[1]} {key[5]}; re-derive it with scripts/measure_tolerances.py or pass --tolerance"
        )


def find_tolerance_file(reference: str | Path) -> Path | None:
    """The tolerance file beside a reference leaderboard: ``<results>/tolerances.json`` for
    ``<results>``, ``<results>/leaderboard`` or ``<results>/leaderboard/leaderboard.csv``; None if absent."""
    reference = Path(reference)
    folder = reference if reference.is_dir() else reference.parent
    for candidate in (folder / TOLERANCE_FILE, folder.parent / TOLERANCE_FILE):
        if candidate.is_file():
            return candidate
    return None

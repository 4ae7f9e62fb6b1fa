"""``reconbench data profile``: its scores against direct computations, its held-out rule, and the command on a
simulated folder and on the ds001506 and GOD test fixtures (finite cells, a self-contained page, clear errors)."""

from __future__ import annotations

import csv
import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from reconbench.analysis import profile
from reconbench.analysis.profile import LEVELS, feature_identification, heldout_mask, level_scores, parse_rois
from reconbench.cli import main
from reconbench.core.errors import DataError, ReconbenchError
from reconbench.core.types import ALL_ROIS


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------
# Scores against direct computations


def brute_force_identification(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """For each i: wins over the j != i whose true row differs from true_i, by np.corrcoef, ties failing."""
    n = pred.shape[0]
    scores = np.full(n, np.nan)
    for i in range(n):
        own = np.corrcoef(pred[i], true[i])[0, 1]
        wins = total = 0
        for j in range(n):
            if j == i or np.array_equal(true[j], true[i]):
                continue
            total += 1
            wins += np.corrcoef(pred[i], true[j])[0, 1] < own
        if total:
            scores[i] = wins / total
    return scores


def test_identification_matches_a_brute_force_computation() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=(15, 7))
    true[3] = true[8]  # identical true rows (two images of one category) are not compared
    true[10] = true[8]
    pred = true + rng.normal(scale=1.5, size=true.shape)
    pred[5] = pred[6]
    ours = feature_identification(pred, true)
    np.testing.assert_allclose(ours, brute_force_identification(pred, true), atol=1e-12)
    # One-hot rows: only images of other categories count.
    onehot = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    decoded = onehot + 0.1 * rng.normal(size=onehot.shape)
    np.testing.assert_allclose(feature_identification(decoded, onehot), brute_force_identification(decoded, onehot), atol=1e-12)
    assert feature_identification(decoded, onehot).tolist() == [1.0] * 6


def test_correlation_is_the_mean_of_scipy_pearson_per_dimension() -> None:
    rng = np.random.default_rng(1)
    true = rng.normal(size=(12, 5))
    pred = 0.6 * true + rng.normal(size=true.shape)
    correlation, identification = level_scores(pred, true)
    assert correlation == pytest.approx(np.mean([stats.pearsonr(pred[:, k], true[:, k])[0] for k in range(5)]), abs=1e-9)
    assert identification == pytest.approx(np.nanmean(brute_force_identification(pred, true)), abs=1e-12)
    # A dimension constant over the held-out images has no correlation and is left out of the mean.
    true[:, 2] = 1.0
    correlation, _ = level_scores(pred, true)
    assert correlation == pytest.approx(np.mean([stats.pearsonr(pred[:, k], true[:, k])[0] for k in (0, 1, 3, 4)]), abs=1e-9)


def test_standardise_uses_the_fitting_rows_and_drops_constant_columns() -> None:
    x = np.column_stack([np.arange(6.0), np.ones(6), [0, 0, 0, 0, 5, 9.0]])
    fit = np.array([True, True, True, True, False, False])
    z = profile.standardise(x, fit)
    assert z.shape == (6, 1)  # column 1 constant everywhere, column 2 constant on the fitting rows
    np.testing.assert_allclose(z[:, 0], (x[:, 0] - 1.5) / np.std(x[:4, 0]), rtol=1e-6)


def test_the_held_out_rule() -> None:
    ids = [f"n{c:08d}_{k}" for c in range(10) for k in range(8)]
    categories = np.array([i.split("_")[0] for i in ids])
    from reconbench.datasets.splits import validation_ids

    validation = set(validation_ids(ids))
    mask = np.array([i in validation for i in ids])
    held = heldout_mask(ids, mask, categories)
    assert held.sum() == 16 and not (held & mask).any()
    assert np.array_equal(held, heldout_mask(list(reversed(ids)), mask[::-1], categories[::-1])[::-1])  # order-free
    # A category of two images, one in the validation fold: its other image is never held out.
    ids2 = ids + ["n99999999_1", "n99999999_2"]
    mask2 = np.concatenate([mask, [True, False]])
    cats2 = np.concatenate([categories, ["n99999999", "n99999999"]])
    held2 = heldout_mask(ids2, mask2, cats2)
    assert not held2[-1] and held2.sum() == math.ceil(0.2 * 82)
    for c in set(cats2):
        assert (~held2 & (cats2 == c)).any()
    # Singletons: no category can keep a fitting image; the rule fills up in hash order.
    singles = [f"n{k:08d}_1" for k in range(12)]
    held3 = heldout_mask(singles, np.array([True] + [False] * 11), np.array([s.split("_")[0] for s in singles]))
    assert held3.sum() == 3 and not held3[0]
    with pytest.raises(DataError, match="too few to hold out"):
        heldout_mask(singles[:4], np.array([True, False, False, False]))


def test_parse_rois() -> None:
    assert parse_rois(None) == ALL_ROIS
    assert parse_rois("HVC, V1") == ("V1", "HVC")
    with pytest.raises(ReconbenchError, match=r"unknown ROI 'V9' in --rois; valid: V1, V2"):
        parse_rois("V1,V9")


def test_the_semantic_level_is_divide_and_conquers_vector() -> None:
    from reconbench.methods.divide_and_conquer import DivideAndConquer

    defaults = {k: p.default for k, p in inspect.signature(DivideAndConquer.__init__).parameters.items()}
    assert (defaults["semantic_net"], defaults["semantic_layer"], defaults["semantic_pool"], defaults["semantic_components"]) == (
        profile.SEMANTIC_NET,
        profile.SEMANTIC_LAYER,
        profile.SEMANTIC_POOL,
        profile.SEMANTIC_COMPONENTS,
    )


@pytest.mark.weights
def test_one_pass_features_equal_the_projects_feature_vectors(alexnet_weights_cache) -> None:
    from reconbench.decoders.features import feature_vectors
    from reconbench.methods._semantic import pooled_features

    images = np.random.default_rng(2).uniform(size=(3, 3, 64, 64)).astype(np.float32)
    layers, semantic = profile.network_levels(images)
    for layer in profile.NETWORK_LAYERS:
        np.testing.assert_allclose(layers[layer], feature_vectors(images, "alexnet", layer, pool=profile.UNIT_POOL), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(semantic, pooled_features(images, net="alexnet", layer="conv5", pool=2), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# The command


def check_profile_folder(out: Path, rois: tuple[str, ...], levels: tuple[str, ...]) -> list[dict]:
    rows = read_csv(out / "profile.csv")
    assert [(r["roi"], r["level"]) for r in rows] == [(roi, level) for roi in rois for level in levels]
    for row in rows:
        for key in ("correlation", "identification", "reliability"):
            assert row[key] != "" and math.isfinite(float(row[key])), row
        assert 0.0 <= float(row["identification"]) <= 1.0 and -1.0 <= float(row["correlation"]) <= 1.0
    page = (out / "profile.html").read_text()
    assert page.count("<svg") == 3 and "Decoding profile" in page
    for outside in ("http:", "https:", "src=", "href=", "<script", "<link", "url(", "@import"):
        assert outside not in page, outside
    meta = json.loads((out / "profile.json").read_text())
    assert meta["heldout_images"] >= 2 and meta["recipe"]
    assert sorted(p.name for p in out.iterdir()) == ["profile.csv", "profile.html", "profile.json"]
    return rows


@pytest.mark.weights
@pytest.mark.slow
def test_profile_of_a_simulated_folder(tiny_data_dir, alexnet_weights_cache, tmp_path, capsys) -> None:
    out = tmp_path / "profile"
    code, printed, err = run_main(["data", "profile", str(tiny_data_dir), "--out", str(out)], capsys)
    assert code == 0, err
    rows = check_profile_folder(out, ALL_ROIS, LEVELS)
    assert "pairwise identification in feature space" in printed and "wrote" in printed
    meta = json.loads((out / "profile.json").read_text())
    assert (meta["layout"], meta["subject"], meta["training_images"], meta["heldout_images"]) == ("ds001506", "sub-01", 100, 20)
    assert meta["levels"]["category"] == 10 and meta["levels"]["semantic"] == 64
    # The whole-cortex decoder finds something of the pixels on tiny's simulated brain.
    vc = {r["level"]: float(r["identification"]) for r in rows if r["roi"] == "VC"}
    assert vc["luminance"] > 0.55 and vc["conv1"] > 0.6

    # The reliability column is the median of a direct split-half computation on the natural test session.
    from reconbench.datasets.layouts import load_held_subject

    session = load_held_subject(tiny_data_dir, "sub-01").data.sessions["NaturalImageTest"]
    for roi in ("V1", "HVC"):
        x = np.asarray(session.fmri[roi], dtype=np.float64)
        ids = session.stimulus_ids
        r = []
        for v in range(x.shape[1]):
            odd = [x[ids == s, v][0::2].mean() for s in sorted(set(ids))]
            even = [x[ids == s, v][1::2].mean() for s in sorted(set(ids))]
            r.append(stats.pearsonr(odd, even)[0])
        expected = float(np.median(r))
        assert float(next(row["reliability"] for row in rows if row["roi"] == roi)) == pytest.approx(expected, abs=5e-5)

    # Speed options: fewer voxels and images, some ROIs; an existing folder needs --force.
    code, _, err = run_main(["data", "profile", str(tiny_data_dir), "--out", str(out), "--rois", "V1,HVC"], capsys)
    assert code == 2 and err.count("\n") == 1 and "exists and is not empty; pass --force" in err
    code, _, err = run_main(
        ["data", "profile", str(tiny_data_dir), "--out", str(out), "--force", "--rois", "HVC,V1", "--max-voxels", "25", "--max-train", "40"], capsys
    )
    assert code == 0, err
    rows = check_profile_folder(out, ("V1", "HVC"), LEVELS)
    assert {r["voxels"] for r in rows} == {"25"}
    assert json.loads((out / "profile.json").read_text())["training_images"] == 40


@pytest.mark.weights
def test_the_two_layouts_of_one_simulation_give_one_profile(tiny_data_dir, alexnet_weights_cache, tmp_path) -> None:
    """The GOD layout of a simulation holds the very trials of its ds001506 layout: the same profile, number for number."""
    from reconbench.analysis.profile import compute_profile
    from reconbench.datasets.simulated.simulate import simulate

    god = tmp_path / "tiny-god"
    simulate(preset="tiny", out=god, seed=0, force=False, progress=False, layout="god")
    a = compute_profile(tiny_data_dir, rois="V1,HVC", max_train=60)
    b = compute_profile(god, rois="V1,HVC", max_train=60)
    assert (a.meta["layout"], b.meta["layout"], b.meta["subject"]) == ("ds001506", "god", "Subject1")
    strip = lambda rows: [{k: v for k, v in row.items() if k != "subject"} for row in rows]
    assert strip(a.rows) == strip(b.rows)


@pytest.mark.weights
@pytest.mark.slow
def test_profile_of_the_ds001506_and_god_fixtures(alexnet_weights_cache, tmp_path, capsys, monkeypatch) -> None:
    from tests.data.bdata_files import build_dataset
    from tests.data.god_files import build_god

    ds = build_dataset(tmp_path / "ds", subjects=("sub-01",)).root
    god = build_god(tmp_path / "GOD").root
    monkeypatch.chdir(tmp_path)
    for root, layout, subject in ((ds, "ds001506", "sub-01"), (god, "god", "Subject1")):
        before = sorted(p.relative_to(root) for p in root.rglob("*"))
        code, _, err = run_main(["data", "profile", str(root)], capsys)
        assert code == 0, err
        out = tmp_path / f"profile-{root.name}-{subject}"  # the default folder
        rows = read_csv(out / "profile.csv")
        assert json.loads((out / "profile.json").read_text())["layout"] == layout
        assert [r["roi"] for r in rows][:: len(LEVELS)] == list(ALL_ROIS)
        # Every cell is finite where the data allow a score: a level needs 2 held-out images to score; the category
        # level scores the held-out images whose category has a fitting image (the ds001506 fixture's categories are
        # nearly all singletons: 1 such image, no score; GOD's have two images each).
        for row in rows:
            assert math.isfinite(float(row["reliability"]))
            if row["level"] == "category" and int(row["heldout_images"]) < 2:
                assert row["identification"] == row["correlation"] == "" and layout == "ds001506"
                continue
            assert math.isfinite(float(row["identification"])) and math.isfinite(float(row["correlation"])), row
        assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # the data folder is left as it was


def test_bad_input_is_one_clear_line(tmp_path, capsys, tiny_data_dir, monkeypatch) -> None:
    code, _, err = run_main(["data", "profile", str(tmp_path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "no session files in" in err and str(tmp_path) in err
    code, _, err = run_main(["data", "profile", str(tmp_path / "absent"), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = run_main(["data", "profile", str(tiny_data_dir), "--rois", "V1,IT", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "unknown ROI 'IT' in --rois" in err
    code, _, err = run_main(["data", "profile", str(tiny_data_dir), "--subject", "sub-09", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "no subject 'sub-09'" in err and "sub-01" in err
    assert not (tmp_path / "out").exists()
    # The default folder (./profile-<folder>-<subject>) is not replaced either, and this is said before any work.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profile-tiny-sub-01").mkdir()
    (tmp_path / "profile-tiny-sub-01" / "mine.txt").write_text("keep")
    code, _, err = run_main(["data", "profile", str(tiny_data_dir)], capsys)
    assert code == 2 and err.count("\n") == 1 and "profile-tiny-sub-01 exists and is not empty; pass --force" in err
    assert (tmp_path / "profile-tiny-sub-01" / "mine.txt").read_text() == "keep"


def test_missing_weights_name_the_fetch_command(tmp_path, capsys, tiny_data_dir, monkeypatch) -> None:
    monkeypatch.setenv("RECONBENCH_CACHE", str(tmp_path / "empty-cache"))
    code, _, err = run_main(["data", "profile", str(tiny_data_dir), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "reconbench weights fetch" in err
    assert not (tmp_path / "out").exists()

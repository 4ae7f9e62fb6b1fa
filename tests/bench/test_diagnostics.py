"""Stage-wise diagnostics: true values computed by the harness, identification in a stage's space,
shape maps scored as images, the store's diagnostics.csv and the leaderboard section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from reconbench.bench.diagnostics import SPACE_IDENTIFICATION, shape_map_images, stage_diagnostics, true_values
from reconbench.bench.evaluator import default_metrics
from reconbench.bench.sandbox import _npz_bytes, _npz_from
from reconbench.core.errors import ReconbenchError
from reconbench.leaderboard.diagnostics import diagnostics_markdown
from reconbench.store.results import DIAGNOSTICS_FILE, ResultStore, diagnostics_frame, load_diagnostics

LUMA = np.array([0.2126, 0.7152, 0.0722])
SPACE = {"kind": "shape_map", "size": 32, "blur_sigma": 1.5, "shape_kind": "blur"}


def _images(n: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, 32, 32)).astype(np.float32)


def _brute_force_identification(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    n = pred.shape[0]
    out = np.zeros(n)
    for i in range(n):
        own = np.corrcoef(pred[i], true[i])[0, 1]
        out[i] = sum(np.corrcoef(pred[i], true[j])[0, 1] < own for j in range(n) if j != i) / (n - 1)
    return out


def test_true_shape_maps_are_the_blurred_grey_images_scipy_computes() -> None:
    images = _images()
    grey = np.tensordot(LUMA, images.astype(np.float64), axes=([0], [1]))
    blurred = np.stack([ndimage.gaussian_filter(g, 1.5, mode="reflect") for g in grey])
    expected = (blurred - blurred.mean(axis=(1, 2), keepdims=True)).reshape(len(images), -1)
    np.testing.assert_allclose(true_values(SPACE, images), expected, atol=1e-4)  # float32 grey levels


def test_space_identification_counts_like_a_brute_force_loop() -> None:
    images = _images(10)
    truth = true_values(SPACE, images)
    rng = np.random.default_rng(1)
    decoded = truth + rng.normal(scale=30 * truth.std(), size=truth.shape).astype(np.float32)
    result = stage_diagnostics({"shape_map": decoded}, {"shape_map": SPACE}, images, default_metrics(["pixcorr"]), 32)
    got = np.array(result["shape_map"][SPACE_IDENTIFICATION])
    np.testing.assert_allclose(got, _brute_force_identification(decoded, truth))
    assert got.mean() < 1.0  # the noise makes some comparisons fail
    exact = stage_diagnostics({"shape_map": truth}, {"shape_map": SPACE}, images, default_metrics(["pixcorr"]), 32)
    assert exact["shape_map"][SPACE_IDENTIFICATION] == [1.0] * 10


def test_a_shape_map_shown_as_an_image_is_its_grey_level_and_is_scored_with_the_metrics() -> None:
    rng = np.random.default_rng(2)
    maps = rng.normal(size=(5, 16 * 16))
    shown = shape_map_images(maps, 16)
    assert shown.shape == (5, 3, 16, 16) and shown.min() >= 0 and shown.max() <= 1
    for k in range(5):  # unclipped pixels lie on a line of the map's values
        inside = (shown[k, 0] > 0) & (shown[k, 0] < 1)
        assert np.corrcoef(shown[k, 0][inside], maps[k].reshape(16, 16)[inside])[0, 1] > 0.9999
        np.testing.assert_array_equal(shown[k, 0], shown[k, 2])
    # Grey, smooth images: the blurred grey map shown as an image correlates with the image itself.
    smooth = ndimage.gaussian_filter(np.random.default_rng(3).random((6, 1, 32, 32)), sigma=(0, 0, 3, 3))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    images = np.repeat(smooth, 3, axis=1).astype(np.float32)
    result = stage_diagnostics({"shape_map": true_values(SPACE, images)}, {"shape_map": SPACE}, images, default_metrics(["pixcorr"]), 32)
    assert set(result["shape_map"]) == {SPACE_IDENTIFICATION, "image/pixcorr"}
    assert np.mean(result["shape_map"]["image/pixcorr"]) > 0.9


def test_an_output_without_an_image_side_target_is_recorded_not_identified() -> None:
    images = _images(4)
    result = stage_diagnostics({"hidden": np.ones((4, 3))}, {"hidden": {"kind": "none"}}, images, default_metrics(["pixcorr"]), 32)
    assert result == {"hidden": {}}


@pytest.mark.parametrize(
    ("outputs", "spaces", "message"),
    [
        ({"shape_map": np.zeros((4, 1024))}, {}, "stage output 'shape_map' has no stage space"),
        ({"shape_map": np.zeros((3, 1024))}, {"shape_map": SPACE}, "has shape (3, 1024), expected (4, D)"),
        ({"x": np.zeros((4, 2))}, {"x": {"kind": "pixels"}}, "unknown stage space kind 'pixels'"),
        ({"x": np.zeros((4, 64))}, {"x": {"kind": "shape_map", "size": 8}}, "has no field 'blur_sigma'"),
        # Checked before any work (issue 26): the side must give D and not exceed the images' side.
        ({"shape_map": np.zeros((4, 99))}, {"shape_map": SPACE}, "shape maps of side 32 do not fit the decoded output (M, 99)"),
        ({"shape_map": np.zeros((4, 4))}, {"shape_map": dict(SPACE, size=3000)}, "shape maps of side 3000 do not fit"),
        (
            {"s": np.zeros((4, 5))},
            {
                "s": {
                    "kind": "feature_pca",
                    "net": "x",
                    "layer": "y",
                    "pool": 1,
                    "arrays": {"mean": np.zeros(7), "scale": np.ones(7), "components": np.zeros((6, 7))},
                }
            },
            "feature projection arrays",
        ),
    ],
)
def test_bad_stage_outputs_are_named(outputs, spaces, message) -> None:
    with pytest.raises(ReconbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stage_diagnostics(outputs, spaces, _images(4), default_metrics(["pixcorr"]), 32)


def test_stage_frames_carry_numbers_only() -> None:
    arrays = {"semantic/score_scale": np.float64(2.5), "semantic/mean": np.arange(3.0)}
    decoded, error = _npz_from({"error": ""}, _npz_bytes(arrays))
    assert error == "" and decoded["semantic/score_scale"].shape == () and float(decoded["semantic/score_scale"]) == 2.5
    _, error = _npz_from({"error": ""}, _npz_bytes({"names": np.array(["a", "b"])}))
    assert "not numeric" in error
    _, error = _npz_from({"error": ""}, b"not an npz file")
    assert error.startswith("malformed stage message")


def _record(seed: int, value: float, method: str = "m", param_set: str = "default") -> dict:
    return {
        "spec": {"dataset": "simulated:tiny", "subject": "sub-01", "method": method, "param_set": param_set, "seed": seed},
        "stage_diagnostics": {
            "natural": {
                "n_images": 10,
                "shape_map": {SPACE_IDENTIFICATION: value, "image/pixcorr": value / 2},
                "final": {"pairwise_identification": value + 0.1, "pixcorr": 0.2},
            }
        },
    }


def test_the_diagnostics_table_and_its_section_show_the_seed_range() -> None:
    frame = diagnostics_frame([_record(0, 0.6), _record(1, 0.7), _record(2, 0.8), {"spec": {}}])
    assert len(frame) == 3 * 4
    assert set(frame["measure"]) == {SPACE_IDENTIFICATION, "image/pixcorr", "image/pairwise_identification"}
    text = "\n".join(diagnostics_markdown(frame))
    assert "## Stage-wise diagnostics" in text
    row = next(line for line in text.splitlines() if line.startswith("| m |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "0.700 (0.600–0.800, 3 seeds)"  # shape-space identification
    assert cells[4] == "–"  # no semantic stage
    assert cells[5] == "0.800 (0.700–0.900, 3 seeds)"  # final pairwise identification
    assert diagnostics_markdown(None) == [] and diagnostics_markdown(frame.iloc[:0]) == []


def test_consolidation_keeps_the_diagnostics_of_cells_adopted_without_a_record(tmp_path) -> None:
    store = ResultStore(tmp_path)
    committed = diagnostics_frame([_record(0, 0.6, method="old")])
    committed.to_csv(tmp_path / DIAGNOSTICS_FILE, index=False)
    rows = pd.DataFrame({"dataset": ["simulated:tiny"], "subject": ["sub-01"], "method": ["old"], "param_set": ["default"], "seed": [0]})
    new = diagnostics_frame([_record(1, 0.9, method="new")])
    # What consolidate() does with the stored records and the rows: the committed cell's rows survive.
    store.cell_keys = lambda: []  # type: ignore[method-assign]
    store.load_cells = lambda keys=None: rows  # type: ignore[method-assign]
    store.record = lambda key: None  # type: ignore[method-assign]
    store.consolidate()
    kept = load_diagnostics(tmp_path)
    assert set(kept["method"]) == {"old"} and len(kept) == len(committed)
    assert len(new) == 4
    (tmp_path / DIAGNOSTICS_FILE).write_text("dataset,value\nx,1\n")
    with pytest.raises(ReconbenchError, match=r"diagnostics.csv lacks the column\(s\) subject"):
        load_diagnostics(tmp_path)


def test_records_round_trip_through_json() -> None:
    record = json.loads(json.dumps(_record(0, 0.5)))
    assert diagnostics_frame([record])["value"].notna().all()


def test_diagnostic_tables_follow_the_test_set_order_of_the_leaderboard() -> None:
    records = []
    for test_set in ("letters", "natural", "shapes"):
        record = _record(0, 0.6)
        record["stage_diagnostics"] = {test_set: record["stage_diagnostics"]["natural"]}
        records.append(record)
    text = "\n".join(diagnostics_markdown(diagnostics_frame(records)))
    positions = [text.index(f"### simulated:tiny · {name}") for name in ("natural", "shapes", "letters")]
    assert positions == sorted(positions)

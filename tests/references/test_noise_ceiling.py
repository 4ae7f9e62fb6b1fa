"""The noise-ceiling reference row."""

from __future__ import annotations

import numpy as np
import scipy.stats

from reconbench.core.types import GroundTruthView
from reconbench.core.types import TestInput as Inputs  # not 'Test*': pytest would try to collect it
from reconbench.references.noise_ceiling import NOISE_CEILING_METRIC, NoiseCeiling, noise_ceiling


def test_noise_free_measurements_are_identified_perfectly() -> None:
    rng = np.random.default_rng(0)
    model = rng.normal(size=(6, 40))
    ids = np.array([f"s{k}" for k in range(6)])
    order = [3, 1, 5, 0, 2, 4]
    test = Inputs("natural", {"VC": model[order].astype(np.float32)}, ids[order])
    np.testing.assert_array_equal(noise_ceiling(test, model, ids), np.ones(6))
    noisy = Inputs("natural", {"VC": rng.normal(size=(6, 40)).astype(np.float32)}, ids)
    assert 0 <= noise_ceiling(noisy, model, ids).mean() <= 1


def test_plugin_reports_only_its_metric_and_its_test_sets() -> None:
    model = np.eye(3)
    ids = np.array(["a", "b", "c"])
    reference = NoiseCeiling().fit(None, GroundTruthView(noise_free={"natural": (ids, model)}))
    test = Inputs("natural", {"VC": model.astype(np.float32)}, ids)
    assert set(reference.direct_scores(test, [NOISE_CEILING_METRIC, "pixcorr"])) == {NOISE_CEILING_METRIC}
    assert reference.direct_scores(test, ["pixcorr"]) == {}
    assert reference.direct_scores(Inputs("letters", {"VC": model}, ids), [NOISE_CEILING_METRIC]) == {}
    assert NoiseCeiling.applies({"noise_free"}, [NOISE_CEILING_METRIC])
    assert not NoiseCeiling.applies({"noise_free"}, ["pixcorr"])


def test_noise_ceiling_reference(tiny_grid_run, tiny_data_dir) -> None:
    """The ideal-observer identification, recomputed with scipy's Pearson r on the saved noise-free responses."""
    from reconbench.datasets.simulated.ground_truth import load_ground_truth
    from reconbench.datasets.splits import load_split

    truth = load_ground_truth(tiny_data_dir)
    split = load_split(tiny_data_dir, "sub-01")
    rows = tiny_grid_run.rows
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

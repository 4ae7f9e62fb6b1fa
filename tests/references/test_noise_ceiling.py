"""The noise-ceiling reference row."""

from __future__ import annotations

import numpy as np

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

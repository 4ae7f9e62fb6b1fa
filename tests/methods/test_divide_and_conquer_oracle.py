"""Tests of the generator-ceiling oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.methods.divide_and_conquer import DivideAndConquer
from reconbench.methods.divide_and_conquer_oracle import DivideAndConquerOracle

pytestmark = pytest.mark.weights


def test_oracle_uses_true_inputs_and_the_shared_generator(tiny_split, weights_cache, stage_cache_dir):
    assert DivideAndConquerOracle.is_oracle and not DivideAndConquer.is_oracle
    method = DivideAndConquer(random_state=0, iterations=6).fit(tiny_split.train)
    oracle = DivideAndConquerOracle(random_state=0, iterations=6).fit(tiny_split.train)
    stages = {entry["stage"]: entry["cache_hit"] for entry in oracle.stage_log_}
    assert stages == {"image_features": True, "generator": True}
    assert not hasattr(oracle, "shape_decoder_")

    test = tiny_split.test_inputs["natural"]
    with pytest.raises(ReconbenchError, match="oracle_images"):
        oracle.reconstruct(test)
    ids, images = tiny_split.test_images["natural"]
    out = oracle.reconstruct(dataclasses.replace(test, oracle_images=images))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    # The oracle is divide_and_conquer's own generator fed the true shape maps and true features
    # (computed here from the held-out images with the method's training-fitted PCA space).
    from reconbench.core.images import resize
    from reconbench.methods import _generator, _semantic

    true_shape = _generator.prepare_shape_inputs(method._shape_targets(images), method.generator_config_.resolution)
    true_semantic = method.semantic_space_.transform(_semantic.pooled_features(images))
    expected = resize(_generator.generate(method.generator_, true_shape, true_semantic, threads=1), images.shape[2:])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.abs(out - method.reconstruct(test)).max() > 1e-3

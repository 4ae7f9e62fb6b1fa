"""Tests of the shape stage: per-ROI shape decoders and their NNLS combination (the shared
parts, shape maps and linear decoders, are tested in tests/decoders)."""

from __future__ import annotations

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.decoders.ridge import fit_ridge_decoder
from reconbench.methods import _shape
from tests.decoders.test_linear import synthetic_train


def test_shape_decoder_weights_informative_roi():
    train, targets = synthetic_train()
    decoder = _shape.ShapeDecoder.fit(train, targets, ("V1", "V2"))
    weights = dict(zip(decoder.rois, decoder.combination_weights))
    assert np.all(decoder.combination_weights >= 0)
    assert weights["V1"] > 0.5 and weights["V2"] < 0.2 * weights["V1"]
    averaged = {roi: train.averaged_fmri(roi) for roi in ("V1", "V2")}
    pred = decoder.predict(averaged)
    assert np.corrcoef(pred.ravel(), targets.ravel())[0, 1] > 0.8
    # The stored form predicts exactly like the fitted one.
    again = _shape.ShapeDecoder.from_arrays(decoder.to_arrays(), decoder.rois)
    np.testing.assert_allclose(again.predict(averaged), pred)


def test_single_roi_decoder_equals_ridge_decoder():
    train, targets = synthetic_train()
    decoder = _shape.ShapeDecoder.fit(train, targets, ("V1",))
    reference = fit_ridge_decoder(train, "V1", targets, samples="trials")
    x = train.averaged_fmri("V1")
    np.testing.assert_allclose(decoder.predict({"V1": x}), reference.predict(x), rtol=1e-5, atol=1e-5)
    assert decoder.combination_weights.tolist() == [1.0]


def test_missing_roi_is_named():
    train, targets = synthetic_train()
    with pytest.raises(ReconbenchError, match="V3"):
        _shape.ShapeDecoder.fit(train, targets, ("V1", "V3"))

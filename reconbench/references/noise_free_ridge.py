"""The noise-free ridge reference: an image-space ceiling for the linear pixel decoder.

The pixel ridge decoder (the recipe of the ``pixel_ridge`` baseline: the VC
voxels, 32 x 32 colour pixels resized with the pinned resize, one ridge alpha
per pixel chosen on the fixed validation fold) is fitted on the simulator's
noise-free responses to the training images and applied to the noise-free
responses to the test images. It is what that decoder reaches with the same
training images and voxels but no measurement noise at all (infinitely many
repetitions), so it bounds the linear decoders of the same recipe that see
the noisy measurement (``pixel_ridge``), and it does not saturate: the linear
map from voxels to pixels, learnt from a finite training set, stays
imperfect. It is scored like a method on every metric. Simulated data only.
"""

from __future__ import annotations

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize
from reconbench.core.types import GroundTruthView, TestInput, TrainData
from reconbench.decoders.ridge import DEFAULT_ALPHAS, fit_ridge_decoder
from reconbench.references.base import Reference, rows_for

#: Side of the decoded pixel grid (that of the ``pixel_ridge`` baseline's default).
RESOLUTION = 32


class NoiseFreeRidge(Reference):
    """Pixel ridge fitted and applied on noise-free responses (see the module docstring)."""

    name = "noise-free-ridge"
    caption = "pixel ridge on noise-free responses"
    legend = (
        "noise-free-ridge is the pixel_ridge recipe fitted on and applied to the simulator's noise-free responses: "
        "the linear decoder's ceiling with these training images and voxels (simulated data only)"
    )
    requires = ("noise_free", "noise_free_training")
    metrics = None

    def fit(self, train: TrainData, truth: GroundTruthView) -> "NoiseFreeRidge":
        if truth.noise_free is None or truth.noise_free_training is None:
            raise ReconbenchError("the noise-free-ridge reference needs the noise-free responses of the ground truth")
        ids, responses = truth.noise_free_training
        signal = np.asarray(rows_for(ids, responses, train.stimulus_ids, "training"), dtype=np.float32)
        n = signal.shape[0]
        noise_free_train = TrainData(
            images=train.images,
            stimulus_ids=train.stimulus_ids,
            fmri={"VC": signal},
            trial_image_index=np.arange(n),
            runs=np.ones(n, dtype=int),
            validation_mask=train.validation_mask,
        )
        images = np.asarray(train.images, dtype=np.float32)
        small = resize(images, RESOLUTION)
        self.image_shape_ = tuple(images.shape[1:])
        self.decoded_shape_ = tuple(small.shape[1:])
        self.decoder_ = fit_ridge_decoder(noise_free_train, "VC", small.reshape(n, -1), samples="averaged", alphas=DEFAULT_ALPHAS)
        self.noise_free_ = dict(truth.noise_free)
        return self

    def reconstruct(self, test: TestInput) -> np.ndarray | None:
        if test.name not in self.noise_free_:
            return None
        ids, responses = self.noise_free_[test.name]
        signal = np.asarray(rows_for(ids, responses, test.stimulus_ids, test.name), dtype=np.float32)
        pixels = self.decoder_.predict(signal)
        decoded = np.clip(pixels.reshape((-1,) + self.decoded_shape_), 0.0, 1.0)
        return resize(decoded, self.image_shape_[1:])

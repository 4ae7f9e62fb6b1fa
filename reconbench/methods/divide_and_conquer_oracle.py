"""The ceiling of the generator stage: divide-and-conquer's generator fed TRUE inputs.

An oracle (``is_oracle = True``): the harness hands it the true test images
(``TestInput.oracle_images``), from which it computes the true shape map and the
true semantic vector (with the PCA space fitted on training images) and runs the
generator trained exactly as in ``divide_and_conquer`` (the same stage-cache
entry, so it costs no extra training). Its scores bound what better decoders
could reach with this generator; the leaderboard marks it as not comparable.
"""

from __future__ import annotations

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import TestInput
from reconbench.methods import _generator, _semantic
from reconbench.methods.divide_and_conquer import DivideAndConquer


class DivideAndConquerOracle(DivideAndConquer):
    """The divide-and-conquer generator given true shape maps and true semantic vectors."""

    name = "divide_and_conquer_oracle"
    is_oracle = True
    parameter_sets = {"default": {}, "no_semantics": {"use_semantics": False}}

    def __init__(
        self,
        size: str = "auto",
        shape_kind: str = "blur",
        semantic_net: str = "alexnet",
        semantic_layer: str = "conv5",
        semantic_pool: int = 2,
        semantic_components: int = 64,
        use_semantics: bool = True,
        iterations: int | None = None,
        pixel_weight: float | None = None,
        perceptual_weight: float | None = None,
        extra_images: bool = False,
        random_state: int = 0,
        device: str = "cpu",
    ):
        super().__init__(
            size=size,
            shape_kind=shape_kind,
            semantic_net=semantic_net,
            semantic_layer=semantic_layer,
            semantic_pool=semantic_pool,
            semantic_components=semantic_components,
            use_semantics=use_semantics,
            iterations=iterations,
            pixel_weight=pixel_weight,
            perceptual_weight=perceptual_weight,
            extra_images=extra_images,
            random_state=random_state,
            device=device,
        )

    def _fit_decoders(self) -> bool:
        # True inputs need no decoder; the generator (trained on true inputs) is all there is.
        return False

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Reconstructions (M, 3, R, R) from the true test images' shape maps and features."""
        self.check_is_fitted("generator_")
        if test.oracle_images is None:
            raise ReconbenchError(
                f"{self.name} is an oracle and needs TestInput.oracle_images for test set {test.name!r}; "
                "the harness provides them only to classes with is_oracle = True"
            )
        images = np.asarray(test.oracle_images, dtype=np.float32)
        if images.shape[0] != len(test.stimulus_ids):
            raise ReconbenchError(f"{len(test.stimulus_ids)} stimulus ids but {images.shape[0]} oracle images in test set {test.name!r}")
        shape_in = _generator.prepare_shape_inputs(self._shape_targets(images), self.generator_config_.resolution)
        semantic_in = None
        if self.use_semantics:
            features = _semantic.pooled_features(images, net=self.semantic_net, layer=self.semantic_layer, pool=self.semantic_pool)
            semantic_in = self.semantic_space_.transform(features)
        return self._finish(_generator.generate(self.generator_, shape_in, semantic_in, threads=self.generator_config_.threads))

"""Divide-and-conquer reconstruction (Fang, Qi & Pan, NeurIPS 2020), implemented as described.

Three stages, each cached by a hash of its inputs and parameters
(:mod:`reconbench.core.stage_cache`), so ablations recompute only what differs:

1. **Shape** (:mod:`reconbench.methods._shape`): the blurred, mean-removed
   grayscale map of each training image (64x64 by default,
   :func:`reconbench.decoders.targets.shape_maps`) is decoded by one ridge
   decoder per ROI (V1, V2, V3); the per-ROI predictions are combined by
   non-negative weights fitted on the validation fold.
2. **Semantics** (:mod:`reconbench.methods._semantic`): pooled AlexNet conv5
   features of each training image, standardised and PCA-reduced (fitted on the
   training images only), decoded from HVC by ridge.
3. **Generator** (:mod:`reconbench.methods._generator`): a conditional U-Net
   (pix2pix family) with the semantic vector injected at the bottleneck, a
   PatchGAN discriminator, least-squares adversarial loss plus a weighted L1
   pixel loss. It is trained on (shape map, semantic vector, image) triples
   computed from the training images alone (``generator_inputs="true"``), so a
   generator is shared by every ablation that changes only the decoders; the
   option ``"decoded"`` / ``"mixed"`` trains on cross-fitted decoded inputs.

No test image or test response reaches any fitting step: every fitted
quantity (decoders, PCA, standardisation, generator) uses ``TrainData`` only.
"""

from __future__ import annotations

import inspect
import os
import time
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from reconbench.core.device import device_kind
from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import stable_hash
from reconbench.core.images import resize
from reconbench.core.method import Method
from reconbench.core.profiling import PeakMemory
from reconbench.core.stage_cache import StageCache, array_hash, default_stage_cache, stage_key
from reconbench.core.types import TestInput, TrainData
from reconbench.decoders.linear import LinearMap, fit_roi_decoder, subset_train
from reconbench.decoders.targets import SHAPE_KINDS, shape_maps
from reconbench.methods import _generator, _semantic, _shape
from reconbench.metrics.weights import note_loaded, recording_loads

#: Bump when a stage's code changes in a way that changes its result.
STAGE_VERSIONS = {"shape_decoder": 1, "image_features": 1, "semantic_decoder": 1, "generator": 1, "cross_fit": 1}
#: Stages computed on the method's device (their cache keys name it off the CPU).
DEVICE_STAGES = frozenset({"generator", "shape_decoder", "semantic_decoder", "cross_fit"})

#: Environment variable that lets the ``full`` generator size run on the CPU anyway (``1``).
FORCE_CPU_ENV = "RECONBENCH_FORCE_CPU"
#: Seconds per step of the ``full`` generator (published style, 256 px, batch 16), measured with
#: 16 threads of a 16-core CPU beside one NVIDIA H200, and that H200.
FULL_SECONDS_PER_STEP = {"cpu_16_threads": 1.95, "h200": 0.020}

#: Shape-map settings per size preset (the generator settings are in ``_generator.GENERATOR_PRESETS``).
SHAPE_PRESETS = {
    "tiny": {"shape_size": 32, "blur_sigma": 1.0},
    "small": {"shape_size": 32, "blur_sigma": 1.0},
    "default": {"shape_size": 64, "blur_sigma": 1.5},
    "full": {"shape_size": 64, "blur_sigma": 1.5},
}

GENERATOR_INPUTS = ("true", "decoded", "mixed")
SEMANTIC_DECODERS = ("ridge", "classifier_mlp")


#: ``size="auto"``: ``tiny`` below this many training images (the simulator's ``tiny`` preset: tests, seconds) ...
AUTO_TINY_BELOW = 150
#: ... ``small`` below this many (the ``ci`` preset: a generator that learns in about a minute), else ``default``.
AUTO_SMALL_BELOW = 500


def resolve_size(size: str, n_training_images: int) -> str:
    """Return the size preset ``size`` stands for (``"auto"`` depends on the training-set size)."""
    if size == "auto":
        if n_training_images < AUTO_TINY_BELOW:
            return "tiny"
        return "small" if n_training_images < AUTO_SMALL_BELOW else "default"
    if size not in SHAPE_PRESETS:
        raise ReconbenchError(f"size={size!r} is not one of auto, {', '.join(SHAPE_PRESETS)}")
    return size


class DivideAndConquer(Method):
    """Shape from lower visual cortex + semantics from higher visual cortex + a conditional GAN.

    Parameters
    ----------
    size : {"auto", "tiny", "small", "default", "full"}
        Size preset: ``tiny`` (tests, seconds), ``small`` (32x32 generator,
        300 steps, about a minute: the ``ci`` regression preset), ``default`` (64x64 generator,
        400 steps, a few minutes on 1 CPU core), ``full`` (256x256 pix2pix-size
        generator for a GPU). ``auto`` (the default) is ``tiny`` for fewer than
        150 training images (the simulator's ``tiny`` preset), ``small`` for
        fewer than 500 (``ci``) and ``default`` otherwise; pass ``full`` explicitly.
    shape_rois : tuple of str
        ROIs of the shape decoders; several are combined with NNLS weights fitted
        on the validation fold (default V1, V2, V3); one is used alone.
    shape_kind : {"blur", "edge"}
        Shape-map target: blurred grayscale (default) or its gradient magnitude.
    semantic_roi : str
        ROI the semantic vector is decoded from (default HVC).
    semantic_net, semantic_layer : str
        Pretrained features (``reconbench.metrics.features.image_features``).
    semantic_pool : int
        Features are average-pooled to a ``pool x pool`` grid before PCA.
    semantic_components : int
        PCA components of the semantic vector.
    use_semantics : bool
        False: the generator gets the shape map only (ablation).
    samples : {"trials", "averaged"}
        Decoders fit on single trials or on responses averaged per image.
    generator_inputs : {"true", "decoded", "mixed"}
        What the generator is trained on: inputs computed from the training
        images (shared across decoder ablations), decoded inputs cross-fitted on
        ``decoded_folds`` folds of the training images, or both.
    decoded_folds : int
        Folds of the cross-fitting (``generator_inputs != "true"``).
    iterations : int or None
        Generator training steps (None: the preset's).
    pixel_weight : float or None
        Weight of the L1 pixel loss (None: the preset's, 100).
    perceptual_weight : float or None
        Weight of the LPIPS (v0.1, AlexNet) perceptual loss of the generator
        (None: the preset's, 0 = off). Needs the fetched weights.
    semantic_decoder : {"ridge", "classifier_mlp"}
        ``ridge``: the semantic vector is the PCA-reduced pooled features above, decoded
        by ridge. ``classifier_mlp`` (the published code): the 64-d tanh hidden layer of an
        MLP classifier (``semantic_roi`` -> 1024 -> 64 -> category) trained on the
        training trials to predict each image's category (its ImageNet synset); the
        generator is trained on the hidden layer of each training image's averaged
        response (there is no image-side semantic vector). Needs ``generator_inputs="true"``
        and no ``extra_images``.
    generator_style : {"default", "published"}
        ``published``: the pix2pix settings of the published code on top of the size
        preset (``_generator.PUBLISHED_STYLE``: a 1x1 bottleneck, instance norm,
        dropout 0.5, 150 x MSE, step decay, a PatchGAN without semantics).
    shape_blur : float or None
        Gaussian blur of the shape map in pixels of its grid (None: the size preset's;
        0: the grayscale image itself, mean removed).
    extra_images : bool
        Add the dataset's unlabelled extra images (``TrainData.extra_images``:
        the simulator's ``extra_images/`` folder, or a folder the user puts in
        a ds001506 data folder) to the generator's training triples, with their
        true shape maps and features (no fMRI needed). Ignored when the
        dataset has none (``n_extra_images_`` records how many were used).
    random_state : int
        Seed of every random draw (generator initialisation, batches, folds).
    device : str
        Where the generator trains and generates: ``"cpu"`` (the reference), ``"cuda"`` or
        ``"cuda:N"``; the harness hands the run's ``--device`` here as it hands the seed
        (:mod:`reconbench.core.device`). The decoders and image features stay on the CPU.
        The ``full`` size (the ``published_full`` set) refuses the CPU, with the expected
        time, unless the environment variable ``RECONBENCH_FORCE_CPU=1`` is set.

    Notes
    -----
    The ``published`` parameter set follows Fang et al.'s official code as far as it is
    known here (its 69-digit demo; the paper's natural-image
    settings were not readable): a classifier-MLP semantic vector (fMRI -> 1024 -> 64,
    tanh), concatenated at the generator's 1x1 bottleneck; a pix2pix U-Net with instance
    norm and dropout 0.5; a PatchGAN seeing the output with the shape map; least-squares
    adversarial loss plus 150 x MSE; Adam 2e-4, betas (0.5, 0.999); step decay. What
    still differs:

    - a 64x64 generator on the CPU; the published code trains at 256x256 on a GPU, as the
      ``published_full`` set does (``size="full"``, on ``--device cuda``);
    - half pix2pix's widths (32 base channels, not 64), batches of 32 (not 1), and the
      size preset's number of steps (400 at ``default``), not the published epochs;
    - the semantic vector passes a linear projection before it is tiled at the bottleneck;
    - the shape decoder is one ridge decoder per ROI (V1, V2, V3) combined with NNLS
      weights on the validation fold; its target is the mean-removed grayscale image at
      64x64 (``shape_blur=0``), not the seed's colour-matted, blurred map at 256 px;
    - the MLP's activations (ReLU, then tanh), optimiser (Adam 1e-3, weight decay 1e-4,
      minibatches of 128) and early stopping on the validation fold's log-loss are this
      implementation's choices;
    - random flips and shifts augment the training pairs (pix2pix: resize-and-crop jitter);
    - generation runs in eval mode (dropout off; pix2pix keeps it on at test time).
    """

    name = "divide_and_conquer"
    citation = "Fang T., Qi Y., Pan G. (2020). Reconstructing perceptive images from brain activity by shape-semantic GAN. NeurIPS 33."
    requires = ("weights:alexnet",)
    parameter_sets = {
        "default": {},
        "shape_v1": {"shape_rois": ("V1",)},
        "shape_lvc": {"shape_rois": ("LVC",)},
        "swapped": {"shape_rois": ("HVC",), "semantic_roi": "LVC"},
        "no_semantics": {"use_semantics": False},
        # Generator trained on true AND cross-fitted decoded inputs: robust to decoding error
        # (much better on `default`), but its generator is not shared with the other sets.
        "mixed_training": {"generator_inputs": "mixed"},
        # The generator also trains on the dataset's unlabelled extra images (true inputs).
        "extra_images": {"extra_images": True},
        # L1 + LPIPS (AlexNet) perceptual loss for the generator.
        "perceptual": {"perceptual_weight": 10.0},
        # As close to the published code as these data allow; the class docstring lists the differences.
        "published": {"semantic_decoder": "classifier_mlp", "generator_style": "published", "shape_blur": 0.0},
        # The published set at the published scale: the pix2pix-size generator (256 px, 8 levels, 15,000
        # steps, batches of 16) for a GPU; run only when named (divide_and_conquer:published_full).
        "published_full": {"semantic_decoder": "classifier_mlp", "generator_style": "published", "shape_blur": 0.0, "size": "full"},
    }
    #: Sets for a GPU: run only when named (``NAME:SET``), never in "every parameter set".
    explicit_parameter_sets = ("published_full",)

    #: Parameters that change only the decoders: parameter sets that differ in these alone
    #: train one generator (when it trains on true inputs in the ridge semantic space).
    DECODER_ONLY_PARAMS: ClassVar[frozenset[str]] = frozenset({"shape_rois", "semantic_roi", "samples", "decoded_folds"})
    #: What the generator's semantic input is made of (subclasses that change it say so).
    GENERATOR_SEMANTICS: ClassVar[str] = "semantic_vectors"

    @classmethod
    def shared_work_key(cls, params: Mapping[str, Any]) -> str | None:
        """The generator's identity: equal for the sets whose generator stage-cache entry is
        the same (``default``, ``shape_v1``, ``shape_lvc``, ``swapped`` and the oracle's
        ``default`` share one), so the harness does not train it twice side by side."""
        values: dict[str, Any] = {}
        for klass in (DivideAndConquer, cls):  # the oracle passes the base defaults on
            for name, parameter in inspect.signature(klass.__init__).parameters.items():
                if parameter.default is not inspect.Parameter.empty:
                    values[name] = parameter.default
        values.update(params)
        values.pop("random_state", None)  # the cell's seed; the harness groups by seed itself
        values.pop("device", None)  # the cell's device: one run has one
        if values.get("generator_inputs") == "true" and values.get("semantic_decoder") == "ridge":
            values = {name: value for name, value in values.items() if name not in cls.DECODER_ONLY_PARAMS}
        return "generator:" + stable_hash({"semantics": cls.GENERATOR_SEMANTICS, **values})

    def __init__(
        self,
        size: str = "auto",
        shape_rois: tuple[str, ...] = ("V1", "V2", "V3"),
        shape_kind: str = "blur",
        semantic_roi: str = "HVC",
        semantic_net: str = "alexnet",
        semantic_layer: str = "conv5",
        semantic_pool: int = 2,
        semantic_components: int = 64,
        use_semantics: bool = True,
        samples: str = "trials",
        generator_inputs: str = "true",
        decoded_folds: int = 5,
        iterations: int | None = None,
        pixel_weight: float | None = None,
        perceptual_weight: float | None = None,
        extra_images: bool = False,
        semantic_decoder: str = "ridge",
        generator_style: str = "default",
        shape_blur: float | None = None,
        random_state: int = 0,
        device: str = "cpu",
    ):
        self.size = size
        self.shape_rois = shape_rois
        self.shape_kind = shape_kind
        self.semantic_roi = semantic_roi
        self.semantic_net = semantic_net
        self.semantic_layer = semantic_layer
        self.semantic_pool = semantic_pool
        self.semantic_components = semantic_components
        self.use_semantics = use_semantics
        self.samples = samples
        self.generator_inputs = generator_inputs
        self.decoded_folds = decoded_folds
        self.iterations = iterations
        self.pixel_weight = pixel_weight
        self.perceptual_weight = perceptual_weight
        self.extra_images = extra_images
        self.semantic_decoder = semantic_decoder
        self.generator_style = generator_style
        self.shape_blur = shape_blur
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        if isinstance(self.shape_rois, str) or len(tuple(self.shape_rois)) == 0:
            raise ReconbenchError(f"{self.name}: shape_rois must be a non-empty tuple of ROI names, got {self.shape_rois!r}")
        if self.shape_kind not in SHAPE_KINDS:
            raise ReconbenchError(f"{self.name}: shape_kind={self.shape_kind!r} is not one of {', '.join(SHAPE_KINDS)}")
        if self.generator_inputs not in GENERATOR_INPUTS:
            raise ReconbenchError(f"{self.name}: generator_inputs={self.generator_inputs!r} is not one of {', '.join(GENERATOR_INPUTS)}")
        if self.samples not in ("trials", "averaged"):
            raise ReconbenchError(f"{self.name}: samples={self.samples!r} is not 'trials' or 'averaged'")
        if self.generator_inputs != "true" and int(self.decoded_folds) < 2:
            raise ReconbenchError(f"{self.name}: decoded_folds must be >= 2, got {self.decoded_folds}")
        if self.semantic_decoder not in SEMANTIC_DECODERS:
            raise ReconbenchError(f"{self.name}: semantic_decoder={self.semantic_decoder!r} is not one of {', '.join(SEMANTIC_DECODERS)}")
        if self.generator_style not in _generator.GENERATOR_STYLES:
            raise ReconbenchError(f"{self.name}: generator_style={self.generator_style!r} is not one of {', '.join(_generator.GENERATOR_STYLES)}")
        if self.semantic_decoder == "classifier_mlp" and (self.generator_inputs != "true" or self.extra_images):
            raise ReconbenchError(
                f"{self.name}: semantic_decoder='classifier_mlp' needs generator_inputs='true' and extra_images=False "
                "(its semantic vector is a function of the responses: cross-fitted folds would each have their own space, "
                "and extra images have no responses)"
            )

    def _hash(self, array: np.ndarray) -> str:
        # Training arrays are hashed once per fit (they are not modified during a fit).
        memo = getattr(self, "_hash_memo", None)
        if memo is None:
            return array_hash(array)
        key = (id(array), array.shape, str(array.dtype))
        if key not in memo:
            memo[key] = array_hash(array)
        return memo[key]

    def _cached(
        self, stage: str, params: Mapping[str, Any], inputs: Mapping[str, Any], compute: Callable[[], tuple[dict, dict]]
    ) -> tuple[dict[str, np.ndarray], dict]:
        hashed = {name: value if isinstance(value, str) else self._hash(value) for name, value in inputs.items()}
        # The decoders, the cross-fit and the generator compute on the device: their keys name it off the CPU
        # (every CPU key is as before); the image features stay on the CPU.
        device = self.device if stage in DEVICE_STAGES else "cpu"
        key = stage_key(stage, {"version": STAGE_VERSIONS[stage], **params}, hashed, device=device)
        start = time.perf_counter()

        def compute_recording_weights():
            with recording_loads() as loaded:
                arrays, meta = compute()
            return arrays, {**meta, "weights": dict(loaded)}

        with PeakMemory() as memory:
            arrays, meta, hit = self.cache_.get_or_compute(stage, key, compute_recording_weights)
        meta = dict(meta)
        recorded = meta.pop("weights", None) or {}
        if hit:
            # The row names the weights this stage was computed with, read back or not.
            note_loaded(recorded)
        self.stage_log_.append({"stage": stage, "key": key[:12], "cache_hit": hit, "seconds": time.perf_counter() - start, "peak_rss_mb": memory.peak_mb})
        return arrays, meta

    def _train_inputs(self, train: TrainData, rois) -> dict[str, Any]:
        inputs = {f"fmri/{roi}": train.fmri[roi] for roi in rois}
        inputs["trial_image_index"] = train.trial_image_index
        inputs["validation_mask"] = train.validation_mask
        return inputs

    def _shape_params(self) -> dict[str, Any]:
        preset = SHAPE_PRESETS[self.size_]
        blur = preset["blur_sigma"] if self.shape_blur is None else float(self.shape_blur)
        return {"kind": self.shape_kind, "size": preset["shape_size"], "blur_sigma": blur}

    def _shape_targets(self, images: np.ndarray) -> np.ndarray:
        """Flattened shape maps, shape (N, s*s)."""
        p = self._shape_params()
        maps = shape_maps(images, size=p["size"], blur_sigma=p["blur_sigma"], kind=p["kind"])
        return maps.reshape(maps.shape[0], -1)

    def _check_rois(self, fmri: Mapping[str, np.ndarray], where: str) -> None:
        needed = list(self.shape_rois) + ([self.semantic_roi] if self.use_semantics else [])
        missing = [roi for roi in needed if roi not in fmri]
        if missing:
            raise ReconbenchError(f"{self.name}: {where} has no ROI {', '.join(missing)}; available: {', '.join(sorted(fmri))}")

    # ------------------------------------------------------------------ stages
    def _fit_shape_decoder(self, train: TrainData, targets: np.ndarray) -> _shape.ShapeDecoder:
        rois = tuple(self.shape_rois)

        def compute():
            decoder = _shape.ShapeDecoder.fit(train, targets, rois, samples=self.samples, device=self.device)
            return decoder.to_arrays(), {"combination_weights": [float(w) for w in decoder.combination_weights]}

        arrays, _ = self._cached(
            "shape_decoder",
            {"rois": list(rois), "samples": self.samples, **self._shape_params()},
            {"targets": targets, **self._train_inputs(train, rois)},
            compute,
        )
        return _shape.ShapeDecoder.from_arrays(arrays, rois)

    def _image_features(self, images: np.ndarray) -> np.ndarray:
        """Pooled pretrained features of images, shape (N, F) (cached: every variant shares them)."""

        def compute():
            features = _semantic.pooled_features(images, net=self.semantic_net, layer=self.semantic_layer, pool=self.semantic_pool)
            return {"features": features}, {}

        arrays, _ = self._cached(
            "image_features",
            {"net": self.semantic_net, "layer": self.semantic_layer, "pool": int(self.semantic_pool)},
            {"images": images},
            compute,
        )
        return arrays["features"]

    def _semantic_decoder_params(self) -> dict[str, Any]:
        return {"kind": "ridge", "roi": self.semantic_roi, "samples": self.samples}

    def _fit_semantic_decoder(self, train: TrainData, vectors: np.ndarray):
        """Fit the decoder from ``semantic_roi`` to semantic vectors (S, D); returns an object with ``predict``."""

        def compute():
            decoder, _ = fit_roi_decoder(train, self.semantic_roi, vectors, samples=self.samples, device=self.device)
            return decoder.to_arrays(""), {}

        arrays, _ = self._cached(
            "semantic_decoder",
            self._semantic_decoder_params(),
            {"targets": vectors, **self._train_inputs(train, [self.semantic_roi])},
            compute,
        )
        return LinearMap.from_arrays(arrays, "")

    def _fit_semantic_classifier(self, train: TrainData) -> _semantic.MLPClassifier:
        """The published semantic stage: an MLP classifier of each trial's category; its tanh layer is the vector."""
        labels, categories = _semantic.category_labels(train.stimulus_ids)
        if len(categories) < 2:
            raise ReconbenchError(f"{self.name}: semantic_decoder='classifier_mlp' needs at least 2 training categories, got {len(categories)}")

        def compute():
            classifier = _semantic.MLPClassifier.fit(
                train.fmri[self.semantic_roi],
                labels[train.trial_image_index],
                np.asarray(train.validation_mask)[train.trial_image_index],
                n_classes=len(categories),
                seed=int(self.random_state),
                device=self.device,
            )
            return classifier.to_arrays(), {"n_categories": len(categories)}

        arrays, _ = self._cached(
            "semantic_decoder",
            {"kind": "classifier_mlp", "roi": self.semantic_roi, "seed": int(self.random_state)},
            {"labels": labels, **self._train_inputs(train, [self.semantic_roi])},
            compute,
        )
        return _semantic.MLPClassifier.from_arrays(arrays)

    def _prepare_semantics(self, train: TrainData, vectors: np.ndarray) -> None:
        """Hook for subclasses: fit anything the semantic stage needs beyond the PCA space."""

    def _generator_semantics(self, vectors: np.ndarray) -> np.ndarray:
        """Semantic vectors the generator is trained on, from true vectors (N, D)."""
        return vectors

    def _cross_fitted_inputs(self, train: TrainData) -> tuple[np.ndarray, np.ndarray | None]:
        """Decoded shape maps (S, s*s) and semantic vectors (S, D) of the training images, each
        predicted by decoders fitted on the other folds (responses averaged per image)."""
        n_images = train.images.shape[0]
        folds = np.random.default_rng(self.random_state).permutation(n_images) % int(self.decoded_folds)
        shape_pred = np.zeros_like(self.train_shape_targets_)
        semantic_pred = None if not self.use_semantics else np.zeros_like(self.train_semantic_vectors_)
        for fold in range(int(self.decoded_folds)):
            held = folds == fold
            sub = subset_train(train, ~held)
            if sub.validation_mask.all() or not sub.validation_mask.any():
                raise ReconbenchError(f"{self.name}: a cross-fitting fold leaves no validation images; use fewer decoded_folds")
            decoder = _shape.ShapeDecoder.fit(sub, self.train_shape_targets_[~held], tuple(self.shape_rois), samples=self.samples, device=self.device)
            averaged = {roi: train.averaged_fmri(roi)[held] for roi in self.shape_rois}
            shape_pred[held] = decoder.predict(averaged)
            if self.use_semantics:
                semantic_pred[held] = self._fold_semantic_prediction(sub, ~held, train.averaged_fmri(self.semantic_roi)[held])
        return shape_pred, semantic_pred

    def _fold_semantic_prediction(self, sub: TrainData, keep: np.ndarray, x_held: np.ndarray) -> np.ndarray:
        decoder, _ = fit_roi_decoder(sub, self.semantic_roi, self.train_semantic_vectors_[keep], samples=self.samples, device=self.device)
        return decoder.predict(x_held)

    def _fit_generator(self, train: TrainData) -> None:
        config = _generator.generator_config(
            self.size_, self.generator_style, iterations=self.iterations, pixel_weight=self.pixel_weight, perceptual_weight=self.perceptual_weight
        )
        r = config.resolution
        images = resize(train.images, r)
        shape_in = _generator.prepare_shape_inputs(self.train_shape_targets_, r)
        semantic_in = self._generator_semantics(self.train_semantic_vectors_) if self.use_semantics else None
        inputs_desc: dict[str, Any] = {}
        if self.generator_inputs != "true":
            decoded_shape, decoded_semantic = self._cached_cross_fit(train)
            decoded_shape_in = _generator.prepare_shape_inputs(decoded_shape, r)
            if self.generator_inputs == "decoded":
                shape_in, semantic_in = decoded_shape_in, decoded_semantic
            else:
                images = np.concatenate([images, images])
                shape_in = np.concatenate([shape_in, decoded_shape_in])
                semantic_in = None if semantic_in is None else np.concatenate([semantic_in, decoded_semantic])
        extra = train.extra_images if self.extra_images else None
        self.n_extra_images_ = 0 if extra is None else int(extra.shape[0])
        if extra is not None and extra.shape[0] > 0:
            extra = np.asarray(extra, dtype=np.float32)
            extra_shape = _generator.prepare_shape_inputs(self._shape_targets(extra), r)
            shape_in = np.concatenate([shape_in, extra_shape])
            if semantic_in is not None:
                extra_vectors = self.semantic_space_.transform(self._image_features(extra))
                semantic_in = np.concatenate([semantic_in, self._generator_semantics(extra_vectors)])
            images = np.concatenate([images, resize(extra, r)])
        inputs_desc["shape_inputs"] = shape_in
        inputs_desc["images"] = images
        if semantic_in is not None:
            inputs_desc["semantic_inputs"] = semantic_in
        semantic_dim = 0 if semantic_in is None else int(semantic_in.shape[1])

        def compute():
            state, log = _generator.train_generator(
                shape_in, semantic_in, images, config, seed=int(self.random_state), device=self.device, **self._training_hooks()
            )
            return {f"state/{k}": v for k, v in state.items()}, log

        arrays, meta = self._cached(
            "generator", {"config": config.as_dict(), "seed": int(self.random_state), "semantic_dim": semantic_dim}, inputs_desc, compute
        )
        state = {k[len("state/") :]: v for k, v in arrays.items() if k.startswith("state/")}
        self.generator_config_ = config
        self.generator_log_ = meta
        self.generator_ = _generator.load_generator(state, config, semantic_dim, self.device)

    def _refuse_full_size_on_cpu(self) -> None:
        """Stop before any work when the ``full`` generator would train on the CPU (unless forced)."""
        if self.size_ != "full" or device_kind(self.device) != "cpu" or os.environ.get(FORCE_CPU_ENV, "").strip() == "1":
            return
        config = _generator.generator_config("full", self.generator_style, iterations=self.iterations)
        cpu_hours = config.iterations * FULL_SECONDS_PER_STEP["cpu_16_threads"] / 3600
        gpu_minutes = config.iterations * FULL_SECONDS_PER_STEP["h200"] / 60
        raise ReconbenchError(
            f"{self.name}: the full-size generator ({config.resolution} px, {config.depth} levels, {config.iterations:,} steps) is meant for a GPU; "
            f"on the CPU it takes about {cpu_hours:.1f} h with 16 threads ({FULL_SECONDS_PER_STEP['cpu_16_threads']} s/step measured; "
            f"far longer with fewer: 0.55 s/step at 64 px on one thread), against about {gpu_minutes:.0f} min on one H200. "
            f"Run it with --device cuda, or set {FORCE_CPU_ENV}=1 to run it on the CPU anyway"
        )

    def _training_hooks(self) -> dict[str, Any]:
        """Extra keyword arguments of ``_generator.train_generator`` (none; the convergence
        study, ``scripts/dac_convergence.py``, overrides this to add a checkpoint callback)."""
        return {}

    def _cached_cross_fit(self, train: TrainData) -> tuple[np.ndarray, np.ndarray | None]:
        rois = sorted(set(self.shape_rois) | ({self.semantic_roi} if self.use_semantics else set()))

        def compute():
            shape_pred, semantic_pred = self._cross_fitted_inputs(train)
            arrays = {"shape": shape_pred}
            if semantic_pred is not None:
                arrays["semantic"] = semantic_pred
            return arrays, {}

        inputs = {"shape_targets": self.train_shape_targets_, **self._train_inputs(train, rois)}
        if self.use_semantics:
            inputs["semantic_vectors"] = self.train_semantic_vectors_
        arrays, _ = self._cached(
            "cross_fit",
            {
                "shape_rois": list(self.shape_rois),
                "semantic": self._semantic_decoder_params() if self.use_semantics else None,
                "samples": self.samples,
                "folds": int(self.decoded_folds),
                "seed": int(self.random_state),
            },
            inputs,
            compute,
        )
        return arrays["shape"], arrays.get("semantic")

    # ------------------------------------------------------------------ API
    def _fit_decoders(self) -> bool:
        return True

    def fit(self, train: TrainData) -> "DivideAndConquer":
        """Fit the decoders and train (or load from the stage cache) the generator; return ``self``."""
        self._check_params()
        try:
            self.size_ = resolve_size(self.size, int(train.images.shape[0]))
            device_kind(self.device)
        except ReconbenchError as exc:
            raise ReconbenchError(f"{self.name}: {exc}") from None
        self._refuse_full_size_on_cpu()
        if self._fit_decoders():
            self._check_rois(train.fmri, "the training data")
        self.cache_: StageCache = default_stage_cache()
        self.stage_log_: list[dict] = []
        self._hash_memo: dict = {}
        images = np.asarray(train.images, dtype=np.float32)
        self.output_size_ = tuple(int(v) for v in images.shape[2:])

        start = time.perf_counter()
        self.train_shape_targets_ = self._shape_targets(images)
        if self._fit_decoders():
            self.shape_decoder_ = self._fit_shape_decoder(train, self.train_shape_targets_)
        if self.use_semantics and self.semantic_decoder == "classifier_mlp":
            self.semantic_decoder_ = self._fit_semantic_classifier(train)
            self.train_semantic_vectors_ = self.semantic_decoder_.hidden(train.averaged_fmri(self.semantic_roi))
        elif self.use_semantics:
            features = self._image_features(images)
            self.semantic_space_ = _semantic.SemanticSpace.fit(features, int(self.semantic_components))
            self.train_semantic_vectors_ = self.semantic_space_.transform(features)
            self._prepare_semantics(train, self.train_semantic_vectors_)
            if self._fit_decoders():
                self.semantic_decoder_ = self._fit_semantic_decoder(train, self.train_semantic_vectors_)
        self.decoder_seconds_ = time.perf_counter() - start
        start = time.perf_counter()
        self._fit_generator(train)
        self.generator_seconds_ = time.perf_counter() - start
        del self._hash_memo
        return self

    def decode(self, test: TestInput) -> tuple[np.ndarray, np.ndarray | None]:
        """Decoded generator inputs: shape maps (M, s*s) and semantic vectors (M, D) or None."""
        self.check_is_fitted("shape_decoder_", "generator_")
        return self._decode(test)

    def _decode(self, test: TestInput) -> tuple[np.ndarray, np.ndarray | None]:
        """``decode`` once the decoders are fitted (the generator may still be training)."""
        self._check_rois(test.fmri, f"test set {test.name!r}")
        shape_pred = self.shape_decoder_.predict({roi: test.fmri[roi] for roi in self.shape_rois})
        semantic_pred = None
        if self.use_semantics and self.semantic_decoder == "classifier_mlp":
            semantic_pred = self.semantic_decoder_.hidden(test.fmri[self.semantic_roi])
        elif self.use_semantics:
            semantic_pred = self.semantic_decoder_.predict(test.fmri[self.semantic_roi])
        return shape_pred, semantic_pred

    # ------------------------------------------------------------------ diagnostics
    def stage_outputs(self, test: TestInput) -> dict[str, np.ndarray]:
        """The decoded intermediates of a test set, for the harness's stage-wise diagnostics
        (:mod:`reconbench.bench.diagnostics`): ``shape_map`` (M, s*s) and, with semantics,
        ``semantic`` (M, D). Empty when the method fits no decoder (the oracle)."""
        if not self._fit_decoders():
            return {}
        shape_pred, semantic_pred = self.decode(test)
        outputs = {"shape_map": np.asarray(shape_pred, dtype=np.float32)}
        if semantic_pred is not None:
            outputs["semantic"] = np.asarray(semantic_pred, dtype=np.float32)
        return outputs

    def _semantic_space_description(self) -> dict[str, Any]:
        if self.semantic_decoder == "classifier_mlp":
            return {"kind": "none"}  # a hidden layer of the responses: no image-side value
        return {
            "kind": "feature_pca",
            "net": self.semantic_net,
            "layer": self.semantic_layer,
            "pool": int(self.semantic_pool),
            "arrays": self.semantic_space_.to_arrays(),
        }

    def stage_spaces(self) -> dict[str, dict[str, Any]]:
        """How the harness computes the true value of each stage output from a test image
        (data only: the shape-map settings, and the semantic space's training statistics)."""
        p = self._shape_params()
        spaces: dict[str, dict[str, Any]] = {"shape_map": {"kind": "shape_map", "size": p["size"], "blur_sigma": p["blur_sigma"], "shape_kind": p["kind"]}}
        if self.use_semantics:
            spaces["semantic"] = self._semantic_space_description()
        return spaces

    def _finish(self, generated: np.ndarray) -> np.ndarray:
        """Generated images (M, 3, R, R) -> the training images' size (pinned resize), float32 in [0, 1]."""
        return resize(generated, self.output_size_)

    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Reconstructions (M, 3, H, W), float32 in [0, 1], at the training images' size
        (generated at the preset's resolution, 64x64 by default, then resized with the pinned resize)."""
        shape_pred, semantic_pred = self.decode(test)
        shape_in = _generator.prepare_shape_inputs(shape_pred, self.generator_config_.resolution)
        return self._finish(_generator.generate(self.generator_, shape_in, semantic_pred, threads=self.generator_config_.threads))

"""Hierarchical voxel encoding model and trial noise of the simulated dataset.

The model turns images into voxel responses in four stages, each a plain
numpy function so that tests can check it against independent references:

1. :func:`image_features` computes, once per image and shared by all subjects,
   feature maps on a coarse grid over the visual field (``FIELD_DEG`` degrees
   wide, the 12 degree field of ds001506): a Gabor-energy bank (4 orientations
   x 3 spatial frequencies, quadrature pairs, divisive contrast normalisation),
   ON/OFF luminance and colour-opponent (red-green, blue-yellow) channels,
   second-order texture products, a translation-tolerant shape descriptor of the
   object silhouette and the background layout.
2. :func:`draw_encoding` draws one subject's voxel population per ROI:
   Gaussian population receptive fields (pRFs) whose size grows with
   eccentricity and from V1 to V3 to V4, channel weights and a compressive
   exponent; LOC weights on the shape descriptor and on the object stage
   (:func:`object_channels`, pooled over large pRFs) with a broad position gain
   field; FFA and PPA weights on a category embedding and on the object stage
   pooled over the whole field (PPA also on the layout).
3. :func:`noise_free_responses` evaluates the model: noise-free responses in
   units of each voxel's standard deviation over the natural training images.
4. :func:`simulate_trials` adds trial noise (one SNR for every ROI since
   format 4), low-rank noise shared across voxels and per-run offsets, and
   converts to a BOLD-like amplitude (baseline plus percent signal change).

How the model orders information across ROIs, and the calibration knob
(``category_surface``, in the stimuli), are described in docs/simulated-data.md
("Calibration").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reconbench.core.types import BASE_ROIS

FIELD_DEG = 12.0
"""Width of the visual field covered by a stimulus image, in degrees."""

ROIS = BASE_ROIS
EARLY_ROIS = BASE_ROIS[:3]
HIGHER_ROIS = BASE_ROIS[4:]
GABOR_ORIENTATIONS_DEG = (0.0, 45.0, 90.0, 135.0)
GABOR_CYCLES_PER_IMAGE = (4.0, 8.0, 16.0)
GABOR_BANDWIDTH = 0.35
"""Gaussian radius of each Gabor filter in the frequency domain, as a fraction of its centre frequency."""
CONTRAST_SEMISATURATION = 0.02
"""Semi-saturation constant of the divisive normalisation (energy of a grating of amplitude 0.04)."""
FEATURE_SIZE = 64
"""Images are block-averaged to this size before feature extraction."""
POOL_SIZE = 32
"""Feature maps are block-averaged to this grid for pRF pooling."""
LAYOUT_SIZE = 8
SHAPE_FREQUENCIES = 5

# pRF size: sigma = intercept + slope * eccentricity (degrees); larger and steeper up the hierarchy.
PRF_SIZE = {"V1": (0.25, 0.12), "V2": (0.35, 0.2), "V3": (0.5, 0.3), "V4": (1.0, 0.45), "LOC": (4.0, 0.5)}
COMPRESSIVE_EXPONENT = {"V1": 0.6, "V2": 0.5, "V3": 0.45, "V4": 0.4, "LOC": 0.5, "FFA": 1.0, "PPA": 1.0}
MAX_ECCENTRICITY = 7.0


@dataclass(frozen=True)
class NoiseConfig:
    """Trial noise of the simulated fMRI.

    Attributes
    ----------
    snr : float
        Single-trial signal-to-noise variance ratio of a typical V1 voxel:
        noise-free responses have unit variance over the natural training
        images and a V1 voxel's trial noise has variance
        ``1 / (snr * voxel factor)``. Other ROIs scale it by ``roi_snr``. The
        value of ``tiny``, ``default`` and ``full`` (0.04) was chosen so that a
        ridge pixel decoder from VC reaches a pairwise identification of about
        0.82 on ``default`` (format 3), a target no publication stands behind;
        it is kept because it puts ``default`` in the regime where the profile
        has real cortex's ordering (docs/simulated-data.md, "Calibration").
    roi_snr : tuple of (str, float)
        SNR of each ROI relative to V1: 1 for every ROI (format 4; format 3
        had 0.9 down to 0.4 in FFA/PPA, a gradient with no source that, with
        the category-only input of FFA/PPA, put higher visual cortex below
        lower visual cortex on every image feature).
    voxel_snr_spread : float
        Log-normal sigma of the per-voxel SNR factor (median 1): many voxels
        carry little signal, as in real data.
    shared_fraction : float
        Fraction of the noise variance shared across voxels through a low-rank
        factor model.
    shared_rank : int
        Rank of the shared noise.
    run_offset_sd : float
        Standard deviation of the per-run, per-voxel offset in signal units
        (removed by per-run z-scoring in the loader).
    percent_signal_change : (float, float)
        Range of each voxel's single-trial standard deviation (signal plus
        noise) in percent of its baseline.
    baseline : (float, float)
        Range of each voxel's baseline (arbitrary scanner units).
    """

    snr: float = 0.04
    roi_snr: tuple[tuple[str, float], ...] = (
        ("V1", 1.0),
        ("V2", 1.0),
        ("V3", 1.0),
        ("V4", 1.0),
        ("LOC", 1.0),
        ("FFA", 1.0),
        ("PPA", 1.0),
    )
    voxel_snr_spread: float = 0.6
    shared_fraction: float = 0.3
    shared_rank: int = 5
    run_offset_sd: float = 0.5
    percent_signal_change: tuple[float, float] = (0.5, 2.0)
    baseline: tuple[float, float] = (400.0, 1200.0)

    def roi_snr_of(self, roi: str) -> float:
        """Single-trial SNR of a typical voxel of ``roi`` (``snr`` times the ROI ratio)."""
        return self.snr * dict(self.roi_snr)[roi]


@dataclass
class ImageFeatures:
    """Features of N images, shared by all subjects.

    Attributes
    ----------
    early : ndarray, shape (N, 18, POOL_SIZE**2), float32
        12 contrast-normalised Gabor energies (orientation-major within each
        spatial frequency: index ``sf * 4 + orientation``), then luminance ON,
        luminance OFF, red+, green+ (red-green opponent halves), blue+, yellow+.
    texture : ndarray, shape (N, 36, POOL_SIZE**2), float32
        The 12 energies, the 4 colour-opponent halves and 20 second-order
        products (square roots of energy products across adjacent scales and
        orientations), the input to V4.
    shape : ndarray, shape (N, D_shape), float32
        Translation-invariant shape descriptor of the object silhouette: log
        amplitude spectrum of the mask at low frequencies, normalised by area,
        plus log area.
    position : ndarray, shape (N, 2), float32
        Object centroid (x right, y up) in degrees.
    layout : ndarray, shape (N, LAYOUT_SIZE**2), float32
        Background luminance on an 8x8 grid (the PPA layout input).
    colour : ndarray, shape (N, 3), float32
        Mean RGB colour inside the object.
    """

    early: np.ndarray
    texture: np.ndarray
    shape: np.ndarray
    position: np.ndarray
    layout: np.ndarray
    colour: np.ndarray


def block_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Block-average the two axes after the first (..., H, W) -> (..., size, size); H must be a multiple of size."""
    h, w = x.shape[-2:]
    if h % size or w % size:
        raise ValueError(f"image size {h}x{w} is not a multiple of {size}")
    fh, fw = h // size, w // size
    # Summing the contiguous axis first is several times faster than one mean over both.
    return x.reshape(*x.shape[:-2], size, fh, size, fw).sum(axis=-1).sum(axis=-2) / (fh * fw)


def gabor_filters(size: int) -> np.ndarray:
    """One-sided (analytic) Gabor filters in the frequency domain.

    Returns
    -------
    ndarray, shape (n_sf * n_orientations, size, size), float32
        ``|ifft2(fft2(image) * filter)|`` is the quadrature-pair energy; a
        sinusoidal grating of amplitude A at a filter's peak frequency gives
        energy A / 2.
    """
    freq = np.fft.fftfreq(size) * size  # cycles per image
    fx, fy = np.meshgrid(freq, freq, indexing="xy")
    filters = []
    for sf in GABOR_CYCLES_PER_IMAGE:
        for ori in np.deg2rad(GABOR_ORIENTATIONS_DEG):
            # y grows downwards in image rows, so a 45 degree (counter-clockwise) orientation has fy = -sin.
            cx, cy = sf * np.cos(ori), -sf * np.sin(ori)
            radius = GABOR_BANDWIDTH * sf
            filters.append(np.exp(-((fx - cx) ** 2 + (fy - cy) ** 2) / (2 * radius**2)))
    return np.asarray(filters, dtype=np.float32)


def _gaussian_blur_fft(maps: np.ndarray, sigma_px: float) -> np.ndarray:
    """Circular Gaussian blur of the last two axes by FFT."""
    size = maps.shape[-1]
    freq = np.fft.fftfreq(size)
    fx, fy = np.meshgrid(freq, freq, indexing="xy")
    kernel = np.exp(-2 * np.pi**2 * sigma_px**2 * (fx**2 + fy**2)).astype(np.float32)
    return np.real(np.fft.ifft2(np.fft.fft2(maps) * kernel)).astype(np.float32)


def gabor_energy(luminance: np.ndarray) -> np.ndarray:
    """Contrast-normalised Gabor energy.

    Parameters
    ----------
    luminance : ndarray, shape (N, S, S), float

    Returns
    -------
    ndarray, shape (N, 12, S, S), float32
        ``E / (c50 + blur(mean over orientations of E at that scale))`` with
        ``c50 = CONTRAST_SEMISATURATION`` and a Gaussian blur of S/32 pixels.
    """
    n, size, _ = luminance.shape
    filters = gabor_filters(size)
    spectrum = np.fft.fft2(luminance - luminance.mean(axis=(1, 2), keepdims=True))
    energy = np.abs(np.fft.ifft2(spectrum[:, None] * filters[None])).astype(np.float32)
    n_ori = len(GABOR_ORIENTATIONS_DEG)
    per_scale = energy.reshape(n, len(GABOR_CYCLES_PER_IMAGE), n_ori, size, size)
    pool = _gaussian_blur_fft(per_scale.mean(axis=2), size / 32.0)
    normalised = per_scale / (CONTRAST_SEMISATURATION + pool[:, :, None])
    return normalised.reshape(n, -1, size, size).astype(np.float32)


def shape_descriptor(masks: np.ndarray) -> np.ndarray:
    """Translation-invariant shape descriptor of object masks.

    Parameters
    ----------
    masks : ndarray, shape (N, S, S), values in [0, 1]

    Returns
    -------
    ndarray, shape (N, SHAPE_FREQUENCIES * (2 * SHAPE_FREQUENCIES + 1) + 1), float32
        ``log(1e-3 + |FFT(mask)| / area)`` over the low-frequency half plane
        (``0 <= fx < F``, ``-F <= fy <= F``), then ``log(area fraction)``.
    """
    n, size, _ = masks.shape
    spectrum = np.abs(np.fft.fft2(masks))
    area = spectrum[:, 0, 0] + 1e-6
    rows = np.r_[np.arange(0, SHAPE_FREQUENCIES + 1), np.arange(size - SHAPE_FREQUENCIES, size)]
    block = spectrum[:, rows][:, :, :SHAPE_FREQUENCIES] / area[:, None, None]
    descriptor = np.log(1e-3 + block.reshape(n, -1))
    return np.concatenate([descriptor, np.log(area / size**2 + 1e-6)[:, None]], axis=1).astype(np.float32)


def image_features(images: np.ndarray, masks: np.ndarray, backgrounds: np.ndarray) -> ImageFeatures:
    """Compute the features of a batch of images.

    Parameters
    ----------
    images : ndarray, shape (N, FEATURE_SIZE, FEATURE_SIZE, 3), float in [0, 1]
    masks : ndarray, shape (N, FEATURE_SIZE, FEATURE_SIZE), float in [0, 1]
    backgrounds : ndarray, shape (N, LAYOUT_SIZE, LAYOUT_SIZE, 3), float in [0, 1]

    Returns
    -------
    ImageFeatures
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected images of shape (N, S, S, 3), got {images.shape}")
    n, size = images.shape[0], images.shape[1]
    red, green, blue = images[..., 0], images[..., 1], images[..., 2]
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    red_green = red - green
    blue_yellow = blue - (red + green) / 2

    energy = gabor_energy(luminance)
    energy_pooled = block_mean(energy, POOL_SIZE)  # (N, 12, P, P)
    first_order = np.stack(
        [
            np.maximum(luminance - 0.5, 0),
            np.maximum(0.5 - luminance, 0),
            np.maximum(red_green, 0),
            np.maximum(-red_green, 0),
            np.maximum(blue_yellow, 0),
            np.maximum(-blue_yellow, 0),
        ],
        axis=1,
    )
    first_order_pooled = block_mean(first_order, POOL_SIZE)
    early = np.concatenate([energy_pooled, first_order_pooled], axis=1).reshape(n, -1, POOL_SIZE**2)

    n_ori = len(GABOR_ORIENTATIONS_DEG)
    products = []
    for s in range(len(GABOR_CYCLES_PER_IMAGE)):
        for o in range(n_ori):
            products.append(np.sqrt(energy_pooled[:, s * n_ori + o] * energy_pooled[:, s * n_ori + (o + 1) % n_ori]))
            if s + 1 < len(GABOR_CYCLES_PER_IMAGE):
                products.append(np.sqrt(energy_pooled[:, s * n_ori + o] * energy_pooled[:, (s + 1) * n_ori + o]))
    texture = np.concatenate([energy_pooled, first_order_pooled[:, 2:], np.stack(products, axis=1)], axis=1)
    texture = texture.reshape(n, -1, POOL_SIZE**2)

    coords = (np.arange(size) + 0.5) / size * FIELD_DEG - FIELD_DEG / 2
    weight = masks.sum(axis=(1, 2)) + 1e-6
    position = np.stack(
        [(masks * coords[None, None, :]).sum(axis=(1, 2)) / weight, -(masks * coords[None, :, None]).sum(axis=(1, 2)) / weight],
        axis=1,
    )
    colour = (images * masks[..., None]).sum(axis=(1, 2)) / weight[:, None]
    background_luminance = 0.299 * backgrounds[..., 0] + 0.587 * backgrounds[..., 1] + 0.114 * backgrounds[..., 2]
    return ImageFeatures(
        early=early.astype(np.float32),
        texture=texture.astype(np.float32),
        shape=shape_descriptor(masks),
        position=position.astype(np.float32),
        layout=background_luminance.reshape(n, -1).astype(np.float32),
        colour=colour.astype(np.float32),
    )


def pool_grid_deg() -> tuple[np.ndarray, np.ndarray]:
    """Centres of the pooling grid in degrees, x right and y up, each shape (POOL_SIZE**2,)."""
    c = (np.arange(POOL_SIZE) + 0.5) / POOL_SIZE * FIELD_DEG - FIELD_DEG / 2
    gx, gy = np.meshgrid(c, -c, indexing="xy")
    return gx.ravel().astype(np.float32), gy.ravel().astype(np.float32)


def gaussian_prf_matrix(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """pRF weights on the pooling grid.

    Parameters
    ----------
    x, y, sigma : ndarray, shape (V,)
        pRF centres and sizes in degrees.

    Returns
    -------
    ndarray, shape (V, POOL_SIZE**2), float32
        Gaussian weights, each row summing to the fraction of the (full-plane)
        Gaussian that falls on the image, so pRFs hanging off the image respond
        less.
    """
    gx, gy = pool_grid_deg()
    cell = (FIELD_DEG / POOL_SIZE) ** 2
    d2 = (gx[None] - x[:, None]) ** 2 + (gy[None] - y[:, None]) ** 2
    # Sub-pixel pRFs would fall between grid points: widen them to half a cell at least.
    s = np.maximum(sigma, 0.5 * FIELD_DEG / POOL_SIZE)[:, None]
    return (np.exp(-d2 / (2 * s**2)) * cell / (2 * np.pi * s**2)).astype(np.float32)


#: Fraction of a category embedding's variance shared with its family (the rest is the category's own).
FAMILY_SHARE = 0.6


def category_embedding(family_of: np.ndarray, dim: int, rng: np.random.Generator, family_share: float = FAMILY_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """Category and family embeddings shared by all subjects.

    A category's vector is ``sqrt(family_share) * f + sqrt(1 - family_share) * u``
    with ``f`` its family's random unit vector and ``u`` its own, normalised; so
    two categories of one family have an expected cosine of about
    ``family_share`` and categories of different families about 0. What higher
    visual cortex learns about the training categories therefore carries over
    in part to unseen categories of the same families, and category identity
    does not.

    Parameters
    ----------
    family_of : ndarray, shape (K,), int
        0-based family of each category.
    dim : int
    rng : numpy.random.Generator
    family_share : float in [0, 1]

    Returns
    -------
    embedding : ndarray, shape (K, dim), float32, rows of unit norm
    family_embedding : ndarray, shape (F, dim), float32, rows of unit norm
    """
    family_of = np.asarray(family_of, dtype=int)
    if not 0.0 <= family_share <= 1.0:
        raise ValueError(f"family_share must lie in [0, 1], got {family_share}")

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    families = unit(rng.standard_normal((int(family_of.max()) + 1, dim)))
    own = unit(rng.standard_normal((family_of.size, dim)))
    emb = unit(np.sqrt(family_share) * families[family_of] + np.sqrt(1.0 - family_share) * own)
    return emb.astype(np.float32), families.astype(np.float32)


def semantic_vectors(
    features: ImageFeatures,
    categories: np.ndarray,
    reference: np.ndarray,
    n_categories: int,
    prototype_images: np.ndarray | None = None,
    own_weight: float = 0.85,
    foreign_gain: float = 0.5,
) -> np.ndarray:
    """Category evidence of every image, the input of FFA and PPA.

    An image's appearance (shape descriptor and object colour), standardised
    over the ``reference`` images, is compared with each category's prototype
    (mean over the ``prototype_images`` of that category: every natural image
    of the design, so a category shown only in the test set has one); a softmax over negative squared distances gives a soft
    assignment. Natural images mix their own category (``own_weight``) with the
    soft assignment; artificial images (category -1) get the soft assignment
    scaled by ``foreign_gain`` (higher areas respond less to simple shapes).

    Parameters
    ----------
    features : ImageFeatures
    categories : ndarray, shape (N,), int
        0-based category, -1 for images without a category.
    reference : ndarray, shape (N,), bool
        Images that set the standardisation (the natural training images).
    n_categories : int
    prototype_images : ndarray, shape (N,), bool, optional
        Images that build the category prototypes; default ``reference``.

    Returns
    -------
    ndarray, shape (N, n_categories), float32
    """
    descriptor = np.concatenate([features.shape, 4.0 * features.colour], axis=1)
    mean = descriptor[reference].mean(axis=0)
    std = descriptor[reference].std(axis=0) + 1e-6
    z = (descriptor - mean) / std
    members = reference if prototype_images is None else np.asarray(prototype_images, dtype=bool)
    prototypes = np.stack(
        [z[members & (categories == k)].mean(axis=0) if np.any(members & (categories == k)) else np.zeros(z.shape[1]) for k in range(n_categories)]
    )
    d2 = ((z[:, None, :] - prototypes[None]) ** 2).mean(axis=2)
    temperature = np.median(d2) / 8 + 1e-6
    logits = -d2 / temperature
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(soft)
    has_category = categories >= 0
    onehot[np.flatnonzero(has_category), categories[has_category]] = 1.0
    vectors = np.where(has_category[:, None], own_weight * onehot + (1 - own_weight) * soft, foreign_gain * soft)
    return vectors.astype(np.float32)


OBJECT_CHANNELS = 64
"""Channels of the object stage, the image-computed input of LOC, FFA and PPA (:func:`object_channels`)."""
OBJECT_TEMPLATE_SEED = 2027
"""Seed of the object stage's fixed templates (a property of the model, the same in every simulation)."""
OBJECT_WEIGHT = 1.5
"""Weight of the object channels in the drive of LOC (beside the shape descriptor) and of FFA and PPA
(beside the category embedding); both terms have comparable variance at weight 1."""


def object_templates(n_inputs: int) -> np.ndarray:
    """The object stage's templates, shape (OBJECT_CHANNELS, n_inputs), float32: fixed Gaussian draws scaled by 1/sqrt(n_inputs)."""
    rng = np.random.default_rng(OBJECT_TEMPLATE_SEED)
    return (rng.standard_normal((OBJECT_CHANNELS, n_inputs)) / np.sqrt(n_inputs)).astype(np.float32)


def object_channels(texture: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The object stage: rectified combinations of V4's texture channels at every position.

    Each channel is ``max(0, t . z(x))`` with ``z(x)`` the 36 texture channels at position ``x``
    standardised (per channel, over the ``reference`` images and all positions) and ``t`` a fixed
    template (:func:`object_templates`). Like the stage after V4 in hierarchical models of the ventral
    stream, it answers to conjunctions of orientation, scale, colour and texture statistics, which a
    linear read-out of V1-V3 gives only in part; LOC pools it over large receptive fields and FFA and PPA
    over the whole field (:func:`noise_free_responses`), so the higher areas carry image content in a
    compact, position-tolerant form.

    Parameters
    ----------
    texture : ndarray, shape (N, 36, P)
        :attr:`ImageFeatures.texture`.
    reference : ndarray, shape (N,), bool
        Images that set the standardisation (the natural training images).

    Returns
    -------
    ndarray, shape (N, OBJECT_CHANNELS, P), float32
    """
    reference = np.asarray(reference, dtype=bool)
    mean = texture[reference].mean(axis=(0, 2))
    std = texture[reference].std(axis=(0, 2)) + 1e-6
    z = ((texture - mean[None, :, None]) / std[None, :, None]).astype(np.float32)
    return np.maximum(np.einsum("kc,ncp->nkp", object_templates(texture.shape[1]), z), 0)


def _standardised(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``x`` standardised along the first axis with the mean and std of the ``reference`` rows."""
    return (x - x[reference].mean(axis=0)) / (x[reference].std(axis=0) + 1e-6)


@dataclass
class SubjectEncoding:
    """One subject's voxel population (all arrays in file column order).

    Attributes
    ----------
    roi : ndarray, shape (V,), str
        ROI of each voxel.
    prf_x, prf_y, prf_sigma : ndarray, shape (V,), float32
        pRF centre (degrees, x right, y up) and size; NaN for FFA/PPA voxels.
    exponent : ndarray, shape (V,)
        Compressive exponent.
    weights : dict of str to ndarray
        Per ROI, the voxels' weights over their input, rows in the order of
        the ROI's columns in the file: ``(V_roi, 18)`` early
        channels for V1-V3, ``(V_roi, 36)`` texture channels for V4,
        ``(V_roi, D_shape)`` for LOC, ``(V_roi, D_embedding)`` for FFA/PPA;
        ``PPA_layout`` ``(V_PPA, 64)``; ``FFA_shape``/``PPA_shape`` small shape weights;
        ``LOC_object``/``FFA_object``/``PPA_object`` ``(V_roi, OBJECT_CHANNELS)`` on the object stage.
    selectivity : ndarray, shape (V,), float32
        Category-selectivity bias (FFA: face-like families, PPA: scene-like backgrounds); 0 elsewhere.
    voxel_xyz : ndarray, shape (V, 3), float32
        Plausible voxel coordinates in mm.
    snr : ndarray, shape (V,), float32
        Single-trial SNR of each voxel.
    noise_loading : ndarray, shape (V, rank), float32
        Shared-noise loadings (rows of unit norm).
    baseline, amplitude : ndarray, shape (V,), float32
        BOLD baseline and the amplitude of one signal unit
        (``baseline * percent / 100 / sqrt(1 + 1 / snr)``).
    signal_mean, signal_std : ndarray, shape (V,), float32
        Mean and std of the raw model response over the natural training
        images, used to put noise-free responses in unit-variance units.
    """

    roi: np.ndarray
    prf_x: np.ndarray
    prf_y: np.ndarray
    prf_sigma: np.ndarray
    exponent: np.ndarray
    weights: dict[str, np.ndarray]
    selectivity: np.ndarray
    voxel_xyz: np.ndarray
    snr: np.ndarray
    noise_loading: np.ndarray
    baseline: np.ndarray
    amplitude: np.ndarray
    signal_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    signal_std: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays for saving (``weights`` entries become ``weights/<name>``)."""
        out = {k: v for k, v in self.__dict__.items() if k != "weights"}
        out.update({f"weights/{k}": v for k, v in self.weights.items()})
        return out


def _sample_eccentricity(n: int, rng: np.random.Generator) -> np.ndarray:
    """Eccentricities with density ~ 1/(e + 0.75) on [0, MAX_ECCENTRICITY] (cortical magnification)."""
    a = 0.75
    u = rng.uniform(0, 1, n)
    return a * ((1 + MAX_ECCENTRICITY / a) ** u - 1)


def draw_encoding(
    roi_counts: dict[str, int],
    shape_dim: int,
    embedding: np.ndarray,
    noise: NoiseConfig,
    rng: np.random.Generator,
) -> SubjectEncoding:
    """Draw one subject's voxel population.

    Parameters
    ----------
    roi_counts : dict of str to int
        Voxels per ROI (keys from :data:`ROIS`).
    shape_dim : int
        Length of the shape descriptor.
    embedding : ndarray, shape (K, D)
        Category embedding (:func:`category_embedding`); sets the FFA/PPA weight length.
    noise : NoiseConfig
    rng : numpy.random.Generator

    Returns
    -------
    SubjectEncoding
        Voxels in a random column order (ROIs interleaved, as in real files).
    """
    rois, prf_x, prf_y, prf_sigma, exponent, selectivity, xyz = [], [], [], [], [], [], []
    weights: dict[str, np.ndarray] = {}
    level = {"V1": 0, "V2": 1, "V3": 2, "V4": 3, "LOC": 4, "FFA": 5, "PPA": 5}
    for roi in ROIS:
        n = int(roi_counts.get(roi, 0))
        if n <= 0:
            raise ValueError(f"ROI {roi} needs at least one voxel, got {n}")
        rois += [roi] * n
        if roi in PRF_SIZE:
            ecc = _sample_eccentricity(n, rng) if roi != "LOC" else rng.uniform(0, 4, n)
            angle = rng.uniform(0, 2 * np.pi, n)
            intercept, slope = PRF_SIZE[roi]
            x, y = ecc * np.cos(angle), ecc * np.sin(angle)
            sigma = (intercept + slope * ecc) * rng.lognormal(0, 0.15, n)
        else:
            x = y = sigma = np.full(n, np.nan)
            ecc, angle = rng.uniform(0, 8, n), rng.uniform(0, 2 * np.pi, n)
        prf_x.append(x), prf_y.append(y), prf_sigma.append(sigma)
        exponent.append(np.full(n, COMPRESSIVE_EXPONENT[roi]) * rng.lognormal(0, 0.1, n))
        hemisphere = np.where(np.cos(angle) >= 0, -1.0, 1.0)  # left hemisphere sees the right field
        xyz.append(
            np.stack(
                [
                    hemisphere * (8 + 6 * level[roi] + 1.5 * np.log1p(ecc) + rng.normal(0, 2, n)),
                    -100 + 9 * level[roi] + 3 * np.log1p(ecc) + rng.normal(0, 3, n),
                    6 * np.sin(angle) + (-8 if roi in ("FFA", "PPA") else 0) + rng.normal(0, 3, n),
                ],
                axis=1,
            )
        )
        sel = np.zeros(n)
        if roi in EARLY_ROIS:
            # Each voxel mixes all channels, with a preferred scale that is finer near the fovea
            # and a few preferred orientations; energy dominates luminance and colour.
            w = rng.gamma(0.7, 1.0, (n, 18))
            preferred_sf = np.clip(2 - np.round(np.log2(1 + ecc / 1.5)), 0, 2).astype(int)
            for s in range(3):
                w[:, s * 4 : s * 4 + 4] *= np.where(preferred_sf[:, None] == s, 2.0, 0.6)
            w[:, 12:] *= 1.5
            weights[roi] = (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
        elif roi == "V4":
            w = rng.gamma(0.4, 1.0, (n, 36))
            w[:, 12:16] *= 2.0  # colour
            weights[roi] = (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
        elif roi == "LOC":
            weights[roi] = (rng.standard_normal((n, shape_dim)) / np.sqrt(shape_dim)).astype(np.float32)
        else:
            weights[roi] = rng.standard_normal((n, embedding.shape[1])).astype(np.float32)
            weights[f"{roi}_shape"] = (0.3 * rng.standard_normal((n, shape_dim)) / np.sqrt(shape_dim)).astype(np.float32)
            sel = rng.gamma(2.0, 0.75, n)
            if roi == "PPA":
                weights["PPA_layout"] = (rng.standard_normal((n, LAYOUT_SIZE**2)) / LAYOUT_SIZE).astype(np.float32)
        selectivity.append(sel)

    order = rng.permutation(len(rois))
    inverse = np.argsort(order)
    roi_arr = np.asarray(rois)
    n_vox = len(rois)
    ratio = dict(noise.roi_snr)
    snr = np.array([noise.snr * ratio[r] for r in rois]) * rng.lognormal(0, noise.voxel_snr_spread, n_vox)
    loading = rng.standard_normal((n_vox, noise.shared_rank))
    loading /= np.linalg.norm(loading, axis=1, keepdims=True)
    baseline = rng.uniform(*noise.baseline, n_vox)
    # Scale so that a single trial (signal plus noise) varies by the drawn percentage of the baseline.
    amplitude = baseline * rng.uniform(*noise.percent_signal_change, n_vox) / 100.0 / np.sqrt(1.0 + 1.0 / snr)

    # Drawn after everything else, so that the object stage leaves every other draw as it was.
    for roi in HIGHER_ROIS:
        weights[f"{roi}_object"] = (rng.standard_normal((int(roi_counts[roi]), OBJECT_CHANNELS)) / np.sqrt(OBJECT_CHANNELS)).astype(np.float32)

    def reorder(a: np.ndarray) -> np.ndarray:
        return np.asarray(a)[order].astype(np.float32)

    # Weight rows were drawn in ROI order; sort them to follow each ROI's columns in file order.
    start = 0
    for roi in ROIS:
        n = int(roi_counts[roi])
        row_order = np.argsort(inverse[start : start + n])
        for key in (roi, f"{roi}_shape", f"{roi}_layout", f"{roi}_object"):
            if key in weights:
                weights[key] = weights[key][row_order]
        start += n

    encoding = SubjectEncoding(
        roi=roi_arr[order],
        prf_x=reorder(np.concatenate(prf_x)),
        prf_y=reorder(np.concatenate(prf_y)),
        prf_sigma=reorder(np.concatenate(prf_sigma)),
        exponent=reorder(np.concatenate(exponent)),
        weights=weights,
        selectivity=reorder(np.concatenate(selectivity)),
        voxel_xyz=reorder(np.concatenate(xyz)),
        snr=reorder(snr),
        noise_loading=reorder(loading),
        baseline=reorder(baseline),
        amplitude=reorder(amplitude),
    )
    return encoding


def _raw_responses(
    enc: SubjectEncoding,
    features: ImageFeatures,
    semantic: np.ndarray,
    embedding: np.ndarray,
    face_like: np.ndarray,
    scene_like: np.ndarray,
    shape_mean: np.ndarray,
    shape_std: np.ndarray,
    layout_mean: np.ndarray,
    reference: np.ndarray,
) -> np.ndarray:
    """Model responses before normalisation, shape (N, V) in file column order."""
    n = features.early.shape[0]
    out = np.zeros((n, enc.roi.size), dtype=np.float32)
    shape_z = (features.shape - shape_mean) / shape_std
    objects = object_channels(features.texture, reference)  # (N, K, P)
    objects_global = _standardised(objects.mean(axis=2), reference)  # (N, K): pooled over the whole field
    semantic_embedded = semantic @ embedding  # (N, D)
    for roi in ROIS:
        cols = np.flatnonzero(enc.roi == roi)
        if roi in EARLY_ROIS or roi == "V4":
            prf = gaussian_prf_matrix(enc.prf_x[cols], enc.prf_y[cols], enc.prf_sigma[cols])  # (V, P)
            channels = features.early if roi in EARLY_ROIS else features.texture
            if roi == "V4":
                channels = channels**2  # second-order statistics: pool the power, then take the root
            pooled = channels.reshape(-1, channels.shape[2]) @ prf.T  # (N*C, V)
            pooled = pooled.reshape(n, channels.shape[1], cols.size)
            if roi == "V4":
                pooled = np.sqrt(np.maximum(pooled, 0))
            drive = np.einsum("ncv,vc->nv", pooled, enc.weights[roi])
            out[:, cols] = np.maximum(drive, 0) ** enc.exponent[cols]
        elif roi == "LOC":
            drive = shape_z @ enc.weights["LOC"].T  # (N, V)
            # The object channels pooled over each voxel's large receptive field, in blocks of voxels to bound the memory.
            for a in range(0, cols.size, 256):
                block = cols[a : a + 256]
                prf = gaussian_prf_matrix(enc.prf_x[block], enc.prf_y[block], enc.prf_sigma[block])
                pooled = _standardised((objects.reshape(-1, objects.shape[2]) @ prf.T).reshape(n, OBJECT_CHANNELS, block.size), reference)
                drive[:, a : a + 256] += OBJECT_WEIGHT * np.einsum("ncv,vc->nv", pooled, enc.weights["LOC_object"][a : a + 256])
            d2 = (features.position[:, :1] - enc.prf_x[cols][None]) ** 2 + (features.position[:, 1:] - enc.prf_y[cols][None]) ** 2
            gain = 0.75 + 0.25 * np.exp(-d2 / (2 * enc.prf_sigma[cols][None] ** 2))  # weak position dependence
            out[:, cols] = gain * np.logaddexp(0, 1.5 * drive) ** enc.exponent[cols]
        else:
            preferred = face_like if roi == "FFA" else scene_like
            drive = semantic_embedded @ enc.weights[roi].T + enc.selectivity[cols][None] * (semantic @ preferred.astype(np.float32))[:, None]
            drive = drive + shape_z @ enc.weights[f"{roi}_shape"].T
            drive = drive + OBJECT_WEIGHT * objects_global @ enc.weights[f"{roi}_object"].T
            if roi == "PPA":
                drive = drive + (features.layout - layout_mean) @ enc.weights["PPA_layout"].T
            out[:, cols] = np.logaddexp(0, drive)
    return out


def noise_free_responses(
    enc: SubjectEncoding,
    features: ImageFeatures,
    semantic: np.ndarray,
    embedding: np.ndarray,
    face_like: np.ndarray,
    scene_like: np.ndarray,
    reference: np.ndarray,
) -> np.ndarray:
    """Noise-free responses of all voxels to all images.

    Sets ``enc.signal_mean`` and ``enc.signal_std`` from the ``reference``
    images (the natural training set) so that every session shares one scale.

    Parameters
    ----------
    enc : SubjectEncoding
    features : ImageFeatures, N images
    semantic : ndarray, shape (N, K)
        From :func:`semantic_vectors`.
    embedding : ndarray, shape (K, D)
    face_like, scene_like : ndarray, shape (K,), bool
    reference : ndarray, shape (N,), bool

    Returns
    -------
    ndarray, shape (N, V), float32
        Responses with zero mean and unit variance over the reference images.
    """
    shape_mean = features.shape[reference].mean(axis=0)
    shape_std = features.shape[reference].std(axis=0) + 1e-6
    layout_mean = features.layout[reference].mean(axis=0)
    raw = _raw_responses(enc, features, semantic, embedding, face_like, scene_like, shape_mean, shape_std, layout_mean, np.asarray(reference, dtype=bool))
    enc.signal_mean = raw[reference].mean(axis=0).astype(np.float32)
    enc.signal_std = (raw[reference].std(axis=0) + 1e-6).astype(np.float32)
    return ((raw - enc.signal_mean) / enc.signal_std).astype(np.float32)


def simulate_trials(
    enc: SubjectEncoding,
    signal: np.ndarray,
    stimulus_of_trial: np.ndarray,
    run_of_trial: np.ndarray,
    noise: NoiseConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Noisy single-trial responses of one session.

    ``bold = baseline + amplitude * (signal[stimulus] + trial noise + run offset)``
    where the trial noise of voxel v has variance ``1 / snr_v``, a fraction
    ``shared_fraction`` of it from a rank-``shared_rank`` factor model, and
    the run offset is drawn per run and voxel with sd ``run_offset_sd``.

    Parameters
    ----------
    enc : SubjectEncoding
    signal : ndarray, shape (N_stimuli, V)
        Noise-free responses of this session's stimuli (unit-variance units).
    stimulus_of_trial : ndarray, shape (T,), int
        Row of ``signal`` shown on each trial.
    run_of_trial : ndarray, shape (T,), int
        Run number of each trial.
    noise : NoiseConfig
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (T, V), float32
    """
    n_trials, n_vox = stimulus_of_trial.size, signal.shape[1]
    noise_sd = (1.0 / np.sqrt(enc.snr)).astype(np.float32)
    independent = rng.standard_normal((n_trials, n_vox), dtype=np.float32) * np.float32(np.sqrt(1 - noise.shared_fraction))
    factors = rng.standard_normal((n_trials, noise.shared_rank), dtype=np.float32)
    shared = (factors @ enc.noise_loading.T) * np.float32(np.sqrt(noise.shared_fraction))
    trial_noise = (independent + shared) * noise_sd
    runs, run_index = np.unique(run_of_trial, return_inverse=True)
    offsets = rng.standard_normal((runs.size, n_vox), dtype=np.float32) * np.float32(noise.run_offset_sd)
    response = signal[stimulus_of_trial] + trial_noise + offsets[run_index]
    return (enc.baseline + enc.amplitude * response).astype(np.float32)

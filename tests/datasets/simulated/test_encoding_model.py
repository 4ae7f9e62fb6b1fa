"""Tests of the encoding model against analytic values, scipy and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from skimage.filters import gabor

from reconbench.datasets.simulated import encoding_model as em

SIZE = em.FEATURE_SIZE


def _grating(angle_deg: float, cycles: float, amplitude: float = 0.4) -> np.ndarray:
    """Sinusoidal luminance grating with its wave vector at angle_deg (x right, y up)."""
    coords = np.arange(SIZE) / SIZE
    x, y_down = np.meshgrid(coords, coords, indexing="xy")
    phi = np.deg2rad(angle_deg)
    return (0.5 + amplitude * np.sin(2 * np.pi * cycles * (x * np.cos(phi) - y_down * np.sin(phi)))).astype(np.float32)


@pytest.mark.parametrize("angle", em.GABOR_ORIENTATIONS_DEG)
def test_gabor_orientation_agrees_with_skimage(angle):
    image = _grating(angle, 8)
    energy = em.gabor_energy(image[None])[0]  # (12, S, S)
    ours = int(np.argmax(energy[4:8].mean(axis=(1, 2))))  # the 8 cycles/image scale
    assert em.GABOR_ORIENTATIONS_DEG[ours] == angle
    # scikit-image measures theta with rows pointing down: its theta is our -angle (mod 180).
    thetas = np.deg2rad(em.GABOR_ORIENTATIONS_DEG)
    responses = [np.hypot(*gabor(image, frequency=8 / SIZE, theta=t)).mean() for t in thetas]
    assert np.rad2deg(thetas[int(np.argmax(responses))]) == pytest.approx((-angle) % 180)


@pytest.mark.parametrize("scale", range(3))
def test_gabor_energy_of_a_grating_matches_the_analytic_value(scale):
    cycles = em.GABOR_CYCLES_PER_IMAGE[scale]
    amplitude = 0.3
    image = _grating(0.0, cycles, amplitude)
    filters = em.gabor_filters(SIZE)
    # Raw quadrature energy of a grating at a filter's peak is amplitude / 2, flat over the image.
    raw = np.abs(np.fft.ifft2(np.fft.fft2(image - image.mean()) * filters[scale * 4]))
    np.testing.assert_allclose(raw, amplitude / 2, rtol=2e-3)
    # Divisive normalisation: E / (c50 + mean over orientations of E at that scale).
    # Each filter's gain on the grating: one-sided filters pick up +f or -f (the 135 degree one sees -f).
    bank = filters[scale * 4 : scale * 4 + 4, 0]
    gains = bank[:, int(cycles)] + bank[:, SIZE - int(cycles)]
    expected = amplitude / 2 / (em.CONTRAST_SEMISATURATION + amplitude / 2 * gains.mean())
    got = em.gabor_energy(image[None])[0, scale * 4]
    np.testing.assert_allclose(got, expected, rtol=2e-3)


def test_contrast_normalisation_is_compressive():
    low = em.gabor_energy(_grating(0, 8, 0.1)[None])[0, 4].mean()
    high = em.gabor_energy(_grating(0, 8, 0.4)[None])[0, 4].mean()
    assert 1.0 < high / low < 4.0 * 0.8


def test_block_mean_matches_reshape_mean():
    x = np.random.default_rng(0).random((2, 3, 64, 64)).astype(np.float32)
    expected = x.reshape(2, 3, 32, 2, 32, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(em.block_mean(x, 32), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        em.block_mean(x, 30)


def test_shape_descriptor_is_translation_invariant_and_tracks_area():
    coords = np.arange(SIZE) - SIZE / 2
    x, y = np.meshgrid(coords, coords)
    disc = (x**2 + y**2 < 10**2).astype(np.float32)
    shifted = np.roll(disc, (7, -5), axis=(0, 1))
    big = (x**2 + y**2 < 16**2).astype(np.float32)
    d = em.shape_descriptor(np.stack([disc, shifted, big]))
    np.testing.assert_allclose(d[0], d[1], atol=1e-4)
    assert d[2, -1] == pytest.approx(np.log(big.mean()), abs=1e-4)
    assert d[2, -1] > d[0, -1]


def test_prf_mass_matches_scipy_gaussian_mass_inside_the_field():
    half = em.FIELD_DEG / 2
    x = np.array([0.0, half, 3.0], dtype=np.float32)
    y = np.array([0.0, 0.0, -2.0], dtype=np.float32)
    sigma = np.array([1.0, 1.0, 2.0], dtype=np.float32)
    mass = em.gaussian_prf_matrix(x, y, sigma).sum(axis=1)
    expected = [
        (stats.norm.cdf(half, xi, s) - stats.norm.cdf(-half, xi, s)) * (stats.norm.cdf(half, yi, s) - stats.norm.cdf(-half, yi, s))
        for xi, yi, s in zip(x, y, sigma)
    ]
    np.testing.assert_allclose(mass, expected, rtol=0.02)


def _population(seed: int = 0, counts=None):
    counts = counts or {"V1": 400, "V2": 300, "V3": 300, "V4": 100, "LOC": 50, "FFA": 40, "PPA": 40}
    rng = np.random.default_rng(seed)
    embedding, _ = em.category_embedding(np.arange(4), 16, rng)
    face, scene = np.array([1, 0, 0, 0], bool), np.array([0, 1, 0, 0], bool)
    enc = em.draw_encoding(counts, em.SHAPE_FREQUENCIES * (2 * em.SHAPE_FREQUENCIES + 1) + 1, embedding, em.NoiseConfig(), rng)
    return enc, embedding, face, scene


def test_population_counts_order_and_prf_hierarchy():
    enc, *_ = _population()
    for roi, n in {"V1": 400, "V2": 300, "V3": 300, "V4": 100, "LOC": 50, "FFA": 40, "PPA": 40}.items():
        assert np.count_nonzero(enc.roi == roi) == n
        assert enc.weights[roi].shape[0] == n
    # Columns interleave ROIs (a reader must select by key, not by position).
    assert not np.all(enc.roi[:400] == "V1")
    slopes, intercepts = [], []
    for roi in ("V1", "V2", "V3", "V4"):
        cols = enc.roi == roi
        ecc = np.hypot(enc.prf_x[cols], enc.prf_y[cols])
        slope, intercept = np.polyfit(ecc, enc.prf_sigma[cols], 1)
        slopes.append(slope), intercepts.append(intercept)
        assert slope > 0
    assert slopes == sorted(slopes) and intercepts == sorted(intercepts)
    v1 = enc.roi == "V1"
    ecc = np.hypot(enc.prf_x[v1], enc.prf_y[v1])
    # Cortical magnification: the central 1.5 degrees get more voxels than the outer 5-7 degree ring.
    assert np.count_nonzero(ecc < 1.5) > np.count_nonzero((ecc > 5) & (ecc < 7))
    assert np.all(np.isnan(enc.prf_x[enc.roi == "FFA"]))
    # Each ROI's median voxel SNR is its configured SNR (the same for every ROI since format 4: the gradient of
    # format 3 had no source and helped put V1-V3 above LOC/FFA/PPA on every feature level).
    noise = em.NoiseConfig()
    assert {noise.roi_snr_of(r) for r in em.ROIS} == {noise.snr}
    for r in em.ROIS:
        assert abs(np.log(np.median(enc.snr[enc.roi == r]) / noise.roi_snr_of(r))) < 0.35, r
    # The object stage's weights follow each higher ROI's columns.
    for r in em.HIGHER_ROIS:
        assert enc.weights[f"{r}_object"].shape == (np.count_nonzero(enc.roi == r), em.OBJECT_CHANNELS)


def _spot_images(positions_deg):
    """Grey images with a bright square of 1.5 degrees at each (x, y) position (x right, y up)."""
    images = np.full((len(positions_deg), SIZE, SIZE, 3), 0.5, np.float32)
    masks = np.zeros((len(positions_deg), SIZE, SIZE), np.float32)
    px_per_deg = SIZE / em.FIELD_DEG
    for i, (x, y) in enumerate(positions_deg):
        col, row = int((x + em.FIELD_DEG / 2) * px_per_deg), int((em.FIELD_DEG / 2 - y) * px_per_deg)
        half = int(0.75 * px_per_deg)
        images[i, row - half : row + half, col - half : col + half] = 1.0
        masks[i, row - half : row + half, col - half : col + half] = 1.0
    return images, masks


def test_early_visual_responses_follow_the_prf_positions():
    positions = [(-3.0, 0.0), (3.0, 0.0), (0.0, 3.0), (0.0, -3.0)]
    images, masks = _spot_images(positions)
    backgrounds = np.full((len(positions), em.LAYOUT_SIZE, em.LAYOUT_SIZE, 3), 0.5, np.float32)
    features = em.image_features(images, masks, backgrounds)
    enc, embedding, face, scene = _population()
    semantic = np.zeros((len(positions), 4), np.float32)
    reference = np.ones(len(positions), bool)
    responses = em.noise_free_responses(enc, features, semantic, embedding, face, scene, reference)
    assert responses.shape == (4, enc.roi.size)
    v1 = np.flatnonzero(enc.roi == "V1")
    for i, (x, y) in enumerate(positions):
        distance = np.hypot(enc.prf_x[v1] - x, enc.prf_y[v1] - y)
        near, far = v1[distance < 1.0], v1[distance > 4.0]
        assert responses[i, near].mean() > responses[i, far].mean() + 0.5


def test_noise_free_responses_are_unit_scaled_on_the_reference_images():
    rng = np.random.default_rng(1)
    images = rng.random((12, SIZE, SIZE, 3)).astype(np.float32)
    masks = (rng.random((12, SIZE, SIZE)) > 0.5).astype(np.float32)
    backgrounds = rng.random((12, em.LAYOUT_SIZE, em.LAYOUT_SIZE, 3)).astype(np.float32)
    features = em.image_features(images, masks, backgrounds)
    enc, embedding, face, scene = _population()
    categories = np.arange(12) % 4
    reference = np.arange(12) < 8
    semantic = em.semantic_vectors(features, categories, reference, 4)
    np.testing.assert_allclose(semantic.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(np.argmax(semantic, axis=1) == categories)
    responses = em.noise_free_responses(enc, features, semantic, embedding, face, scene, reference)
    np.testing.assert_allclose(responses[reference].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(responses[reference].std(axis=0), 1.0, rtol=1e-3)


def test_trial_noise_has_the_configured_variance_sharing_and_run_offsets():
    counts = {"V1": 10, "V2": 5, "V3": 5, "V4": 5, "LOC": 5, "FFA": 5, "PPA": 5}
    enc, *_ = _population(2, counts)
    noise = em.NoiseConfig()
    n_vox = enc.roi.size
    signal = np.random.default_rng(3).standard_normal((5, n_vox)).astype(np.float32)
    n_runs, per_run = 40, 500
    stimulus = np.tile(np.arange(5), n_runs * per_run // 5)
    runs = np.repeat(np.arange(1, n_runs + 1), per_run)
    bold = em.simulate_trials(enc, signal, stimulus, runs, noise, np.random.default_rng(4))
    residual = (bold - enc.baseline) / enc.amplitude - signal[stimulus]
    run_means = np.stack([residual[runs == r].mean(axis=0) for r in range(1, n_runs + 1)])
    within = residual - run_means[runs - 1]
    # Trial noise variance 1 / snr per voxel.
    np.testing.assert_allclose(within.var(axis=0), 1.0 / enc.snr, rtol=0.05)
    # Run means: offsets of sd run_offset_sd plus the mean of per_run trial noises (40 runs: loose bound).
    expected_var = noise.run_offset_sd**2 + 1.0 / (enc.snr * per_run)
    assert np.mean(run_means.var(axis=0) / expected_var) == pytest.approx(1.0, rel=0.2)
    # Shared noise: correlations shared_fraction * loading_i . loading_j.
    expected = noise.shared_fraction * enc.noise_loading @ enc.noise_loading.T
    observed = np.corrcoef(within.T)
    off = ~np.eye(n_vox, dtype=bool)
    assert np.max(np.abs(observed[off] - expected[off])) < 0.06
    # BOLD-like values: positive baseline around the configured range.
    assert noise.baseline[0] * 0.8 < np.median(bold) < noise.baseline[1] * 1.2


def test_object_channels_are_rectified_template_responses_standardised_on_the_reference_images():
    rng = np.random.default_rng(5)
    texture = rng.gamma(2.0, 1.0, (10, 36, 16)).astype(np.float32)
    reference = np.arange(10) < 6
    channels = em.object_channels(texture, reference)
    assert channels.shape == (10, em.OBJECT_CHANNELS, 16) and channels.min() >= 0.0
    # Independent computation: standardise each input channel over the reference images and positions, apply the
    # templates, rectify.
    z = (texture - texture[reference].mean(axis=(0, 2))[None, :, None]) / (texture[reference].std(axis=(0, 2))[None, :, None] + 1e-6)
    templates = em.object_templates(36)
    expected = np.maximum(np.tensordot(templates, z, axes=([1], [1])).transpose(1, 0, 2), 0)
    np.testing.assert_allclose(channels, expected, rtol=1e-4, atol=1e-5)
    # The templates are a property of the model: the same in every call; other (non-reference) images change nothing.
    np.testing.assert_array_equal(templates, em.object_templates(36))
    changed = texture.copy()
    changed[~reference] *= 3.0
    np.testing.assert_allclose(em.object_channels(changed, reference)[reference], channels[reference], rtol=1e-6)


def test_the_object_stage_drives_the_higher_areas_only(monkeypatch):
    """The object stage enters LOC, FFA and PPA and nothing else; V1-V4 do not see the category vector either."""
    rng = np.random.default_rng(6)
    images = rng.random((8, SIZE, SIZE, 3)).astype(np.float32)
    masks = (rng.random((8, SIZE, SIZE)) > 0.5).astype(np.float32)
    backgrounds = rng.random((8, em.LAYOUT_SIZE, em.LAYOUT_SIZE, 3)).astype(np.float32)
    features = em.image_features(images, masks, backgrounds)
    reference = np.ones(8, bool)

    def responses(weight: float, category: int = 0) -> tuple[np.ndarray, np.ndarray]:
        monkeypatch.setattr(em, "OBJECT_WEIGHT", weight)
        enc, embedding, face, scene = _population()
        semantic = np.tile(np.eye(4, dtype=np.float32)[category], (8, 1))
        return enc.roi, em.noise_free_responses(enc, features, semantic, embedding, face, scene, reference)

    roi, with_stage = responses(em.OBJECT_WEIGHT)
    _, without = responses(0.0)
    _, other_category = responses(em.OBJECT_WEIGHT, category=1)
    lower = np.isin(roi, em.EARLY_ROIS + ("V4",))
    np.testing.assert_allclose(without[:, lower], with_stage[:, lower], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(other_category[:, lower], with_stage[:, lower], rtol=1e-5, atol=1e-5)
    for r in em.HIGHER_ROIS:
        cols = roi == r
        # Responses standardised per voxel: the stage changes their pattern across images.
        assert np.mean(np.abs(without[:, cols] - with_stage[:, cols])) > 0.3, r

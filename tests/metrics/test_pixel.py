"""PixCorr against scipy's Pearson r; SSIM against scikit-image's structural_similarity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from reconbench.metrics.inputs import MetricInputError
from reconbench.metrics.pixel import pixcorr, rgb_to_gray, ssim


def noisy_pairs(n: int, height: int, width: int, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    true = rng.random((n, 3, height, width)).astype(dtype)
    # Smooth structure plus noise, so SSIM is neither ~0 nor ~1.
    true = (true + np.roll(true, 1, axis=2) + np.roll(true, 1, axis=3)) / 3
    pred = np.clip(true + 0.15 * rng.standard_normal(true.shape), 0.0, 1.0).astype(dtype)
    return pred, true.astype(dtype)


def skimage_ssim(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.array(
        [
            structural_similarity(
                rgb2gray(p.transpose(1, 2, 0)),
                rgb2gray(t.transpose(1, 2, 0)),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
            )
            for p, t in zip(pred, true)
        ]
    )


def test_pixcorr_equals_scipy_pearsonr() -> None:
    pred, true = noisy_pairs(10, 16, 20)
    reference = [pearsonr(p.ravel(), t.ravel()).statistic for p, t in zip(pred, true)]
    np.testing.assert_allclose(pixcorr(pred, true), reference, rtol=0, atol=1e-12)


def test_pixcorr_float32_and_torch_inputs() -> None:
    pred, true = noisy_pairs(5, 16, 16, dtype=np.float32)
    reference = [np.corrcoef(p.ravel().astype(np.float64), t.ravel().astype(np.float64))[0, 1] for p, t in zip(pred, true)]
    np.testing.assert_allclose(pixcorr(torch.from_numpy(pred), torch.from_numpy(true)), reference, atol=1e-12)


def test_pixcorr_constant_image_is_nan() -> None:
    pred, true = noisy_pairs(3, 8, 8)
    pred[1] = 0.5
    values = pixcorr(pred, true)
    assert np.isnan(values[1]) and np.isfinite(values[[0, 2]]).all()


@pytest.mark.parametrize("height, width", [(64, 48), (11, 11), (37, 90)])
def test_ssim_equals_skimage(height: int, width: int) -> None:
    pred, true = noisy_pairs(6, height, width, seed=height)
    values = ssim(pred, true)
    assert 0.1 < values.mean() < 0.95
    np.testing.assert_allclose(values, skimage_ssim(pred, true), rtol=0, atol=1e-6)


def test_ssim_float32_input_equals_skimage() -> None:
    pred, true = noisy_pairs(4, 32, 32, dtype=np.float32)
    np.testing.assert_allclose(ssim(pred, true), skimage_ssim(pred, true), rtol=0, atol=1e-6)


def test_ssim_chunking_does_not_change_values(monkeypatch) -> None:
    import reconbench.metrics.pixel as pixel

    pred, true = noisy_pairs(7, 24, 24)
    whole = ssim(pred, true)
    monkeypatch.setattr(pixel, "_CHUNK", 2)
    np.testing.assert_array_equal(ssim(pred, true), whole)


def test_ssim_identical_images_is_one() -> None:
    _, true = noisy_pairs(3, 20, 20)
    np.testing.assert_allclose(ssim(true, true), 1.0, atol=1e-12)


def test_rgb_to_gray_equals_skimage() -> None:
    _, true = noisy_pairs(2, 9, 7)
    np.testing.assert_allclose(rgb_to_gray(true), [rgb2gray(t.transpose(1, 2, 0)) for t in true], atol=1e-15)


def test_ssim_refuses_images_smaller_than_the_window() -> None:
    pred, true = noisy_pairs(2, 10, 30)
    with pytest.raises(MetricInputError, match="11 x 11"):
        ssim(pred, true)


def test_metrics_never_resize() -> None:
    pred, _ = noisy_pairs(2, 16, 16)
    _, true = noisy_pairs(2, 32, 32)
    for metric in (pixcorr, ssim):
        with pytest.raises(MetricInputError, match="do not resize"):
            metric(pred, true)

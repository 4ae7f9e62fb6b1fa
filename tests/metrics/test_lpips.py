"""LPIPS v0.1 against the distances the official lpips code gives for its example images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reconbench.metrics.inputs import MetricInputError
from reconbench.metrics.lpips import lpips

pytestmark = pytest.mark.weights

LPIPS_IMAGES = Path(__file__).resolve().parents[1] / "data" / "lpips"


def load_png(name: str) -> np.ndarray:
    """Read a PNG as (1, 3, H, W) in [0, 1] (PIL, independent of reconbench's reader)."""
    with Image.open(LPIPS_IMAGES / name) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return array.transpose(2, 0, 1)[None]


def test_alex_distances_equal_official_lpips(weights_cache) -> None:
    ref, p0, p1 = (load_png(f"{name}.png") for name in ("ex_ref", "ex_p0", "ex_p1"))
    assert ref.shape == (1, 3, 64, 64)
    # Official lpips (v0.1, net="alex"), from the LPIPS repository's example script.
    np.testing.assert_allclose(lpips(p0, ref, net="alex", cache=weights_cache), [0.72188], atol=1e-4)
    np.testing.assert_allclose(lpips(p1, ref, net="alex", cache=weights_cache), [0.13757], atol=1e-4)
    # Batched and in either order, the same values.
    both = lpips(np.concatenate([ref, ref]), np.concatenate([p0, p1]), net="alex", cache=weights_cache)
    np.testing.assert_allclose(both, [0.72188, 0.13757], atol=1e-4)


def test_loss_form_keeps_the_official_values_and_has_finite_gradients(weights_cache) -> None:
    """The training-loss form (``norm_eps``) gives the official distances and finite input gradients,
    also where a feature vector is all zero (where the plain square root's gradient is not finite)."""
    import torch

    from reconbench.metrics.weights import load_lpips

    ref, p0, p1 = (torch.from_numpy(load_png(f"{name}.png")).float() for name in ("ex_ref", "ex_p0", "ex_p1"))
    net = load_lpips("alexnet", weights_cache)
    fake = torch.cat([p0, p1]).requires_grad_(True)
    distance = net(2 * fake - 1, 2 * torch.cat([ref, ref]) - 1, norm_eps=1e-12)
    np.testing.assert_allclose(distance.detach().numpy(), [0.72188, 0.13757], atol=1e-4)
    distance.sum().backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    # A uniform black image: check the loss form's gradient is finite whatever the features are.
    black = torch.zeros(1, 3, 64, 64, requires_grad=True)
    net(2 * black - 1, 2 * ref - 1, norm_eps=1e-12).sum().backward()
    assert torch.isfinite(black.grad).all()


def test_identical_images_have_zero_distance(weights_cache) -> None:
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 32, 32))
    for net in ("alex", "vgg"):
        np.testing.assert_allclose(lpips(images, images, net=net, cache=weights_cache), 0.0, atol=1e-6)


def test_vgg_ranks_example_images_like_humans(weights_cache) -> None:
    # In the LPIPS two-alternative example, people judge ex_p1 closer to ex_ref than
    # ex_p0; both backbones agree. (No published VGG values for these images.)
    ref, p0, p1 = (load_png(f"{name}.png") for name in ("ex_ref", "ex_p0", "ex_p1"))
    d0 = lpips(p0, ref, net="vgg", cache=weights_cache)[0]
    d1 = lpips(p1, ref, net="vgg", cache=weights_cache)[0]
    assert 0 < d1 < d0


def test_batch_size_does_not_change_values(weights_cache) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 3, 48, 48)), rng.random((5, 3, 48, 48))
    np.testing.assert_allclose(lpips(a, b, batch_size=2, cache=weights_cache), lpips(a, b, batch_size=5, cache=weights_cache), atol=1e-6)


def test_bad_arguments(weights_cache) -> None:
    images = np.zeros((1, 3, 64, 64))
    with pytest.raises(MetricInputError, match="alex, vgg"):
        lpips(images, images, net="squeeze", cache=weights_cache)
    with pytest.raises(MetricInputError, match="at least 31 x 31"):
        lpips(np.zeros((1, 3, 20, 20)), np.zeros((1, 3, 20, 20)), cache=weights_cache)

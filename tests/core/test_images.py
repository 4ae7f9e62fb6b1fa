"""The pinned resize and image reading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reconbench.core.images import png_bytes, read_image, resize


def test_resize_is_the_pinned_torch_interpolation() -> None:
    images = np.random.default_rng(0).random((2, 3, 17, 23), dtype=np.float32)
    expected = F.interpolate(torch.from_numpy(images), size=(8, 8), mode="bilinear", antialias=True, align_corners=False)
    out = resize(images, 8)
    assert out.shape == (2, 3, 8, 8) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.clip(expected.numpy(), 0, 1))
    assert out.min() >= 0 and out.max() <= 1


def test_same_size_is_a_copy_and_bad_shapes_fail() -> None:
    images = np.zeros((1, 3, 4, 4), dtype=np.float32)
    out = resize(images, (4, 4))
    assert out is not images and np.array_equal(out, images)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        resize(np.zeros((3, 4, 4)), 2)


def test_read_image_gives_rgb_in_unit_range(tmp_path) -> None:
    pixels = np.array([[[255, 0, 0], [0, 128, 255]]], dtype=np.uint8)  # 1 x 2 RGB
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels[..., 0]).save(tmp_path / "gray.png")
    image = read_image(tmp_path / "a.png")
    assert image.shape == (3, 1, 2) and image.dtype == np.float32
    np.testing.assert_allclose(image[:, 0, 1], [0, 128 / 255, 1])
    assert read_image(tmp_path / "gray.png").shape == (3, 1, 2)  # grayscale converted to RGB


def test_png_bytes_round_trip_with_pillow() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((3, 8, 5)).astype(np.float32)
    import io

    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(image))).convert("RGB"))
    assert decoded.shape == (8, 5, 3)
    np.testing.assert_array_equal(decoded, np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8))
    assert png_bytes(image) == png_bytes(image)

"""Image reading and writing (:func:`read_image`, :func:`png_bytes`) and the one pinned resize of the evaluation recipe.

Every resize in reconbench goes through :func:`resize`: bilinear interpolation
with antialiasing (``torch.nn.functional.interpolate(mode="bilinear",
antialias=True, align_corners=False)``), results clipped to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INTERPOLATION = "bilinear, antialias=True, align_corners=False (torch.nn.functional.interpolate)"


def resize(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a batch of images.

    Parameters
    ----------
    images : ndarray, shape (N, C, H, W), float in [0, 1]
    size : int or (height, width)

    Returns
    -------
    ndarray, shape (N, C, size_h, size_w), float32 in [0, 1]
    """
    import torch
    import torch.nn.functional as F

    if isinstance(size, int):
        size = (size, size)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got shape {images.shape}")
    if tuple(images.shape[2:]) == tuple(size):
        return images.copy()
    with torch.no_grad():
        out = F.interpolate(torch.from_numpy(images), size=size, mode="bilinear", antialias=True, align_corners=False)
    return np.clip(out.numpy(), 0.0, 1.0).astype(np.float32)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB array of shape (3, H, W), float32 in [0, 1]."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return arr.transpose(2, 0, 1).copy()


def png_bytes(image: np.ndarray) -> bytes:
    """Encode one image, shape (3, H, W) float in [0, 1], as 8-bit RGB PNG bytes."""
    import io

    from PIL import Image

    arr = np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()

"""Small synthetic TrainData/TestInput with a known linear encoding, for baseline tests."""

from __future__ import annotations

import numpy as np

from reconbench.core.images import resize
from reconbench.core.types import TestInput, TrainData


def category_images(n_per_category: int, n_categories: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images of ``n_categories`` well separated colours with a random bright square.

    Returns
    -------
    images : ndarray, shape (n_per_category * n_categories, 3, size, size), float32 in [0, 1]
    categories : ndarray, shape (N,), int
    """
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.9], [0.9, 0.9, 0.1], [0.6, 0.1, 0.8]])[:n_categories]
    categories = np.repeat(np.arange(n_categories), n_per_category)
    images = np.empty((categories.size, 3, size, size), dtype=np.float32)
    for k, category in enumerate(categories):
        image = palette[category][:, None, None] * (0.75 + 0.25 * rng.random((1, size, size)))
        top, left = rng.integers(0, size // 2, size=2)
        image[:, top : top + size // 3, left : left + size // 3] = 0.95
        images[k] = np.clip(image, 0, 1)
    return images, categories


def encode(images: np.ndarray, categories: np.ndarray, n_voxels: int, rng: np.random.Generator, encoder: dict) -> dict[str, np.ndarray]:
    """Responses per ROI: ``VC``/``LVC`` linear in 8x8 pixels, ``HVC`` linear in the category one-hot."""
    pixels = resize(images, 8).reshape(images.shape[0], -1)
    if "pixel" not in encoder:
        encoder["pixel"] = rng.standard_normal((pixels.shape[1], n_voxels)) / np.sqrt(pixels.shape[1])
        encoder["category"] = rng.standard_normal((int(categories.max()) + 1, n_voxels))
    lvc = (pixels - 0.5) @ encoder["pixel"] * 4
    hvc = encoder["category"][categories]
    return {"LVC": lvc.astype(np.float32), "HVC": hvc.astype(np.float32), "VC": np.hstack([lvc, hvc]).astype(np.float32)}


def make_problem(n_per_category=12, n_categories=3, n_test_per_category=4, size=32, n_reps=3, n_voxels=40, noise=0.3, seed=0):
    """Return (train, test_input, test_images, test_categories, train_categories)."""
    rng = np.random.default_rng(seed)
    encoder: dict = {}
    images, categories = category_images(n_per_category, n_categories, size, rng)
    test_images, test_categories = category_images(n_test_per_category, n_categories, size, rng)
    clean = encode(images, categories, n_voxels, rng, encoder)
    index = np.tile(np.arange(images.shape[0]), n_reps)
    fmri = {roi: (x[index] + noise * rng.standard_normal((index.size, x.shape[1]))).astype(np.float32) for roi, x in clean.items()}
    n_images = images.shape[0]
    validation_mask = np.zeros(n_images, bool)
    validation_mask[rng.permutation(n_images)[: max(2, n_images // 6)]] = True
    train = TrainData(
        images=images,
        stimulus_ids=np.array([f"train{i:03d}" for i in range(n_images)]),
        fmri=fmri,
        trial_image_index=index,
        runs=np.repeat(np.arange(n_reps), n_images),
        validation_mask=validation_mask,
    )
    test_clean = encode(test_images, test_categories, n_voxels, rng, encoder)
    # averaged over n_reps repetitions: noise / sqrt(n_reps)
    test_fmri = {roi: (x + noise / np.sqrt(n_reps) * rng.standard_normal(x.shape)).astype(np.float32) for roi, x in test_clean.items()}
    test = TestInput(name="natural", fmri=test_fmri, stimulus_ids=np.array([f"test{i:03d}" for i in range(test_images.shape[0])]))
    return train, test, test_images, test_categories, categories

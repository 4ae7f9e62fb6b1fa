"""Speed of the simulator (``reconbench simulate``).

- ``test_simulate_tiny``: the whole ``tiny`` preset (it runs at the start of the
  test suite).
- ``test_render_natural_256``: one 256x256 natural-like stimulus (the
  ``default``/``full`` presets render 700 / 1300 of them).
- ``test_image_features_64``: features of 64 images (Gabor energy bank by FFT,
  colour, texture products, shape descriptor), the shared per-image cost.
- ``test_noise_free_default_sub01``: the encoding model of a ``default`` sub-01
  (2,925 voxels) on 64 images.

Run: ``pytest benchmarks/test_simulate_speed.py --benchmark-only``
"""

from __future__ import annotations

import shutil

import numpy as np

from reconbench.datasets.simulated import encoding_model as em
from reconbench.datasets.simulated import simulate as sim
from reconbench.datasets.simulated import stimuli


def test_simulate_tiny(benchmark, tmp_path):
    out = tmp_path / "tiny"

    def run():
        shutil.rmtree(out, ignore_errors=True)
        sim.simulate("tiny", out, seed=0)

    benchmark.pedantic(run, rounds=3, iterations=1)


def test_render_natural_256(benchmark):
    spec = stimuli.make_categories(4, np.random.default_rng(0))[1]
    benchmark(lambda: stimuli.render_natural(spec, 256, np.random.default_rng(1)))


def _batch(n: int = 64):
    rng = np.random.default_rng(0)
    images = rng.random((n, em.FEATURE_SIZE, em.FEATURE_SIZE, 3)).astype(np.float32)
    masks = (rng.random((n, em.FEATURE_SIZE, em.FEATURE_SIZE)) > 0.5).astype(np.float32)
    backgrounds = rng.random((n, em.LAYOUT_SIZE, em.LAYOUT_SIZE, 3)).astype(np.float32)
    return images, masks, backgrounds


def test_image_features_64(benchmark):
    images, masks, backgrounds = _batch()
    benchmark(lambda: em.image_features(images, masks, backgrounds))


def test_noise_free_default_sub01(benchmark):
    features = em.image_features(*_batch())
    preset = sim.PRESETS["default"]
    rng = np.random.default_rng(0)
    embedding = em.category_embedding(4, sim.EMBEDDING_DIM, rng)
    face, scene = np.array([1, 0, 0, 0], bool), np.array([0, 1, 0, 0], bool)
    enc = em.draw_encoding(preset.voxel_counts("sub-01"), features.shape.shape[1], embedding, preset.noise, rng)
    categories = np.arange(64) % 4
    reference = np.ones(64, bool)
    semantic = em.semantic_vectors(features, categories, reference, 4)
    benchmark(lambda: em.noise_free_responses(enc, features, semantic, embedding, face, scene, reference))

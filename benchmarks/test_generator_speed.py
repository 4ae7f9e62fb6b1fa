"""Speed of divide-and-conquer's generator stage (the dominant cost of the method).

- ``test_training_steps``: 10 optimisation steps (generator + discriminator) of
  the ``default`` preset (64x64, batch 32, U-Net depth 4) on random data; the
  full ``default`` training is ``GENERATOR_PRESETS["default"].iterations`` steps,
  so multiply the mean by ``iterations / 10``.
- ``test_generation``: generating 50 images (a test set) with a trained-size
  network.
- ``test_training_steps_perceptual``: the same steps with the LPIPS (AlexNet)
  perceptual loss switched on (needs ``reconbench weights fetch``); compare its
  mean with ``test_training_steps[preset_threads]`` of the same run.
- ``test_training_steps_published``: the same steps in the ``published`` style
  (U-Net down to a 1x1 bottleneck, instance norm, dropout, a 3-layer PatchGAN);
  compare with ``test_training_steps[preset_threads]`` of the same run.
- the same with 2 torch threads (``2threads``): the preset uses 1, because on
  a shared machine 2 threads were up to 5x slower than 1 (OpenMP threads
  waiting for each other); on an idle 2-core machine 2 may be faster.

Run: ``pytest benchmarks/test_generator_speed.py --benchmark-only``
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reconbench.decoders.torch_utils import seeded_torch
from reconbench.methods import _generator

DEFAULT = _generator.GENERATOR_PRESETS["default"]
STEPS = 10


def _data(n: int, config: _generator.GeneratorConfig, semantic_dim: int = 64):
    rng = np.random.default_rng(0)
    r = config.resolution
    return (
        rng.standard_normal((n, 1, r, r)).astype(np.float32),
        rng.standard_normal((n, semantic_dim)).astype(np.float32),
        rng.random((n, 3, r, r)).astype(np.float32),
    )


@pytest.mark.parametrize("threads", [DEFAULT.threads, 2], ids=["preset_threads", "2threads"])
def test_training_steps(benchmark, threads):
    config = dataclasses.replace(DEFAULT, iterations=STEPS, threads=threads)
    shapes, semantics, images = _data(256, config)
    benchmark.extra_info["steps"] = STEPS
    benchmark.extra_info["preset_iterations"] = DEFAULT.iterations
    benchmark.pedantic(_generator.train_generator, args=(shapes, semantics, images, config, 0), rounds=2, iterations=1)


def test_training_steps_published(benchmark):
    config = dataclasses.replace(_generator.generator_config("default", "published"), iterations=STEPS)
    shapes, semantics, images = _data(256, config)
    benchmark.extra_info["steps"] = STEPS
    benchmark.pedantic(_generator.train_generator, args=(shapes, semantics, images, config, 0), rounds=2, iterations=1)


def test_training_steps_perceptual(benchmark):
    config = dataclasses.replace(DEFAULT, iterations=STEPS, perceptual_weight=10.0)
    shapes, semantics, images = _data(256, config)
    benchmark.extra_info["steps"] = STEPS
    benchmark.pedantic(_generator.train_generator, args=(shapes, semantics, images, config, 0), rounds=2, iterations=1)


@pytest.mark.parametrize("threads", [DEFAULT.threads, 2], ids=["preset_threads", "2threads"])
def test_generation(benchmark, threads):
    shapes, semantics, _ = _data(50, DEFAULT)
    with seeded_torch(0, threads=threads):
        net = _generator.build_generator(DEFAULT, semantic_dim=64).eval()
    out = benchmark(_generator.generate, net, shapes, semantics, 50, threads)
    assert out.shape == (50, 3, DEFAULT.resolution, DEFAULT.resolution)

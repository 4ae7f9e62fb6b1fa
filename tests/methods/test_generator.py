"""Tests of the generator stage: U-Net, PatchGAN, seeded training, input normalisation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from reconbench.core.errors import ReconbenchError
from reconbench.decoders.torch_utils import seeded_torch, torch_threads
from reconbench.methods import _generator

TINY = dataclasses.replace(_generator.GENERATOR_PRESETS["tiny"], resolution=16, depth=2, iterations=6, batch_size=8)


def _data(n=24, resolution=16, semantic_dim=5, seed=0):
    rng = np.random.default_rng(seed)
    shapes = rng.standard_normal((n, 1, resolution, resolution)).astype(np.float32)
    semantics = rng.standard_normal((n, semantic_dim)).astype(np.float32)
    # A learnable target: the image is a squashed copy of the shape map.
    images = np.repeat(1 / (1 + np.exp(-shapes)), 3, axis=1).astype(np.float32)
    return shapes, semantics, images


def test_unet_and_patchgan_shapes():
    config = _generator.GENERATOR_PRESETS["tiny"]
    net = _generator.build_generator(config, semantic_dim=7)
    disc = _generator.build_discriminator(config, semantic_dim=7)
    shape = torch.zeros(2, 1, config.resolution, config.resolution)
    semantic = torch.zeros(2, 7)
    with torch.no_grad(), torch_threads(1):
        out = net(shape, semantic)
        scores = disc(shape, out, semantic)
    assert out.shape == (2, 3, config.resolution, config.resolution)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # Two stride-2 layers: one score per patch of an 8x8 grid for 32x32 inputs.
    assert scores.shape == (2, 1, config.resolution // 4, config.resolution // 4)
    with pytest.raises(ReconbenchError, match="semantic"), torch.no_grad():
        net(shape)


def test_semantic_vector_changes_the_output():
    with seeded_torch(0, threads=1):
        net = _generator.build_generator(TINY, semantic_dim=4).eval()
    shape = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), torch_threads(1):
        a = net(shape, torch.zeros(1, 4))
        b = net(shape, torch.ones(1, 4) * 3)
    assert float((a - b).abs().max()) > 1e-4


def test_training_is_seeded_and_leaves_global_state_alone():
    shapes, semantics, images = _data()
    rng_before = torch.get_rng_state().clone()
    threads_before = torch.get_num_threads()
    state_a, log_a = _generator.train_generator(shapes, semantics, images, TINY, seed=3)
    state_b, _ = _generator.train_generator(shapes, semantics, images, TINY, seed=3)
    state_c, _ = _generator.train_generator(shapes, semantics, images, TINY, seed=4)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before
    assert set(state_a) == set(state_b)
    assert all(np.array_equal(state_a[k], state_b[k]) for k in state_a)
    assert any(not np.array_equal(state_a[k], state_c[k]) for k in state_a if state_a[k].dtype.kind == "f")
    assert log_a["semantic_dim"] == 5


def test_training_lowers_pixel_loss_and_loads_back():
    shapes, semantics, images = _data(n=32)
    config = dataclasses.replace(TINY, iterations=80, augment=False, pixel_weight=100.0, learning_rate=2e-3)
    state, log = _generator.train_generator(shapes, None, images, config, seed=0)
    assert log["loss_pixel"][-1] < 0.6 * log["loss_pixel"][0]
    net = _generator.load_generator(state, config, semantic_dim=0)
    out = _generator.generate(net, shapes, None, threads=1)
    assert out.shape == images.shape and out.dtype == np.float32
    # The trained generator is closer to the targets than a constant grey image.
    assert np.abs(out - images).mean() < np.abs(0.5 - images).mean()


def test_training_rejects_mismatched_inputs():
    shapes, semantics, images = _data()
    with pytest.raises(ReconbenchError, match="generator training expects"):
        _generator.train_generator(shapes[:, :, :8, :8], semantics, images, TINY, seed=0)
    with pytest.raises(ReconbenchError, match="semantic vectors"):
        _generator.train_generator(shapes, semantics[:3], images, TINY, seed=0)


def test_prepare_shape_inputs_standardises_and_resizes():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((5, 32 * 32)).astype(np.float32) * 0.01 + 3.0
    prepared = _generator.prepare_shape_inputs(maps, 32)
    assert prepared.shape == (5, 1, 32, 32)
    np.testing.assert_allclose(prepared.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(prepared.std(axis=(1, 2, 3)), 1.0, rtol=1e-3)
    # Scaling a map does not change its normalised input (decoded maps are shrunk by ridge).
    np.testing.assert_allclose(_generator.prepare_shape_inputs(maps * 0.2, 32), prepared, atol=5e-3)
    assert _generator.prepare_shape_inputs(maps, 16).shape == (5, 1, 16, 16)
    with pytest.raises(ReconbenchError, match="square"):
        _generator.prepare_shape_inputs(np.zeros((2, 10), np.float32), 16)


def test_presets_are_consistent():
    for name, config in _generator.GENERATOR_PRESETS.items():
        assert config.resolution % 2**config.depth == 0, name
    assert _generator.generator_config("default", iterations=5).iterations == 5
    assert _generator.generator_config("default", iterations=None).iterations == _generator.GENERATOR_PRESETS["default"].iterations
    with pytest.raises(ReconbenchError, match="size preset"):
        _generator.generator_config("huge")
    with pytest.raises(ReconbenchError, match="divisible"):
        _generator.GeneratorConfig(resolution=20, depth=3)


@pytest.mark.weights
def test_perceptual_loss_lowers_lpips(weights_cache):
    """Training with the LPIPS loss gives outputs closer in LPIPS (the metric, checked against the
    official numbers elsewhere) to their targets than the same training without it."""
    from reconbench.metrics.lpips import lpips

    rng = np.random.default_rng(0)
    n, r = 32, 32
    shapes = rng.standard_normal((n, 1, r, r)).astype(np.float32)
    yy, xx = np.mgrid[0:r, 0:r]
    stripes = np.broadcast_to(0.5 + 0.5 * np.sin(1.3 * xx + 0.7 * yy), (n, 1, r, r))
    images = np.concatenate([1 / (1 + np.exp(-shapes)), stripes, 1 / (1 + np.exp(shapes))], axis=1).astype(np.float32)
    base = dataclasses.replace(_generator.GENERATOR_PRESETS["tiny"], resolution=r, depth=3, iterations=40, batch_size=8)
    distances = {}
    for weight in (0.0, 50.0):
        config = dataclasses.replace(base, perceptual_weight=weight)
        state, log = _generator.train_generator(shapes, None, images, config, seed=1)
        out = _generator.generate(_generator.load_generator(state, config, 0), shapes, None, threads=1)
        distances[weight] = lpips(out, images).mean()
        assert all(np.isfinite(log["loss_perceptual"]))
    assert distances[50.0] < distances[0.0] - 0.05


def test_perceptual_loss_needs_a_large_enough_resolution():
    shapes, _, images = _data(resolution=16)
    config = dataclasses.replace(TINY, perceptual_weight=1.0)
    with pytest.raises(ReconbenchError, match="at least 31"):
        _generator.train_generator(shapes, None, images, config, seed=0)


def test_published_style_follows_pix2pix():
    config = _generator.generator_config("default", "published")
    assert config.depth == 6 and config.resolution == 64  # down to a 1x1 bottleneck
    assert (config.norm, config.dropout, config.pixel_loss, config.pixel_weight) == ("instance", 0.5, "mse", 150.0)
    assert config.lr_schedule == "step" and not config.disc_semantic and config.iterations == _generator.GENERATOR_PRESETS["default"].iterations
    net = _generator.build_generator(config, semantic_dim=4)
    innermost = net.downs[-1]
    assert not any(isinstance(m, (torch.nn.InstanceNorm2d, torch.nn.BatchNorm2d)) for m in innermost)
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules()) == 4 + 5  # downs 1..4, ups 1..5
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    with torch.no_grad():
        out = net.eval()(torch.zeros(2, 1, 64, 64), torch.zeros(2, 4))
    assert out.shape == (2, 3, 64, 64)
    disc = _generator.build_discriminator(config, semantic_dim=4)
    assert not hasattr(disc, "semantic_embedding")
    with pytest.raises(ReconbenchError, match="generator style 'pix2pix'"):
        _generator.generator_config("default", "pix2pix")
    with pytest.raises(ReconbenchError, match="norm='group'"):
        dataclasses.replace(config, norm="group")


def test_new_fields_leave_existing_stage_cache_keys_alone():
    for config in _generator.GENERATOR_PRESETS.values():
        assert not set(_generator.NEW_FIELD_DEFAULTS) & set(config.as_dict())
    assert _generator.generator_config("tiny", "published").as_dict()["norm"] == "instance"


def test_published_training_uses_mse_and_step_decay_and_is_seeded():
    config = dataclasses.replace(_generator.generator_config("tiny", "published"), resolution=16, depth=4, iterations=8, batch_size=8)
    shapes, semantics, images = _data()
    first, log = _generator.train_generator(shapes, semantics, images, config, seed=1)
    second, _ = _generator.train_generator(shapes, semantics, images, config, seed=1)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    net = _generator.load_generator(first, config, semantic_dim=5)
    with torch.no_grad():
        out = net(torch.from_numpy(shapes[:4]), torch.from_numpy(semantics[:4])).numpy()
    assert out.shape == (4, 3, 16, 16) and log["loss_pixel"]
    # The logged pixel loss is a mean squared error (below the L1 value of the same errors for errors < 1).
    assert 0 < log["loss_pixel"][-1] < 0.25


def test_checkpoints_see_the_generator_without_changing_training():
    shapes, semantics, images = _data()
    seen = []

    def checkpoint(step, net):
        assert not net.training
        with torch.no_grad():
            seen.append((step, net(torch.from_numpy(shapes[:2]), torch.from_numpy(semantics[:2])).numpy()))

    plain, _ = _generator.train_generator(shapes, semantics, images, TINY, seed=0)
    watched, _ = _generator.train_generator(shapes, semantics, images, TINY, seed=0, checkpoint=checkpoint, checkpoint_every=2)
    assert [s for s, _ in seen] == [2, 4, 6]
    for name in plain:
        np.testing.assert_array_equal(plain[name], watched[name])


def _states_equal(a, b) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_the_cpu_device_is_the_cpu_path():
    shapes, semantics, images = _data()
    config = _generator.generator_config("tiny", "published", iterations=6)
    config = dataclasses.replace(config, resolution=16, depth=4, batch_size=8)
    plain, log_plain = _generator.train_generator(shapes, semantics, images, config, seed=5)
    on_cpu, log_cpu = _generator.train_generator(shapes, semantics, images, config, seed=5, device="cpu")
    assert _states_equal(plain, on_cpu)
    assert {k: v for k, v in log_plain.items() if k != "seconds"} == {k: v for k, v in log_cpu.items() if k != "seconds"}
    net = _generator.load_generator(on_cpu, config, 5, device="cpu")
    assert next(net.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(
        _generator.generate(net, shapes, semantics), _generator.generate(_generator.load_generator(plain, config, 5), shapes, semantics)
    )


def _cuda_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    from reconbench.core.device import resolve_device

    return resolve_device("cuda")


@pytest.mark.cuda
@pytest.mark.parametrize("style", ["default", "published"])
def test_two_cuda_trainings_give_identical_weights(style):
    device = _cuda_or_skip()
    shapes, semantics, images = _data(n=48, resolution=32)
    config = _generator.generator_config("tiny", style, iterations=40)
    rng_before = torch.cuda.get_rng_state().clone()
    first, log_first = _generator.train_generator(shapes, semantics, images, config, seed=7, device=device)
    second, log_second = _generator.train_generator(shapes, semantics, images, config, seed=7, device=device)
    other, _ = _generator.train_generator(shapes, semantics, images, config, seed=8, device=device)
    assert torch.equal(torch.cuda.get_rng_state(), rng_before)  # the GPU's random state is left alone
    assert _states_equal(first, second)
    assert log_first["loss_g"] == log_second["loss_g"] and len(log_first["loss_g"]) == 20
    assert not _states_equal(first, other)
    net = _generator.load_generator(first, config, 5, device=device)
    generated = _generator.generate(net, shapes, semantics)
    again = _generator.generate(_generator.load_generator(second, config, 5, device=device), shapes, semantics)
    assert generated.shape == (48, 3, 32, 32) and generated.dtype == np.float32
    np.testing.assert_array_equal(generated, again)
    # The same weights generate (nearly) the same images on the CPU: only float rounding differs.
    on_cpu = _generator.generate(_generator.load_generator(first, config, 5), shapes, semantics)
    np.testing.assert_allclose(generated, on_cpu, atol=1e-3)

"""image_features against a hand-written functional AlexNet / VGG16 forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reconbench.metrics.features import feature_layers, image_features
from reconbench.metrics.inputs import MetricInputError
from reconbench.metrics.weights import load_state_dict

pytestmark = pytest.mark.weights

MEAN = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)


def functional_alexnet(images: np.ndarray, state: dict, upto: str) -> np.ndarray:
    """AlexNet per torchvision's definition, with F.* calls; output after the ReLU of ``upto``."""
    x = torch.from_numpy(((images - MEAN) / STD).astype(np.float32))
    w = lambda i: (state[f"features.{i}.weight"], state[f"features.{i}.bias"])  # noqa: E731
    x = F.relu(F.conv2d(x, *w(0), stride=4, padding=2))
    if upto == "conv1":
        return x.numpy()
    x = F.relu(F.conv2d(F.max_pool2d(x, 3, 2), *w(3), padding=2))
    if upto == "conv2":
        return x.numpy()
    x = F.relu(F.conv2d(F.max_pool2d(x, 3, 2), *w(6), padding=1))
    x = F.relu(F.conv2d(x, *w(8), padding=1))
    x = F.relu(F.conv2d(x, *w(10), padding=1))
    return x.numpy()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((3, 3, 67, 67), dtype=np.float32)


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv5"])
def test_alexnet_features_equal_functional_forward(weights_cache, images, layer: str) -> None:
    ours = image_features(images, "alexnet", layer, cache=weights_cache)
    with torch.no_grad():
        reference = functional_alexnet(images.astype(np.float64), load_state_dict("alexnet", weights_cache), layer)
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


def test_vgg16_conv1_1_equals_functional_forward(weights_cache, images) -> None:
    state = load_state_dict("vgg16", weights_cache)
    ours = image_features(images, "vgg16", "conv1_1", cache=weights_cache)
    x = torch.from_numpy(((images - MEAN) / STD).astype(np.float32))
    with torch.no_grad():
        reference = F.relu(F.conv2d(x, state["features.0.weight"], state["features.0.bias"], padding=1)).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_batch_size_and_torch_input(weights_cache, images) -> None:
    whole = image_features(images, "alexnet", "conv5", batch_size=64, cache=weights_cache)
    split = image_features(torch.from_numpy(images), "alexnet", "conv5", batch_size=1, cache=weights_cache)
    np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-5)


def test_pretrained_features_are_not_random(weights_cache) -> None:
    # ImageNet conv1 filters respond to oriented edges: a vertical edge image gives a far
    # stronger conv1 response than a flat grey image of the same mean.
    edge = np.zeros((1, 3, 64, 64), dtype=np.float32)
    edge[..., 32:] = 1.0
    flat = np.full((1, 3, 64, 64), 0.5, dtype=np.float32)
    strong = image_features(edge, "alexnet", "conv1", cache=weights_cache).max()
    weak = image_features(flat, "alexnet", "conv1", cache=weights_cache).max()
    assert strong > 3 * weak


def test_layer_names_and_errors(weights_cache, images) -> None:
    assert feature_layers("alexnet") == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert {"conv1_1", "conv5_3", "conv1", "conv5"} <= set(feature_layers("vgg16"))
    with pytest.raises(MetricInputError, match="valid: conv1"):
        image_features(images, "alexnet", "fc6", cache=weights_cache)
    with pytest.raises(MetricInputError, match="alexnet, vgg16"):
        image_features(images, "resnet", "conv1", cache=weights_cache)
    with pytest.raises(MetricInputError, match="at least 31 x 31"):
        image_features(images[:, :, :20, :20], "alexnet", "conv5", cache=weights_cache)


def test_reused_features_are_those_of_a_fresh_forward_pass(weights_cache, images, monkeypatch) -> None:
    """Inside reusing_features (the harness's scoring: a worker scores the same held-out images
    in every cell) a repeat gives the bytes a fresh forward pass gives, as a copy, recorded
    weights included; other images, another layer or another batch size are computed anew.
    Outside it (a method's process) nothing is kept."""
    from reconbench.metrics import features as features_module
    from reconbench.metrics.weights import forget_loaded_hashes, loaded_hashes

    features_module.clear_feature_memo()
    fresh = image_features(images, "alexnet", "conv2", cache=weights_cache)
    assert len(features_module._memo) == 0  # outside the block: nothing kept
    with features_module.reusing_features():
        first = image_features(images, "alexnet", "conv2", cache=weights_cache)
        forget_loaded_hashes()
        again = image_features(images.copy(), "alexnet", "conv2", cache=weights_cache)
        assert "alexnet" in loaded_hashes()  # the weights are named on a reuse too
        np.testing.assert_array_equal(again, fresh)
        np.testing.assert_array_equal(first, fresh)
        again[:] = -1.0  # the caller's copy; what is kept is untouched
        np.testing.assert_array_equal(image_features(images, "alexnet", "conv2", cache=weights_cache), fresh)
        other = images.copy()
        other[0, 0, 0, 0] = 1.0 - other[0, 0, 0, 0]
        assert not np.array_equal(image_features(other, "alexnet", "conv2", cache=weights_cache), fresh)
        assert image_features(images, "alexnet", "conv5", cache=weights_cache).shape != fresh.shape
        assert len(features_module._memo) == 3
    features_module.clear_feature_memo()


def test_reuse_is_safe_from_several_threads(weights_cache, monkeypatch) -> None:
    """A Dask worker may score in several threads of one process: the kept features are
    shared, evicted under a small budget, and every thread still gets its own images' features."""
    import concurrent.futures

    from reconbench.metrics import features as features_module

    batches = [np.random.default_rng(seed).random((2, 3, 67, 67), dtype=np.float32) for seed in range(6)]
    expected = [image_features(b, "alexnet", "conv2", cache=weights_cache) for b in batches]
    one = expected[0].nbytes
    monkeypatch.setattr(features_module, "FEATURE_MEMO_BYTES", 2 * one)  # room for two entries
    features_module.clear_feature_memo()
    with features_module.reusing_features(), concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: image_features(batches[i % 6], "alexnet", "conv2", cache=weights_cache), range(24)))
    for i, features in enumerate(got):
        np.testing.assert_array_equal(features, expected[i % 6])
    assert sum(v.nbytes for v in features_module._memo.values()) <= 2 * one
    features_module.clear_feature_memo()

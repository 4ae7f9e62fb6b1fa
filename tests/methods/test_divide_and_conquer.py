"""Tests of the divide-and-conquer method on the tiny simulated preset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.core.method import NotFittedError, default_parameter_sets
from reconbench.core.stage_cache import STAGE_CACHE_ENV
from reconbench.methods.divide_and_conquer import DivideAndConquer, resolve_size

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def fitted(tiny_split, weights_cache, stage_cache_dir):
    return DivideAndConquer(random_state=0).fit(tiny_split.train)


def test_resolve_size():
    assert resolve_size("auto", 100) == "tiny"
    assert resolve_size("auto", 400) == "small"
    assert resolve_size("auto", 600) == "default"
    assert resolve_size("full", 100) == "full"
    with pytest.raises(ReconbenchError, match="size"):
        resolve_size("huge", 100)


def test_reconstructs_every_test_set(fitted, tiny_split):
    assert fitted.size_ == "tiny"
    for name, test in tiny_split.test_inputs.items():
        out = fitted.reconstruct(test)
        true_ids, true_images = tiny_split.test_images[name]
        assert out.shape == (len(test.stimulus_ids), 3) + true_images.shape[2:]
        assert out.dtype == np.float32 and np.all(np.isfinite(out))
        assert out.min() >= 0.0 and out.max() <= 1.0
        # Different fMRI gives different images (the output is not a constant).
        assert np.abs(out - out.mean(0)).max() > 1e-3


def test_shape_stage_uses_validation_weights(fitted, tiny_split):
    weights = fitted.shape_decoder_.combination_weights
    assert fitted.shape_decoder_.rois == ("V1", "V2", "V3")
    assert weights.shape == (3,) and np.all(weights >= 0) and weights.sum() > 0
    # The combined decoded shape maps correlate with the true maps of the test images.
    test = tiny_split.test_inputs["natural"]
    decoded, semantic = fitted.decode(test)
    true = fitted._shape_targets(tiny_split.test_images["natural"][1])
    r = [np.corrcoef(d, t)[0, 1] for d, t in zip(decoded, true)]
    assert np.mean(r) > 0.1
    assert semantic.shape == (len(test.stimulus_ids), fitted.train_semantic_vectors_.shape[1])


def test_fitted_state_comes_from_training_data_only(fitted, tiny_split):
    # The PCA space is fitted on the training images: their vectors are centred.
    np.testing.assert_allclose(fitted.train_semantic_vectors_.mean(0), 0.0, atol=1e-4)
    assert fitted.train_shape_targets_.shape[0] == tiny_split.train.images.shape[0]


def test_same_seed_same_output_and_cache_reuse(fitted, tiny_split, tmp_path, monkeypatch):
    test = tiny_split.test_inputs["natural"]
    first = fitted.reconstruct(test)
    # A fresh fit with the cache switched off retrains everything with the same seed.
    monkeypatch.setenv(STAGE_CACHE_ENV, "off")
    again = DivideAndConquer(random_state=0).fit(tiny_split.train)
    assert not any(entry["cache_hit"] for entry in again.stage_log_)
    np.testing.assert_array_equal(again.reconstruct(test), first)


def test_ablation_reuses_shared_stages(fitted, tiny_split):
    # Same cache as `fitted` (module fixture): only the shape decoder differs.
    ablation = DivideAndConquer(random_state=0, **DivideAndConquer.parameter_sets["shape_v1"]).fit(tiny_split.train)
    hits = {entry["stage"]: entry["cache_hit"] for entry in ablation.stage_log_}
    assert hits == {"shape_decoder": False, "image_features": True, "semantic_decoder": True, "generator": True}
    assert ablation.cache_.hits and ablation.cache_.misses
    # The shared generator is the same network, so true-input generation is identical.
    shape_in = np.zeros((1, 1, 32, 32), np.float32)
    semantic_in = np.zeros((1, fitted.train_semantic_vectors_.shape[1]), np.float32)
    from reconbench.methods import _generator

    np.testing.assert_array_equal(
        _generator.generate(ablation.generator_, shape_in, semantic_in, threads=1),
        _generator.generate(fitted.generator_, shape_in, semantic_in, threads=1),
    )
    # A different seed is a different generator.
    other = DivideAndConquer(random_state=1, **DivideAndConquer.parameter_sets["shape_v1"]).fit(tiny_split.train)
    assert {e["stage"]: e["cache_hit"] for e in other.stage_log_}["generator"] is False


def test_no_semantics_and_swapped_ablations(tiny_split, stage_cache_dir):
    plain = DivideAndConquer(random_state=0, iterations=4, **DivideAndConquer.parameter_sets["no_semantics"]).fit(tiny_split.train)
    assert not hasattr(plain, "semantic_decoder_")
    assert plain.generator_log_["semantic_dim"] == 0
    swapped = DivideAndConquer(random_state=0, iterations=4, **DivideAndConquer.parameter_sets["swapped"]).fit(tiny_split.train)
    assert swapped.shape_decoder_.rois == ("HVC",) and swapped.semantic_roi == "LVC"
    assert swapped.semantic_decoder_.weights.shape[0] == tiny_split.train.fmri["LVC"].shape[1]
    for method in (plain, swapped):
        out = method.reconstruct(tiny_split.test_inputs["letters"])
        assert out.shape[0] == len(tiny_split.test_inputs["letters"].stimulus_ids)


def test_decoded_generator_inputs_are_cross_fitted(tiny_split, stage_cache_dir):
    method = DivideAndConquer(random_state=0, iterations=4, generator_inputs="decoded", decoded_folds=3).fit(tiny_split.train)
    stages = [entry["stage"] for entry in method.stage_log_]
    assert "cross_fit" in stages
    decoded_shape, decoded_semantic = method._cached_cross_fit(tiny_split.train)
    assert decoded_shape.shape == method.train_shape_targets_.shape
    # Out-of-fold predictions are worse than in-sample ones, as they should be.
    in_sample = method.shape_decoder_.predict({roi: tiny_split.train.averaged_fmri(roi) for roi in method.shape_rois})
    err_oof = np.mean((decoded_shape - method.train_shape_targets_) ** 2)
    err_in = np.mean((in_sample - method.train_shape_targets_) ** 2)
    assert err_oof > err_in


def test_extra_images_reach_the_generator_only_when_asked(tiny_split, stage_cache_dir):
    extra = tiny_split.train.extra_images
    assert extra is not None and extra.shape[0] == 200
    plain = DivideAndConquer(random_state=0, iterations=2).fit(tiny_split.train)
    more = DivideAndConquer(random_state=0, iterations=2, extra_images=True).fit(tiny_split.train)
    assert plain.n_extra_images_ == 0 and more.n_extra_images_ == 200
    # Decoders are shared (extra images have no fMRI); only the generator differs.
    hits = {entry["stage"]: entry["cache_hit"] for entry in more.stage_log_}
    assert hits["shape_decoder"] and hits["semantic_decoder"] and not hits["generator"]
    # Without extra images in the data, the option is a no-op.
    bare = dataclasses.replace(tiny_split.train, extra_images=None)
    assert DivideAndConquer(random_state=0, iterations=2, extra_images=True).fit(bare).n_extra_images_ == 0


def test_perceptual_loss_is_logged_and_changes_training(tiny_split, weights_cache, stage_cache_dir):
    base = DivideAndConquer(random_state=0, iterations=6).fit(tiny_split.train)
    perceptual = DivideAndConquer(random_state=0, iterations=6, perceptual_weight=5.0).fit(tiny_split.train)
    assert perceptual.generator_config_.perceptual_weight == 5.0
    losses = perceptual.generator_log_["loss_perceptual"]
    # LPIPS of untrained output against real images lies in (0, 2): a real, finite distance.
    assert losses and all(np.isfinite(losses)) and 0.0 < losses[0] < 2.0
    assert all(v == 0.0 for v in base.generator_log_["loss_perceptual"])
    test = tiny_split.test_inputs["natural"]
    assert not np.array_equal(base.reconstruct(test), perceptual.reconstruct(test))
    with pytest.raises(ReconbenchError, match="perceptual_weight"):
        DivideAndConquer(iterations=2, perceptual_weight=-1.0).fit(tiny_split.train)


def test_bad_parameters_and_inputs(tiny_split):
    with pytest.raises(NotFittedError):
        DivideAndConquer().reconstruct(tiny_split.test_inputs["natural"])
    with pytest.raises(ReconbenchError, match="shape_kind"):
        DivideAndConquer(shape_kind="canny").fit(tiny_split.train)
    with pytest.raises(ReconbenchError, match="generator_inputs"):
        DivideAndConquer(generator_inputs="both").fit(tiny_split.train)
    with pytest.raises(ReconbenchError, match="V9"):
        DivideAndConquer(shape_rois=("V9",)).fit(tiny_split.train)


def test_missing_roi_at_test_time(fitted, tiny_split):
    test = tiny_split.test_inputs["natural"]
    fmri = {k: v for k, v in test.fmri.items() if k != "V2"}
    with pytest.raises(ReconbenchError, match="V2"):
        fitted.reconstruct(dataclasses.replace(test, fmri=fmri))


def test_parameter_sets_are_valid_keywords():
    import inspect

    names = set(inspect.signature(DivideAndConquer.__init__).parameters)
    for set_name, params in DivideAndConquer.parameter_sets.items():
        assert set(params) <= names, set_name
    assert DivideAndConquer.parameter_sets["default"] == {}
    method = DivideAndConquer(shape_rois=("V1",), random_state=3)
    assert method.get_params()["shape_rois"] == ("V1",) and method.get_params()["random_state"] == 3


def test_published_set_classifier_semantics_and_pix2pix_generator(tiny_split, stage_cache_dir):
    params = DivideAndConquer.parameter_sets["published"]
    method = DivideAndConquer(random_state=0, **params).fit(tiny_split.train)
    assert method.generator_config_.norm == "instance" and method.generator_config_.pixel_loss == "mse"
    assert method._shape_params()["blur_sigma"] == 0.0
    test = tiny_split.test_inputs["natural"]
    out = method.reconstruct(test)
    assert out.shape == (len(test.stimulus_ids), 3, 64, 64) and 0 <= out.min() and out.max() <= 1
    outputs = method.stage_outputs(test)
    assert outputs["semantic"].shape == (len(test.stimulus_ids), 64) and np.abs(outputs["semantic"]).max() <= 1
    assert method.stage_spaces()["semantic"] == {"kind": "none"}
    assert not hasattr(method, "semantic_space_")  # no image features: the vector is a function of the responses
    with pytest.raises(ReconbenchError, match="classifier_mlp' needs generator_inputs='true'"):
        DivideAndConquer(semantic_decoder="classifier_mlp", generator_inputs="mixed").fit(tiny_split.train)
    with pytest.raises(ReconbenchError, match="semantic_decoder='lasso'"):
        DivideAndConquer(semantic_decoder="lasso").fit(tiny_split.train)


def test_stage_spaces_describe_the_true_values_of_the_stage_outputs(fitted, tiny_split):
    from reconbench.bench.diagnostics import true_values

    spaces = fitted.stage_spaces()
    images = tiny_split.train.images[:6]
    # On training images, the harness's true values equal the method's own targets.
    np.testing.assert_allclose(true_values(spaces["shape_map"], images), fitted.train_shape_targets_[:6], atol=1e-6)
    np.testing.assert_allclose(true_values(spaces["semantic"], images), fitted.train_semantic_vectors_[:6], atol=1e-4)
    outputs = fitted.stage_outputs(tiny_split.test_inputs["natural"])
    shape_pred, semantic_pred = fitted.decode(tiny_split.test_inputs["natural"])
    np.testing.assert_array_equal(outputs["shape_map"], shape_pred)
    np.testing.assert_array_equal(outputs["semantic"], semantic_pred)


def test_shared_work_keys_agree_with_the_generator_stage_keys(tiny_split, weights_cache, stage_cache_dir, monkeypatch):
    """The scheduling hint (``shared_work_key``) against the stage cache itself: two sets
    have equal hints exactly when their generator entries have equal keys (the generator is
    not trained here: the lookup is stopped once its key is known)."""
    from reconbench.core.stage_cache import StageCache
    from reconbench.methods.divide_and_conquer_kmeans import DivideAndConquerKMeans
    from reconbench.methods.divide_and_conquer_oracle import DivideAndConquerOracle

    class Stop(Exception):
        pass

    original = StageCache.get_or_compute
    seen: list[str] = []

    def stop_at_generator(self, stage, key, compute):
        if stage == "generator":
            seen.append(key)
            raise Stop
        return original(self, stage, key, compute)

    monkeypatch.setattr(StageCache, "get_or_compute", stop_at_generator)
    hints, keys = {}, {}
    for cls in (DivideAndConquer, DivideAndConquerOracle, DivideAndConquerKMeans):
        for name, params in default_parameter_sets(cls).items():
            with pytest.raises(Stop):
                cls(random_state=0, **params).fit(tiny_split.train)
            hints[cls.name, name] = cls.shared_work_key(params)
            keys[cls.name, name] = seen[-1]
    pairs = [(a, b) for a in keys for b in keys if a < b]
    assert [(a, b) for a, b in pairs if (hints[a] == hints[b]) != (keys[a] == keys[b])] == []
    # 13 sets, 7 generators: default, shape_v1, shape_lvc, swapped and the oracle share one;
    # no_semantics and the oracle's no_semantics another; the two K-means sets a third.
    assert len(set(keys.values())) == 7
    assert keys["divide_and_conquer", "shape_v1"] == keys["divide_and_conquer_oracle", "default"]
    assert keys["divide_and_conquer", "no_semantics"] == keys["divide_and_conquer_oracle", "no_semantics"]


def test_published_full_is_the_published_set_at_full_size_and_refuses_the_cpu(tiny_split, monkeypatch):
    full = DivideAndConquer.parameter_sets["published_full"]
    assert full == {**DivideAndConquer.parameter_sets["published"], "size": "full"}
    assert "published_full" not in default_parameter_sets(DivideAndConquer)  # only when named: divide_and_conquer:published_full
    monkeypatch.delenv("RECONBENCH_FORCE_CPU", raising=False)
    with pytest.raises(ReconbenchError) as info:
        DivideAndConquer(random_state=0, **full).fit(tiny_split.train)
    message = str(info.value)
    assert "256 px, 8 levels, 15,000 steps" in message and "about 8.1 h with 16 threads" in message
    assert "about 5 min on one H200" in message and "--device cuda" in message and "RECONBENCH_FORCE_CPU=1" in message
    assert "\n" not in message


def test_published_full_runs_on_the_cpu_when_forced(tiny_split, stage_cache_dir, monkeypatch):
    """Forced, the full size gets past the refusal to the generator stage (stopped there: 15,000 steps at 256 px)."""
    from reconbench.core.stage_cache import StageCache

    class Stop(Exception):
        pass

    configs = []

    def stop_at_generator(self, stage, key, compute):
        if stage == "generator":
            raise Stop
        return original(self, stage, key, compute)

    original = StageCache.get_or_compute
    monkeypatch.setattr(StageCache, "get_or_compute", stop_at_generator)
    monkeypatch.setattr("reconbench.methods._generator.prepare_shape_inputs", lambda maps, r: configs.append(r) or np.zeros((len(maps), 1, r, r), np.float32))
    monkeypatch.setenv("RECONBENCH_FORCE_CPU", "1")
    with pytest.raises(Stop):
        DivideAndConquer(random_state=0, **DivideAndConquer.parameter_sets["published_full"]).fit(tiny_split.train)
    assert configs == [256]


def test_the_device_stages_keys_name_a_gpu_and_the_cpu_keys_do_not(tiny_split, stage_cache_dir, monkeypatch):
    """The decoders, the cross-fit and the generator are computed on the device: a GPU's entries are their own; the
    image features stay on the CPU (one key for both). The generator is not trained here (the lookup stops once its
    key is known), and the "GPU" decoders are solved on the CPU (this machine may have no GPU): only keys are compared."""
    from contextlib import nullcontext

    from reconbench.core.stage_cache import StageCache
    from reconbench.methods.divide_and_conquer import DEVICE_STAGES

    assert DEVICE_STAGES == {"shape_decoder", "semantic_decoder", "cross_fit", "generator"}  # not image_features

    class Stop(Exception):
        pass

    keys: dict[str, list[tuple[str, str]]] = {"cpu": [], "cuda": []}
    original = StageCache.get_or_compute

    def record(device):
        def get_or_compute(self, stage, key, compute):
            keys[device].append((stage, key))
            if stage == "generator":
                raise Stop
            return original(self, stage, key, compute)

        return get_or_compute

    monkeypatch.setattr("reconbench.decoders.ridge.backend_for_device", lambda device: "numpy")
    monkeypatch.setattr("reconbench.decoders.ridge._on_gpu", lambda device: nullcontext())
    for device in ("cpu", "cuda"):
        monkeypatch.setattr(StageCache, "get_or_compute", record(device))
        with pytest.raises(Stop):
            DivideAndConquer(random_state=0, use_semantics=False, device=device).fit(tiny_split.train)
    assert [stage for stage, _ in keys["cpu"]] == [stage for stage, _ in keys["cuda"]] == ["shape_decoder", "generator"]
    assert keys["cpu"][0][1] != keys["cuda"][0][1] and keys["cpu"][1][1] != keys["cuda"][1][1]
    # The device is the cell's, not a hyperparameter: one scheduling group on either device.
    assert DivideAndConquer.shared_work_key({"device": "cuda"}) == DivideAndConquer.shared_work_key({})

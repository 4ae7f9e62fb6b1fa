"""Loading weights: the manifest is the authority; missing or altered files name the fetch command."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from reconbench.core.errors import WeightsMissingError
from reconbench.metrics.weights import FETCH_COMMAND, WEIGHT_FILES, load_state_dict, weights_dir, weights_status


def test_an_empty_cache_reports_missing_and_names_the_command(tmp_path) -> None:
    status = weights_status(tmp_path)
    assert set(status) == set(WEIGHT_FILES)
    assert not any(entry["present"] or entry["verified"] for entry in status.values())
    with pytest.raises(WeightsMissingError, match=FETCH_COMMAND):
        load_state_dict("alexnet", tmp_path)


def test_a_file_without_a_matching_manifest_entry_is_refused(tmp_path) -> None:
    folder = weights_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / "alexnet.pt").write_bytes(b"not torch")
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "files": {"alexnet.pt": {"sha256": "0" * 64}}}))
    assert weights_status(tmp_path)["alexnet"] == {
        "path": str(folder / "alexnet.pt"),
        "present": True,
        "verified": False,
        "pinned": False,
        "source": None,
        "sha256": "0" * 64,
    }
    with pytest.raises(WeightsMissingError, match=FETCH_COMMAND):
        load_state_dict("alexnet", tmp_path)


def test_missing_weights_name_the_fetch_command(tmp_path) -> None:
    from reconbench.metrics.features import image_features
    from reconbench.metrics.identification import two_way_identification
    from reconbench.metrics.lpips import lpips

    images = np.zeros((2, 3, 64, 64))
    for call in (
        lambda: load_state_dict("alexnet", tmp_path),
        lambda: lpips(images, images, cache=tmp_path),
        lambda: image_features(images, "vgg16", "conv3", cache=tmp_path),
        lambda: two_way_identification(images, images, cache=tmp_path),
    ):
        with pytest.raises(WeightsMissingError, match="reconbench weights fetch"):
            call()


@pytest.mark.weights
def test_a_copied_cache_still_verifies(weights_cache, tmp_path) -> None:
    # A cache folder can be moved to another machine: nothing in it depends on its path.
    copy = tmp_path / "moved"
    shutil.copytree(weights_dir(weights_cache), weights_dir(copy))
    assert all(entry["verified"] for entry in weights_status(copy).values())


def test_loads_inside_a_block_are_collected_and_replayed_for_cached_results(weights_cache) -> None:
    """A cached stage stores the weights it loaded and replays them on a hit, so rows name the same weights either way."""
    from reconbench.core.hashing import sha256_file
    from reconbench.metrics.weights import WEIGHT_FILES, forget_loaded_hashes, load_state_dict, loaded_hashes, note_loaded, recording_loads, weights_dir

    expected = sha256_file(weights_dir(weights_cache) / WEIGHT_FILES["alexnet"])
    forget_loaded_hashes()
    load_state_dict("alexnet", weights_cache)  # loaded before the block: still counted inside when loaded again
    with recording_loads() as inside:
        load_state_dict("alexnet", weights_cache)
    assert inside == {"alexnet": expected} and loaded_hashes() == {"alexnet": expected}
    forget_loaded_hashes()
    with recording_loads() as inside:
        pass
    assert inside == {} and loaded_hashes() == {}
    note_loaded({"alexnet": expected, "not_a_weights_file": "0" * 64})  # unknown names are dropped
    assert loaded_hashes() == {"alexnet": expected}
    forget_loaded_hashes()


@pytest.mark.weights
def test_shared_modules_are_kept_per_device(weights_cache) -> None:
    from reconbench.core.errors import ReconbenchError
    from reconbench.metrics.weights import _MODULES, load_lpips, load_trunk

    trunk = load_trunk("alexnet", weights_cache)
    assert load_trunk("alexnet", weights_cache, device="cpu") is trunk  # the CPU's module is the one it always was
    lpips_net = load_lpips("alexnet", weights_cache, device="cpu")
    assert next(lpips_net.parameters()).device.type == "cpu"
    assert all(len(key) == 3 for key in _MODULES), "every shared module is kept with its device"
    assert ("trunk", "alexnet", "cpu") in _MODULES and ("lpips", "alexnet", "cpu") in _MODULES
    with pytest.raises(ReconbenchError, match="expected cpu, cuda or cuda:N"):
        load_trunk("alexnet", weights_cache, device="gpu")


@pytest.mark.weights
@pytest.mark.cuda
def test_a_gpu_module_is_a_copy_on_the_gpu(alexnet_weights_cache) -> None:
    import torch

    from reconbench.metrics.weights import load_trunk

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    cache = alexnet_weights_cache
    on_cpu, on_gpu = load_trunk("alexnet", cache), load_trunk("alexnet", cache, device="cuda")
    assert on_gpu is not on_cpu and next(on_gpu.parameters()).is_cuda and next(on_cpu.parameters()).device.type == "cpu"
    assert load_trunk("alexnet", cache, device="cuda") is on_gpu
    for (name, a), (_, b) in zip(on_cpu.state_dict().items(), on_gpu.state_dict().items()):
        assert torch.equal(a, b.cpu()), name

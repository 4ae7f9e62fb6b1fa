"""The one owner of the device: resolution, refusals, keys and what rows record."""

from __future__ import annotations

import os

import pytest
import torch

from reconbench.core import device as device_module
from reconbench.core.device import (
    DEVICE_COLUMNS,
    DEVICE_ENV,
    deterministic,
    device_info,
    device_kind,
    is_cuda,
    peak_gpu_memory_mb,
    resolve_device,
    rng_devices,
)
from reconbench.core.errors import ReconbenchError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(device_module, "_cuda_count", lambda: 0)
    monkeypatch.delenv(DEVICE_ENV, raising=False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(device_module, "_cuda_count", lambda: 2)
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)


def test_argument_then_environment_then_auto(no_gpu, monkeypatch):
    assert resolve_device(None) == "cpu"  # auto without a GPU
    assert resolve_device("") == "cpu"
    assert resolve_device(" CPU ") == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert resolve_device(None) == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert resolve_device("cpu") == "cpu"  # the argument wins over the environment
    with pytest.raises(ReconbenchError, match=r"\$RECONBENCH_DEVICE cuda: torch sees no CUDA GPU"):
        resolve_device(None)


def test_auto_is_cuda_when_a_gpu_is_seen(two_gpus):
    assert resolve_device("auto") == "cuda"
    assert resolve_device(None) == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    # cuBLAS's deterministic workspace is set before any CUDA work.
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_refusals_are_one_clear_line(no_gpu, two_gpus, monkeypatch):
    for bad in ("gpu", "cuda:x", "cuda:-1", "tpu", "cuda0"):
        with pytest.raises(ReconbenchError, match="expected auto, cpu, cuda or cuda:N") as info:
            resolve_device(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ReconbenchError, match=r"--device cuda:2: there are 2 GPU\(s\) here, numbered 0 to 1"):
        resolve_device("cuda:2")
    monkeypatch.setattr(device_module, "_cuda_count", lambda: 0)
    with pytest.raises(ReconbenchError, match="--device cuda: torch sees no CUDA GPU here .* pass --device cpu or auto") as info:
        resolve_device("cuda")
    assert "\n" not in str(info.value)


def test_kind_is_what_keys_record():
    assert device_kind("cpu") == "cpu"
    assert device_kind("cuda") == device_kind("cuda:3") == "cuda"
    assert is_cuda("cuda:0") and not is_cuda("cpu")
    with pytest.raises(ReconbenchError, match="resolve 'auto'"):
        device_kind("auto")


def test_cpu_row_information():
    info = device_info("cpu")
    assert tuple(info) == DEVICE_COLUMNS
    assert info == {"device": "cpu", "gpu_name": "", "cuda_version": "", "cudnn_version": "", "torch_version": torch.__version__}
    assert peak_gpu_memory_mb("cpu") is None
    assert rng_devices("cpu") == []


def test_deterministic_changes_nothing_on_the_cpu():
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    with deterministic("cpu"):
        assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == before
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == before


@pytest.mark.cuda
def test_cuda_row_information_and_settings():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch sees none)")
    info = device_info(resolve_device("cuda"))
    assert info["device"] == "cuda" and info["gpu_name"] and info["cuda_version"] == torch.version.cuda
    with deterministic("cuda"):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert peak_gpu_memory_mb("cuda") >= 0.0


def test_full_precision_changes_nothing_on_the_cpu_and_restores():
    from reconbench.core.device import full_precision

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    with full_precision("cpu"):
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
    with full_precision("cuda"):  # flags only: no GPU needed to set them
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


def test_on_a_cluster_cuda_is_judged_by_the_gpus_its_workers_declare(monkeypatch) -> None:
    # This machine's GPUs do not count: the workers start CUDA.
    monkeypatch.setattr(device_module, "_cuda_count", lambda: 0)
    assert resolve_device("auto", cluster_gpus=2) == "cuda"
    assert resolve_device("auto", cluster_gpus=0) == "cpu"
    assert resolve_device("cuda:0", cluster_gpus=1) == "cuda:0"
    with pytest.raises(ReconbenchError, match=r"no worker of the Dask cluster declares a GPU.*--resources GPU=1"):
        resolve_device("cuda", cluster_gpus=0)

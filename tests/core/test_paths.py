"""Folders: argument, then environment variable, then a default under home."""

from __future__ import annotations

from pathlib import Path

from reconbench.core.paths import CACHE_ENV, DATA_ENV, cache_dir, data_root


def test_argument_then_environment_then_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env-data"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env-data"
    assert cache_dir() == tmp_path / "env-cache"
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == Path(tmp_path / "home" / "reconbench_data")
    assert cache_dir() == Path(tmp_path / "home" / ".cache" / "reconbench")
    assert not (tmp_path / "home").exists()  # resolving creates nothing

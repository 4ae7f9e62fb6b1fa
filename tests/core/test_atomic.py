"""Atomic writes: all or nothing, for files and folders."""

from __future__ import annotations

import pytest

from reconbench.core.atomic import atomic_path, write_bytes, write_text


def test_write_text_and_bytes_replace_the_target(tmp_path) -> None:
    target = tmp_path / "sub" / "a.txt"
    write_text(target, "first")
    write_text(target, "second é")
    assert target.read_text(encoding="utf-8") == "second é"
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "sub"]  # no temporary left


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_folder_is_replaced_whole(tmp_path) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    (target / "stale.txt").write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("y")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]

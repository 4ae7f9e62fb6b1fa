"""Leftovers of killed stage-cache writes are removed, never a live writer's file (issue 17, finding 5:
temp files that reruns never remove; found for the stage cache by scripts/kill_campaign.py)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap

import numpy as np

from reconbench.core.stage_cache import StageCache

WRITERS_LOCK = ".writers"  # the lock file every writer holds shared (named here, not imported: the name is the contract)

KILLED_WRITE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from reconbench.core.stage_cache import StageCache

    def killed(src, dst, *args, **kwargs):  # SIGKILL when the write is complete but not yet renamed
        os.kill(os.getpid(), signal.SIGKILL)

    os.replace = killed
    StageCache(sys.argv[1]).save("decoder", sys.argv[2], {"weights": np.arange(1000.0)}, {})
""")


def _killed_write(root, key):
    """Run a real save in another process and SIGKILL it just before its rename; return what it left."""
    before = set(root.rglob("*.tmp"))
    done = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(root), key], capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    return sorted(set(root.rglob("*.tmp")) - before)


def test_a_killed_write_leaves_a_file_the_next_save_removes(tmp_path, capsys) -> None:
    key = "ab" + "0" * 62
    leftovers = _killed_write(tmp_path, key)
    assert len(leftovers) == 1 and leftovers[0].parent == tmp_path / "decoder" / "ab"
    cache = StageCache(tmp_path)
    assert cache.load("decoder", key) is None  # the killed write stored nothing
    cache.save("decoder", key, {"weights": np.arange(1000.0)}, {})
    assert not leftovers[0].exists()
    assert f"removed {leftovers[0].name}" in capsys.readouterr().err
    arrays, _ = cache.load("decoder", key)
    np.testing.assert_array_equal(arrays["weights"], np.arange(1000.0))
    assert sorted(p.name for p in (tmp_path / "decoder" / "ab").iterdir()) == [f"{key}.npz"]


def test_remove_orphans_cleans_the_whole_cache_and_keeps_entries(tmp_path) -> None:
    left = _killed_write(tmp_path, "cd" + "1" * 62) + _killed_write(tmp_path, "ef" + "2" * 62)
    cache = StageCache(tmp_path)
    cache.save("decoder", "12" + "3" * 62, {"w": np.ones(3)}, {})
    assert len(left) == 2
    assert sorted(cache.remove_orphans()) == sorted(left)
    assert not any(p.exists() for p in left)
    assert cache.load("decoder", "12" + "3" * 62) is not None
    assert StageCache(None).remove_orphans() == []


def test_a_temporary_file_is_kept_while_another_process_writes(tmp_path) -> None:
    left = _killed_write(tmp_path, "ab" + "4" * 62)
    # Another process in the middle of a write holds the writers' lock shared.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import fcntl, os, sys
            fd = os.open({str(tmp_path / WRITERS_LOCK)!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_SH)
            print("locked", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        cache = StageCache(tmp_path)
        assert cache.remove_orphans() == []
        cache.save("decoder", "ab" + "5" * 62, {"w": np.ones(2)}, {})  # shared lock: writes while the other writes
        assert left[0].exists()
    finally:
        holder.stdin.close()
        holder.wait()
    assert StageCache(tmp_path).remove_orphans() == left
    # The lock file itself is not a leftover.
    fd = os.open(tmp_path / WRITERS_LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)

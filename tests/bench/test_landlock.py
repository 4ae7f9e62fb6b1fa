"""Landlock sealing: a sealed process reads what it was allowed and nothing else."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from reconbench.bench.landlock import abi_version

pytestmark = pytest.mark.skipif(abi_version() == 0, reason="Landlock unavailable on this kernel")


def test_a_sealed_process_reads_only_allowed_folders(tmp_path) -> None:
    allowed, secret = tmp_path / "allowed", tmp_path / "secret"
    allowed.mkdir()
    secret.mkdir()
    (allowed / "a.txt").write_text("ok")
    (secret / "s.txt").write_text("secret")
    script = textwrap.dedent(f"""
        import os, sys
        from reconbench.bench.landlock import seal
        from reconbench.bench.sandbox import readable_folders
        seal(readable_folders(None) + [{str(allowed)!r}], [])
        print(open({str(allowed / "a.txt")!r}).read())
        for path in ({str(secret / "s.txt")!r}, f"/proc/{{os.getppid()}}/cmdline"):
            try:
                open(path).read()
                print("READ", path)
            except PermissionError:
                print("DENIED")
        try:
            os.kill(os.getppid(), 0)
            print("SIGNAL")
        except PermissionError:
            print("NO-SIGNAL")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[:3] == ["ok", "DENIED", "DENIED"]
    if abi_version() >= 6:
        assert lines[3] == "NO-SIGNAL"

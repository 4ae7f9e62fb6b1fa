"""Landlock sealing: a sealed process reads what it was allowed and nothing else."""

from __future__ import annotations

import json
import os
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


def test_device_files_are_widened_only_on_cuda(tmp_path) -> None:
    from reconbench.bench.sandbox import device_files, device_readable

    dev = tmp_path / "dev"
    (dev / "dri").mkdir(parents=True)
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null", "sda", "nvidiafoo", "fuse"):
        (dev / name).write_text("")
    assert device_files("cpu", dev) == [] and device_readable("cpu") == []
    expected = [dev / "nvidia0", dev / "nvidia1", dev / "nvidiactl", dev / "nvidia-uvm", dev / "dri"]
    assert device_files("cuda", dev) == [str(p) for p in expected]
    assert device_files("cuda:1", dev) == device_files("cuda", dev)


def test_on_cuda_a_sealed_process_may_write_its_own_thread_entries_and_no_others() -> None:
    # The CUDA driver writes into its own threads' /proc entries when it starts (error 304 without).
    script = textwrap.dedent("""
        import os, threading
        from reconbench.bench.landlock import seal
        from reconbench.bench.sandbox import device_writable, readable_folders
        assert device_writable("cpu") == []
        assert device_writable("cuda:0") == [f"/proc/{os.getpid()}/task"]
        seal(readable_folders(None), device_writable("cuda"))
        worker = threading.Thread(target=lambda: None); worker.start(); worker.join()
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as handle:
            handle.write("renamed")
        print("OWN", open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip())
        for path in (f"/proc/{os.getppid()}/task/{os.getppid()}/comm", f"/proc/{os.getpid()}/environ", "/proc/sys/kernel/hostname"):
            try:
                open(path, "w").write("x")
                print("WROTE", path)
            except OSError:
                print("DENIED")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OWN", "renamed", "DENIED", "DENIED", "DENIED"]


def test_a_device_file_is_read_write_and_nothing_beside_it(tmp_path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "nvidia0").write_text("")
    (dev / "sda").write_text("disk")
    script = textwrap.dedent(f"""
        from reconbench.bench.landlock import seal
        from reconbench.bench.sandbox import readable_folders
        seal(readable_folders(None), [], devices=[{str(dev / "nvidia0")!r}])
        with open({str(dev / "nvidia0")!r}, "r+") as handle:
            handle.write("x")
        print("RW")
        for action in (lambda: open({str(dev / "sda")!r}).read(), lambda: open({str(dev / "new")!r}, "w")):
            try:
                action()
                print("ALLOWED")
            except PermissionError:
                print("DENIED")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RW", "DENIED", "DENIED"]
    assert (dev / "nvidia0").read_text() == "x"


def test_the_cuda_seal_probe_narrows_a_needed_write_down_to_its_file(tmp_path) -> None:
    # scripts/cuda_seal_probe.py's elimination, with a trial that writes one file instead of starting CUDA:
    # it must name that file (and the rights to write it), nothing more.
    import pathlib

    folder = pathlib.Path("/var/tmp") / f"reconbench-probe-{os.getpid()}"
    target = folder / "inner" / "needed.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("")
    try:
        script = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "cuda_seal_probe.py"
        done = subprocess.run([sys.executable, str(script), "--probe-write", str(target), "--seconds", "240"], capture_output=True, text=True, timeout=600)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    needed = json.loads(done.stdout.rsplit("NEEDED ", 1)[1])
    assert needed["paths"] == [str(target)]
    assert set(needed["rights"]) == {"WRITE_FILE", "TRUNCATE"}

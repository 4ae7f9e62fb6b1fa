"""Find what a sealed method process needs to write for CUDA to start on this machine.

A sealed method process on a CUDA device may use the NVIDIA device files, read
/proc/driver/nvidia and write its own /proc/<pid>/task (reconbench.bench.sandbox:
``device_files``, ``device_readable``, ``CUDA_WRITABLE``). Another driver may need more. This
script forks a process the way the method-process server does (torch imported before the
fork), seals it with the project's rules plus extra write rules, starts CUDA there, and
narrows the extra rules down by elimination: first over the entries of ``/``, then inside each
entry that is needed, down to the smallest paths, then which write rights they need.

    python scripts/cuda_seal_probe.py [--seconds 300]

It prints one line per trial and ends with a line ``NEEDED {...}`` (JSON: the paths and the
rights); report it with your driver, torch and kernel versions. Nothing is widened by running
it: every trial is a child process that exits.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

WRITE_RIGHT_NAMES = ("WRITE_FILE", "REMOVE_DIR", "REMOVE_FILE", "MAKE_DIR", "MAKE_REG", "MAKE_SYM", "MAKE_FIFO", "MAKE_SOCK", "REFER", "TRUNCATE")


def _seal_with(rules: list[tuple[str, int]]) -> None:
    """Seal this process with exactly ``rules`` ((path, rights); "SELF" in a path: this process's id)."""
    from reconbench.bench import landlock

    abi = landlock.abi_version()
    libc = landlock._libc()
    handled = landlock._handled_rights(abi)
    scoped = (landlock._SCOPE_ABSTRACT_UNIX_SOCKET | landlock._SCOPE_SIGNAL) if abi >= 6 else 0
    attr = landlock._RulesetAttr(handled_access_fs=handled, handled_access_net=0, scoped=scoped)
    size = ctypes.sizeof(landlock._RulesetAttr) if abi >= 6 else 8
    ruleset = libc.syscall(landlock._SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError("landlock_create_ruleset failed")
    for path, rights in rules:
        path = path.replace("SELF", str(os.getpid()))
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        allowed = rights & handled if os.path.isdir(path) else rights & handled & landlock._FILE_RIGHTS
        rule = landlock._PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
        libc.syscall(landlock._SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(landlock._RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
        os.close(fd)
    libc.prctl(landlock._PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.syscall(landlock._SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
        raise OSError("landlock_restrict_self failed")


class Prober:
    def __init__(self, deadline: float, probe_write: str | None = None) -> None:
        self.deadline = deadline
        self.trials = 0
        self.probe_write = probe_write  # tests: a trial writes this file instead of starting CUDA

    def base_rules(self) -> list[tuple[str, int]]:
        from reconbench.bench import landlock
        from reconbench.bench.sandbox import device_files, device_readable, device_writable, readable_folders, writable_folders

        rules = [(p, landlock.READ_RIGHTS) for p in readable_folders(None) + device_readable("cuda")]
        rules += [(p, landlock.WRITE_RIGHTS) for p in writable_folders() + device_writable("cuda")]
        return rules + [(p, landlock.DEVICE_RIGHTS) for p in device_files("cuda")]

    def attempt(self, label: str, extra: list[tuple[str, int]] | None = (), seal: bool = True) -> bool:
        """Start CUDA in a forked child sealed with the project's rules plus ``extra``."""
        self.trials += 1
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                if seal:
                    _seal_with(self.base_rules() + list(extra or ()))
                if self.probe_write:
                    with open(self.probe_write, "w") as handle:
                        handle.write("probe")
                    message = "OK wrote"
                else:
                    import torch

                    x = torch.ones(64, 64, device="cuda")
                    message = f"OK {float((x @ x).sum().item()):.0f}"
            except BaseException as exc:  # noqa: BLE001 - every failure is the trial's answer
                message = f"FAIL {type(exc).__name__}: {str(exc)[:100]}"
            os.write(write_end, message.encode())
            os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 4096).decode()
        os.close(read_end)
        os.waitpid(pid, 0)
        print(f"trial {self.trials:3d} {label[:70]:<70} {answer[:80]}", flush=True)
        return answer.startswith("OK")

    def smallest(self, candidates: list[str], fixed: list[tuple[str, int]], rights: int) -> list[str] | None:
        """Greedy elimination: a subset of ``candidates`` (written with ``rights``) that still lets CUDA start, or None."""
        if not candidates or not self.attempt(f"all {len(candidates)} under {os.path.dirname(candidates[0])}", fixed + [(c, rights) for c in candidates]):
            return None
        keep = list(candidates)
        for candidate in candidates:
            if time.time() > self.deadline:
                print("time is up: the elimination stopped early (the result may hold more than needed)", flush=True)
                break
            trial = [c for c in keep if c != candidate]
            if self.attempt(f"without {candidate}", fixed + [(c, rights) for c in trial]):
                keep = trial
        return keep


def _children(path: str) -> list[str]:
    if path == "/proc":
        names = sorted(n for n in os.listdir("/proc") if not n.isdigit() and n not in ("self", "thread-self"))
        return ["/proc/SELF", *(f"/proc/{n}" for n in names)]
    real = path.replace("SELF", str(os.getpid()))
    if not os.path.isdir(real) or path.startswith("/proc/SELF/task"):
        return []  # a file, or the threads of this process (a child's differ)
    try:
        return [os.path.join(path, n) for n in sorted(os.listdir(real))]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="stop narrowing after this many seconds (default 300)")
    parser.add_argument("--probe-write", metavar="FILE", help=argparse.SUPPRESS)  # tests: write FILE instead of starting CUDA
    args = parser.parse_args(argv)
    import torch  # before any fork, as in the method-process server

    from reconbench.bench import landlock

    print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), Landlock ABI {landlock.abi_version()}", flush=True)
    if landlock.abi_version() < 1:
        print("Landlock is not available here: method processes run unsealed, nothing to probe")
        return 0
    prober = Prober(time.time() + args.seconds, args.probe_write)
    if not prober.attempt("fork, no seal", seal=False):
        print("CUDA does not start in a forked process even without a seal: not a sealing problem")
        return 1
    if prober.attempt("the project's rules"):
        print('NEEDED {"paths": [], "note": "CUDA starts under the project\'s rules"}')
        return 0
    if not prober.attempt("/ writable", [("/", landlock.WRITE_RIGHTS)]):
        print("CUDA does not start even with every path writable: not a write rule (report this line and the trials above)")
        return 1
    needed_top = prober.smallest(_children("/"), [], landlock.WRITE_RIGHTS) or []
    found: list[str] = []
    for top in needed_top:
        current = [top]
        others = [(p, landlock.WRITE_RIGHTS) for p in needed_top if p != top]
        while time.time() < prober.deadline:
            inside = prober.smallest(_children(current[0]), others, landlock.WRITE_RIGHTS) if len(current) == 1 else None
            if not inside:
                break
            current = inside
        found.extend(current)
    rights = []
    if found and prober.attempt(f"only {found} writable", [(p, landlock.WRITE_RIGHTS) for p in found]):
        for name in WRITE_RIGHT_NAMES:
            bit = getattr(landlock, name)
            if not prober.attempt(f"{found} without {name}", [(p, landlock.WRITE_RIGHTS & ~bit) for p in found]):
                rights.append(name)
    print("NEEDED " + json.dumps({"paths": [p.replace("/proc/SELF", "/proc/<pid>") for p in found], "rights": rights, "trials": prober.trials}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

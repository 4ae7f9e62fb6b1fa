#!/usr/bin/env python3
"""Run a command and report the peak memory of its whole process tree.

    python scripts/peak_memory.py [--interval 0.2] -- reconbench run ...

Every ``--interval`` seconds it reads ``/proc/<pid>/smaps_rollup`` of the command
and all its descendants and keeps: the peak resident set (RSS) of each process,
the peak of the summed RSS, and the peak of the summed proportional set size
(PSS: a page shared by N processes counts 1/N in each, so the sum is the memory
the tree really holds, counting a shared split once). Linux only; prints what it
measured, asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def _tree(root: int) -> list[int]:
    tree, found, frontier = _children(), [root], [root]
    while frontier:
        frontier = [c for p in frontier for c in tree.get(p, [])]
        found += frontier
    return found


def _rollup(pid: int) -> tuple[float, float, str]:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:90]
    except OSError:
        return 0.0, 0.0, ""
    values = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            values[parts[0][:-1]] = float(parts[1]) / 1024
    return values.get("Rss", 0.0), values.get("Pss", 0.0), cmd


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    start = time.monotonic()
    process = subprocess.Popen(command)
    peak_rss: dict[int, tuple[float, str]] = {}
    peak_sum_rss = peak_sum_pss = 0.0
    while process.poll() is None:
        sum_rss = sum_pss = 0.0
        for pid in _tree(process.pid):
            rss, pss, cmd = _rollup(pid)
            sum_rss += rss
            sum_pss += pss
            if rss > peak_rss.get(pid, (0.0, ""))[0]:
                peak_rss[pid] = (rss, cmd)
        peak_sum_rss, peak_sum_pss = max(peak_sum_rss, sum_rss), max(peak_sum_pss, sum_pss)
        time.sleep(args.interval)
    print(f"\nexit {process.returncode} after {time.monotonic() - start:.1f} s", file=sys.stderr)
    print(f"peak summed RSS {peak_sum_rss:.0f} MB, peak summed PSS {peak_sum_pss:.0f} MB (the tree's real footprint)", file=sys.stderr)
    for pid, (rss, cmd) in sorted(peak_rss.items(), key=lambda item: -item[1][0])[:8]:
        print(f"  pid {pid}: peak RSS {rss:.0f} MB  {cmd}", file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())

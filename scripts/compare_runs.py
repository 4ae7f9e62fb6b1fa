#!/usr/bin/env python3
"""Compare two reconbench output folders: the same benchmark run in two places.

Used by ``scripts/docker-smoke.sh`` to prove that ``docker run`` reproduces the
leaderboard of a run outside the container. Two things are compared:

1. ``results.csv`` (every per-image score with its provenance), row by row after
   sorting on the key columns. Columns that legitimately differ between two runs
   of the same code are left out: the timing and memory columns, and
   ``code_version`` (``git describe`` in a checkout, the package version in the
   image). Numbers must agree to ``--rtol``/``--atol`` (default: exactly); every
   other column must be equal as text.
2. Every file under ``leaderboard/`` whose name ends in ``.md``, ``.csv``,
   ``.html``, ``.json``, ``.tsv`` or ``.txt``: byte for byte, or, failing that, as
   text after removing lines that name a timing column.
3. Every file under ``reconstructions/`` (the PNGs of each method's
   reconstructions and of the true images), byte for byte.

Exit status: 0 when everything agrees, 1 when something differs, 2 when a folder
lacks the files to compare.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns that change between two runs of the same code on the same inputs.
IGNORED_COLUMNS = ("fit_seconds", "reconstruct_seconds", "score_seconds", "peak_memory_mb", "code_version", "wall_seconds")
#: Columns identifying a score (see reconbench.store.results.KEY_COLUMNS).
KEY_COLUMNS = ("dataset", "subject", "test_set", "method", "param_set", "params_hash", "seed", "metric", "stimulus_id")
#: Leaderboard files compared as text.
TEXT_SUFFIXES = (".md", ".csv", ".html", ".json", ".tsv", ".txt")
#: A line of a leaderboard text file that mentions one of these is not compared.
VOLATILE_WORDS = ("seconds", "wall time", "wall_time", "peak memory", "peak_memory", "code_version", "code version")


def compare_results(left: Path, right: Path, rtol: float, atol: float, ignored: tuple[str, ...] = IGNORED_COLUMNS) -> list[str]:
    """Return human-readable differences between two ``results.csv`` files (empty if equal)."""
    frames = []
    for path in (left, right):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the run wrote no results.csv")
        frames.append(pd.read_csv(path, keep_default_na=False, dtype=str))
    a, b = frames
    problems: list[str] = []
    if set(a.columns) != set(b.columns):
        problems.append(
            f"results.csv columns differ: only left {sorted(set(a.columns) - set(b.columns))}, only right {sorted(set(b.columns) - set(a.columns))}"
        )
        return problems
    keys = [c for c in KEY_COLUMNS if c in a.columns]
    a = a.sort_values(keys, kind="stable").reset_index(drop=True)
    b = b.sort_values(keys, kind="stable").reset_index(drop=True)
    if len(a) != len(b):
        problems.append(f"results.csv has {len(a)} rows on the left and {len(b)} on the right")
        return problems
    if not a[keys].equals(b[keys]):
        differing = (a[keys] != b[keys]).any(axis=1)
        first = int(np.flatnonzero(differing.to_numpy())[0])
        problems.append(f"results.csv key columns differ from row {first}: {a.loc[first, keys].to_dict()} vs {b.loc[first, keys].to_dict()}")
        return problems
    for column in a.columns:
        if column in ignored or column in keys:
            continue
        left_text, right_text = a[column], b[column]
        if left_text.equals(right_text):
            continue
        left_num = pd.to_numeric(left_text, errors="coerce")
        right_num = pd.to_numeric(right_text, errors="coerce")
        numeric = left_num.notna() & right_num.notna()
        text_mismatch = (~numeric) & (left_text != right_text)
        close = np.isclose(left_num[numeric], right_num[numeric], rtol=rtol, atol=atol, equal_nan=True)
        if text_mismatch.any():
            row = int(np.flatnonzero(text_mismatch.to_numpy())[0])
            problems.append(f"results.csv column {column!r}: {int(text_mismatch.sum())} rows differ, e.g. row {row}: {left_text[row]!r} vs {right_text[row]!r}")
        if not close.all():
            diff = np.abs(left_num[numeric] - right_num[numeric])
            problems.append(
                f"results.csv column {column!r}: {int((~close).sum())} numbers differ beyond "
                f"rtol={rtol:g}, atol={atol:g} (max abs difference {float(diff.max()):.3g})"
            )
    return problems


def strip_volatile(text: str) -> list[str]:
    """Lines of ``text`` without those that mention timings or the code version."""
    return [line for line in text.splitlines() if not any(word in line.lower() for word in VOLATILE_WORDS)]


def compare_leaderboards(left: Path, right: Path) -> tuple[list[str], list[str]]:
    """Compare the text files of two ``leaderboard/`` folders.

    Returns
    -------
    compared : list of str
        Each compared file with how it matched (byte-identical, or equal once timing lines are dropped).
    problems : list of str
        Human-readable differences; empty when the folders agree.
    """
    problems: list[str] = []
    compared: list[str] = []
    if not left.is_dir() and not right.is_dir():
        return compared, ["neither run wrote a leaderboard/ folder"]
    left_files = {p.relative_to(left).as_posix() for p in left.rglob("*") if p.is_file()} if left.is_dir() else set()
    right_files = {p.relative_to(right).as_posix() for p in right.rglob("*") if p.is_file()} if right.is_dir() else set()
    if left_files != right_files:
        problems.append(f"leaderboard files differ: only left {sorted(left_files - right_files)}, only right {sorted(right_files - left_files)}")
    for name in sorted(left_files & right_files):
        if not name.endswith(TEXT_SUFFIXES):
            continue
        if (left / name).read_bytes() == (right / name).read_bytes():
            compared.append(f"{name} (byte-identical)")
            continue
        a = strip_volatile((left / name).read_text(encoding="utf-8"))
        b = strip_volatile((right / name).read_text(encoding="utf-8"))
        if a == b:
            compared.append(f"{name} (equal after dropping timing lines)")
        else:
            compared.append(f"{name} (DIFFERENT)")
            diff = list(difflib.unified_diff(a, b, f"left/{name}", f"right/{name}", lineterm="", n=1))
            problems.append(f"leaderboard/{name} differs beyond timing lines:\n" + "\n".join(diff[:40]))
    return compared, problems


def compare_files(left: Path, right: Path) -> tuple[int, list[str]]:
    """Compare every file under two folders by sha256; return (files compared, differences)."""

    def digests(root: Path) -> dict[str, str]:
        if not root.is_dir():
            return {}
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}

    a, b = digests(left), digests(right)
    problems = []
    if set(a) != set(b):
        only_left, only_right = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        problems.append(f"{left.name}/ files differ: {len(only_left)} only left (e.g. {only_left[:3]}), {len(only_right)} only right (e.g. {only_right[:3]})")
    differing = sorted(name for name in set(a) & set(b) if a[name] != b[name])
    if differing:
        problems.append(f"{left.name}/: {len(differing)} files differ in content, e.g. {differing[:3]}")
    return len(set(a) & set(b)), problems


def main(argv: list[str] | None = None) -> int:
    """Compare the folders named on the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("left", type=Path, help="output folder of one run (e.g. outside the container)")
    parser.add_argument("right", type=Path, help="output folder of the other run (e.g. the container's /out)")
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for numbers (default 0: exact)")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance for numbers (default 0: exact)")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="COLUMN",
        help="also ignore this results.csv column (repeatable), e.g. torch_version, package_versions and config_hash between a CPU and a CUDA build of torch",
    )
    args = parser.parse_args(argv)
    try:
        problems = compare_results(args.left / "results.csv", args.right / "results.csv", args.rtol, args.atol, ignored=(*IGNORED_COLUMNS, *args.ignore))
    except FileNotFoundError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    rows = len(pd.read_csv(args.left / "results.csv", usecols=[0]))
    compared, board_problems = compare_leaderboards(args.left / "leaderboard", args.right / "leaderboard")
    problems += board_problems
    images, image_problems = compare_files(args.left / "reconstructions", args.right / "reconstructions")
    problems += image_problems
    print(f"compare: results.csv: {rows} rows")
    print(f"compare: leaderboard/: {', '.join(compared) or 'none'}")
    print(f"compare: reconstructions/: {images} files compared by sha256")
    if problems:
        print("compare: DIFFERENT", *problems, sep="\n  ")
        return 1
    print("compare: IDENTICAL (results.csv ignoring the columns " + ", ".join((*IGNORED_COLUMNS, *args.ignore)) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())

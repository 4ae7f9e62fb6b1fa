"""SIGKILL campaign: kill a small benchmark run at every rename and at random
moments, rerun it, and check that the rows equal a clean run's and that no
stray file or process is left behind.

What it does
------------
1. **Clean run** of a small grid (default: ``simulated:tiny``, ``sub-01``,
   ``divide_and_conquer:default`` with a stage cache, plus the category-only
   reference cell the harness adds; metric ``pixcorr``; ``--threads 1``;
   serial). It writes every kind of file a run renames into place: stage-cache
   entries (written by the method process), reconstruction PNGs, cell rows
   and records, ``results.parquet``/``.csv`` and the leaderboard. A
   ``sitecustomize.py`` put on ``PYTHONPATH`` wraps
   ``os.replace`` and ``os.rename`` in every Python process of the run (the
   parent and each cell's method process, which writes the stage cache) and
   counts the renames in one shared counter file. The clean run gives the
   number of renames N, the target of each, the reference rows and the
   reference list of files.
2. **A kill at rename k, for every k in 1..N** (or the ``--renames`` chosen):
   a fresh results folder, stage cache and temporary folder; the hooked
   process stops itself (SIGSTOP) just before its k-th rename, the campaign
   checks it is stopped at the same target as in the clean run, SIGKILLs the
   run's top process (its method processes die with it, PR_SET_PDEATHSIG) and
   the stopped process. A method process cannot signal its parent when it is
   sealed by Landlock (Linux 6.12+), which is why the campaign, not the hook,
   sends the kills. Then one rerun without the hook must exit 0. Kills after
   the clean run's last stage-cache rename start with a stage cache holding
   the entries the clean run had written by then (what a cold run holds at
   that point), which saves training the generator again; ``--cold`` turns
   that off.
3. **Random kills** (``--random``, default 20), two per fresh folder: a run
   SIGKILLed (top process only) at a moment drawn uniformly from the clean
   run's duration, its resumed run SIGKILLed at a moment drawn from what
   remained, then one rerun.

After each rerun it compares, with the clean run:

- the result rows (``results.parquet`` without the timing and memory columns,
  :func:`reconbench.store.results.comparable`): must be equal;
- the list of files of the results folder and of the stage cache: no file may
  be missing or extra (a leftover ``.NAME.*.tmp``, a ``.NAME.old`` folder, a
  ``quarantine/`` entry all count as stray);
- the run's temporary folder (``TMPDIR`` of the campaign's runs, where each
  cell's private folder ``reconbench-cell-*`` is made): reported after the
  kill and after the rerun;
- processes left running that carry the campaign's marker in their environment.

How to run
----------
From a checkout with the package installed (``pip install -e .``) and the
weights fetched (``reconbench weights fetch``)::

    python scripts/kill_campaign.py --work /tmp/kill-campaign --parallel 2      # every rename + 20 random kills
    python scripts/kill_campaign.py --work /tmp/kc --renames 1,5,9 --random 0   # a few chosen renames
    python scripts/kill_campaign.py --work /tmp/kc --stage-cache off --methods mean_image,my_lowres_ridge \
        --methods-dir examples

It simulates the preset into ``WORK/data`` if ``--data`` is not given, runs
the package the interpreter imports (``--code DIR`` puts a source tree first on
``PYTHONPATH``, e.g. an exported commit, so that editing the checkout during a
long campaign does not change ``code_version`` in the rows), writes
``WORK/report.json`` and prints one line per kill and a summary. Exit status 0
when every rerun matched and nothing stray was found, 1 otherwise.
The default grid makes 153 renames (4 in the stage cache, 4 of cell files,
140 PNGs, 2 consolidated tables, 3 leaderboard files); a clean run takes
about 45 s on 2 CPU cores, a kill and its rerun about 30 s, so every rename
takes over an hour (``--parallel 2`` halves it on an idle machine);
``--renames every:5`` or a list makes a quicker pass.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Written next to the campaign's work folder and put first on PYTHONPATH of every run.
HOOK = r'''
"""kill_campaign hook: count os.replace/os.rename across every process of a run; stop before rename k."""
import fcntl
import os
import signal

_counter_path = os.environ.get("KILL_CAMPAIGN_COUNTER")
if _counter_path:
    # Opened at start-up: a method process seals its file system (Landlock) later, and an
    # open descriptor stays usable after that.
    _counter = os.open(_counter_path, os.O_RDWR | os.O_CREAT, 0o600)
    _log = os.open(os.environ["KILL_CAMPAIGN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _stop_at = int(os.environ.get("KILL_CAMPAIGN_AT", "0"))

    def _count(src, dst):
        fcntl.flock(_counter, fcntl.LOCK_EX)
        try:
            os.lseek(_counter, 0, os.SEEK_SET)
            text = os.read(_counter, 100).split()
            number = int(text[0]) + 1 if text else 1
            os.lseek(_counter, 0, os.SEEK_SET)
            os.ftruncate(_counter, 0)
            os.write(_counter, f"{number} {os.getpid()}\n".encode())
            os.write(_log, f"{number}\t{os.getpid()}\t{os.fspath(src)}\t{os.fspath(dst)}\n".encode())
        finally:
            fcntl.flock(_counter, fcntl.LOCK_UN)
        if number == _stop_at:
            os.kill(os.getpid(), signal.SIGSTOP)  # the campaign SIGKILLs the run while this process waits here

    def _wrap(real):
        def renamed(src, dst, *args, **kwargs):
            _count(src, dst)
            return real(src, dst, *args, **kwargs)
        renamed.__wrapped__ = real
        return renamed

    os.replace = _wrap(os.replace)
    os.rename = _wrap(os.rename)
'''

#: What an interrupted atomic write leaves (reconbench.core.atomic): ``.NAME.<random>[SUFFIX].tmp`` and ``.NAME.old``.
LEFTOVER = re.compile(r"^\..+\.tmp$|^\..+\.old$")
MARKER = "KILL_CAMPAIGN_COUNTER"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path, help="campaign folder (created; runs go below it)")
    parser.add_argument("--data", type=Path, help="simulated dataset folder (default WORK/data, simulated if absent)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--subjects", default="sub-01")
    parser.add_argument("--methods", default="divide_and_conquer:default")
    parser.add_argument("--methods-dir", type=Path, help="a folder of extra methods (e.g. examples/)")
    parser.add_argument("--metrics", default="pixcorr")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--stage-cache", choices=("on", "off"), default="on")
    parser.add_argument("--renames", default="all", help="'all', 'every:STEP', 'none' or a comma list of rename numbers")
    parser.add_argument("--random", type=int, default=20, help="number of kills at random moments (two per fresh folder: a first run and its resumed run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    parser.add_argument("--code", type=Path, help="a source tree to put first on PYTHONPATH (default: the installed package)")
    parser.add_argument("--keep", action="store_true", help="keep each kill's folders (default: delete those that passed)")
    parser.add_argument("--parallel", type=int, default=1, help="kills at renames run this many at a time (each in its own folders)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="start every kill with an empty stage cache (default: kills after the clean run's last "
        "stage-cache rename start with the entries the clean run had written by then)",
    )
    return parser.parse_args(argv)


class Campaign:
    def __init__(self, args):
        self.args = args
        self.work = args.work.resolve()
        self.hook_dir = self.work / "hook"
        self.data = (args.data or self.work / "data").resolve()

    # -- running -------------------------------------------------------------
    def environment(self, root: Path, stop_at: int | None) -> dict[str, str]:
        env = dict(os.environ)
        paths = [str(self.args.code.resolve())] if self.args.code else []
        if stop_at is not None:
            paths.insert(0, str(self.hook_dir))
            env[MARKER] = str(root / "counter")
            env["KILL_CAMPAIGN_LOG"] = str(root / "renames.tsv")
            env["KILL_CAMPAIGN_AT"] = str(stop_at)
        else:
            env.pop(MARKER, None)
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        env["RECONBENCH_STAGE_CACHE"] = str(root / "stage") if self.args.stage_cache == "on" else "off"
        env["TMPDIR"] = str(root / "tmp")
        env.pop("RECONBENCH_DATA", None)
        return env

    def start(self, root: Path, stop_at: int | None = None) -> subprocess.Popen:
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "reconbench",
            "run",
            "--dataset",
            f"simulated:{self.args.preset}",
            "--data",
            str(self.data),
            "--out",
            str(root / "out"),
            "--subjects",
            self.args.subjects,
            "--methods",
            self.args.methods,
            "--metrics",
            self.args.metrics,
            "--threads",
            self.args.threads,
        ] + (["--methods-dir", str(self.args.methods_dir)] if self.args.methods_dir else [])
        return subprocess.Popen(
            command,
            env=self.environment(root, stop_at),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            cwd=self.work,  # not the checkout: "python -m" puts the working folder first on sys.path
        )

    def finish(self, root: Path, stop_at: int | None = None) -> tuple[float, str]:
        """Run to the end; return (seconds, standard error). Raise if it fails."""
        started = time.perf_counter()
        process = self.start(root, stop_at)
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"run into {root} exited {process.returncode}:\n{err}")
        return time.perf_counter() - started, err

    # -- observing -----------------------------------------------------------
    def renames(self, root: Path) -> list[tuple[int, int, str]]:
        """(number, pid, target relative to the run's folder) of every counted rename."""
        log = root / "renames.tsv"
        if not log.is_file():
            return []
        found = []
        for line in log.read_text().splitlines():
            number, pid, _, dst = line.split("\t")
            found.append((int(number), int(pid), os.path.relpath(dst, root)))
        return found

    @staticmethod
    def listing(folder: Path) -> set[str]:
        if not folder.is_dir():
            return set()
        return {str(p.relative_to(folder)) + ("/" if p.is_dir() else "") for p in folder.rglob("*")}

    @staticmethod
    def campaign_processes(root: Path) -> list[int]:
        """Processes whose environment names this run's counter (left alive by a kill)."""
        marker = f"{MARKER}={root / 'counter'}".encode()
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    alive.append(int(entry.name))
            except OSError:
                continue
        return alive

    def rows(self, root: Path):
        from reconbench.store.results import comparable, load_results

        return comparable(load_results(root / "out"))

    def check(self, root: Path) -> dict:
        """Compare a finished folder with the clean run's."""
        out_files = self.listing(root / "out")
        stage_files = {f"stage/{p}" for p in self.listing(root / "stage")}
        rows = self.rows(root)
        stray = (out_files - self.reference_out) | (stage_files - self.reference_stage)
        stray |= {p for p in out_files | stage_files if LEFTOVER.match(Path(p.rstrip("/")).name)}
        stray = sorted(stray)
        return {
            "rows": len(rows),
            "rows_identical": bool(rows.equals(self.reference_rows)),
            "missing_files": sorted((self.reference_out - out_files) | (self.reference_stage - stage_files)),
            "stray_files": stray,
            "tmp_left": sorted(p.name for p in (root / "tmp").iterdir()),
        }

    @staticmethod
    def process_state(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return "gone"

    # -- the campaign --------------------------------------------------------
    def prepare(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.hook_dir.mkdir(exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text(HOOK)
        if not (self.data / "ground_truth" / "simulation.json").is_file():
            subprocess.run(
                [sys.executable, "-m", "reconbench", "simulate", "--preset", self.args.preset, "--out", str(self.data)],
                check=True,
                env=self.environment(self.work, None),
                stdout=subprocess.DEVNULL,
                cwd=self.work,
            )
        clean = self.work / "clean"
        shutil.rmtree(clean, ignore_errors=True)
        self.clean_seconds, _ = self.finish(clean, stop_at=0)
        self.reference = self.renames(clean)
        self.reference_rows = self.rows(clean)
        self.reference_out = self.listing(clean / "out")
        self.reference_stage = {f"stage/{p}" for p in self.listing(clean / "stage")}
        leftovers = self.campaign_processes(clean) + [p for p in (clean / "tmp").iterdir()]
        print(
            f"clean run: {len(self.reference_rows)} rows, {len(self.reference)} renames "
            f"({sum('stage/' in r[2] for r in self.reference)} in the stage cache, "
            f"{sum('/cells/' in r[2] for r in self.reference)} of cell files), {self.clean_seconds:.1f} s; "
            f"left behind by the clean run itself: {leftovers or 'nothing'}",
            flush=True,
        )

    def kill_at_rename(self, k: int) -> dict:
        root = self.work / f"rename-{k:04d}"
        shutil.rmtree(root, ignore_errors=True)
        stop_at, warm = k, False
        stage_renames = [number for number, _, target in self.reference if target.startswith("stage/")]
        if stage_renames and not self.args.cold and k > max(stage_renames):
            # By rename k a cold run has written every stage-cache entry of the clean run: start with
            # those entries (saving the generator's training); the run then makes len(stage_renames)
            # fewer renames before the one that was the clean run's k-th.
            shutil.copytree(self.work / "clean" / "stage", root / "stage")
            stop_at, warm = k - len(stage_renames), True
        process = self.start(root, stop_at=stop_at)
        landed, target, state = False, "", ""
        while process.poll() is None:
            counted = (root / "counter").read_text().split() if (root / "counter").is_file() else []
            if counted and int(counted[0]) >= stop_at:
                pid = int(counted[1])
                for _ in range(500):  # the hook stops itself right after writing the counter
                    state = self.process_state(pid)
                    if state in ("T", "t", "gone"):
                        break
                    time.sleep(0.01)
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                if pid != process.pid and self.process_state(pid) not in ("gone", "Z"):
                    os.kill(pid, signal.SIGKILL)
                landed = state in ("T", "t") and process.returncode == -signal.SIGKILL
                break
            time.sleep(0.02)
        process.communicate()
        seen = self.renames(root)
        if seen:
            target = seen[-1][2]
        expected = self.reference[k - 1][2] if k <= len(self.reference) else ""
        time.sleep(0.2)  # let PR_SET_PDEATHSIG reach the method process
        after_kill = {"processes_left": self.campaign_processes(root), "tmp_left_by_kill": sorted(p.name for p in (root / "tmp").iterdir())}
        _, err = self.finish(root, stop_at=None)
        result = {
            "k": k,
            "warm_stage_cache": warm,
            "landed": landed,
            "target": target,
            "same_target_as_clean": target == expected,
            **after_kill,
            **self.check(root),
            "rerun_repairs": [line for line in err.splitlines() if line.startswith("repaired")],
        }
        self.cleanup(root, result)
        return result

    def random_kills(self, group: int) -> dict:
        """Two SIGKILLs in a row into one fresh folder (the second during the resumed run), then a rerun."""
        root = self.work / f"random-{group:02d}"
        shutil.rmtree(root, ignore_errors=True)
        rng = random.Random(f"{self.args.seed}-{group}")
        moments, landed, tmp_after_kills = [], 0, set()
        remaining = self.clean_seconds
        for _ in range(2):
            moment = rng.uniform(0.5, max(1.0, remaining))
            process = self.start(root)
            try:
                process.wait(timeout=moment)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                landed += 1
            process.communicate()
            moments.append(round(moment, 2))
            remaining -= moment
            time.sleep(0.2)  # let PR_SET_PDEATHSIG reach the method process
            tmp_after_kills |= {p.name for p in (root / "tmp").iterdir()}
        processes_left = self.campaign_processes(root)
        _, err = self.finish(root, stop_at=None)
        result = {
            "group": group,
            "kills_requested": 2,
            "kills_landed": landed,
            "moments_s": moments,
            "tmp_left_by_kill": sorted(tmp_after_kills),
            "processes_left": processes_left,
            **self.check(root),
            "rerun_repairs": [line for line in err.splitlines() if line.startswith("repaired")],
        }
        self.cleanup(root, result)
        return result

    def cleanup(self, root: Path, result: dict) -> None:
        good = result["rows_identical"] and not result["stray_files"] and not result["missing_files"] and not result["processes_left"]
        if good and not self.args.keep:
            shutil.rmtree(root, ignore_errors=True)

    def selected(self) -> list[int]:
        spec, n = self.args.renames, len(self.reference)
        if spec == "none":
            return []
        if spec == "all":
            return list(range(1, n + 1))
        if spec.startswith("every:"):
            step = int(spec.split(":", 1)[1])
            return sorted(set(range(1, n + 1, step)) | {n})
        return [int(k) for k in spec.split(",") if k.strip()]


def main(argv=None) -> int:
    args = parse_args(argv)
    campaign = Campaign(args)
    campaign.prepare()
    report = {
        "options": {k: str(v) for k, v in vars(args).items()},
        "clean": {
            "rows": len(campaign.reference_rows),
            "renames": len(campaign.reference),
            "seconds": round(campaign.clean_seconds, 1),
            "rename_targets": [r[2] for r in campaign.reference],
        },
        "renames": [],
        "random": [],
    }
    report_path = campaign.work / "report.json"

    def save():
        tmp = report_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(report_path)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        report["random"] = []
        for result in pool.map(campaign.random_kills, range((args.random + 1) // 2)):
            report["random"].append(result)
            save()
            print(
                f"random kills {result['group']} at {result['moments_s']} s: {result['kills_landed']} of 2 landed; "
                f"rows_identical={result['rows_identical']} stray={len(result['stray_files'])} "
                f"missing={len(result['missing_files'])} tmp_left_by_kills={len(result['tmp_left_by_kill'])} "
                f"tmp_after_rerun={len(result['tmp_left'])} processes_left={len(result['processes_left'])}",
                flush=True,
            )
        outcomes = pool.map(campaign.kill_at_rename, campaign.selected())
        for result in outcomes:
            k = result["k"]
            report["renames"].append(result)
            save()
            print(
                f"rename {k}/{len(campaign.reference)} {result['target']}: landed={result['landed']} "
                f"same_target={result['same_target_as_clean']} rows_identical={result['rows_identical']} "
                f"stray={len(result['stray_files'])} missing={len(result['missing_files'])} "
                f"tmp_left_by_kill={len(result['tmp_left_by_kill'])} tmp_after_rerun={len(result['tmp_left'])} "
                f"processes_left={len(result['processes_left'])} repairs={len(result['rerun_repairs'])}",
                flush=True,
            )
    results = report["renames"] + report["random"]
    summary = {
        "renames_counted": len(campaign.reference),
        "rename_kills": len(report["renames"]),
        "rename_kills_landed": sum(r["landed"] for r in report["renames"]),
        "rename_kills_at_same_target": sum(r["same_target_as_clean"] for r in report["renames"]),
        "random_kills_landed": sum(r["kills_landed"] for r in report["random"]),
        "reruns": len(results),
        "reruns_rows_identical": sum(r["rows_identical"] for r in results),
        "reruns_with_stray_files": sum(bool(r["stray_files"]) for r in results),
        "reruns_with_missing_files": sum(bool(r["missing_files"]) for r in results),
        "cell_tmp_dirs_left_by_kills": sum(len(r["tmp_left_by_kill"]) for r in results),
        "tmp_entries_left_after_reruns": sum(len(r["tmp_left"]) for r in results),
        "processes_left": sum(len(r["processes_left"]) for r in results),
    }
    report["summary"] = summary
    save()
    print("summary: " + json.dumps(summary), flush=True)
    ok = (
        summary["reruns_rows_identical"] == summary["reruns"]
        and not summary["reruns_with_stray_files"]
        and not summary["reruns_with_missing_files"]
        and not summary["processes_left"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

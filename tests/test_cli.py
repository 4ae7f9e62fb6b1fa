"""The command line: good and bad data (one clear error line, exit status 2, nothing half-written),
weights, and the worked example of docs/add-a-method.md through `list`, `run` and `bench`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reconbench.cli import app, main
from reconbench.core.errors import ReconbenchError
from reconbench.store.results import load_results
from tests.data.bdata_files import LETTER_NAMES, build_dataset, session_specs, write_session_file
from tests.data.grid_run import REPO


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("cli") / "ds", subjects=("sub-01", "sub-03")).root


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def bad_copy(good_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    shutil.copytree(good_root, root)
    return root


def test_data_check_on_good_data(good_root, capsys):
    code, out, err = run_main(["data", "check", str(good_root)], capsys)
    assert code == 0, err
    for text in ("sub-01", "sub-03", "NaturalImageTraining", "NaturalImageTest", "ArtificialImage", "LetterImage", "V1", "VC"):
        assert text in out
    assert "every label has one stimulus image" in out


def test_data_check_reads_root_from_environment(good_root, capsys, monkeypatch):
    monkeypatch.setenv("RECONBENCH_DATA", str(good_root))
    code, out, _ = run_main(["data", "check"], capsys)
    assert code == 0 and "sub-03" in out


def truncate(root: Path) -> str:
    path = root / "sub-01_perceptionNaturalImageTest_original_VC.h5"
    path.write_bytes(path.read_bytes()[:3000])
    return path.name


def remove_file(root: Path) -> str:
    # A missing test session is information (sessions as held); a missing training file is a problem.
    name = "sub-03_perceptionNaturalImageTraining_original_VC.h5"
    (root / name).unlink()
    return name


def remove_image(root: Path) -> str:
    (root / "stimuli" / "LetterImage" / f"{LETTER_NAMES[1]}.tif").unlink()
    return LETTER_NAMES[1]


def drop_roi(root: Path) -> str:
    write_session_file(
        root / "sub-01_perceptionArtificialImage_original_VC.h5", session_specs()["ArtificialImage"], np.random.default_rng(5), drop_keys=("ROI_PPA",)
    )
    return "ROI_PPA"


def nan_voxels(root: Path) -> str:
    write_session_file(root / "sub-01_perceptionNaturalImageTest_original_VC.h5", session_specs()["NaturalImageTest"], np.random.default_rng(5), nan_voxel=True)
    return "NaN/inf voxel values"


def wrong_shape(root: Path) -> str:
    write_session_file(
        root / "sub-01_perceptionNaturalImageTest_original_VC.h5", session_specs()["NaturalImageTest"], np.random.default_rng(5), value_columns_delta=-3
    )
    return "/metadata/value has shape"


def text_image(root: Path) -> str:
    """Finding 6: a text file in place of a stimulus passed as "all files readable"."""
    path = root / "stimuli" / "LetterImage" / f"{LETTER_NAMES[2]}.tif"
    path.write_text("this is not an image\n")
    return f"{path.name} for label {LETTER_NAMES[2]!r} is unreadable"


@pytest.mark.parametrize("breaker", [truncate, remove_file, remove_image, drop_roi, nan_voxels, wrong_shape, text_image])
def test_data_check_on_bad_data(good_root, tmp_path, capsys, breaker):
    root = bad_copy(good_root, tmp_path)
    expected = breaker(root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, out, err = run_main(["data", "check", str(root)], capsys)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert expected in out + err
    # The rest is still reported.
    assert "sub-03" in out
    # Checking writes nothing.
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_data_check_missing_folder(tmp_path, capsys):
    code, _, err = run_main(["data", "check", str(tmp_path / "absent")], capsys)
    assert code == 2 and "absent" in err and "does not exist" in err


def test_data_check_empty_folder(tmp_path, capsys):
    code, _, err = run_main(["data", "check", str(tmp_path)], capsys)
    assert code == 2 and "no session files" in err


def test_console_script_exit_status_and_message(good_root, tmp_path):
    # End to end through a fresh interpreter, as a user runs it.
    root = bad_copy(good_root, tmp_path)
    name = truncate(root)
    env = {k: v for k, v in os.environ.items() if k != "RECONBENCH_DATA"}
    result = subprocess.run([sys.executable, "-m", "reconbench", "data", "check", str(root)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr
    help_result = subprocess.run([sys.executable, "-m", "reconbench", "data", "check", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert help_result.returncode == 0 and "missing stimuli" in help_result.stdout


def test_simulate_refuses_existing_output_folder(tmp_path, capsys):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_main(["simulate", "--preset", "tiny", "--out", str(out), "--seed", "0"], capsys)
    assert code == 2 and str(out) in err and "already exists" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]  # no temporary siblings left


def test_simulate_bad_preset_writes_nothing(tmp_path, capsys):
    out = tmp_path / "new"
    code, _, err = run_main(["simulate", "--preset", "huge", "--out", str(out)], capsys)
    assert code == 2 and "huge" in err
    assert list(tmp_path.iterdir()) == []


# --- issue 17: inputs that passed or crashed -----------------------------------------------


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--seeds", ""], "no seeds"),
        (["--seeds", ","], "no seeds"),
        (["--seeds", "99999999999999999999"], "out of range"),
        (["--seeds", "1.5"], "--seeds"),
        (["--threads", "0"], "--threads 0"),
        (["--threads", "-2"], "--threads -2"),
        (["-j", "0"], "--jobs 0"),
        (["--out", "/etc/hostname"], "is a file"),
        (["--device", "gpu"], "--device 'gpu': expected auto, cpu, cuda or cuda:N"),
        pytest.param(
            ["--device", "cuda"],
            "--device cuda: torch sees no CUDA GPU here",
            marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is available here"),
        ),
    ],
)
def test_run_refuses_bad_options_in_one_line(tiny_data_dir, tmp_path, capsys, extra, match):
    """Finding 6: these ran nothing with exit 0, or gave tracebacks (some after computing every cell)."""
    data = tiny_data_dir
    argv = ["run", "--dataset", "simulated:tiny", "--data", str(data), "--out", str(tmp_path / "out"), "--methods", "mean_image"]
    if "--out" in extra:
        argv = argv[: argv.index("--out")] + argv[argv.index("--out") + 2 :]
    code, out, err = run_main(argv + extra, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err
    assert not (tmp_path / "out").exists()


def test_weights_status_exits_non_zero_when_anything_is_missing_or_altered(tmp_path, capsys, weights_cache):
    """Finding 3: 'weights status' exited 0 while listing files as altered or missing."""
    code, out, _ = run_main(["weights", "status", "--cache", str(tmp_path)], capsys)
    assert code == 1 and "missing" in out
    cache = tmp_path / "cache"
    shutil.copytree(weights_cache, cache, ignore=shutil.ignore_patterns("stages", "*.tar.gz"))
    with pytest.raises(SystemExit) as ok:
        main(["weights", "status", "--cache", str(cache)])
    assert ok.value.code in (0, None)
    capsys.readouterr()
    (cache / "weights" / "vgg16.pt").write_bytes(b"x")
    code, out, _ = run_main(["weights", "status", "--cache", str(cache)], capsys)
    assert code == 1 and "altered" in out


def test_random_weights_with_a_rewritten_manifest_are_refused(tmp_path, weights_cache):
    """Finding 3: random AlexNet weights plus a manifest rewritten to match passed status and the run."""
    import hashlib
    import io
    import json

    import torch

    from reconbench.core.errors import WeightsMissingError
    from reconbench.metrics.weights import load_state_dict, weights_status

    cache = tmp_path / "cache"
    shutil.copytree(weights_cache, cache, ignore=shutil.ignore_patterns("stages", "*.tar.gz"))
    folder = cache / "weights"
    state = torch.load(folder / "alexnet.pt", weights_only=True)
    generator = torch.Generator().manual_seed(0)
    random_state = {key: torch.randn(value.shape, generator=generator) for key, value in state.items()}
    buffer = io.BytesIO()
    torch.save(random_state, buffer)
    (folder / "alexnet.pt").write_bytes(buffer.getvalue())
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["alexnet.pt"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert weights_status(cache)["alexnet"]["verified"] is False
    with pytest.raises(WeightsMissingError, match="pinned"):
        load_state_dict("alexnet", cache)


def test_a_file_where_the_weights_folder_should_be_is_one_line(tmp_path, capsys):
    (tmp_path / "weights").write_text("x")
    code, _, err = run_main(["weights", "fetch", "--cache", str(tmp_path)], capsys)
    assert code == 2 and "is a file where the weights folder" in err and "Traceback" not in err


def test_run_summary_prints_names_literally(capsys):
    """Finding 8: rich read [default] and [mixed_training] as markup."""
    import pandas as pd

    from reconbench.bench.runner import RunSummary, print_summary

    summary = RunSummary(
        out=Path("out[x]"),
        n_cells=2,
        n_run=2,
        n_skipped=0,
        n_failed=2,
        n_failed_total=2,
        seconds=1.0,
        rows=pd.DataFrame(),
        failures=[
            ("divide_and_conquer[default] sub-01 seed 0", "ValueError: [bold]x[/bold]"),
            ("divide_and_conquer[mixed_training] sub-01 seed 0", "ValueError: y"),
        ],
        repairs=["cell [k]: rows file is unreadable"],
    )
    print_summary(summary)
    err = capsys.readouterr().err
    assert "divide_and_conquer[default] sub-01 seed 0: ValueError: [bold]x[/bold]" in err
    assert "divide_and_conquer[mixed_training] sub-01 seed 0" in err
    assert "cell [k]" in err and "out[x]" in err


def test_sigterm_ends_a_write_cleanly_with_status_143(tmp_path):
    """Finding 9: as PID 1 without an init, SIGTERM was ignored. The command line
    now handles it: the write under way is abandoned atomically (no temporary
    file, the old file intact) and the process exits 143."""
    import signal
    import time

    target = tmp_path / "results.parquet"
    target.write_text("old")
    script = (
        "import sys, time\n"
        "from reconbench.cli import install_signal_handlers\n"
        "from reconbench.core.atomic import atomic_path\n"
        "install_signal_handlers()\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('partial')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 143 and time.monotonic() - started < 5
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["results.parquet"]


def _signalled_script(body: str) -> tuple[int, float, str]:
    """Run ``body`` after installing the handlers; SIGTERM it once it prints 'ready'.
    Return its exit status, the seconds it took to end, and its standard output after 'ready'."""
    import signal
    import time

    script = "import sys, time\nfrom reconbench.cli import install_signal_handlers\ninstall_signal_handlers()\n" + body
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("SIGTERM did not end the process within 20 s")
    return status, time.monotonic() - started, process.stdout.read()


def test_sigterm_is_delivered_again_when_library_code_swallows_it():
    """The flaky PID-1 test's cause: a SIGTERM arriving while numpy.random's compiled
    module was being imported raised a SystemExit that the import swallowed, and the
    simulator ran on. The handler now delivers the signal again until the process ends."""
    from reconbench.cli import SIGTERM_REDELIVER_SECONDS

    status, seconds, out = _signalled_script(
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "except SystemExit:\n"
        "    print('swallowed', flush=True)\n"  # what the library did
        "for _ in range(600):\n"
        "    time.sleep(0.1)\n"
        "print('ran on', flush=True)\n"
    )
    assert status == 143 and out.split() == ["swallowed"]
    assert seconds < SIGTERM_REDELIVER_SECONDS + 5


def test_a_repeated_sigterm_does_not_cut_the_cleanup_short():
    """While the first SystemExit unwinds (a temporary folder being removed), the repeats
    do nothing: a cleanup longer than the repeat interval runs to its end."""
    from reconbench.cli import SIGTERM_REDELIVER_SECONDS

    status, seconds, out = _signalled_script(
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "finally:\n"
        f"    for step in range({int(3 * SIGTERM_REDELIVER_SECONDS / 0.1)}):\n"
        "        time.sleep(0.1)\n"
        "    print('cleaned up', flush=True)\n"
    )
    assert status == 143 and out.split() == ["cleaned", "up"]
    assert seconds >= 3 * SIGTERM_REDELIVER_SECONDS  # the slow cleanup was not interrupted by the repeats


def test_an_unwritable_folder_is_one_line_naming_it_and_the_user_fix(tmp_path, capsys, monkeypatch):
    """Finding 9: an unwritable data or output mount gave a raw PermissionError."""
    import reconbench.datasets.simulated.simulate as simulate_module

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "data"))

    monkeypatch.setattr(simulate_module, "simulate", denied)
    code, _, err = run_main(["simulate", "--out", str(tmp_path / "data")], capsys)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert str(tmp_path / "data") in err and '--user "$(id -u):$(id -g)"' in err


def test_cli_list_shows_a_one_file_method(grid_methods_dir) -> None:
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["list", "--methods-dir", str(REPO / "examples")])
    assert result.exit_code == 0, result.output
    assert "my_lowres_ridge" in result.output and "lvc" in result.output
    assert "pairwise_identification" in result.output and "simulated:default" in result.output


def test_cli_run_with_the_worked_example(tiny_data_dir, tmp_path) -> None:
    """The worked example of docs/add-a-method.md: one file in a folder, run and shown on the leaderboard."""
    out = tmp_path / "mine"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--dataset",
            "simulated:tiny",
            "--data",
            str(tiny_data_dir),
            "--out",
            str(out),
            "--methods-dir",
            str(REPO / "examples"),
            "--methods",
            "my_lowres_ridge",
            "--metrics",
            "pixcorr,ssim",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = load_results(out)
    # No noise ceiling without pairwise_identification; no category-only: tiny's test categories are unseen.
    assert set(rows["method"]) == {"my_lowres_ridge", "nearest-category", "noise-free-ridge"}
    board = (out / "leaderboard" / "leaderboard.md").read_text()
    assert "| 1 | my_lowres_ridge |" in board and "my_lowres_ridge [lvc]" in board
    result = CliRunner().invoke(app, ["leaderboard", str(out), "--out", str(tmp_path / "board")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "board" / "leaderboard.md").read_text() == board


@pytest.mark.slow
def test_bench_simulates_when_absent_then_skips_and_ends_with_a_verdict(tmp_path, monkeypatch) -> None:
    """The main command (README, docs/running.md), cut down to one method: simulate, run, verdict, rerun."""
    monkeypatch.setenv("RECONBENCH_DATA", str(tmp_path / "data"))
    out = tmp_path / "results"
    args = ["bench", "--preset", "tiny", "--out", str(out), "--methods-dir", str(REPO / "examples"), "--methods", "my_lowres_ridge:default"]
    # The first run is its own reference: the same cells on the same machine deviate by exactly 0.
    result = CliRunner().invoke(app, [*args, "--no-compare"])
    assert result.exit_code == 0, result.output
    assert "reproduction check" not in result.output
    assert (tmp_path / "data" / "ground_truth" / "simulation.json").is_file()
    first = (out / "leaderboard" / "leaderboard.html").read_bytes()
    shutil.copytree(out, tmp_path / "reference", ignore=shutil.ignore_patterns("cells", "reconstructions"))
    result = CliRunner().invoke(app, [*args, "--reference", str(tmp_path / "reference")])
    assert result.exit_code == 0, result.output
    assert "0 run, 4 already done (skipped)" in result.output
    assert "REPRODUCED: 45 of 45 scores within tolerance, largest deviation 0;" in result.output
    assert (out / "leaderboard" / "leaderboard.html").read_bytes() == first
    # A reference that moved: NOT REPRODUCED, exit 1, the row named.
    moved = pd.read_csv(tmp_path / "reference" / "leaderboard" / "leaderboard.csv", dtype={"params_hash": str})
    moved.loc[(moved["method"] == "my_lowres_ridge") & (moved["test_set"] == "natural") & (moved["metric"] == "ssim"), "mean"] += 0.5
    moved.to_csv(tmp_path / "reference" / "leaderboard" / "leaderboard.csv", index=False)
    (tmp_path / "reference" / "results.parquet").unlink()  # compare the leaderboards' means
    result = CliRunner().invoke(app, [*args, "--reference", str(tmp_path / "reference")])
    assert result.exit_code == 1, result.output
    assert "NOT REPRODUCED: 44 of 45 scores within tolerance" in result.output
    assert "moved: simulated:tiny natural my_lowres_ridge[default] ssim" in result.output
    # A reference asked for by name that is not there: an error naming it (one line, exit 2, from main()).
    result = CliRunner().invoke(app, [*args, "--reference", str(tmp_path / "absent")])
    assert isinstance(result.exception, ReconbenchError) and f"--reference {tmp_path / 'absent'}: no leaderboard there" in str(result.exception)


@pytest.mark.weights
def test_cli_status_and_fetch(weights_cache, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["weights", "status", "--cache", str(weights_cache)])
    assert exit_info.value.code in (0, None)
    output = capsys.readouterr().out
    assert "lpips_alexnet" in output and "ok" in output
    with pytest.raises(SystemExit) as exit_info:
        main(["weights", "fetch", "--cache", str(weights_cache)])
    assert exit_info.value.code in (0, None)


@pytest.mark.parametrize("command", [["bench", "--preset", "tiny"], ["sweep", "--knob", "snr", "--values", "0.1", "--preset", "tiny"]])
def test_bench_and_sweep_refuse_a_bad_device_before_any_work(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("RECONBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RECONBENCH_SWEEP_DATA", str(tmp_path / "data"))
    code, _, err = run_main([*command, "--out", str(tmp_path / "out"), "--device", "cuda:x"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "expected auto, cpu, cuda or cuda:N" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_run_without_references_runs_the_named_method_alone(tiny_data_dir, tmp_path, capsys, weights_cache):
    base = ["run", "--dataset", "simulated:tiny", "--data", str(tiny_data_dir), "--methods", "mean_image", "--metrics", "pixcorr", "--no-leaderboard"]
    code, _, err = run_main([*base, "--out", str(tmp_path / "with")], capsys)
    assert code in (0, None), err
    code, _, err = run_main([*base, "--out", str(tmp_path / "without"), "--no-references"], capsys)
    assert code in (0, None), err
    with_refs = set(pd.read_parquet(tmp_path / "with" / "results.parquet")["method"])
    assert "mean_image" in with_refs and with_refs - {"mean_image"}  # the reference cells (nearest-category, noise-free-ridge)
    assert set(pd.read_parquet(tmp_path / "without" / "results.parquet")["method"]) == {"mean_image"}

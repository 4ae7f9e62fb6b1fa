"""One default data folder rule for ``run`` and ``bench``, and what ``run`` says when the folder is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconbench.bench.presets import default_bench_data
from reconbench.bench.runner import resolve_run_data
from reconbench.cli import main
from reconbench.core.errors import ReconbenchError


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("RECONBENCH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    "dataset, folder",
    [
        ("simulated:tiny", "simulated-tiny"),
        ("simulated-god:ci", "simulated-god-ci"),
        ("ds001506", "ds001506"),
        ("god", "god"),
    ],
)
def test_default_folder_without_environment(home, dataset, folder):
    assert resolve_run_data(dataset, None) == home / "reconbench_data" / folder


def test_run_and_bench_share_the_rule(home, monkeypatch):
    assert resolve_run_data("simulated:default", None) == default_bench_data("default")
    assert resolve_run_data("simulated-god:tiny", None) == default_bench_data("tiny", "god")
    monkeypatch.setenv("RECONBENCH_DATA", str(home / "mine"))
    assert resolve_run_data("simulated:tiny", None) == home / "mine" == default_bench_data("tiny")
    assert resolve_run_data("simulated:tiny", home / "given") == home / "given"


@pytest.mark.parametrize(
    "dataset, command",
    [
        ("simulated:tiny", "reconbench simulate --preset tiny --out {}"),
        ("simulated-god:tiny", "reconbench simulate --preset tiny --layout god --out {}"),
    ],
)
def test_run_on_an_absent_simulated_folder_names_the_command(home, capsys, dataset, command, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--dataset", dataset, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    folder = Path(home) / "reconbench_data" / dataset.replace(":", "-")
    assert command.format(folder) in err
    assert not folder.exists()  # run does not simulate; bench does


def test_run_on_a_folder_of_the_other_layout(tmp_path, capsys):
    from tests.data.god_files import build_god

    built = build_god(tmp_path / "GOD")
    with pytest.raises(SystemExit):
        main(["run", "--dataset", "ds001506", "--data", str(built.root), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "holds the GOD (ds001246, Horikawa & Kamitani 2017) layout" in err and "use --dataset god" in err


def test_bench_simulates_the_god_layout_into_its_default_folder(home, tmp_path, weights_cache):
    from reconbench.bench.runner import run_preset
    from reconbench.datasets.layouts import detect_layout

    summary = run_preset("tiny", layout="god", out=tmp_path / "out", methods=["mean_image"])
    folder = home / "reconbench_data" / "simulated-god-tiny"
    assert detect_layout(folder).name == "god"
    assert summary.n_failed == 0
    assert set(summary.rows["dataset"]) == {"simulated-god:tiny"}
    assert set(summary.rows["test_set"]) == {"natural"}
    with pytest.raises(ReconbenchError, match="another layout"):
        run_preset("tiny", layout="ds001506", data=folder, out=tmp_path / "out2", methods=["mean_image"])

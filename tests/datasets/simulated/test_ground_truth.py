"""The one reader of the simulator's ground truth."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.simulated import ground_truth as gt


def test_categories_and_noise_free_agree_with_load_ground_truth(tiny_data_dir) -> None:
    full = gt.load_ground_truth(tiny_data_dir)
    categories = gt.read_categories(tiny_data_dir)
    assert categories == {name: str(k) for name, k in full.category.items() if k != -1}
    noise_free = gt.read_noise_free(tiny_data_dir, "sub-01")
    assert set(noise_free) == set(full.noise_free["sub-01"])
    for session, (names, responses) in noise_free.items():
        np.testing.assert_array_equal(responses, full.noise_free["sub-01"][session])
        np.testing.assert_array_equal(names, full.noise_free_names["sub-01"][session])


def test_preset_and_image_size(tiny_data_dir, tmp_path) -> None:
    assert gt.simulated_preset(tiny_data_dir) == "tiny"
    assert gt.simulated_image_size(tiny_data_dir) == 64
    assert gt.simulated_preset(tmp_path) is None and gt.simulated_image_size(tmp_path) is None
    assert gt.read_categories(tmp_path) is None and gt.read_noise_free(tmp_path, "sub-01") is None


def test_another_format_version_names_the_command(tiny_data_dir, tmp_path) -> None:
    root = tmp_path / "old"
    shutil.copytree(tiny_data_dir / "ground_truth", root / "ground_truth")
    info = root / "ground_truth" / "simulation.json"
    document = json.loads(info.read_text())
    # A folder of format 3, the simulator before its calibration (format 4), is refused by every reader, each
    # naming the command that simulates it again; so is any older one.
    for old in ("reconbench-simulation/3", "reconbench-simulation/1"):
        document["format_version"] = old
        info.write_text(json.dumps(document))
        command = f"format '{old}'; this version writes 'reconbench-simulation/4'); simulate it again: reconbench simulate --preset tiny --out {root} --force"
        with pytest.raises(ReconbenchError, match=re.escape(command)):
            gt.simulated_preset(root)
        with pytest.raises(ReconbenchError, match=re.escape(command)):
            gt.load_ground_truth(root)
    # A seed other than 0 is part of the command.
    document["seed"] = 3
    info.write_text(json.dumps(document))
    with pytest.raises(ReconbenchError, match=re.escape("reconbench simulate --preset tiny --seed 3 --out")):
        gt.simulated_preset(root)
    document["seed"] = 0
    # A format-2 sweep point (settings recorded) is simulated again by its sweep; a GOD folder names its layout.
    document.update(format_version="reconbench-simulation/2", settings={"snr": 0.01})
    info.write_text(json.dumps(document))
    with pytest.raises(ReconbenchError, match=r"format 'reconbench-simulation/2'.*remove it \(rm -r .*old\) and run the sweep again"):
        gt.simulated_preset(root)
    del document["settings"]
    document["layout"] = "god"
    info.write_text(json.dumps(document))
    with pytest.raises(ReconbenchError, match="reconbench simulate --preset tiny --layout god --out"):
        gt.simulated_preset(root)


def test_category_embedding_is_read_per_subject(tiny_data_dir, tmp_path) -> None:
    embedding = gt.read_category_embedding(tiny_data_dir, "sub-01")
    assert embedding.shape == (20, 16)  # tiny: 10 training + 10 held-out test categories
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    assert gt.read_category_embedding(tmp_path, "sub-01") is None

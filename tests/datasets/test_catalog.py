"""The catalog: every dataset name is parsed in one place."""

from __future__ import annotations

import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.catalog import CATALOG, get_dataset
from reconbench.datasets.simulated.simulate import PRESETS


def test_every_preset_and_the_real_dataset_are_listed() -> None:
    assert set(CATALOG) == {"ds001506", "god"} | {f"simulated:{p}" for p in PRESETS} | {f"simulated-god:{p}" for p in PRESETS}
    real = get_dataset("ds001506")
    assert (real.kind, real.preset, real.evaluation_size) == ("ds001506", None, 256)
    assert list(real.sessions) == ["NaturalImageTraining", "NaturalImageTest", "ArtificialImage", "LetterImage"]
    tiny = get_dataset("simulated:tiny")
    assert (tiny.kind, tiny.preset, tiny.subjects) == ("simulated", "tiny", ("sub-01",))
    god = get_dataset("god")
    assert (god.kind, god.layout, god.evaluation_size) == ("god", "god", 256)
    assert dict(god.sessions) == {"ImageNetTraining": "train", "ImageNetTest": "natural", "Imagery": "imagery"}
    assert god.subjects == tuple(f"Subject{n}" for n in range(1, 6))
    god_tiny = get_dataset("simulated-god:tiny")
    assert (god_tiny.kind, god_tiny.layout, god_tiny.preset, god_tiny.subjects) == ("simulated", "god", "tiny", ("Subject1",))


def test_the_pinned_evaluation_resolutions() -> None:
    assert get_dataset("ds001506").evaluation_size_for(500) == 256
    assert get_dataset("simulated:default").evaluation_size_for(256) == 256
    assert get_dataset("simulated:full").evaluation_size_for(256) == 256
    assert get_dataset("simulated:tiny").evaluation_size_for(64) == 64


def test_unknown_names_and_contradicting_folders_are_refused(tiny_data_dir) -> None:
    with pytest.raises(ReconbenchError, match="unknown dataset 'simulated:huge'.*ds001506"):
        get_dataset("simulated:huge")
    get_dataset("simulated:tiny").check_folder(tiny_data_dir)
    with pytest.raises(ReconbenchError, match="use --dataset simulated:tiny"):
        get_dataset("simulated:default").check_folder(tiny_data_dir)
    with pytest.raises(ReconbenchError, match="is a simulated dataset"):
        get_dataset("ds001506").check_folder(tiny_data_dir)

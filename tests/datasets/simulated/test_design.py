"""Format 3 of the simulator: ds001506's design (training categories x 8 images, test images from held-out
categories, one each), category families, the ``seen`` design and the training-images setting."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.simulated import ground_truth
from reconbench.datasets.simulated import simulate as sim
from reconbench.datasets.simulated.encoding_model import category_embedding
from reconbench.datasets.simulated.settings import apply_settings
from tests.data.bdata_files import bdpy_bdata


def _synsets_of_trials(root: Path, session: str) -> set[int]:
    """Synsets (integer part of the stimulus ids) of every trial of a session, read with bdpy."""
    ids = bdpy_bdata(root / f"sub-01_perception{session}_original_VC.h5").select("stimulus_id").ravel()
    return {int(np.floor(v)) for v in ids}


@pytest.mark.parametrize("name", ["tiny", "ci", "default", "full"])
def test_every_preset_has_ds001506_design(name) -> None:
    preset = sim.PRESETS[name]
    design = sim.stimulus_design(preset, seed=0)
    training, test = design["NaturalImageTraining"], design["NaturalImageTest"]
    per_category = collections.Counter(s.category for s in training)
    assert len(per_category) == preset.n_training_categories
    assert set(per_category.values()) == {preset.images_per_category}
    test_categories = [s.category for s in test]
    assert len(test) == preset.n_test and len(set(test_categories)) == preset.n_test, "one test image per category"
    assert not set(test_categories) & set(per_category), "test categories are held out of training"
    # Synsets (the ids' integer part) tell categories apart, as ImageNet ids do.
    assert not {int(s.stimulus_id) for s in test} & {int(s.stimulus_id) for s in training}
    # Every family has training categories and test categories.
    families = {s.family for s in training}
    assert families == {s.family for s in test} == set(range(preset.n_families))


def test_full_is_ds001506_size() -> None:
    full = sim.PRESETS["full"]
    assert (full.n_training_categories, full.images_per_category, full.n_training, full.n_test) == (150, 8, 1200, 50)


def test_trials_and_ground_truth_keep_test_categories_out_of_training(tiny_data_dir) -> None:
    gt = ground_truth.load_ground_truth(tiny_data_dir)
    train = [s for s in gt.stimuli if s.session == "NaturalImageTraining"]
    test = [s for s in gt.stimuli if s.session == "NaturalImageTest"]
    assert not {s.category for s in train} & {s.category for s in test}
    # The trials as a reader sees them: no training trial shows a synset of a test image.
    assert not _synsets_of_trials(tiny_data_dir, "NaturalImageTraining") & _synsets_of_trials(tiny_data_dir, "NaturalImageTest")
    # The ground truth records each image's category and family, consistent with simulation.json.
    config = gt.config
    assert config["knobs"]["test_categories"] == "unseen"
    for s in train + test:
        assert gt.family[s.name] == config["category_family"][s.category] == config["categories"][s.category]["family_index"]
    assert all(gt.family[s.name] == -1 for s in gt.stimuli if s.session in ("ArtificialImage", "LetterImage"))
    # Extra images come from training categories only.
    extra = (tiny_data_dir / "ground_truth" / "extra_images.tsv").read_text().splitlines()[1:]
    assert {int(line.split("\t")[1]) for line in extra} <= {s.category for s in train}


def test_categories_of_a_family_share_embedding_and_appearance() -> None:
    family_of = np.repeat(np.arange(4), 25)
    embedding, families = category_embedding(family_of, 16, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    cosine = embedding @ embedding.T
    same = family_of[:, None] == family_of[None, :]
    off_diagonal = ~np.eye(family_of.size, dtype=bool)
    assert cosine[same & off_diagonal].mean() == pytest.approx(0.6, abs=0.1)  # FAMILY_SHARE
    assert abs(cosine[~same].mean()) < 0.1
    assert families.shape == (4, 16)


def test_seen_design_draws_test_images_from_training_categories(tmp_path) -> None:
    root = sim.simulate("tiny", tmp_path / "seen", settings={"test_categories": "seen"})
    gt = ground_truth.load_ground_truth(root)
    train = {s.name for s in gt.stimuli if s.session == "NaturalImageTraining"}
    test = [s for s in gt.stimuli if s.session == "NaturalImageTest"]
    train_categories = {gt.category[n] for n in train}
    assert {s.category for s in test} <= train_categories
    assert not {s.name for s in test} & train, "a test image is never a training image"
    assert gt.config["knobs"]["test_categories"] == "seen" and gt.config["settings"] == {"test_categories": "seen"}
    assert _synsets_of_trials(root, "NaturalImageTest") <= _synsets_of_trials(root, "NaturalImageTraining")


def test_fewer_training_images_per_category_keep_the_world(tiny_data_dir, tmp_path) -> None:
    root = sim.simulate("tiny", tmp_path / "four", settings={"training_per_category": 4})
    full = ground_truth.load_ground_truth(tiny_data_dir)
    reduced = ground_truth.load_ground_truth(root)
    full_train = {s.name: s for s in full.stimuli if s.session == "NaturalImageTraining"}
    kept = [s for s in reduced.stimuli if s.session == "NaturalImageTraining"]
    assert len(kept) == 4 * sim.PRESETS["tiny"].n_training_categories
    assert collections.Counter(s.category for s in kept) == {k: 4 for k in range(sim.PRESETS["tiny"].n_training_categories)}
    # The kept images are the very images of the full design, byte for byte, and so are the test images.
    for s in kept:
        assert s.name in full_train
        path = Path("stimuli") / s.session / f"{s.name}.png"
        assert (root / path).read_bytes() == (tiny_data_dir / path).read_bytes()
    for session in ("NaturalImageTest", "ArtificialImage", "LetterImage"):
        for png in sorted((tiny_data_dir / "stimuli" / session).iterdir()):
            assert (root / "stimuli" / session / png.name).read_bytes() == png.read_bytes()
    assert len(list((root / "stimuli" / "NaturalImageTraining").iterdir())) == len(kept)
    # Same world: the noise-free responses of the kept and the test images are unchanged.
    for session in ("NaturalImageTraining", "NaturalImageTest"):
        names_full = list(full.noise_free_names["sub-01"][session])
        names = list(reduced.noise_free_names["sub-01"][session])
        rows = [names_full.index(n) for n in names]
        np.testing.assert_array_equal(reduced.noise_free["sub-01"][session], full.noise_free["sub-01"][session][rows])


def test_training_per_category_is_checked_against_the_preset() -> None:
    preset = apply_settings(sim.PRESETS["tiny"], {"training_per_category": 11})
    with pytest.raises(ReconbenchError, match=r"training_per_category must lie in 1\.\.10"):
        sim.stimulus_design(preset, seed=0)


def test_simulation_json_names_the_design(tiny_data_dir) -> None:
    document = json.loads((tiny_data_dir / "ground_truth" / "simulation.json").read_text())
    assert document["format_version"] == "reconbench-simulation/4"
    assert document["families"] == sim.PRESETS["tiny"].n_families
    assert "held-out categories" in document["notes"]

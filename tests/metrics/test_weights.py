"""Loading weights: the manifest is the authority; missing or altered files name the fetch command."""

from __future__ import annotations

import json

import pytest

from reconbench.core.errors import WeightsMissingError
from reconbench.metrics.weights import FETCH_COMMAND, WEIGHT_FILES, load_state_dict, weights_dir, weights_status


def test_an_empty_cache_reports_missing_and_names_the_command(tmp_path) -> None:
    status = weights_status(tmp_path)
    assert set(status) == set(WEIGHT_FILES)
    assert not any(entry["present"] or entry["verified"] for entry in status.values())
    with pytest.raises(WeightsMissingError, match=FETCH_COMMAND):
        load_state_dict("alexnet", tmp_path)


def test_a_file_without_a_matching_manifest_entry_is_refused(tmp_path) -> None:
    folder = weights_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / "alexnet.pt").write_bytes(b"not torch")
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "files": {"alexnet.pt": {"sha256": "0" * 64}}}))
    assert weights_status(tmp_path)["alexnet"] == {
        "path": str(folder / "alexnet.pt"), "present": True, "verified": False, "pinned": False, "source": None, "sha256": "0" * 64,
    }
    with pytest.raises(WeightsMissingError, match=FETCH_COMMAND):
        load_state_dict("alexnet", tmp_path)

"""Result rows record the sha256 of the pretrained weights they were scored with (issue 17, finding 3:
rows did not say which weights made their LPIPS and AlexNet scores)."""

from __future__ import annotations

import hashlib
import json

import pytest

from reconbench.bench.runner import run_benchmark


@pytest.mark.weights
def test_rows_scored_with_pretrained_weights_record_their_sha256(tiny_data_dir, weights_cache, tmp_path) -> None:
    summary = run_benchmark("simulated:tiny", tiny_data_dir, tmp_path / "out", methods=["mean_image"], metrics=["lpips", "alexnet2"], leaderboard=False)
    rows = summary.rows[summary.rows["kind"] == "method"]
    assert len(rows) and set(rows["status"]) == {"ok"}
    recorded = {json.dumps(json.loads(text), sort_keys=True) for text in rows["weights"]}
    assert len(recorded) == 1
    weights = json.loads(recorded.pop())
    # LPIPS needs its AlexNet trunk and its linear layers; AlexNet(2) the same trunk.
    assert {"alexnet", "lpips_alexnet"} <= set(weights)
    for name, digest in weights.items():
        on_disk = hashlib.sha256((weights_cache / "weights" / f"{name}.pt").read_bytes()).hexdigest()
        assert digest == on_disk, name

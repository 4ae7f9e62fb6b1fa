"""Split-half reliability against scipy and against its analytic value on data with known signal and noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from reconbench.core.errors import ReconbenchError
from reconbench.datasets.ds001506.bdata import SessionData
from reconbench.datasets.reliability import columnwise_correlation, folder_reliability, half_means, session_reliability


def _session(signal_var: float, noise_var: float, reps: int, n_images: int = 200, n_voxels: int = 400, seed: int = 0) -> SessionData:
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, np.sqrt(signal_var), (n_images, n_voxels))
    order = np.concatenate([rng.permutation(n_images) for _ in range(reps)])  # one run per repetition, shuffled
    trials = signal[order] + rng.normal(0, np.sqrt(noise_var), (order.size, n_voxels))
    ids = np.array([f"img{i:04d}" for i in order])
    runs = np.repeat(np.arange(1, reps + 1), n_images)
    return SessionData("NaturalImageTest", Path("synthetic.h5"), {"V1": trials.astype(np.float32)}, runs, ids)


def test_per_voxel_values_match_scipy_pearson_on_explicit_halves() -> None:
    session = _session(1.0, 4.0, reps=5, n_images=30, n_voxels=12)
    r = session_reliability(session, ("V1",))["V1"]
    x = session.fmri["V1"].astype(np.float64)
    for v in range(12):
        odd, even = [], []
        for image in sorted(set(session.stimulus_ids)):
            shown = [x[t, v] for t in range(len(x)) if session.stimulus_ids[t] == image]
            odd.append(np.mean(shown[0::2]))
            even.append(np.mean(shown[1::2]))
        assert r.r[v] == pytest.approx(stats.pearsonr(odd, even)[0], abs=1e-9)
    assert r.reps_per_half == 2  # 5 presentations: 3 odd, 2 even


@pytest.mark.parametrize("signal_var, noise_var, reps", [(1.0, 8.0, 8), (1.0, 1.0, 2), (0.2, 4.0, 24)])
def test_the_median_matches_the_analytic_reliability(signal_var, noise_var, reps) -> None:
    rel = session_reliability(_session(signal_var, noise_var, reps), ("V1",))["V1"]
    k = reps // 2
    expected = signal_var / (signal_var + noise_var / k)
    assert float(np.median(rel.r)) == pytest.approx(expected, abs=0.03)
    # Spearman-Brown: the reliability of the mean of all 2k presentations.
    expected_full = signal_var / (signal_var + noise_var / (2 * k))
    assert float(np.median(rel.spearman_brown)) == pytest.approx(expected_full, abs=0.03)


def test_constant_voxels_are_nan_and_bad_designs_are_refused() -> None:
    a = np.column_stack([np.arange(5.0), np.ones(5)])
    assert np.isnan(columnwise_correlation(a, a)[1]) and columnwise_correlation(a, a)[0] == pytest.approx(1.0)
    with pytest.raises(ReconbenchError, match="shown at least twice; shown once: b"):
        half_means(np.zeros((5, 2)), np.array(["a", "a", "b", "c", "c"]))
    with pytest.raises(ReconbenchError, match="at least 3 stimuli"):
        half_means(np.zeros((4, 2)), np.array(["a", "a", "b", "b"]))
    with pytest.raises(ReconbenchError, match="no ROI 'LOC'"):
        session_reliability(_session(1, 1, 2, 10, 3), ("LOC",))


def test_a_simulated_folder_is_reliable_above_zero_and_below_one(tiny_data_dir) -> None:
    table = folder_reliability(tiny_data_dir, "sub-01")
    assert list(table) == ["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA"]
    v1 = table["V1"].quantiles()[1]
    assert 0.0 < v1 < 0.9

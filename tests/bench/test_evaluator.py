"""The evaluator: alignment by stimulus id, input checks, resolution rule, scoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from reconbench.bench.evaluator import (
    EvaluationError,
    Evaluator,
    align_by_id,
    check_reconstructions,
    evaluation_size,
)
from reconbench.core.errors import ReconbenchError


@dataclass(frozen=True)
class Spec:
    """A stand-in with the fields of reconbench.metrics.MetricSpec the evaluator uses."""

    name: str
    function: Callable
    higher_is_better: bool = True
    recipe: str = ""
    needs_weights: bool = False
    chance: float | None = None


def pearson_per_image(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    p = pred.reshape(len(pred), -1).astype(np.float64)
    t = true.reshape(len(true), -1).astype(np.float64)
    p -= p.mean(1, keepdims=True)
    t -= t.mean(1, keepdims=True)
    return (p * t).sum(1) / np.sqrt((p * p).sum(1) * (t * t).sum(1))


def mean_abs_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.abs(pred - true).reshape(len(pred), -1).mean(1)


METRICS = {"pearson": Spec("pearson", pearson_per_image), "mae": Spec("mae", mean_abs_error, higher_is_better=False)}


@pytest.fixture
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = np.array([f"stim_{k:02d}" for k in range(6)])
    return ids, rng.random((6, 3, 16, 16), dtype=np.float32)


def test_evaluation_size_rule() -> None:
    assert evaluation_size("ds001506", 500) == 256
    assert evaluation_size("simulated:default", 256) == 256
    assert evaluation_size("simulated:full", 256) == 256
    assert evaluation_size("simulated:tiny", 32) == 32
    with pytest.raises(ReconbenchError, match="no evaluation resolution.*'other'"):
        evaluation_size("other", 64)


def test_alignment_is_by_id_not_position(images) -> None:
    ids, true = images
    evaluator = Evaluator(ids, true, 16, METRICS)
    order = np.array([3, 0, 5, 1, 4, 2])
    # The method was asked for the ids in a shuffled order and answered perfectly.
    scores = evaluator.evaluate(true[order], ids[order])
    np.testing.assert_allclose(scores["pearson"], 1.0, atol=1e-6)
    np.testing.assert_allclose(scores["mae"], 0.0, atol=1e-7)
    # The same predictions scored by position would be wrong: the evaluator must not do that.
    positional = pearson_per_image(true[order], true)
    assert np.all(positional[order != np.arange(6)] < 0.5)


def test_scores_match_scipy_pearson_per_image(images) -> None:
    ids, true = images
    rng = np.random.default_rng(1)
    pred = np.clip(true + 0.3 * rng.standard_normal(true.shape).astype(np.float32), 0, 1)
    order = rng.permutation(6)
    scores = Evaluator(ids, true, 16, METRICS).evaluate(pred[order], ids[order])
    expected = [scipy.stats.pearsonr(pred[k].ravel(), true[k].ravel())[0] for k in range(6)]
    np.testing.assert_allclose(scores["pearson"], expected, rtol=1e-5)
    assert scores["pearson"].shape == (6,)


def test_resizes_predictions_and_truth_with_the_pinned_resize(images) -> None:
    ids, true = images
    big = np.clip(np.kron(true, np.ones((1, 1, 4, 4), dtype=np.float32)), 0, 1)  # (6, 3, 64, 64)
    evaluator = Evaluator(ids, true, 32, METRICS)
    prepared = evaluator.prepare(big, ids)
    assert prepared.shape == (6, 3, 32, 32)
    reference = F.interpolate(torch.from_numpy(big), size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    np.testing.assert_allclose(prepared, np.clip(reference.numpy(), 0, 1), atol=1e-6)
    assert evaluator.true_images.shape == (6, 3, 32, 32)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda ids: np.concatenate([ids[:-1], ids[:1]]), "duplicate prediction stimulus ids: stim_00"),
        (lambda ids: np.concatenate([ids[:-1], ["stim_99"]]), "no reconstruction for 1 stimulus id"),
    ],
)
def test_bad_ids_are_named(images, mutate, message) -> None:
    ids, true = images
    with pytest.raises(EvaluationError, match=message):
        Evaluator(ids, true, 16, METRICS).evaluate(true, mutate(ids))


def test_unknown_ids_are_named(images) -> None:
    ids, true = images
    with pytest.raises(EvaluationError, match="unknown stimulus id.*zzz"):
        align_by_id(np.concatenate([true, true[:1]]), list(ids) + ["zzz"], list(ids), method="m")


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((6, 1, 16, 16)), r"shape \(6, 1, 16, 16\), expected \(M, 3, H, W\)"),
        (np.zeros((5, 3, 16, 16)), "5 reconstructions for 6 stimulus ids"),
        (np.full((6, 3, 16, 16), 1.5), r"values in \[1.5, 1.5\], expected \[0, 1\]"),
        (np.full((6, 3, 16, 16), np.nan), "non-finite"),
        (np.zeros((6, 3, 16)), "expected \\(M, 3, H, W\\)"),
    ],
)
def test_bad_reconstructions_are_refused(bad, message) -> None:
    with pytest.raises(EvaluationError, match=message):
        check_reconstructions(bad, 6, method="m")


def test_accepts_torch_tensors(images) -> None:
    ids, true = images
    scores = Evaluator(ids, true, 16, METRICS).evaluate(torch.from_numpy(true), ids)
    np.testing.assert_allclose(scores["pearson"], 1.0, atol=1e-6)


def test_metric_must_return_one_value_per_image(images) -> None:
    ids, true = images
    bad = {"mean": Spec("mean", lambda p, t: np.array([0.0]))}
    with pytest.raises(ReconbenchError, match=r"one value per image \(6,\)"):
        Evaluator(ids, true, 16, bad).evaluate(true, ids)

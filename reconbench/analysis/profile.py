"""``reconbench data profile``: what each ROI of a data folder tells about a ladder of image features.

For one subject of any folder the project reads (a simulated folder, ds001506
or GOD layout; :mod:`reconbench.datasets.layouts` detects which), and for each
ROI (V1, V2, V3, V4, LOC, FFA, PPA, LVC, HVC, VC), the profile decodes every
level of a ladder of image features of the *training* images with the
project's ridge decoder and scores the decodes on held-out training images:

==========  ===============================================================
luminance   luma (0.299 R + 0.587 G + 0.114 B) on a 16 x 16 grid (256 dims)
colour      two opponent chroma channels, R - G and (R + G) / 2 - B, on an
            8 x 8 grid (128 dims); luminance is not in it
conv1..5    ImageNet AlexNet after each convolution's ReLU
            (:func:`reconbench.decoders.features.feature_vectors`), average-
            pooled to a 4 x 4 grid, at most 1,000 units drawn at random (a
            fixed draw per layer, as Horikawa & Kamitani 2017 decode 1,000
            random units per layer)
semantic    the semantic vector divide-and-conquer decodes: AlexNet conv5
            pooled to 2 x 2, standardised and PCA-reduced to 64 dims
            (:class:`reconbench.methods._semantic.SemanticSpace`, fitted on the
            fitting images only)
category    one-hot of the category in the stimulus id (``n<synset>_<number>``:
            the synset, as ``_semantic.category_labels`` reads it; the
            simulator names its categories this way too); left out when the ids
            carry no category
==========  ===============================================================

The recipe, one for every ROI and level
---------------------------------------
- **Held-out images**: 20 % of the training images, the ones outside the
  fixed validation fold (:func:`reconbench.datasets.splits.validation_ids`)
  with the smallest ``sha256("reconbench-profile-heldout-v1:" + id)``, skipping
  an image whose category would be left without a fitting image (unless the
  folder is too small for that; the category level then scores only the
  held-out images whose category has a fitting image). No test
  image is used for anything but the reliability below, and none is fitted.
- **Fitting**: on the other training images (the validation fold among them),
  with :func:`reconbench.decoders.ridge.fit_ridge_decoder` on the responses
  averaged per image (``samples="averaged"``: GOD shows each training image
  once, ds001506 five times; averages make the two comparable), one alpha per
  target dimension chosen on the validation fold from the decoder's default
  grid, then refitted on all fitting images. Targets are standardised with
  the fitting images' mean and standard deviation (dimensions constant on
  them are dropped); every feature transform (PCA, unit draw) sees the
  fitting images only.
- **Scores** on the held-out images, responses averaged per image:
  *correlation*, the Pearson correlation of decoded and true values across
  held-out images, per target dimension, averaged over dimensions (chance 0);
  *identification*, pairwise identification in the standardised feature space
  (:func:`reconbench.metrics.identification.identification_from_similarity`:
  for each held-out image, the fraction of the other held-out images whose
  true feature vector correlates less with its decoded vector than its own,
  ties failing; pairs with identical true vectors, such as two images of one
  category, are left out), averaged over images (chance 0.5).
- **Reliability** per ROI: the median over voxels of the split-half
  reliability of the natural test session
  (:func:`reconbench.datasets.reliability.session_reliability`, what
  ``reconbench data reliability`` prints), the one session whose images are
  repeated in every layout.

Outputs (:func:`write_profile`, one folder written atomically):
``profile.csv`` (one row per ROI and level), ``profile.json`` (the folder,
subject, image counts and recipe) and ``profile.html`` (a self-contained page
with ROI x level heat maps and the identification curves).
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from reconbench.core.atomic import atomic_path
from reconbench.core.errors import DataError, ReconbenchError
from reconbench.core.hashing import sha256_text
from reconbench.core.paths import data_root
from reconbench.core.types import ALL_ROIS, TrainData, average_trials

#: The feature ladder, low to high.
LEVELS = ("luminance", "colour", "conv1", "conv2", "conv3", "conv4", "conv5", "semantic", "category")
NETWORK_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
HELDOUT_FRACTION = 0.2
HELDOUT_SALT = "reconbench-profile-heldout-v1:"
SUBSET_SALT = "reconbench-profile-subset-v1:"
LUMINANCE_GRID = 16
COLOUR_GRID = 8
UNIT_POOL = 4
MAX_UNITS = 1000
#: The semantic vector of divide-and-conquer's defaults (``semantic_net``, ``semantic_layer``,
#: ``semantic_pool``, ``semantic_components``; a test checks they agree).
SEMANTIC_NET, SEMANTIC_LAYER, SEMANTIC_POOL, SEMANTIC_COMPONENTS = "alexnet", "conv5", 2, 64
SAMPLES = "averaged"
#: Images per AlexNet pass (bounds the memory of the unpooled activations).
FEATURE_CHUNK = 32
CSV_COLUMNS = ("subject", "roi", "voxels", "reliability", "level", "dims", "correlation", "identification", "heldout_images")


@dataclass
class ProfileResult:
    """The profile of one subject.

    Attributes
    ----------
    rows : list of dict
        One per ROI and level, keys :data:`CSV_COLUMNS`.
    meta : dict
        Folder, layout, subject, image counts, the recipe and notes.
    """

    rows: list[dict]
    meta: dict = field(default_factory=dict)

    @property
    def rois(self) -> list[str]:
        return list(dict.fromkeys(row["roi"] for row in self.rows))

    @property
    def levels(self) -> list[str]:
        return list(dict.fromkeys(row["level"] for row in self.rows))

    def value(self, roi: str, level: str, key: str) -> float:
        for row in self.rows:
            if row["roi"] == roi and row["level"] == level:
                return float(row[key])
        return float("nan")

    def reliability(self, roi: str) -> float:
        return next((float(row["reliability"]) for row in self.rows if row["roi"] == roi), float("nan"))

    def voxels(self, roi: str) -> int:
        return next((int(row["voxels"]) for row in self.rows if row["roi"] == roi), 0)


# ---------------------------------------------------------------------------
# Pure rules


def parse_rois(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """ROIs from ``--rois`` (comma-separated), in the order of :data:`ALL_ROIS`; None: all of them.

    Raises
    ------
    ReconbenchError
        An unknown ROI (the message lists the valid ones), or none given.
    """
    if text is None:
        return ALL_ROIS
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [n for n in names if n not in ALL_ROIS]
    if unknown:
        raise ReconbenchError(f"unknown ROI {', '.join(repr(n) for n in unknown)} in --rois; valid: {', '.join(ALL_ROIS)}")
    if not names:
        raise ReconbenchError(f"--rois names no ROI; valid: {', '.join(ALL_ROIS)}")
    return tuple(r for r in ALL_ROIS if r in names)


def category_of(stimulus_ids: Iterable[str]) -> np.ndarray | None:
    """The category (synset) of each id ``n<synset>_<number>``; None when any id has none."""
    from reconbench.methods._semantic import CATEGORY_ID

    out = []
    for stimulus_id in stimulus_ids:
        match = CATEGORY_ID.match(str(stimulus_id))
        if match is None:
            return None
        out.append(match.group(1))
    return np.array(out)


def heldout_mask(
    stimulus_ids: Sequence[str], validation_mask: np.ndarray, categories: np.ndarray | None = None, fraction: float = HELDOUT_FRACTION
) -> np.ndarray:
    """The held-out training images of the profile (see the module docstring).

    Parameters
    ----------
    stimulus_ids : sequence of str, shape (S,)
    validation_mask : ndarray of bool, shape (S,)
        The fixed validation fold; never held out.
    categories : ndarray, shape (S,), optional
        An image is skipped when holding it out would leave its category without a fitting image,
        unless too few images are left to hold out otherwise.
    fraction : float

    Returns
    -------
    ndarray of bool, shape (S,)

    Raises
    ------
    DataError
        Fewer than 2 images can be held out while keeping 2 fitting images outside the validation fold.
    """
    ids = [str(i) for i in stimulus_ids]
    validation_mask = np.asarray(validation_mask, dtype=bool)
    candidates = [i for i in range(len(ids)) if not validation_mask[i]]
    wanted = min(max(2, math.ceil(fraction * len(ids))), len(candidates) - 2)
    left: dict[str, int] = {}
    if categories is not None:
        for c in categories:
            left[str(c)] = left.get(str(c), 0) + 1
    ranked = sorted(candidates, key=lambda i: sha256_text(HELDOUT_SALT + ids[i]))
    chosen: list[int] = []
    for i in ranked:
        if len(chosen) >= wanted:
            break
        if categories is not None:
            c = str(categories[i])
            if left[c] <= 1:
                continue
            left[c] -= 1
        chosen.append(i)
    # Too few images in categories of several images (a small folder): fill up in the same order;
    # the category level then scores only the held-out images whose category has a fitting image.
    for i in ranked:
        if len(chosen) >= wanted:
            break
        if i not in chosen:
            chosen.append(i)
    if len(chosen) < 2:
        raise DataError(f"only {len(ids)} training images ({int(validation_mask.sum())} in the validation fold): too few to hold out 2 and fit on the rest")
    mask = np.zeros(len(ids), dtype=bool)
    mask[chosen] = True
    return mask


def subset_ids(stimulus_ids: Sequence[str], n: int) -> np.ndarray:
    """Indices of the ``n`` ids with the smallest ``sha256(SUBSET_SALT + id)`` (``--max-train``), sorted."""
    ids = [str(i) for i in stimulus_ids]
    ranked = sorted(range(len(ids)), key=lambda i: sha256_text(SUBSET_SALT + ids[i]))
    return np.sort(np.asarray(ranked[: int(n)], dtype=np.int64))


def standardise(x: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Columns of ``x`` standardised with the mean and standard deviation of the ``fit`` rows; columns constant there dropped."""
    x = np.asarray(x, dtype=np.float64)
    mean = x[fit].mean(0)
    scale = x[fit].std(0)
    keep = scale > 1e-8 * max(1.0, float(np.abs(mean).max(initial=0.0)))
    return ((x[:, keep] - mean[keep]) / scale[keep]).astype(np.float32)


def feature_identification(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pairwise identification of each decoded row among the true rows (correlation, ties fail),
    leaving out the pairs whose true rows are identical.

    Returns
    -------
    ndarray, shape (N,)
        NaN for a row with no other row to compare with.
    """
    from reconbench.metrics.identification import correlation_matrix, identification_from_similarity

    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    similarity = correlation_matrix(pred, true)
    _, group = np.unique(true, axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    same = (group[:, None] == group[None, :]) & ~np.eye(len(group), dtype=bool)
    similarity[same] = np.nan
    return identification_from_similarity(similarity)


def level_scores(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """``(mean per-dimension correlation, mean identification)`` of one level on the held-out rows."""
    from reconbench.datasets.reliability import columnwise_correlation

    r = columnwise_correlation(np.asarray(pred, np.float64), np.asarray(true, np.float64))
    correlation = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")
    ident = feature_identification(pred, true)
    identification = float(np.nanmean(ident)) if np.isfinite(ident).any() else float("nan")
    return correlation, identification


# ---------------------------------------------------------------------------
# Feature levels


def pixel_levels(images: np.ndarray) -> dict[str, np.ndarray]:
    """``luminance`` (N, 256) and ``colour`` (N, 128) of images (N, 3, H, W) in [0, 1]."""
    from reconbench.core.images import resize

    small = resize(np.asarray(images, np.float32), LUMINANCE_GRID).astype(np.float64)
    luminance = 0.299 * small[:, 0] + 0.587 * small[:, 1] + 0.114 * small[:, 2]
    tiny = resize(np.asarray(images, np.float32), COLOUR_GRID).astype(np.float64)
    red_green = tiny[:, 0] - tiny[:, 1]
    blue_yellow = (tiny[:, 0] + tiny[:, 1]) / 2 - tiny[:, 2]
    n = images.shape[0]
    return {
        "luminance": luminance.reshape(n, -1).astype(np.float32),
        "colour": np.concatenate([red_green.reshape(n, -1), blue_yellow.reshape(n, -1)], axis=1).astype(np.float32),
    }


def network_levels(images: np.ndarray, on_chunk: Callable[[], None] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """AlexNet conv1..conv5 pooled to :data:`UNIT_POOL` (every unit), and the semantic stage's pooled conv5.

    One forward pass per chunk of images taps all five layers; each output is
    what :func:`reconbench.decoders.features.feature_vectors` returns for that
    layer (ImageNet normalisation, after the ReLU, adaptive average pooling; a
    test checks it), and the semantic input is
    :func:`reconbench.methods._semantic.pooled_features` of conv5. Images smaller
    than conv5's smallest input are enlarged first, for every layer.

    Returns
    -------
    layers : dict of str to ndarray, shape (N, C * 4 * 4)
    semantic_raw : ndarray, shape (N, 256 * 2 * 2)
    """
    import torch
    import torch.nn.functional as F

    from reconbench.core.images import resize
    from reconbench.metrics.networks import IMAGENET_MEAN, IMAGENET_STD, min_input_size
    from reconbench.metrics.weights import load_trunk

    trunk = load_trunk("alexnet")
    smallest = min_input_size("alexnet", NETWORK_LAYERS[-1])
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)

    def pooled(activation, side: int) -> np.ndarray:
        if max(activation.shape[2:]) > side:
            activation = F.adaptive_avg_pool2d(activation, side)
        return activation.reshape(activation.shape[0], -1).numpy().astype(np.float32)

    parts: dict[str, list[np.ndarray]] = {layer: [] for layer in NETWORK_LAYERS}
    semantic: list[np.ndarray] = []
    for start in range(0, images.shape[0], FEATURE_CHUNK):
        chunk = np.asarray(images[start : start + FEATURE_CHUNK], dtype=np.float32)
        if min(chunk.shape[2:]) < smallest:
            chunk = resize(chunk, smallest)
        with torch.no_grad():
            outputs = trunk((torch.from_numpy(np.ascontiguousarray(chunk)) - mean) / std, list(NETWORK_LAYERS))
            for layer, activation in zip(NETWORK_LAYERS, outputs):
                parts[layer].append(pooled(activation, UNIT_POOL))
            semantic.append(pooled(outputs[NETWORK_LAYERS.index(SEMANTIC_LAYER)], SEMANTIC_POOL))
        if on_chunk is not None:
            on_chunk()
    return {layer: np.concatenate(chunks) for layer, chunks in parts.items()}, np.concatenate(semantic)


def draw_units(features: np.ndarray, fit: np.ndarray, layer_index: int, max_units: int = MAX_UNITS) -> np.ndarray:
    """Columns of ``features`` that vary over the fitting images, at most ``max_units`` of them drawn at random (fixed per layer)."""
    varying = np.flatnonzero(np.asarray(features)[fit].std(0) > 0)
    if varying.size > max_units:
        varying = np.sort(np.random.default_rng([2027, layer_index]).choice(varying, max_units, replace=False))
    return features[:, varying]


def category_onehot(categories: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """One-hot (S, K) of the categories that have a fitting image."""
    names = sorted(set(str(c) for c in np.asarray(categories)[fit]))
    index = {c: k for k, c in enumerate(names)}
    onehot = np.zeros((len(categories), len(names)), dtype=np.float32)
    for i, c in enumerate(categories):
        if str(c) in index:
            onehot[i, index[str(c)]] = 1.0
    return onehot


def feature_ladder(images: np.ndarray, fit: np.ndarray, categories: np.ndarray | None, on_chunk: Callable[[], None] | None = None) -> dict[str, np.ndarray]:
    """Every level of :data:`LEVELS` (standardised with the fitting rows) for the training images."""
    from reconbench.methods._semantic import SemanticSpace

    raw = pixel_levels(images)
    layers, semantic_raw = network_levels(images, on_chunk)
    for k, layer in enumerate(NETWORK_LAYERS):
        raw[layer] = draw_units(layers[layer], fit, k)
    raw["semantic"] = SemanticSpace.fit(semantic_raw[fit], SEMANTIC_COMPONENTS).transform(semantic_raw)
    if categories is not None:
        raw["category"] = category_onehot(categories, fit)
    return {level: standardise(raw[level], fit) for level in LEVELS if level in raw}


# ---------------------------------------------------------------------------
# Loading


def _training_data(held, layout, max_train: int | None) -> tuple[TrainData, list[str]]:
    """The training session as TrainData (one image per unique stimulus, ids sorted, the fixed validation fold)."""
    from reconbench.datasets.splits import validation_ids

    notes = []
    session = held.data.sessions[layout.train_session]
    ids, trial_index = np.unique(session.stimulus_ids.astype(str), return_inverse=True)
    trial_index = trial_index.reshape(-1).astype(np.int64)
    fmri = dict(session.fmri)
    if max_train is not None and int(max_train) < ids.size:
        if int(max_train) < 6:
            raise ReconbenchError(f"--max-train {max_train}: the profile needs at least 6 training images")
        keep = subset_ids(ids, int(max_train))
        new_index = np.full(ids.size, -1, dtype=np.int64)
        new_index[keep] = np.arange(keep.size)
        trial_keep = new_index[trial_index] >= 0
        notes.append(f"--max-train: {keep.size} of {ids.size} training images (smallest salted hash)")
        ids, trial_index = ids[keep], new_index[trial_index[trial_keep]]
        fmri = {roi: x[trial_keep] for roi, x in fmri.items()}
    images = np.stack([held.data.images[i] for i in ids]).astype(np.float32, copy=False)
    validation = set(validation_ids(ids))
    train = TrainData(
        images=images,
        stimulus_ids=ids,
        fmri=fmri,
        trial_image_index=trial_index,
        runs=np.zeros(trial_index.size, dtype=np.int64),
        validation_mask=np.array([i in validation for i in ids], dtype=bool),
    )
    return train, notes


def _voxel_subsets(fmri: dict, rois: Sequence[str], max_voxels: int | None) -> dict[str, np.ndarray | None]:
    out: dict[str, np.ndarray | None] = {}
    for roi in rois:
        n = fmri[roi].shape[1]
        if max_voxels is not None and n > int(max_voxels):
            out[roi] = np.sort(np.random.default_rng([2027, 1000 + ALL_ROIS.index(roi)]).choice(n, int(max_voxels), replace=False))
        else:
            out[roi] = None
    return out


def _reliabilities(held, layout, rois: Sequence[str], subsets: dict) -> tuple[dict[str, float], str]:
    """Median split-half reliability per ROI on the natural test session, and what it was computed on."""
    from reconbench.datasets.reliability import columnwise_correlation, half_means

    name = layout.test_set_sessions.get("natural")
    session = held.data.sessions.get(name) if name else None
    if session is None:
        return {roi: float("nan") for roi in rois}, f"no natural test session ({name}) in the folder: no reliability"
    out = {}
    note = f"{name}, odd vs even presentations"
    for roi in rois:
        x = np.asarray(session.fmri[roi], dtype=np.float64)
        if subsets.get(roi) is not None:
            x = x[:, subsets[roi]]
        try:
            odd, even, _, reps = half_means(x, session.stimulus_ids)
        except ReconbenchError as exc:
            return {r: float("nan") for r in rois}, f"{name}: no reliability ({exc})"
        r = columnwise_correlation(odd, even)
        out[roi] = float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")
        note = f"{name}, odd vs even presentations ({reps} per half at least)"
    return out, note


# ---------------------------------------------------------------------------
# The profile


def resolve_subject(root: str | Path | None, subject: str | None) -> str:
    """``subject``, or the first subject of the folder; a DataError naming the folder and its subjects when absent."""
    from reconbench.datasets.layouts import detect_layout

    root = data_root(root)
    layout = detect_layout(root)
    subjects = layout.list_subjects(root)
    if subject is None:
        return subjects[0]
    if subject not in subjects:
        raise DataError(f"no subject {subject!r} in {root} ({layout.title}); subjects: {', '.join(subjects)}")
    return subject


def compute_profile(
    root: str | Path | None,
    subject: str | None = None,
    *,
    rois: Sequence[str] | str | None = None,
    max_voxels: int | None = None,
    max_train: int | None = None,
    stimuli_dir: str | Path | None = None,
    progress: bool = False,
) -> ProfileResult:
    """Profile one subject of a data folder (see the module docstring for the recipe).

    Parameters
    ----------
    root : path or None
        Data folder of any layout (None: ``$RECONBENCH_DATA``).
    subject : str, optional
        Default: the first subject of the folder.
    rois : str or sequence of str, optional
        ``"V1,HVC"`` or a list; default every ROI.
    max_voxels : int, optional
        At most this many voxels per ROI (a fixed random draw), for speed.
    max_train : int, optional
        At most this many training images (those with the smallest salted hash), for speed.
    stimuli_dir : path, optional
    progress : bool
        Show progress bars.

    Raises
    ------
    DataError, ReconbenchError, WeightsMissingError
        Not a data folder, an unknown subject or ROI, too few images, AlexNet weights missing.
    """
    from reconbench.datasets.layouts import detect_layout, load_held_subject
    from reconbench.metrics.weights import load_trunk

    root = data_root(root)
    wanted_rois = parse_rois(rois)
    for name, value in (("--max-voxels", max_voxels), ("--max-train", max_train)):
        if value is not None and int(value) < 1:
            raise ReconbenchError(f"{name} must be a positive integer, got {value}")
    layout = detect_layout(root)
    subject = resolve_subject(root, subject)
    load_trunk("alexnet")  # fail before loading anything when the weights are missing
    held = load_held_subject(root, subject, stimuli_dir=stimuli_dir, progress=progress)
    train, notes = _training_data(held, layout, max_train)
    categories = category_of(train.stimulus_ids)
    if categories is None:
        notes.append("category: the stimulus ids carry no category (n<synset>_<number>); level left out")
    heldout = heldout_mask(train.stimulus_ids, train.validation_mask, categories)
    fit = ~heldout
    present = [roi for roi in wanted_rois if roi in train.fmri]
    missing = [roi for roi in wanted_rois if roi not in train.fmri]
    if missing:
        raise DataError(f"{subject} in {root}: no ROI {', '.join(missing)} in the training data; it has {', '.join(train.fmri)}")
    subsets = _voxel_subsets(train.fmri, present, max_voxels)
    scored = {}  # level -> the held-out images it scores (default: all)
    if categories is not None:
        with_fitting = np.isin(categories, categories[fit])
        scored["category"] = with_fitting[heldout]
        if not scored["category"].all():
            notes.append(f"category: scored on the {int(scored['category'].sum())} of {int(heldout.sum())} held-out images whose category has a fitting image")

    bars = nullcontext(None)
    if progress:
        from rich.progress import Progress

        bars = Progress(transient=True)
    with bars as bar:
        n_chunks = math.ceil(train.images.shape[0] / FEATURE_CHUNK)
        task = bar.add_task(f"AlexNet features of {train.images.shape[0]} images", total=n_chunks) if bar is not None else None
        ladder = feature_ladder(train.images, fit, categories, on_chunk=(lambda: bar.advance(task)) if bar is not None else None)
        levels = [level for level in LEVELS if level in ladder]
        targets = np.concatenate([ladder[level] for level in levels], axis=1)
        bounds = np.cumsum([0] + [ladder[level].shape[1] for level in levels])
        reliability, reliability_note = _reliabilities(held, layout, present, subsets)
        rows = []
        decode = bar.add_task(f"ridge decoders ({len(present)} ROIs x {targets.shape[1]} targets)", total=len(present)) if bar is not None else None
        for roi in present:
            rows.extend(_decode_roi(train, roi, subsets[roi], targets, fit, heldout, levels, bounds, subject, reliability[roi], scored))
            if bar is not None:
                bar.advance(decode)
    meta = {
        "format": "reconbench-profile/1",
        "data": str(root),
        "layout": layout.name,
        "subject": subject,
        "training_images": int(train.images.shape[0]),
        "fitting_images": int(fit.sum()),
        "validation_images": int(train.validation_mask.sum()),
        "heldout_images": int(heldout.sum()),
        "image_size": int(train.images.shape[-1]),
        "levels": {level: int(ladder[level].shape[1]) for level in levels},
        "reliability": reliability_note,
        "max_voxels": max_voxels,
        "max_train": max_train,
        "recipe": recipe_text(),
        "notes": notes,
    }
    return ProfileResult(rows=rows, meta=meta)


def _decode_roi(train: TrainData, roi, subset, targets, fit, heldout, levels, bounds, subject, reliability, scored) -> list[dict]:
    from reconbench.decoders.ridge import fit_ridge_decoder

    x = np.asarray(train.fmri[roi], dtype=np.float32)
    if subset is not None:
        x = x[:, subset]
    n_images = train.images.shape[0]
    # The fitting images' trials, renumbered; images are not needed by the decoder (a placeholder of the right length).
    new_index = np.full(n_images, -1, dtype=np.int64)
    new_index[fit] = np.arange(int(fit.sum()))
    trial_fit = fit[train.trial_image_index]
    fitting = TrainData(
        images=np.zeros((int(fit.sum()), 1, 1, 1), dtype=np.float32),
        stimulus_ids=train.stimulus_ids[fit],
        fmri={roi: x[trial_fit]},
        trial_image_index=new_index[train.trial_image_index[trial_fit]],
        runs=train.runs[trial_fit],
        validation_mask=train.validation_mask[fit],
    )
    decoder = fit_ridge_decoder(fitting, roi, targets[fit], samples=SAMPLES)
    averaged = average_trials(x, train.trial_image_index, n_images)
    pred = decoder.predict(averaged[heldout])
    true = targets[heldout]
    rows = []
    for k, level in enumerate(levels):
        a, b = bounds[k], bounds[k + 1]
        rows_scored = scored.get(level, np.ones(true.shape[0], dtype=bool))
        if rows_scored.sum() >= 2:
            correlation, identification = level_scores(pred[rows_scored, a:b], true[rows_scored, a:b])
        else:
            correlation, identification = float("nan"), float("nan")
        rows.append(
            {
                "subject": subject,
                "roi": roi,
                "voxels": int(x.shape[1]),
                "reliability": reliability,
                "level": level,
                "dims": int(b - a),
                "correlation": correlation,
                "identification": identification,
                "heldout_images": int(rows_scored.sum()),
            }
        )
    return rows


def recipe_text() -> str:
    """The recipe in one paragraph (written to profile.json and the page)."""
    return (
        f"Ridge decoder (reconbench.decoders.ridge.fit_ridge_decoder, samples={SAMPLES!r}: responses averaged per image), one alpha per "
        "target dimension chosen on the fixed validation fold, refitted on all fitting images. Held out: "
        f"{HELDOUT_FRACTION:.0%} of the training images outside the validation fold (smallest salted sha256, each category keeping a "
        "fitting image); no test image is fitted or scored. Targets standardised on the fitting images. Levels: luminance "
        f"({LUMINANCE_GRID}x{LUMINANCE_GRID} luma), colour (R-G and (R+G)/2-B on {COLOUR_GRID}x{COLOUR_GRID}), AlexNet conv1-conv5 "
        f"(after ReLU, pooled to {UNIT_POOL}x{UNIT_POOL}, at most {MAX_UNITS} random units), semantic (divide-and-conquer's vector: "
        f"{SEMANTIC_NET} {SEMANTIC_LAYER} pooled {SEMANTIC_POOL}x{SEMANTIC_POOL}, PCA to {SEMANTIC_COMPONENTS}), category (one-hot of the "
        "synset in the stimulus id). Scores on the held-out images: correlation = mean over dimensions of the Pearson r across images "
        "(chance 0); identification = pairwise identification by correlation in the standardised feature space, ties failing, pairs "
        "with identical true vectors left out (chance 0.5). Reliability: median voxel split-half r of the natural test session."
    )


# ---------------------------------------------------------------------------
# Output


def default_out(root: str | Path | None, subject: str | None) -> Path:
    """``./profile-<folder>[-<subject>]`` in the current folder."""
    name = data_root(root).resolve().name or "data"
    return Path.cwd() / (f"profile-{name}" + (f"-{subject}" if subject else ""))


def csv_text(result: ProfileResult) -> str:
    """``profile.csv``: one row per ROI and level; floats with 4 decimals, NaN empty."""
    lines = [",".join(CSV_COLUMNS)]
    for row in result.rows:
        cells = []
        for key in CSV_COLUMNS:
            value = row[key]
            if isinstance(value, float):
                cells.append("" if not np.isfinite(value) else f"{value:.4f}")
            else:
                cells.append(str(value))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_profile(result: ProfileResult, out: str | Path, *, force: bool = False) -> Path:
    """Write ``profile.csv``, ``profile.json`` and ``profile.html`` into the folder ``out``, atomically.

    Raises
    ------
    ReconbenchError
        ``out`` exists and ``force`` is not set, or is a file.
    """
    from reconbench.analysis.profile_html import render_html

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReconbenchError(f"--out {out} is a file; give a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise ReconbenchError(f"--out {out} exists and is not empty; pass --force to replace it")
    html = render_html(result)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "profile.csv").write_text(csv_text(result), encoding="utf-8")
        (tmp / "profile.json").write_text(json.dumps(result.meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "profile.html").write_text(html, encoding="utf-8")
    return out


#: Short column headers of the printed tables.
SHORT = {"luminance": "lum", "colour": "col", "conv1": "c1", "conv2": "c2", "conv3": "c3", "conv4": "c4", "conv5": "c5", "semantic": "sem", "category": "cat"}


def print_profile(result: ProfileResult, console=None) -> None:
    """Two rich tables (identification, correlation): ROIs down, levels across, the best ROI of each level starred."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: no need to squeeze the table into 80 columns
            console = Console(width=max(console.width, 130))
    meta = result.meta
    console.print(
        f"[bold]{meta['data']}[/bold] ({meta['layout']}), {meta['subject']}: {meta['fitting_images']} fitting images "
        f"({meta['validation_images']} validation), {meta['heldout_images']} held-out training images scored",
        soft_wrap=True,
    )
    for key, title, chance in (("identification", "pairwise identification in feature space", "0.5"), ("correlation", "mean correlation per dimension", "0")):
        table = Table(title=f"{title} (held-out training images; chance {chance})", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("ROI")
        table.add_column("voxels", justify="right")
        table.add_column("rel", justify="right")
        for level in result.levels:
            table.add_column(SHORT.get(level, level), justify="right")
        best = {level: _best_roi(result, level, key) for level in result.levels}
        for roi in result.rois:
            cells = [roi, str(result.voxels(roi)), _fmt(result.reliability(roi))]
            for level in result.levels:
                text = _fmt(result.value(roi, level, key))
                cells.append(f"[bold]{text}*[/bold]" if best[level] == roi else f"{text} ")
            table.add_row(*cells)
        console.print(table)
    console.print(
        "rel: median voxel split-half reliability; "
        + ", ".join(f"{SHORT.get(level, level)} {level}" for level in result.levels)
        + "; *: the best ROI of the level",
        soft_wrap=True,
    )
    for note in meta.get("notes", []):
        console.print(f"note: {note}", soft_wrap=True)


def _best_roi(result: ProfileResult, level: str, key: str) -> str | None:
    values = {roi: result.value(roi, level, key) for roi in result.rois}
    values = {roi: v for roi, v in values.items() if np.isfinite(v)}
    return max(values, key=values.get) if values else None


def _fmt(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "-"

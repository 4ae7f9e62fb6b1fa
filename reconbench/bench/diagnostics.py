"""Stage-wise diagnostics: where a multi-stage method loses information.

A method may expose, besides its reconstructions, the intermediate quantities it
decoded from the test responses (``Method.stage_outputs(test)``: name -> array
(M, D)) and, for each, how the TRUE value of that quantity is computed from an
image (``Method.stage_spaces()``: name -> a data-only description, arrays
included). The harness computes the true values from the held-out test images
here, in its own process: no code of the method runs on a test image and no
test image reaches the method process.

Space kinds:

The functions a space kind names are the shared ones the methods compute their
targets with (:mod:`reconbench.decoders.targets`), never a method's own code.

``shape_map``
    ``{"size", "blur_sigma", "shape_kind"}``: the shape map
    (:func:`reconbench.decoders.targets.shape_maps`, a pure function of the image).
``feature_pca``
    ``{"net", "layer", "pool"}`` and arrays ``mean``, ``scale``, ``components``,
    ``score_scale``: pooled pretrained features
    (:func:`reconbench.decoders.features.feature_vectors`), standardised and
    projected (:func:`reconbench.decoders.targets.project_features`), with
    statistics fitted on training images.
``none``
    No image-side value exists (for example an MLP's hidden layer, a function of
    the responses): the output is recorded, not identified.

For each output, per test image: **identification in its own space** (pairwise
identification with Pearson correlation between the decoded and the true values;
chance 0.5). For a ``shape_map`` output also: the decoded map **scored as a
reconstruction** with the run's metrics (the map, standardised per image, shown as
the grayscale image ``clip(0.5 + 0.2 z, 0, 1)`` and resized to the evaluation size;
PixCorr and pairwise identification do not depend on that scaling except through
the clipping; SSIM and LPIPS do). The final image's scores are the cell's rows.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.images import resize
from reconbench.decoders.targets import project_features, shape_maps
from reconbench.metrics.identification import correlation_matrix, identification_from_similarity

#: Identification of a decoded quantity against the true ones, in its own space.
SPACE_IDENTIFICATION = "space_identification"
#: Grey level of one standard deviation of a shape map shown as an image.
SHAPE_IMAGE_CONTRAST = 0.2


def true_values(space: Mapping[str, Any], images: np.ndarray) -> np.ndarray | None:
    """The true value of a stage output for each image, shape (M, D); None for kind ``none``.

    Raises
    ------
    ReconbenchError
        An unknown space kind, or a description missing a field.
    """
    kind = space.get("kind")
    try:
        if kind == "shape_map":
            maps = shape_maps(images, size=int(space["size"]), blur_sigma=float(space["blur_sigma"]), kind=str(space["shape_kind"]))
            return maps.reshape(maps.shape[0], -1)
        if kind == "feature_pca":
            from reconbench.decoders.features import feature_vectors

            arrays = space["arrays"]
            features = feature_vectors(np.asarray(images, dtype=np.float32), net=str(space["net"]), layer=str(space["layer"]), pool=int(space["pool"]))
            return project_features(features, arrays["mean"], arrays["scale"], arrays["components"], arrays["score_scale"])
    except KeyError as exc:
        raise ReconbenchError(f"stage space of kind {kind!r} has no field {exc.args[0]!r}") from None
    if kind == "none":
        return None
    raise ReconbenchError(f"unknown stage space kind {kind!r}; known: shape_map, feature_pca, none")


def check_space(name: str, space: Mapping[str, Any], decoded: np.ndarray, images: np.ndarray) -> None:
    """Refuse, before any work, a stage space whose true values would not match the decoded output
    ``(M, D)`` or would cost more than the images themselves: the space comes from the method (data only),
    and this work runs in the harness, outside the method process's time and memory limits.

    Raises
    ------
    ReconbenchError
        A shape map whose side is not a whole number, is larger than the images' or gives
        ``side * side != D``; a feature projection whose arrays do not fit ``D``.
    """
    kind = space.get("kind")
    width = int(decoded.shape[1])
    try:
        if kind == "shape_map":
            side = space["size"]
            limit = int(images.shape[-1])
            if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or not 1 <= int(side) <= limit or int(side) ** 2 != width:
                raise ReconbenchError(
                    f"stage space {name!r}: shape maps of side {str(side)[:30]} do not fit the decoded output (M, {width}); "
                    f"expected a whole side s with s * s = {width} and s <= {limit} (the images' side)"
                )
        elif kind == "feature_pca":
            arrays = space["arrays"]
            components = np.asarray(arrays["components"])
            features = components.shape[1] if components.ndim == 2 else -1
            shapes = [np.shape(arrays[key]) for key in ("mean", "scale")]
            if components.ndim != 2 or components.shape[0] != width or any(shape not in ((features,), (1, features)) for shape in shapes):
                raise ReconbenchError(
                    f"stage space {name!r}: feature projection arrays of shapes components {components.shape}, mean {shapes[0]}, scale {shapes[1]} "
                    f"do not fit the decoded output (M, {width}); expected components (D, F) with D = {width} and mean and scale (F,)"
                )
    except KeyError as exc:
        raise ReconbenchError(f"stage space of kind {kind!r} has no field {exc.args[0]!r}") from None


def shape_map_images(maps: np.ndarray, size: int) -> np.ndarray:
    """Flattened square maps (M, s*s) -> grayscale images (M, 3, size, size) in [0, 1]."""
    maps = np.asarray(maps, dtype=np.float64)
    side = int(round(np.sqrt(maps.shape[1])))
    if side * side != maps.shape[1]:
        raise ReconbenchError(f"shape maps of length {maps.shape[1]} are not square")
    z = (maps - maps.mean(1, keepdims=True)) / (maps.std(1, keepdims=True) + 1e-12)
    gray = np.clip(0.5 + SHAPE_IMAGE_CONTRAST * z, 0.0, 1.0).reshape(-1, 1, side, side)
    return resize(np.repeat(gray, 3, axis=1).astype(np.float32), size)


def stage_diagnostics(
    outputs: Mapping[str, np.ndarray],
    spaces: Mapping[str, Mapping[str, Any]],
    true_images: np.ndarray,
    metric_specs: Mapping[str, Any],
    size: int,
) -> dict[str, dict[str, list[float]]]:
    """Per-image diagnostics of one test set.

    Parameters
    ----------
    outputs : mapping of str to ndarray, shape (M, D)
        The method's decoded stage outputs, rows in the order of ``true_images``.
    spaces : mapping of str to dict
        The method's stage spaces (see the module docstring).
    true_images : ndarray, shape (M, 3, H, W), float in [0, 1]
    metric_specs : mapping of str to MetricSpec
        The run's metrics (for shape maps scored as reconstructions).
    size : int
        Evaluation resolution.

    Returns
    -------
    dict
        ``{output name: {measure: per-image values}}``; measures are
        ``space_identification`` and, for shape maps, ``image/<metric>``.

    Raises
    ------
    ReconbenchError
        An output without a space, or with the wrong number of rows.
    """
    from reconbench.bench.evaluator import score

    n = int(true_images.shape[0])
    result: dict[str, dict[str, list[float]]] = {}
    for name in sorted(outputs):
        decoded = np.asarray(outputs[name], dtype=np.float32)
        if decoded.ndim != 2 or decoded.shape[0] != n:
            raise ReconbenchError(f"stage output {name!r} has shape {decoded.shape}, expected ({n}, D)")
        if name not in spaces:
            raise ReconbenchError(f"stage output {name!r} has no stage space; the method's stage_spaces() names {', '.join(sorted(spaces)) or 'none'}")
        measures: dict[str, list[float]] = {}
        check_space(name, spaces[name], decoded, true_images)
        truth = true_values(spaces[name], true_images)
        if truth is not None:
            if truth.shape != decoded.shape:
                raise ReconbenchError(f"stage output {name!r} has shape {decoded.shape} but its true values have shape {truth.shape}")
            measures[SPACE_IDENTIFICATION] = [float(v) for v in identification_from_similarity(correlation_matrix(decoded, truth))]
        if spaces[name].get("kind") == "shape_map":
            scores = score(shape_map_images(decoded, size), resize(np.asarray(true_images, dtype=np.float32), size), metric_specs)
            measures.update({f"image/{metric}": [float(v) for v in values] for metric, values in scores.items()})
        result[name] = measures
    return result

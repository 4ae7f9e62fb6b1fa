"""One conformance test for every discovered method and parameter set, on the ``tiny`` preset.

Each case fits the method on ``split.train`` and reconstructs every test set,
checking the Method contract of DESIGN.md:

- hyperparameters are ``__init__`` keywords stored unchanged (scikit-learn
  clone semantics: ``cls(**m.get_params())`` has equal parameters, and every
  stored value is the very object that was passed);
- ``reconstruct`` before ``fit`` raises :class:`~reconbench.core.method.NotFittedError`;
- ``fit`` returns ``self``;
- one reconstruction per test stimulus id, shape ``(M, 3, H, W)``, float32,
  finite, in [0, 1], accepted by the evaluator's checks;
- two fits with the same seed give the same reconstructions (no global or
  unseeded randomness; ``test_method_is_seeded``, marked slow);
- a method never receives a test image: the test inputs carry no images
  (``oracle_images`` only for ``is_oracle`` methods), the training stimuli are
  disjoint from the test stimuli, and no array the fitted method holds contains
  a test image.
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from reconbench.bench.registry import discover_methods
from reconbench.core.method import Method, NotFittedError, default_parameter_sets

SEED = 0
METHODS = discover_methods()
# Every set the harness runs unless told otherwise; a set for a GPU (explicit_parameter_sets) is tested by its own module.
CASES = [(name, set_name) for name, cls in METHODS.items() for set_name in default_parameter_sets(cls)]


@pytest.fixture(scope="module")
def tiny_split(tiny_data_dir):
    from reconbench.datasets.ds001506.loader import list_subjects
    from reconbench.datasets.splits import load_split

    subject = list_subjects(tiny_data_dir)[0]
    return load_split(tiny_data_dir, subject)


def _kwargs(cls: type[Method], param_set: str) -> dict:
    """The parameter set plus the seed keyword, as the runner passes them."""
    kwargs = dict(cls.parameter_sets[param_set])
    signature = inspect.signature(cls.__init__).parameters
    for keyword in ("seed", "random_state"):
        if keyword in signature:
            kwargs[keyword] = SEED
            break
    return kwargs


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def _arrays_in(obj, depth: int = 0):
    """Every numpy array reachable from a method's attributes (a few levels deep)."""
    if depth > 4:
        return
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _arrays_in(value, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _arrays_in(value, depth + 1)
    elif hasattr(obj, "__dict__") and not inspect.isclass(obj) and not inspect.ismodule(obj):
        for value in vars(obj).values():
            yield from _arrays_in(value, depth + 1)


def test_methods_are_discovered():
    # the four baselines are built in; other methods join as their files land
    assert {"mean_image", "pixel_ridge", "nearest_neighbor", "category_prototype"} <= set(METHODS)
    for name, cls in METHODS.items():
        assert cls.parameter_sets and all(isinstance(p, dict) for p in cls.parameter_sets.values()), name
        assert cls.citation, f"{name} has no citation"


@pytest.mark.parametrize("name,param_set", CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_method_conformance(name, param_set, tiny_split, request, monkeypatch):
    from reconbench.bench.evaluator import align_by_id, check_reconstructions

    # Fit for real: no stage reused from a cache.
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", "off")

    cls = METHODS[name]
    if any(requirement.startswith("weights:") for requirement in cls.requires):
        request.getfixturevalue("weights_cache")
    train = tiny_split.train

    # -- parameters: stored unchanged, clone round-trip
    kwargs = _kwargs(cls, param_set)
    method = cls(**kwargs)
    params = method.get_params()
    assert set(kwargs) <= set(params), f"{name}: parameters {set(kwargs) - set(params)} are not __init__ keywords"
    for key, value in kwargs.items():
        assert params[key] is value, f"{name}: __init__ argument {key!r} is not stored unchanged"
    clone = cls(**params)
    assert clone.get_params().keys() == params.keys()
    assert all(_same(clone.get_params()[k], params[k]) for k in params), f"{name}: get_params does not round-trip"

    # -- no test image reaches the method
    train_ids = {str(s) for s in train.stimulus_ids}
    test_pixels = {}
    for test_name, test_input in tiny_split.test_inputs.items():
        assert not train_ids & {str(s) for s in test_input.stimulus_ids}, f"train and {test_name} share stimulus ids"
        assert test_input.oracle_images is None
        assert not any(isinstance(v, np.ndarray) and v.ndim == 4 for v in vars(test_input).values() if v is not None and not isinstance(v, dict))
        for image in tiny_split.test_images[test_name][1]:
            image = np.ascontiguousarray(image, dtype=np.float32)
            test_pixels[(image.shape, image.tobytes())] = test_name

    # -- reconstruct before fit
    first_test = next(iter(tiny_split.test_inputs.values()))
    with pytest.raises(NotFittedError):
        method.reconstruct(first_test)

    assert method.fit(train) is method, f"{name}.fit must return self"

    for test_name, test_input in tiny_split.test_inputs.items():
        true_ids, true_images = tiny_split.test_images[test_name]
        if cls.is_oracle:
            position = {str(s): k for k, s in enumerate(true_ids)}
            order = [position[str(s)] for s in test_input.stimulus_ids]
            test_input = dataclasses.replace(test_input, oracle_images=np.asarray(true_images)[order])
        out = method.reconstruct(test_input)
        n_stimuli = len(test_input.stimulus_ids)
        assert isinstance(out, np.ndarray), f"{name} returned {type(out).__name__}"
        assert out.ndim == 4 and out.shape[0] == n_stimuli and out.shape[1] == 3, f"{name} on {test_name}: shape {out.shape}"
        assert out.dtype == np.float32, f"{name} on {test_name}: dtype {out.dtype}"
        assert np.isfinite(out).all(), f"{name} on {test_name}: non-finite values"
        assert out.min() >= 0.0 and out.max() <= 1.0, f"{name} on {test_name}: range [{out.min()}, {out.max()}]"
        checked = check_reconstructions(out, n_stimuli, method=name)
        aligned = align_by_id(checked, test_input.stimulus_ids, true_ids, method=name)
        assert aligned.shape[0] == len(true_ids)

    # -- the fitted state holds no test image (oracles are handed them on purpose)
    if not cls.is_oracle:
        image_shapes = {shape for shape, _ in test_pixels}
        for array in _arrays_in(method):
            if array.ndim >= 3 and array.shape[-3:] in image_shapes:
                for image in array.reshape((-1,) + array.shape[-3:]):
                    image = np.ascontiguousarray(image, dtype=np.float32)
                    key = (image.shape, image.tobytes())
                    assert key not in test_pixels, f"{name} holds a test image of {test_pixels[key]} after fit/reconstruct"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(METHODS))
def test_method_is_seeded(name, tiny_split, request, monkeypatch):
    """Two fits with the same seed reconstruct the same images: randomness comes only from the seed.

    One parameter set per method (``default``, else the first) keeps this affordable.
    """
    cls = METHODS[name]
    param_set = "default" if "default" in cls.parameter_sets else next(iter(cls.parameter_sets))
    if any(requirement.startswith("weights:") for requirement in cls.requires):
        request.getfixturevalue("weights_cache")
    monkeypatch.setenv("RECONBENCH_STAGE_CACHE", "off")  # the second fit must not reuse the first
    test_name, test_input = next(iter(tiny_split.test_inputs.items()))
    if cls.is_oracle:
        true_ids, true_images = tiny_split.test_images[test_name]
        position = {str(s): k for k, s in enumerate(true_ids)}
        order = [position[str(s)] for s in test_input.stimulus_ids]
        test_input = dataclasses.replace(test_input, oracle_images=np.asarray(true_images)[order])
    first = cls(**_kwargs(cls, param_set)).fit(tiny_split.train).reconstruct(test_input)
    second = cls(**_kwargs(cls, param_set)).fit(tiny_split.train).reconstruct(test_input)
    np.testing.assert_allclose(second, first, atol=1e-5, err_msg=f"{name}: two fits with seed {SEED} differ")

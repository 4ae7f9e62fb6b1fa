"""The Method interface.

A method is one class in one file. Hyperparameters are ``__init__`` keyword
arguments stored unchanged on ``self`` (scikit-learn style), so
:meth:`Method.get_params` and :func:`params_hash` identify a run. ``fit`` returns
``self``; fitted state ends in ``_``.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, ClassVar, Mapping

import numpy as np

from reconbench.core.hashing import SPACED, json_hash
from reconbench.core.types import TestInput, TrainData


class NotFittedError(RuntimeError):
    """``reconstruct`` was called before ``fit``."""


#: ``__init__`` keywords through which a method receives the cell's seed (the first one present).
SEED_KEYWORDS = ("seed", "random_state")


def seed_keyword(cls: type) -> str | None:
    """The keyword of ``cls.__init__`` that takes the cell's seed (:data:`SEED_KEYWORDS`), or None.

    A method without one cannot depend on the seed: the harness runs it once
    (seed 0), whatever seeds a run asks for.
    """
    signature = inspect.signature(cls.__init__).parameters
    return next((keyword for keyword in SEED_KEYWORDS if keyword in signature), None)


#: The ``__init__`` keyword through which a method receives the cell's device (:mod:`reconbench.core.device`).
DEVICE_KEYWORD = "device"


def takes_device(cls: type) -> bool:
    """True when ``cls.__init__`` has a ``device`` keyword: the harness hands it the cell's device
    (``"cpu"``, ``"cuda"`` or ``"cuda:N"``) as it hands the seed. A method without one runs where
    its code puts it (the CPU, for every built-in without it); the device is not part of the params hash."""
    return DEVICE_KEYWORD in inspect.signature(cls.__init__).parameters


class Method(abc.ABC):
    """Base class of every reconstruction method.

    Class attributes
    ----------------
    name : str
        Unique name used on the command line and in the leaderboard.
    parameter_sets : dict of str to dict
        Named hyperparameter sets that the harness runs (the grid); the set
        ``"default"`` is ``{}`` unless a method says otherwise.
    citation : str
        Where the method comes from.
    requires : tuple of str
        What it needs beyond the package, e.g. ``("weights:alexnet",)``.
    is_oracle : bool
        True only for ceilings that are handed the true test images
        (``TestInput.oracle_images``); they are marked as oracles everywhere
        and never ranked against real methods.
    explicit_parameter_sets : tuple of str
        Parameter sets that run only when named (``NAME:SET``), never as part of
        "every parameter set" (e.g. a configuration sized for a GPU); see
        :func:`default_parameter_sets`.

    Optional class method ``shared_work_key(params)`` (a scheduling hint, see
    :meth:`shared_work_key`).
    """

    name: ClassVar[str] = ""
    parameter_sets: ClassVar[Mapping[str, Mapping[str, Any]]] = {"default": {}}
    citation: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    is_oracle: ClassVar[bool] = False
    explicit_parameter_sets: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def shared_work_key(cls, params: Mapping[str, Any]) -> str | None:
        """Scheduling hint: a key shared by the parameter sets (of this or another method)
        that compute the same expensive stage from the same seed, e.g. one trained
        generator that several decoder ablations reuse through the stage cache.

        The harness starts the first cell of each such group before the second cell of
        any group, so that parallel workers do not compute one stage twice side by side.
        Only the order of the cells depends on it, never a result. ``None`` (the
        default): this set shares nothing.
        """
        return None

    def get_params(self) -> dict[str, Any]:
        """Return the ``__init__`` keyword arguments as stored on ``self``."""
        signature = inspect.signature(type(self).__init__)
        params = {}
        for pname, p in signature.parameters.items():
            if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            params[pname] = getattr(self, pname)
        return params

    @abc.abstractmethod
    def fit(self, train: TrainData) -> "Method":
        """Fit on training data; return ``self``. Every method must define it."""

    @abc.abstractmethod
    def reconstruct(self, test: TestInput) -> np.ndarray:
        """Return reconstructions of shape (M, 3, H, W), float32 in [0, 1], one per
        ``test.stimulus_ids`` in the same order. Every method must define it."""

    def check_is_fitted(self, *attributes: str) -> None:
        """Raise :class:`NotFittedError` unless every named fitted attribute exists."""
        missing = [a for a in attributes if not hasattr(self, a)]
        if missing:
            raise NotFittedError(f"{type(self).__name__} is not fitted (missing {', '.join(missing)}); call fit() first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def default_parameter_sets(cls: type) -> dict[str, Mapping[str, Any]]:
    """The parameter sets a run of "every parameter set" runs: all of ``cls.parameter_sets``
    but its ``explicit_parameter_sets`` (those run only when named)."""
    explicit = set(getattr(cls, "explicit_parameter_sets", ()))
    return {name: params for name, params in cls.parameter_sets.items() if name not in explicit}


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def params_hash(name: str, params: Mapping[str, Any]) -> str:
    """A short stable hash of a method name and its hyperparameters."""
    # Spaced separators: the params hash was defined with json's default ones,
    # and every committed params hash (and so every cell key) depends on them.
    return json_hash({"method": name, "params": _canonical(dict(params))}, 12, separators=SPACED)

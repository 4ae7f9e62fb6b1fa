"""The Method contract (DESIGN.md), as checks a method author can run on their own method.

Each check takes the method's class, a parameter-set name and a loaded split of the
``tiny`` simulated preset, and raises :class:`ConformanceError` naming what is wrong:

- ``declares``: a name, a citation, parameter sets that are dicts, ``requires`` a tuple;
- ``parameters``: ``__init__`` keywords stored unchanged (scikit-learn's clone
  semantics: ``cls(**m.get_params())`` gives equal parameters, each stored value the
  very object passed);
- ``not_fitted``: ``reconstruct`` before ``fit`` raises ``NotFittedError``;
- ``fit_and_reconstruct``: ``fit`` returns ``self``; one reconstruction per stimulus id,
  ``(M, 3, H, W)``, float32, finite, in [0, 1], square, accepted by the harness's own
  checks; and after fit and reconstruct no array the method holds is a test image
  (oracles, which are handed the true images, are exempt from that last part);
- ``seeded``: two fits with the same seed reconstruct the same images (the slowest
  check: two fits).

:func:`run_checks` runs them and returns one :class:`CheckResult` each; ``reconbench check``
runs them in a sealed process; :func:`reconbench.testing.parametrize_with_checks` makes one
pytest case of each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from reconbench.core.errors import ReconbenchError
from reconbench.core.method import NotFittedError, seed_keyword
from reconbench.core.stage_cache import STAGE_CACHE_ENV

#: Seed handed to a seeded method by the checks.
SEED = 0


class ConformanceError(AssertionError):
    """A method breaks the Method contract (an ``AssertionError``, so pytest reports it as a failure)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``passed``, with the error text when it did not."""

    method: str
    param_set: str
    check: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


def method_kwargs(cls: type, param_set: str) -> dict[str, Any]:
    """The parameter set plus the seed keyword, as the harness passes them (the device stays the method's default)."""
    if param_set not in cls.parameter_sets:
        raise ReconbenchError(f"{getattr(cls, 'name', cls.__name__)} has no parameter set {param_set!r}; it has {', '.join(cls.parameter_sets)}")
    kwargs = dict(cls.parameter_sets[param_set])
    keyword = seed_keyword(cls)
    if keyword is not None:
        kwargs[keyword] = SEED
    return kwargs


def _fail(message: str) -> None:
    raise ConformanceError(message)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return bool(a == b)


def _arrays_in(obj: Any, depth: int = 0) -> Iterator[np.ndarray]:
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


def _test_input(cls: type, split: Any, test_name: str) -> Any:
    """The test input of ``test_name`` as the harness hands it (with the true images for an oracle)."""
    test_input = split.test_inputs[test_name]
    if getattr(cls, "is_oracle", False):
        true_ids, true_images = split.test_images[test_name]
        position = {str(s): k for k, s in enumerate(true_ids)}
        order = [position[str(s)] for s in test_input.stimulus_ids]
        test_input = dataclasses.replace(test_input, oracle_images=np.asarray(true_images)[order])
    return test_input


def check_declares(cls: type, param_set: str, split: Any) -> None:
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        _fail(f"{cls.__name__}: the class attribute 'name' must be a non-empty string, got {name!r}")
    if not getattr(cls, "citation", None):
        _fail(f"{name}: the class attribute 'citation' is empty; cite the method's source (paper, table or figure)")
    sets = getattr(cls, "parameter_sets", None)
    if not isinstance(sets, dict) or not sets or not all(isinstance(v, dict) for v in sets.values()):
        _fail(f"{name}: 'parameter_sets' must be a non-empty dict of name -> dict of __init__ keywords, got {sets!r}")
    if not isinstance(getattr(cls, "requires", ()), tuple):
        _fail(f"{name}: 'requires' must be a tuple (e.g. ('weights:alexnet',)), got {cls.requires!r}")


def check_parameters(cls: type, param_set: str, split: Any) -> None:
    kwargs = method_kwargs(cls, param_set)
    method = cls(**kwargs)
    params = method.get_params()
    unknown = set(kwargs) - set(params)
    if unknown:
        _fail(f"{cls.name}[{param_set}]: {sorted(unknown)} are not __init__ keywords returned by get_params()")
    for key, value in kwargs.items():
        if params[key] is not value:
            _fail(f"{cls.name}[{param_set}]: __init__ argument {key!r} is not stored unchanged (store it as given; derive values in fit)")
    clone = cls(**params).get_params()
    if clone.keys() != params.keys() or not all(_same(clone[k], params[k]) for k in params):
        _fail(f"{cls.name}[{param_set}]: cls(**method.get_params()) does not give the same parameters")


def check_not_fitted(cls: type, param_set: str, split: Any) -> None:
    method = cls(**method_kwargs(cls, param_set))
    first = next(iter(split.test_inputs))
    try:
        method.reconstruct(_test_input(cls, split, first))
    except NotFittedError:
        return
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        _fail(f"{cls.name}[{param_set}]: reconstruct before fit raised {type(exc).__name__}: {exc}; expected NotFittedError (self.check_is_fitted(...))")
    _fail(f"{cls.name}[{param_set}]: reconstruct before fit returned; expected NotFittedError (self.check_is_fitted(...))")


def _fitted(cls: type, param_set: str, split: Any) -> Any:
    method = cls(**method_kwargs(cls, param_set))
    returned = method.fit(split.train)
    if returned is not method:
        _fail(f"{cls.name}[{param_set}]: fit returned {type(returned).__name__}, not self")
    return method


def _reconstructions(cls: type, param_set: str, split: Any, method: Any) -> dict[str, np.ndarray]:
    from reconbench.bench.evaluator import align_by_id, check_reconstructions

    out = {}
    for test_name in split.test_inputs:
        test_input = _test_input(cls, split, test_name)
        images = method.reconstruct(test_input)
        where = f"{cls.name}[{param_set}] on {test_name}"
        if not isinstance(images, np.ndarray):
            _fail(f"{where}: reconstruct returned {type(images).__name__}; expected a numpy array (M, 3, H, W)")
        n = len(test_input.stimulus_ids)
        if images.ndim != 4 or images.shape[0] != n or images.shape[1] != 3:
            _fail(f"{where}: shape {images.shape}; expected ({n}, 3, H, W), one image per stimulus id")
        if images.dtype != np.float32:
            _fail(f"{where}: dtype {images.dtype}; expected float32")
        try:
            checked = check_reconstructions(images, n, method=cls.name)
            align_by_id(checked, test_input.stimulus_ids, split.test_images[test_name][0], method=cls.name)
        except (ReconbenchError, ValueError) as exc:
            _fail(f"{where}: {exc}")
        out[test_name] = checked
    return out


def check_fit_and_reconstruct(cls: type, param_set: str, split: Any) -> None:
    method = _fitted(cls, param_set, split)
    _reconstructions(cls, param_set, split, method)
    if getattr(cls, "is_oracle", False):
        return  # an oracle is handed the true images on purpose, and is never ranked
    train_ids = {str(s) for s in split.train.stimulus_ids}
    test_pixels: dict[tuple, str] = {}
    for test_name, test_input in split.test_inputs.items():
        if train_ids & {str(s) for s in test_input.stimulus_ids}:
            _fail(f"the split itself is wrong: training and {test_name} share stimulus ids")
        for image in split.test_images[test_name][1]:
            image = np.ascontiguousarray(image, dtype=np.float32)
            test_pixels[(image.shape, image.tobytes())] = test_name
    shapes = {shape for shape, _ in test_pixels}
    for array in _arrays_in(method):
        if array.ndim >= 3 and array.shape[-3:] in shapes:
            for image in array.reshape((-1,) + array.shape[-3:]):
                key = (image.shape, np.ascontiguousarray(image, dtype=np.float32).tobytes())
                if key in test_pixels:
                    _fail(f"{cls.name}[{param_set}] holds a test image of {test_pixels[key]} after fit and reconstruct")


def check_seeded(cls: type, param_set: str, split: Any) -> None:
    first = _reconstructions(cls, param_set, split, _fitted(cls, param_set, split))
    second = _reconstructions(cls, param_set, split, _fitted(cls, param_set, split))
    for test_name, images in first.items():
        if not np.allclose(second[test_name], images, atol=1e-5):
            worst = float(np.abs(second[test_name] - images).max())
            _fail(
                f"{cls.name}[{param_set}] on {test_name}: two fits with seed {SEED} differ (by up to {worst:.3g}); "
                "draw every random number from the seed the harness passes (or take no seed keyword if the method has no randomness)"
            )


#: Every check, in the order they run (cheap first).
CHECKS: dict[str, Callable[[type, str, Any], None]] = {
    "declares": check_declares,
    "parameters": check_parameters,
    "not_fitted": check_not_fitted,
    "fit_and_reconstruct": check_fit_and_reconstruct,
    "seeded": check_seeded,
}


@contextlib.contextmanager
def fitting_for_real() -> Iterator[None]:
    """Every fit computes its stages (no stage reused from the stage cache: two fits must be two fits)."""
    before = os.environ.get(STAGE_CACHE_ENV)
    os.environ[STAGE_CACHE_ENV] = "off"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STAGE_CACHE_ENV, None)
        else:
            os.environ[STAGE_CACHE_ENV] = before


def check_names(checks: Sequence[str] | None) -> list[str]:
    """``checks`` (default: every one of :data:`CHECKS`), each checked to be a known check."""
    chosen = list(CHECKS) if checks is None else list(checks)
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        raise ReconbenchError(f"unknown check(s) {', '.join(unknown)}; the checks are {', '.join(CHECKS)}")
    return chosen


def run_checks(cls: type, param_set: str, split: Any, checks: Sequence[str] | None = None) -> list[CheckResult]:
    """Run ``checks`` (default: all of :data:`CHECKS`) on ``cls[param_set]``; never raises for a failing method."""
    chosen = check_names(checks)
    name = getattr(cls, "name", cls.__name__)
    results = []
    for check in chosen:
        start = time.perf_counter()
        try:
            with fitting_for_real():
                CHECKS[check](cls, param_set, split)
        except ConformanceError as exc:
            results.append(CheckResult(name, param_set, check, False, str(exc), time.perf_counter() - start))
        except Exception as exc:  # noqa: BLE001 - a crash in the method is a failed check, reported as itself
            where = traceback.extract_tb(exc.__traceback__)[-1]
            text = f"{name}[{param_set}]: {type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
            results.append(CheckResult(name, param_set, check, False, text, time.perf_counter() - start))
        else:
            results.append(CheckResult(name, param_set, check, True, "", time.perf_counter() - start))
    return results


def default_check_data() -> Path:
    """``$RECONBENCH_CHECK_DATA``, else ``reconbench bench --preset tiny``'s folder when ``$RECONBENCH_DATA``
    does not redirect it (that variable names one run's data folder), else ``~/reconbench_data/simulated-tiny``."""
    from reconbench.bench.presets import default_bench_data

    if os.environ.get("RECONBENCH_CHECK_DATA"):
        return Path(os.environ["RECONBENCH_CHECK_DATA"]).expanduser()
    if os.environ.get("RECONBENCH_DATA"):
        return Path.home() / "reconbench_data" / "simulated-tiny"
    return default_bench_data("tiny", "ds001506")


def check_data_folder(data: Any = None) -> Path:
    """The folder of the checks' ``tiny`` simulated preset: ``data`` (default: ``reconbench bench``'s
    tiny folder), simulated there (seed 0, seconds) when absent."""
    from reconbench.datasets.simulated.ground_truth import simulated_preset
    from reconbench.datasets.simulated.simulate import simulate

    folder = Path(data).expanduser() if data is not None else default_check_data()
    found = simulated_preset(folder) if folder.exists() else None
    if found is None:
        if folder.exists() and any(folder.iterdir()):
            raise ReconbenchError(f"{folder} holds no simulated dataset; pass an empty or new folder for the checks' tiny preset")
        simulate(preset="tiny", out=folder, seed=0, force=False, progress=False)
    elif found != "tiny":
        raise ReconbenchError(f"{folder} holds the {found!r} preset; the checks run on 'tiny' (pass another folder)")
    return folder


def load_check_split(data: Any = None) -> Any:
    """The split the checks run on: the first subject of the ``tiny`` preset in :func:`check_data_folder`."""
    from reconbench.datasets.ds001506.loader import list_subjects
    from reconbench.datasets.splits import load_split

    folder = check_data_folder(data)
    return load_split(folder, list_subjects(folder)[0])


# ---------------------------------------------------------------------------- in a sealed process

#: Wall-clock limit of one method's checks in their sealed process (seconds).
CHECK_TIMEOUT = 1800.0


def check_sealed(name: str, param_sets: Sequence[str], *, methods_dir: Any = None, data: Any = None, checks: Sequence[str] | None = None) -> list[CheckResult]:
    """Run the checks of method ``name`` (each of ``param_sets``) in a subprocess that seals itself
    (Landlock, as a method process: the Python installation, the package, ``methods_dir``, the
    weights and the checks' data folder readable, a private folder writable) before it imports the
    method. A process that dies or sends nothing gives one failed result naming its output's end."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    chosen = check_names(checks)
    folder = check_data_folder(data)
    load_check_split(folder)  # anything the loader writes beside the data is written here, unsealed
    private = Path(tempfile.mkdtemp(prefix="reconbench-check-"))
    request = {"name": name, "param_sets": list(param_sets), "methods_dir": str(Path(methods_dir).resolve()) if methods_dir else None}
    request.update({"data": str(folder.resolve()), "checks": chosen})
    log = private / "output.log"
    from reconbench.bench.sandbox import SCRATCH_VARIABLES, _child_environment

    env = _child_environment((), private)  # as a method process's: no data-folder variable, a private scratch
    env.update({name: str(private) for name in SCRATCH_VARIABLES})
    env[STAGE_CACHE_ENV] = "off"
    try:
        with open(log, "wb") as output:
            done = subprocess.run(
                [sys.executable, "-m", "reconbench.bench.conformance", json.dumps(request)],
                cwd=private,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=output,
                timeout=CHECK_TIMEOUT,
            )
        reply = done.stdout.decode("utf-8", "replace").strip().splitlines()
        if done.returncode == 0 and reply and reply[-1].startswith("{"):
            answer = json.loads(reply[-1])
            if "error" in answer:
                return [CheckResult(name, ",".join(param_sets), "import", False, answer["error"])]
            return [CheckResult(**item) for item in answer["results"]]
        tail = log.read_bytes()[-1500:].decode("utf-8", "replace").strip()
        return [
            CheckResult(
                name,
                ",".join(param_sets),
                "process",
                False,
                f"the check process ended with status {done.returncode} and no answer; its output ended with: {tail}",
            )
        ]
    except subprocess.TimeoutExpired:
        return [CheckResult(name, ",".join(param_sets), "process", False, f"the checks ran past {CHECK_TIMEOUT:g} s")]
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _real_class(name: str, methods_dir: str | None) -> type:
    """The method class called ``name``, imported here (in the sealed process only)."""
    import importlib.metadata
    import importlib.util
    import sys

    from reconbench.bench import registry

    for cls in registry._builtin_methods():
        if cls.name == name:
            return cls
    if methods_dir:
        for path in sorted(Path(methods_dir).glob("*.py")):
            if path.name.startswith("_"):
                continue
            module_name = f"reconbench_user_methods.{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException as exc:  # noqa: BLE001 - a plugin's SystemExit is its error too
                raise ReconbenchError(f"could not import method file {path}: {type(exc).__name__}: {exc}") from None
            cls = registry._method_class_of(module)
            if cls.name == name:
                return cls
    for entry in importlib.metadata.entry_points(group=registry.ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()
    raise ReconbenchError(f"no method named {name!r} here")


def _check_main(request_text: str) -> None:
    """The sealed check process: seal, import the method, run its checks, print the results as one JSON line."""
    import json
    import sys

    request = json.loads(request_text)
    out = sys.stdout
    sys.stdout = sys.stderr  # the method's prints go to the log, not into the answer
    try:
        import torch  # noqa: F401 - loaded before sealing, as in a method process

        from reconbench.bench.landlock import SealError, seal
        from reconbench.bench.sandbox import readable_folders

        try:
            seal(readable_folders(request["methods_dir"]) + [request["data"]], [os.getcwd()])
        except SealError as exc:
            print(f"reconbench check: running unsealed ({exc})", file=sys.stderr)
        cls = _real_class(request["name"], request["methods_dir"])
        split = load_check_split(request["data"])
        results = [r for param_set in request["param_sets"] for r in run_checks(cls, param_set, split, request["checks"])]
        answer: dict[str, Any] = {"results": [dataclasses.asdict(r) for r in results]}
    except BaseException as exc:  # noqa: BLE001 - reported, whatever it is
        answer = {"error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, ReconbenchError) else str(exc)}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    import sys

    _check_main(sys.argv[1])

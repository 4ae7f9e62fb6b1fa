"""Finding methods: built-ins, entry points and a user folder.

Built-ins are the modules of ``reconbench/methods`` and ``reconbench/baselines``
whose names do not start with an underscore; each defines one subclass of
:class:`~reconbench.core.method.Method`. Third-party packages register classes
in the entry-point group ``reconbench.methods``; a folder given with
``--methods-dir`` is scanned like the built-in ones.

Plugin code (a ``--methods-dir`` file or an entry point) never runs in the
harness: each is imported by a sealed subprocess of its own
(``python -m reconbench.bench.registry --describe``, Landlock as a method
process, no terminal, its own session), which sends back the class's metadata
as JSON (name, parameter sets, flags, seed and device keywords). The harness
builds a stand-in class from it (:class:`PluginMethod`, never instantiated
here); the method process imports the real class (:mod:`reconbench.bench.sandbox`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import pkgutil
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from reconbench.core.errors import ReconbenchError
from reconbench.core.method import DEVICE_KEYWORD, SEED_KEYWORDS, Method, seed_keyword, takes_device
from reconbench.core.names import check_name

ENTRY_POINT_GROUP = "reconbench.methods"
BUILTIN_PACKAGES = ("reconbench.baselines", "reconbench.methods")


def _method_class_of(module: ModuleType) -> type[Method]:
    classes = [
        obj for obj in vars(module).values() if inspect.isclass(obj) and issubclass(obj, Method) and obj is not Method and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise ReconbenchError(
            f"method file {getattr(module, '__file__', module.__name__)} must define exactly one Method subclass, "
            f"found {len(classes)} ({', '.join(c.__name__ for c in classes) or 'none'})"
        )
    cls = classes[0]
    if not cls.name:
        raise ReconbenchError(f"{cls.__module__}.{cls.__name__} has no 'name' class attribute")
    return cls


def _builtin_methods() -> list[type[Method]]:
    found = []
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            found.append(_method_class_of(importlib.import_module(f"{package_name}.{info.name}")))
    return found


#: Module names under which a ``--methods-dir`` file is imported (in a sealed process only).
USER_MODULE_PREFIX = "reconbench_user_methods."
#: Wall-clock limit of one sealed import (seconds): the interpreter, torch and the plugin's imports.
DESCRIBE_TIMEOUT = 300.0
#: Most bytes of metadata a sealed import may send back.
DESCRIBE_LIMIT = 1 << 22
#: Most bytes a sealed import may write to a file (its output log included): RLIMIT_FSIZE.
DESCRIBE_FILE_LIMIT = 1 << 26


class PluginMethod(Method):
    """The harness's stand-in for a plugin's method class, built from its sealed import's metadata.

    It carries the class attributes the harness reads (``name``, ``parameter_sets``, ``citation``,
    ``requires``, ``is_oracle``, ``explicit_parameter_sets``), an ``__init__`` signature with the
    plugin's seed and device keywords (:func:`~reconbench.core.method.seed_keyword`), where the
    real class lives (``__module__``, ``__qualname__``, :attr:`source_file`) and its
    :meth:`shared_work_key` per parameter set. It is never instantiated: the plugin's code runs
    only in sealed method processes.
    """

    #: The file that defines the real class (its code hash, and what the method process imports).
    source_file: str = ""
    #: Where the plugin comes from, for messages ("method file PATH", "entry point NAME").
    origin: str = ""
    #: ``shared_work_key(params)`` of each parameter set, as the sealed import computed it.
    shared_work_keys: dict[str, str | None] = {}

    @classmethod
    def shared_work_key(cls, params: Mapping[str, Any]) -> str | None:
        for set_name, set_params in cls.parameter_sets.items():
            if dict(set_params) == dict(params):
                return cls.shared_work_keys.get(set_name)
        return None

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise ReconbenchError(f"{self.name} is a plugin ({self.origin}): its code runs only in a sealed method process")

    fit = reconstruct = _refuse


def _encode(value: Any, where: str) -> Any:
    """A parameter value as JSON (tuples tagged, so they come back as tuples); anything else is refused."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a numpy scalar
        return _encode(value.item(), where)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode(v, where) for k, v in value.items()}
    raise ReconbenchError(f"{where}: value {value!r} ({type(value).__name__}) is not a plain value (None, bool, number, str, list, tuple, dict with str keys)")


def _decode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
            return tuple(_decode(v, where) for v in value["__tuple__"])
        return {str(k): _decode(v, where) for k, v in value.items()}
    raise ReconbenchError(f"{where}: malformed parameter value {value!r}")


def _class_metadata(cls: type[Method]) -> dict[str, Any]:
    """What the harness learns of a plugin's class (runs in the sealed import)."""
    where = f"method {cls.name!r}"
    parameter_sets = {str(k): {str(n): _encode(v, f"{where}, parameter set {k!r}, {n!r}") for n, v in dict(p).items()} for k, p in cls.parameter_sets.items()}
    shared = {}
    for set_name, params in cls.parameter_sets.items():
        try:
            key = cls.shared_work_key(params)
        except Exception:  # noqa: BLE001 - a scheduling hint only
            key = None
        shared[str(set_name)] = None if key is None else str(key)
    return {
        "name": cls.name,
        "qualname": cls.__qualname__,
        "module": cls.__module__,
        "parameter_sets": parameter_sets,
        "citation": str(cls.citation or ""),
        "requires": [str(r) for r in cls.requires],
        "is_oracle": bool(cls.is_oracle),
        "explicit_parameter_sets": [str(r) for r in getattr(cls, "explicit_parameter_sets", ())],
        "seed_keyword": seed_keyword(cls),
        "takes_device": takes_device(cls),
        "shared_work_keys": shared,
        "source_file": inspect.getsourcefile(cls) or "",
    }


def _stand_in(meta: Any, origin: str, source_file: str | None = None, module: str | None = None) -> type[Method]:
    """A :class:`PluginMethod` subclass from a sealed import's metadata, every field checked."""

    def field_of(key: str, kind: type | tuple) -> Any:
        value = meta.get(key) if isinstance(meta, dict) else None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ReconbenchError(f"{origin}: its sealed import sent a malformed {key!r} ({value!r})")
        return value

    name = field_of("name", str)
    check_name("method name", name, origin)
    qualname = field_of("qualname", str)
    if not all(part.isidentifier() for part in qualname.split(".")):
        raise ReconbenchError(f"{origin}: class name {qualname!r} is not a dotted identifier")
    sets = field_of("parameter_sets", dict)
    parameter_sets = {}
    for set_name, params in sets.items():
        check_name(f"parameter set of method {name!r}", set_name, origin)
        if not isinstance(params, dict):
            raise ReconbenchError(f"{origin}: parameter set {set_name!r} is not a dict")
        parameter_sets[set_name] = {str(k): _decode(v, f"{origin}, parameter set {set_name!r}") for k, v in params.items()}
    requires = field_of("requires", list)
    explicit = field_of("explicit_parameter_sets", list)
    shared = field_of("shared_work_keys", dict)
    if not all(isinstance(r, str) for r in requires + explicit) or not all(v is None or isinstance(v, str) for v in shared.values()):
        raise ReconbenchError(f"{origin}: its sealed import sent malformed requirements or parameter-set names")
    seed = meta.get("seed_keyword")
    if seed is not None and seed not in SEED_KEYWORDS:
        raise ReconbenchError(f"{origin}: unknown seed keyword {seed!r}")
    keywords = ["self"] + ([seed] if seed else []) + ([DEVICE_KEYWORD] if field_of("takes_device", bool) else [])
    signature = inspect.Signature(
        [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD if k == "self" else inspect.Parameter.KEYWORD_ONLY) for k in keywords]
    )

    def __init__(self, **kwargs: Any) -> None:
        self._refuse()

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    if source_file is None:
        source_file = field_of("source_file", str)
        if not (source_file.endswith(".py") and Path(source_file).is_file()):
            raise ReconbenchError(f"{origin}: source file {source_file!r} is not a Python file")
    if module is None:
        module = field_of("module", str)
        if not all(part.isidentifier() for part in module.split(".")):
            raise ReconbenchError(f"{origin}: module name {module!r} is not a dotted identifier")
    attributes = {
        "__module__": module,
        "__qualname__": qualname,
        "__init__": __init__,
        "name": name,
        "parameter_sets": parameter_sets,
        "citation": field_of("citation", str),
        "requires": tuple(requires),
        "is_oracle": field_of("is_oracle", bool),
        "explicit_parameter_sets": tuple(explicit),
        "shared_work_keys": {str(k): v for k, v in shared.items()},
        "source_file": str(source_file),
        "origin": origin,
    }
    return type(qualname.rsplit(".", 1)[-1], (PluginMethod,), attributes)


def _read_reply(fd: int, process: subprocess.Popen, deadline: float, origin: str) -> bytes:
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReconbenchError(f"{origin}: its sealed import ran past {DESCRIBE_TIMEOUT:g} s")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > DESCRIBE_LIMIT:
            raise ReconbenchError(f"{origin}: its sealed import sent more than {DESCRIBE_LIMIT} bytes of metadata")
        chunks.append(chunk)


def _sealed_describe(kind: str, target: str, folder: str | None, origin: str) -> dict[str, Any]:
    """Import one plugin in a sealed subprocess; return its reply (``{"metadata": ...}`` or ``{"error": ...}``)."""
    from reconbench.bench.sandbox import _child_environment, cells_root

    private = Path(tempfile.mkdtemp(prefix="describe-", dir=cells_root()))
    read_fd, write_fd = os.pipe()
    log_path = private / "output.log"
    process = None
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "reconbench.bench.registry", "--describe", str(write_fd), kind, target, folder or ""],
                cwd=private,
                env=_child_environment((), private),
                pass_fds=[write_fd],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # no controlling terminal, its own process group
            )
        os.close(write_fd)
        write_fd = -1
        try:
            data = _read_reply(read_fd, process, time.monotonic() + DESCRIBE_TIMEOUT, origin)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # it has replied (or failed): nothing of it may stay
            code = process.wait()
        if not data:
            tail = log_path.read_bytes()[-2000:].decode("utf-8", "replace").strip() if log_path.is_file() else ""
            raise ReconbenchError(
                f"{origin}: its sealed import ended without a reply (exit status {code})" + (f"; its output ended with: {tail}" if tail else "")
            )
        try:
            reply = json.loads(data)
        except ValueError as exc:
            raise ReconbenchError(f"{origin}: its sealed import sent malformed metadata ({exc})") from exc
        if not isinstance(reply, dict):
            raise ReconbenchError(f"{origin}: its sealed import sent malformed metadata")
        return reply
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(private, ignore_errors=True)


def _describe_main(result_fd: int, kind: str, target: str, folder: str) -> None:
    """The sealed import (child side): seal, import the plugin, send its class's metadata as JSON."""
    import resource

    from reconbench.bench.executors import die_with_parent

    die_with_parent()
    resource.setrlimit(resource.RLIMIT_FSIZE, (DESCRIBE_FILE_LIMIT, DESCRIBE_FILE_LIMIT))
    reply: dict[str, Any]
    try:
        from reconbench.bench.landlock import SealError, seal
        from reconbench.bench.sandbox import readable_folders

        try:
            import torch  # noqa: F401 - loaded before sealing, as in a method process
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        try:
            seal(readable_folders(folder or None), [os.getcwd()])
            sealed, note = True, ""
        except SealError as exc:
            sealed, note = False, str(exc)
        caught = warnings.catch_warnings(record=True)
        recorded = caught.__enter__()
        warnings.simplefilter("always")
        if kind == "file":
            module_name = USER_MODULE_PREFIX + Path(target).stem
            spec = importlib.util.spec_from_file_location(module_name, target)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            cls = _method_class_of(module)
        else:
            (ep,) = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == target]
            cls = ep.load()
            if not (inspect.isclass(cls) and issubclass(cls, Method)):
                raise ReconbenchError(f"entry point {ep.name} = {ep.value} in group {ENTRY_POINT_GROUP} is not a Method subclass")
        caught.__exit__(None, None, None)
        said = [{"category": w.category.__name__, "message": str(w.message)[:2000]} for w in recorded[:20]]
        reply = {"metadata": _class_metadata(cls), "sealed": sealed, "seal_note": note, "warnings": said}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt of a plugin are its errors too
        text = str(exc) if isinstance(exc, ReconbenchError) else f"{type(exc).__name__}: {exc}"
        reply = {"error": text, "traceback": traceback.format_exc()[-4000:]}
    data = memoryview(json.dumps(reply).encode())
    while data:
        data = data[os.write(result_fd, data) :]
    os._exit(0)


def _repeat_warnings(reply: Mapping[str, Any], origin: str) -> None:
    """Warn here what importing the plugin warned in its sealed process (a built-in warning class, else UserWarning)."""
    import builtins

    for said in reply.get("warnings") or []:
        if not isinstance(said, dict):
            continue
        category = getattr(builtins, str(said.get("category")), None)
        if not (inspect.isclass(category) and issubclass(category, Warning)):
            category = UserWarning
        warnings.warn(f"{str(said.get('message'))[:2000]} (while importing {origin})", category, stacklevel=3)


#: Stand-ins of entry points, by (name, value, the source file's stat): each is imported once per process.
_ENTRY_POINT_CACHE: dict[tuple, type[Method]] = {}


def _entry_point_methods() -> list[type[Method]]:
    found = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        origin = f"entry point {ep.name} = {ep.value}"
        cached = next(
            (cls for (name, value, stat), cls in _ENTRY_POINT_CACHE.items() if (name, value) == (ep.name, ep.value) and stat == _stat(cls.source_file)), None
        )
        if cached is not None:
            found.append(cached)
            continue
        reply = _sealed_describe("entry_point", ep.name, None, origin)
        if "error" in reply:
            raise ReconbenchError(f"could not import {origin}: {reply['error']}")
        _repeat_warnings(reply, origin)
        cls = _stand_in(reply.get("metadata"), origin)
        _ENTRY_POINT_CACHE[ep.name, ep.value, _stat(cls.source_file)] = cls
        found.append(cls)
    return found


def _stat(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


#: Stand-ins of a folder's methods, by (folder, the stat of each of its files): a folder is imported once per process.
_FOLDER_CACHE: dict[tuple, list[type[Method]]] = {}


def _folder_methods(folder: str | Path) -> list[type[Method]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ReconbenchError(f"--methods-dir {folder}: no such folder")
    folder = folder.resolve()
    files = sorted(folder.glob("*.py"))
    state = (str(folder), tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    if state in _FOLDER_CACHE:
        return list(_FOLDER_CACHE[state])
    found = []
    for path in files:
        if path.name.startswith("_"):
            continue
        if not path.stem.isidentifier():
            raise ReconbenchError(f"method file {path}: its name must be a Python identifier (letters, digits, _)")
        origin = f"method file {path}"
        reply = _sealed_describe("file", str(path), str(folder), origin)
        if "error" in reply:
            raise ReconbenchError(f"could not import method file {path}: {reply['error']}")
        _repeat_warnings(reply, origin)
        found.append(_stand_in(reply.get("metadata"), origin, source_file=str(path), module=USER_MODULE_PREFIX + path.stem))
    _FOLDER_CACHE[state] = found
    return list(found)


def discover_methods(methods_dir: str | Path | None = None) -> dict[str, type[Method]]:
    """Return every available method class by name.

    Raises
    ------
    ReconbenchError
        If two methods share a name, or a method file is malformed.
    """
    classes = _builtin_methods() + _entry_point_methods()
    if methods_dir is not None:
        classes += _folder_methods(methods_dir)
    by_name: dict[str, type[Method]] = {}
    for cls in classes:
        check_name("method name", cls.name, f"{cls.__module__}.{cls.__qualname__}")
        for set_name in cls.parameter_sets:
            check_name(f"parameter set of method {cls.name!r}", set_name, f"{cls.__module__}.{cls.__qualname__}")
        if cls.name in by_name and by_name[cls.name] is not cls:
            raise ReconbenchError(f"two methods are named {cls.name!r}: {by_name[cls.name].__module__} and {cls.__module__}")
        by_name[cls.name] = cls
    return dict(sorted(by_name.items()))


def method_source(cls: type[Method]) -> dict[str, str]:
    """Where a method class lives, for the process that runs it: its ``module``, its ``class`` (qualified
    name) and its ``file``. Read from the class the harness holds (a plugin's stand-in names the real
    class, as its sealed import said), so nothing is imported here; a cell's method process imports the
    class from it, once (:func:`reconbench.bench.method_process._method_class`)."""
    return {"module": cls.__module__, "class": cls.__qualname__, "file": getattr(cls, "source_file", "") or inspect.getfile(cls)}


def get_method(name: str, methods_dir: str | Path | None = None) -> type[Method]:
    """Return the method class called ``name``; the error lists the valid names."""
    methods = discover_methods(methods_dir)
    if name not in methods:
        raise ReconbenchError(f"unknown method {name!r}; available: {', '.join(methods) or 'none'}")
    return methods[name]


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--describe":
        _describe_main(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    os._exit(2)

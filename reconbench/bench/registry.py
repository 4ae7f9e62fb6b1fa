"""Finding methods: built-ins, entry points and a user folder.

Built-ins are the modules of ``reconbench/methods`` and ``reconbench/baselines``
whose names do not start with an underscore; each defines one subclass of
:class:`~reconbench.core.method.Method`. Third-party packages register classes
in the entry-point group ``reconbench.methods``; a folder given with
``--methods-dir`` is scanned like the built-in ones.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from reconbench.core.errors import ReconbenchError
from reconbench.core.method import Method

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


def _entry_point_methods() -> list[type[Method]]:
    found = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if not (inspect.isclass(obj) and issubclass(obj, Method)):
            raise ReconbenchError(f"entry point {ep.name} = {ep.value} in group {ENTRY_POINT_GROUP} is not a Method subclass")
        found.append(obj)
    return found


def _folder_methods(folder: str | Path) -> list[type[Method]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ReconbenchError(f"--methods-dir {folder}: no such folder")
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"reconbench_user_methods.{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a broken user file must name itself
            raise ReconbenchError(f"could not import method file {path}: {type(exc).__name__}: {exc}") from exc
        found.append(_method_class_of(module))
    return found


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
        if cls.name in by_name and by_name[cls.name] is not cls:
            raise ReconbenchError(f"two methods are named {cls.name!r}: {by_name[cls.name].__module__} and {cls.__module__}")
        by_name[cls.name] = cls
    return dict(sorted(by_name.items()))


def get_method(name: str, methods_dir: str | Path | None = None) -> type[Method]:
    """Return the method class called ``name``; the error lists the valid names."""
    methods = discover_methods(methods_dir)
    if name not in methods:
        raise ReconbenchError(f"unknown method {name!r}; available: {', '.join(methods) or 'none'}")
    return methods[name]

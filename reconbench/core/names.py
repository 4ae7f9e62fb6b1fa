"""The text form of a dataset name with simulator settings (a sweep point).

``simulated:default@snr=0.01,training_reps=2`` is the preset's dataset name,
``@``, then ``name=value`` pairs separated by commas. The datasets package
validates the settings (:mod:`reconbench.datasets.simulated.settings`); the
leaderboard only needs to read them back to draw score-versus-setting curves.
Both use this one reader.
"""

from __future__ import annotations

from reconbench.core.errors import ReconbenchError

#: Separates the dataset's base name from its settings.
SEPARATOR = "@"


def split_settings_text(name: str) -> tuple[str, list[tuple[str, str]]]:
    """``"simulated:default@snr=0.01"`` -> ``("simulated:default", [("snr", "0.01")])``; no ``@``: no pairs.

    Raises
    ------
    ReconbenchError
        A pair without ``=`` or an empty name, or a name given twice.
    """
    if SEPARATOR not in name:
        return name, []
    base, _, suffix = name.partition(SEPARATOR)
    pairs: list[tuple[str, str]] = []
    for part in suffix.split(","):
        key, eq, text = part.partition("=")
        if not eq or not key or not text:
            raise ReconbenchError(f"dataset {name!r}: expected settings as name=value[,name=value], got {part!r}")
        if any(key == k for k, _ in pairs):
            raise ReconbenchError(f"dataset {name!r}: setting {key!r} given twice")
        pairs.append((key, text))
    return base, pairs


#: What a method or parameter-set name may be: letters, digits, ``_``, ``-``, ``.`` and ``+``
#: (no ``/``, no ``..``, no ``:`` or ``,``, which the command line uses, no space or control character).
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+")


def check_name(what: str, name: object, where: str = "") -> str:
    """Return ``name`` if it is a plain name (:data:`NAME_CHARACTERS`, 1 to 100 of them, not starting
    with ``.`` or ``-``, no ``..``): the harness builds file and folder names from it.

    Raises
    ------
    ReconbenchError
        Naming ``what``, the value and ``where`` it comes from.
    """
    if not isinstance(name, str) or not (0 < len(name) <= 100 and set(name) <= NAME_CHARACTERS and name[0] not in ".-" and ".." not in name):
        origin = f" ({where})" if where else ""
        raise ReconbenchError(
            f"{what} {name!r}{origin} is not a plain name: use 1 to 100 letters, digits, '_', '-', '.', '+' "
            "(not starting with '.' or '-', no '..', no '/', ':', ',', spaces or control characters)"
        )
    return name

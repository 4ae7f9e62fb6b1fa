"""reconbench.references: rows that are scored but never ranked.

Each reference is a :class:`~reconbench.references.base.Reference` in a file of
its own (category-only, nearest-category, noise-free ridge, noise ceiling) carrying its caption. Oracle methods
(``Method.is_oracle``) and the metrics' chance levels are the other unranked
rows: the first are methods handed the true images, the second come from the
metric registry. Imports ``core`` and ``decoders`` (DESIGN.md, "Dependency rules", allows
``core``, ``decoders`` and ``metrics``).
"""

from __future__ import annotations

from reconbench.core.errors import ReconbenchError
from reconbench.core.types import RowNote
from reconbench.references.base import Reference
from reconbench.references.category_only import CategoryOnly
from reconbench.references.nearest_category import NearestCategory
from reconbench.references.noise_ceiling import NoiseCeiling
from reconbench.references.noise_free_ridge import NoiseFreeRidge

#: Name -> reference class, in the order their cells are added to a grid.
REFERENCES: dict[str, type[Reference]] = {cls.name: cls for cls in (CategoryOnly, NearestCategory, NoiseFreeRidge, NoiseCeiling)}


def get_reference(name: str) -> type[Reference]:
    """The reference class called ``name``; an unknown name lists the known ones."""
    if name not in REFERENCES:
        raise ReconbenchError(f"unknown reference {name!r}; known: {', '.join(REFERENCES)}")
    return REFERENCES[name]


def reference_notes() -> dict[str, RowNote]:
    """Name -> caption and legend sentence of every reference, for the leaderboard."""
    return {name: cls.note() for name, cls in REFERENCES.items()}


__all__ = ["REFERENCES", "Reference", "CategoryOnly", "NearestCategory", "NoiseCeiling", "NoiseFreeRidge", "get_reference", "reference_notes"]

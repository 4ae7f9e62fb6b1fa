"""Reference rows are plugins: names, captions, lookup."""

from __future__ import annotations

import pytest

from reconbench.core.errors import ReconbenchError
from reconbench.references import REFERENCES, get_reference, reference_notes


def test_every_reference_carries_its_caption() -> None:
    assert list(REFERENCES) == ["category-only", "nearest-category", "noise-free-ridge", "noise-ceiling"]
    for name, note in reference_notes().items():
        assert note.caption and note.legend.startswith(name)
    with pytest.raises(ReconbenchError, match="known: category-only, nearest-category, noise-free-ridge, noise-ceiling"):
        get_reference("oracle")

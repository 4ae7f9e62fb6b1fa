"""Shared by the file-reading cheaters: find <data>/stimuli/**/<id>.png under candidate folders."""

from pathlib import Path

import numpy as np
from PIL import Image


def images_from(candidates, test, size):
    for candidate in candidates:
        folder = Path(candidate)
        try:
            if not (folder / "stimuli").is_dir():
                continue
            out = []
            for stimulus_id in test.stimulus_ids:
                path = next((folder / "stimuli").rglob(f"{stimulus_id}.png"))
                image = Image.open(path).convert("RGB").resize((size, size))
                out.append(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)
            return np.stack(out)
        except (OSError, StopIteration):
            continue
    return None

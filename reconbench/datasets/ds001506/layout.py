"""The ds001506 layout: session names, file names, ROI and label keys.

The one list of sessions (:data:`SESSIONS`) that the loader, the split and the
simulator (which writes this layout) share.
"""

from __future__ import annotations

import re

#: ds001506 session name -> the split part it feeds.
SESSIONS = {
    "NaturalImageTraining": "train",
    "NaturalImageTest": "natural",
    "ArtificialImage": "shapes",
    "LetterImage": "letters",
}
#: Test-set name -> session name.
TEST_SET_SESSIONS = {part: session for session, part in SESSIONS.items() if part != "train"}
TRAIN_SESSION = "NaturalImageTraining"

#: File name of one session file: ``<subject>_perception<Session>_original_VC[_v2].h5``.
FILE_PATTERN = re.compile(r"^(?P<subject>sub-[A-Za-z0-9]+)_perception(?P<session>" + "|".join(SESSIONS) + r")_original_VC(?P<v2>_v2)?\.h5$")

#: Image file extensions looked up in the stimulus folder (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")

#: Metadata keys of each base ROI, in order of preference (``ROI_hV4`` in newer files).
ROI_KEYS = {
    "V1": ("ROI_V1",),
    "V2": ("ROI_V2",),
    "V3": ("ROI_V3",),
    "V4": ("ROI_V4", "ROI_hV4"),
    "LOC": ("ROI_LOC",),
    "FFA": ("ROI_FFA",),
    "PPA": ("ROI_PPA",),
}

#: Metadata keys that may carry the stimulus of each trial, tried in this order.
LABEL_KEYS = ("stimulus_name", "Label", "stimulus_id", "image_index")

#: Image size of real data when the caller gives none.
DEFAULT_REAL_IMAGE_SIZE = 256

"""Cheating route 3: read the data folder from an ancestor's command line (/proc/<pid>/cmdline), then the stimulus PNGs."""

import importlib.util
import os
from pathlib import Path

from reconbench.core.method import Method

_spec = importlib.util.spec_from_file_location("_stimuli_cheat", Path(__file__).with_name("_stimuli_cheat.py"))
_helper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helper)


def _ancestors_args():
    pid, args, errors = os.getppid(), [], []
    while pid > 1:
        try:
            args += Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            break
    return args, errors


class CheatParentCmdline(Method):
    name = "cheat_parent_cmdline"

    def fit(self, train):
        self.size_ = train.images.shape[-1]
        return self

    def reconstruct(self, test):
        args, errors = _ancestors_args()
        images = _helper.images_from([a for a in args if a.startswith("/")], test, self.size_)
        if images is None:
            raise RuntimeError(f"cheat failed: no stimulus folder in the ancestors' command lines ({'; '.join(errors)})")
        return images

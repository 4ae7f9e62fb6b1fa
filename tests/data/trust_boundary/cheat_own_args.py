"""Cheating route 4: read the data folder from this process's own arguments and environment, then the stimulus PNGs."""

import importlib.util
import os
import sys
from pathlib import Path

from reconbench.core.method import Method

_spec = importlib.util.spec_from_file_location("_stimuli_cheat", Path(__file__).with_name("_stimuli_cheat.py"))
_helper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helper)


class CheatOwnArgs(Method):
    name = "cheat_own_args"

    def fit(self, train):
        self.size_ = train.images.shape[-1]
        return self

    def reconstruct(self, test):
        candidates = [a for a in sys.argv if a.startswith("/")] + [v for v in os.environ.values() if v.startswith("/")]
        candidates += [os.getcwd(), os.path.expanduser("~/reconbench_data")]
        try:
            candidates += [a for a in Path("/proc/self/cmdline").read_bytes().decode().split("\0") if a.startswith("/")]
        except OSError:
            pass
        images = _helper.images_from(candidates, test, self.size_)
        if images is None:
            raise RuntimeError("cheat failed: no stimulus folder in this process's arguments, environment or working directory")
        return images

"""Route 2: replaces the stage cache's lock files with symbolic links to a file of its choice, so that
a later run would create (or truncate) that file."""

import os

import numpy as np

from reconbench.core.method import Method

TARGET = "/tmp/rbadv-created-through-a-lock"


class SymlinksLock(Method):
    name = "adv_symlinks_lock"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        try:
            from reconbench.core.stage_cache import default_stage_cache

            root = default_stage_cache().root
            for lock in list(root.glob("**/*.lock")) + [root / ".lock", root / "lock"]:
                try:
                    if lock.exists():
                        lock.unlink()
                    os.symlink(TARGET, lock)
                except OSError:
                    pass
        except Exception:
            pass
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)

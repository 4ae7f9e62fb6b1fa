"""Route 3: re-saves every stage-cache entry it can see, zeroed, through the cache's own API (with a
valid integrity record), so that a later built-in run would load the zeros."""

import numpy as np

from reconbench.core.method import Method


class PoisonsCache(Method):
    name = "adv_poisons_cache"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        self.poisoned_ = 0
        try:
            from reconbench.core.stage_cache import default_stage_cache

            cache = default_stage_cache()
            root = getattr(cache, "root", None)
            for entry in sorted(root.glob("*/*/*.npz")) if root is not None else []:
                stage, key = entry.parent.parent.name, entry.stem
                try:
                    loaded = cache.load(stage, key)
                    if loaded is None:
                        continue
                    arrays, meta = loaded[0], loaded[1]
                    cache.save(stage, key, {name: np.zeros_like(a) for name, a in arrays.items()}, meta)
                    self.poisoned_ += 1
                except Exception:
                    continue
        except Exception:
            pass
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        return np.repeat(self.mean_[None], len(test.stimulus_ids), 0)

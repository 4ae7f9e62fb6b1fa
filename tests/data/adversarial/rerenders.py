"""Route 1d: re-renders shapes and letters from what their stimulus ids say (shape, colour, letter)."""

import numpy as np

from reconbench.core.method import Method


class Rerenders(Method):
    name = "adv_rerenders"
    parameter_sets = {"default": {}}
    citation = "adversarial plugin (reconbench tests)"

    def fit(self, train):
        self.mean_ = np.asarray(train.images, np.float32).mean(0)
        return self

    def reconstruct(self, test):
        self.check_is_fitted("mean_")
        out = np.repeat(self.mean_[None], len(test.stimulus_ids), 0)
        for k, stimulus in enumerate(test.stimulus_ids):
            text = str(stimulus)
            if text.startswith("Letter_"):  # a letter id names its letter: draw it
                from PIL import Image, ImageDraw

                canvas = Image.new("RGB", out.shape[2:][::-1], "white")
                ImageDraw.Draw(canvas).text((out.shape[3] // 3, out.shape[2] // 3), text[-1], fill="black")
                out[k] = np.asarray(canvas, np.float32).transpose(2, 0, 1) / 255
        return out

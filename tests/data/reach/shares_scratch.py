"""A plugin that tries the folders cells could share (issue 26, route 4): /dev/shm, /tmp, and
reports its scratch variables and whether joblib and multiprocessing work."""

import os
import tempfile

import numpy as np

from reconbench.core.method import Method


def _try_write(path):
    try:
        with open(path, "w") as handle:
            handle.write("true images")
        os.unlink(path)
        return "written"
    except OSError as exc:
        return type(exc).__name__


class SharesScratch(Method):
    name = "shares_scratch"

    def fit(self, train):
        import joblib

        log = {
            "dev_shm": _try_write("/dev/shm/reconbench-probe"),
            "tmp": _try_write("/tmp/reconbench-probe"),
            "own": _try_write(os.path.join(tempfile.gettempdir(), "probe")),
            "cwd": os.getcwd(),
            "scratch": {name: os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP", "JOBLIB_TEMP_FOLDER")},
            "tempdir": tempfile.gettempdir(),
            "joblib": joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i) for i in range(3)),
            "cpu_count": joblib.cpu_count(),
        }
        try:
            import multiprocessing

            multiprocessing.Lock()
            log["lock"] = "ok"
        except PermissionError as exc:
            from reconbench.bench.sandbox import _error_text

            log["lock"] = _error_text(exc)
        self.log_ = log
        return self

    def reconstruct(self, test):
        self.stage_log_ = [self.log_]
        return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, np.float32)

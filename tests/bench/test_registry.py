"""Method discovery: built-ins, a folder of one-file methods, clear errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from reconbench.bench.registry import discover_methods, get_method
from reconbench.core.errors import ReconbenchError
from reconbench.core.method import Method, seed_keyword
from tests.bench.terminal import stdout_on_a_terminal

ONE_METHOD = """
    import numpy as np
    from reconbench.core.method import Method

    class Constant(Method):
        name = "constant_grey"
        def fit(self, train):
            return self
        def reconstruct(self, test):
            return np.full((len(test.stimulus_ids), 3, 8, 8), 0.5, np.float32)
"""


def test_builtins_are_found_sorted() -> None:
    methods = discover_methods()
    assert {"mean_image", "pixel_ridge", "nearest_neighbor", "category_prototype", "divide_and_conquer"} <= set(methods)
    assert list(methods) == sorted(methods)
    assert all(issubclass(cls, Method) for cls in methods.values())


def test_a_folder_adds_its_methods(tmp_path) -> None:
    (tmp_path / "constant.py").write_text(textwrap.dedent(ONE_METHOD))
    assert get_method("constant_grey", tmp_path).name == "constant_grey"
    with pytest.raises(ReconbenchError, match="unknown method 'constant_grey'; available: "):
        get_method("constant_grey")


def test_malformed_files_and_clashing_names_are_refused(tmp_path) -> None:
    (tmp_path / "two.py").write_text(textwrap.dedent(ONE_METHOD) + textwrap.dedent(ONE_METHOD).replace("Constant", "Other"))
    with pytest.raises(ReconbenchError, match="exactly one Method subclass, found 2"):
        discover_methods(tmp_path)
    (tmp_path / "two.py").unlink()
    (tmp_path / "clash.py").write_text(textwrap.dedent(ONE_METHOD).replace('"constant_grey"', '"mean_image"'))
    with pytest.raises(ReconbenchError, match="two methods are named 'mean_image'"):
        discover_methods(tmp_path)


def test_a_plugin_file_is_imported_only_in_a_sealed_process(tmp_path) -> None:
    """Issue 26, route 1a: a methods-dir file's top level never runs in the harness, whose
    stand-in still carries the name, parameter sets, flags and seed keyword."""
    marker = tmp_path / "ran_in_harness"
    source = textwrap.dedent(ONE_METHOD).replace(
        "class Constant(Method):",
        "class Constant(Method):\n    parameter_sets = {'default': {'size': (8, 8)}, 'big': {'size': (16, 16)}}\n    explicit_parameter_sets = ('big',)\n    is_oracle = True\n    def __init__(self, size=(8, 8), seed=0):\n        self.size, self.seed = size, seed",
    )
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "constant.py").write_text(f"try:\n    open({str(marker)!r}, 'w').write('x')\nexcept OSError:\n    pass\n" + source)
    cls = get_method("constant_grey", folder)
    assert not marker.exists()  # the sealed import could not write it, and the harness never ran the file
    assert "reconbench_user_methods.constant" not in sys.modules
    assert cls.parameter_sets == {"default": {"size": (8, 8)}, "big": {"size": (16, 16)}}
    assert cls.explicit_parameter_sets == ("big",) and cls.is_oracle
    assert seed_keyword(cls) == "seed" and cls.source_file == str((folder / "constant.py").resolve())
    with pytest.raises(ReconbenchError, match="runs only in a sealed method process"):
        cls()


@pytest.mark.parametrize("top_level", ["raise SystemExit(0)", "raise KeyboardInterrupt", "import os; os._exit(0)", "1 / 0"])
def test_a_plugin_file_that_fails_at_import_is_named(tmp_path, top_level) -> None:
    """Issue 26, route 5: a file whose top level raises SystemExit (or anything) is a clear error naming it."""
    (tmp_path / "broken.py").write_text(top_level + "\n" + textwrap.dedent(ONE_METHOD))
    with pytest.raises(ReconbenchError, match=r"method file .*broken\.py"):
        discover_methods(tmp_path)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"constant_grey"', '"../evil"'),
        ('"constant_grey"', '"a\\x1b[2J"'),
        ("class Constant(Method):", "class Constant(Method):\n    parameter_sets = {'../../x': {}}"),
    ],
)
def test_method_and_parameter_set_names_must_be_plain(tmp_path, old, new) -> None:
    """Issue 26, route 2: names from which the harness builds paths are plain names."""
    (tmp_path / "named.py").write_text(textwrap.dedent(ONE_METHOD).replace(old, new))
    with pytest.raises(ReconbenchError, match="is not a plain name"):
        discover_methods(tmp_path)


def test_an_entry_point_is_imported_only_in_a_sealed_process(tmp_path, monkeypatch) -> None:
    """Issue 26, route 1: an installed plugin (entry point of group reconbench.methods) is described by
    a sealed import too; the harness never imports its module."""
    site = tmp_path / "site"
    (site / "ep_plugin").mkdir(parents=True)
    (site / "ep_plugin" / "__init__.py").write_text(textwrap.dedent(ONE_METHOD).replace('"constant_grey"', '"ep_grey"'))
    info = site / "ep_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[reconbench.methods]\nep_grey = ep_plugin:Constant\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))  # the sealed import finds the same distribution
    cls = discover_methods()["ep_grey"]
    assert "ep_plugin" not in sys.modules
    assert cls.__module__ == "ep_plugin" and cls.__qualname__ == "Constant"
    assert cls.source_file == str((site / "ep_plugin" / "__init__.py").resolve())


def test_a_plugin_files_import_has_no_terminal_and_prints_nowhere_the_user_sees(tmp_path) -> None:
    """Issue 26, routes 2 and 6 at import time: with the harness on a terminal (a pty), a methods-dir file's
    top level holds no terminal descriptor (no TIOCSTI push), cannot open /dev/tty, and what it prints
    never reaches the terminal. It reports what it found as a warning, which the harness repeats."""
    import json
    import warnings

    probe = """
        import fcntl, json, os, termios, warnings
        print("30 cells: 30 run, 0 already done (skipped), 0 failed, in 1.0 s", flush=True)
        fds = sorted(int(name) for name in os.listdir("/proc/self/fd"))
        pushed = []
        for fd in fds:
            try:
                fcntl.ioctl(fd, termios.TIOCSTI, b"#")
                pushed.append(fd)
            except OSError:
                pass
        try:
            os.close(os.open("/dev/tty", os.O_RDWR))
            dev_tty = True
        except OSError:
            dev_tty = False
        def _tty(fd):
            try:
                return os.isatty(fd)
            except OSError:
                return False
        warnings.warn(json.dumps({"ttys": [fd for fd in fds if _tty(fd)], "pushed": pushed, "dev_tty": dev_tty}))
    """
    (tmp_path / "probe.py").write_text(textwrap.dedent(probe) + textwrap.dedent(ONE_METHOD))
    with stdout_on_a_terminal() as terminal, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "constant_grey" in discover_methods(tmp_path)
    shown = terminal[0]
    (said,) = [str(w.message) for w in caught if "while importing method file" in str(w.message)]
    found = json.loads(said.split(" (while importing")[0])
    assert found == {"ttys": [], "pushed": [], "dev_tty": False}, found
    assert b"30 cells" not in shown


@pytest.mark.parametrize("top_level", ["raise SystemExit(0)", "import os; os._exit(0)"])
def test_a_command_with_a_plugin_file_that_exits_at_import_fails(tmp_path, top_level) -> None:
    """Issue 26, route 5: a methods-dir file that exits with status 0 while it is imported makes the
    command fail (status 2, one line naming the file), not end with status 0 as if it had run."""
    import subprocess

    (tmp_path / "quits.py").write_text(top_level + "\n" + textwrap.dedent(ONE_METHOD))
    done = subprocess.run(
        [sys.executable, "-c", "from reconbench.cli import main; main()", "list", "--methods-dir", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "quits.py" in done.stderr and "Traceback" not in done.stderr

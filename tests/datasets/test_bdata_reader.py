"""The project's BData reader (:mod:`reconbench.datasets.bdata_reader`) against bdpy's ``BData``.

Where bdpy is installed (Python < 3.12), every array and label the loaders read
is compared between the two, exactly (values, dtypes, shapes), on every kind of
test fixture (``tests/data/bdata_files.py``, ``tests/data/god_files.py``, the
``.mat`` copy of a GOD file), on the simulated ``tiny`` dataset in both layouts,
and on random files (hypothesis); and the loaders' results through each reader
are identical, errors included. Those tests skip, with the reason, where bdpy is
absent. The reader's own tests (random files against what was written, the
choice of reader and its record in the rows) run everywhere.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconbench.core import bdata_choice
from reconbench.core.bdata_choice import BDATA_READER_ENV, bdata_reader
from reconbench.core.errors import DataError, ReconbenchError
from reconbench.core.provenance import package_versions
from reconbench.datasets.bdata_reader import BDataFile
from reconbench.datasets.ds001506.bdata import open_bdata, read_session, read_stimulus_ids
from reconbench.datasets.ds001506.layout import SESSIONS
from reconbench.datasets.ds001506.stimuli import session_table
from reconbench.datasets.god import loader as god_loader
from reconbench.datasets.god.layout import SESSIONS as GOD_SESSIONS
from tests.data.bdata_files import NO_BDPY, bdpy_module, build_dataset, session_specs, write_session_file
from tests.data.god_files import build_god, write_mat_copy

READERS = ("bdpy", "reconbench")


# ---------------------------------------------------------------------------
# Comparing two readings


def _outcome(call):
    """``("ok", value)`` or ``("error", exception type)``: both readers must fail alike where they fail."""
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return "error", type(exc)


def _assert_same(a, b, what: str) -> None:
    """``a`` (bdpy's outcome) and ``b`` (the reader's): equal values, or bdpy's exception type (or a subclass) for both."""
    assert a[0] == b[0], f"{what}: {a} vs {b}"
    if a[0] == "error":
        assert issubclass(b[1], a[1]), f"{what}: {b[1]} is not a {a[1]}"
        return
    x, y = a[1], b[1]
    if isinstance(x, tuple):
        for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
            _assert_same(("ok", xi), ("ok", yi), f"{what}[{i}]")
    elif isinstance(x, np.ndarray):
        assert isinstance(y, np.ndarray), what
        assert (x.dtype, x.shape) == (y.dtype, y.shape), f"{what}: {x.dtype} {x.shape} vs {y.dtype} {y.shape}"
        np.testing.assert_array_equal(x, y, err_msg=what)  # NaN equals NaN here, nothing else is loose
    else:
        assert x == y, f"{what}: {x!r} vs {y!r}"


def assert_same_reading(path: Path) -> int:
    """Every array and label the loaders read, via bdpy and via the project's reader; returns the keys compared."""
    reference = bdpy_module().BData(str(path))
    ours = BDataFile(path)
    _assert_same(("ok", np.asarray(reference.dataset)), ("ok", ours.dataset), "dataset")
    assert list(reference.metadata.key) == ours.metadata.key
    assert list(reference.metadata.description) == ours.metadata.description
    _assert_same(("ok", np.asarray(reference.metadata.value)), ("ok", ours.metadata.value), "metadata.value")
    keys = list(dict.fromkeys(ours.metadata.key))
    for key in keys:
        for reader_call in (
            lambda bdata: bdata.select(f"{key} = 1", return_index=True, verbose=False),
            lambda bdata: bdata.select(f"{key} = 1"),
            lambda bdata: bdata.get(key),
        ):
            _assert_same(_outcome(lambda: reader_call(reference)), _outcome(lambda: reader_call(ours)), key)
    assert set(reference.get_vmap_keys()) == set(ours.get_vmap_keys())
    for key in [*ours.get_vmap_keys(), *keys]:
        _assert_same(_outcome(lambda: reference.get_labels(key)), _outcome(lambda: ours.get_labels(key)), f"labels of {key}")
    return len(keys)


def _decoded(path: Path, monkeypatch, reader: str):
    """What the loaders make of a file with one reader: every session decoded, or the error message."""
    monkeypatch.setenv(BDATA_READER_ENV, reader)
    root = path.parent
    try:
        if path.name.startswith("Subject"):
            tables = {s: session_table(root, s) for s in GOD_SESSIONS}
            sessions = god_loader.read_subject(path, tables=tables)
            ids = god_loader.read_subject_ids(path, tables=tables)
        else:
            session = next(s for s in SESSIONS if f"_perception{s}_" in path.name)
            sessions = {session: read_session(path, session, table=session_table(root, session))}
            ids = {session: read_stimulus_ids(path, table=session_table(root, session))}
    except DataError as exc:
        return str(exc)
    return {
        name: (
            {roi: x for roi, x in data.fmri.items()},
            data.runs,
            data.stimulus_ids,
            data.label_source,
            ids[name],
        )
        for name, data in sessions.items()
    }


def assert_same_loading(path: Path, monkeypatch) -> None:
    """The loaders' results with ``RECONBENCH_BDATA_READER=bdpy`` and ``=reconbench`` are identical."""
    bdpy_module()
    first, second = (_decoded(path, monkeypatch, reader) for reader in READERS)
    if isinstance(first, str) or isinstance(second, str):
        assert first == second
        return
    assert first.keys() == second.keys()
    for session in first:
        (fmri_a, *rest_a), (fmri_b, *rest_b) = first[session], second[session]
        assert fmri_a.keys() == fmri_b.keys()
        for roi in fmri_a:
            _assert_same(("ok", fmri_a[roi]), ("ok", fmri_b[roi]), f"{path.name} {session} {roi}")
        _assert_same(("ok", tuple(rest_a)), ("ok", tuple(rest_b)), f"{path.name} {session} runs, ids, their source, ids alone")


def assert_both(paths, monkeypatch) -> None:
    paths = list(paths)
    assert paths
    for path in paths:
        assert_same_reading(path)
        assert_same_loading(path, monkeypatch)


# ---------------------------------------------------------------------------
# Every fixture, both readers (needs bdpy)


@pytest.mark.parametrize("style", ["2019", "v2", "vmap"])
def test_hand_built_ds001506_files_read_alike(tmp_path, monkeypatch, style):
    built = build_dataset(tmp_path / style, subjects=("sub-01", "sub-02"), style=style)
    assert_both((p for files in built.files.values() for p in files.values()), monkeypatch)


@pytest.mark.parametrize(
    "variant",
    [
        {"runs_per_scan_session": 2},
        {"v4_key": "ROI_hV4", "union_keys": False},
        {"drop_keys": ("ROI_FFA",)},
        {"drop_keys": ("Run",)},
        {"nan_voxel": True},
        {"value_columns_delta": -1},
        {"value_columns_delta": 2},
        {"style": "vmap", "drop_keys": ("Run", "ROI_VC")},
    ],
    ids=lambda v: "-".join(f"{k}={v[k]}" for k in v),
)
@pytest.mark.parametrize("session", ["NaturalImageTest", "LetterImage"])
def test_session_file_variants_read_alike(tmp_path, monkeypatch, variant, session):
    path = tmp_path / f"sub-01_perception{session}_original_VC.h5"
    write_session_file(path, session_specs()[session], np.random.default_rng(3), **variant)
    assert_both([path], monkeypatch)


@pytest.mark.parametrize("variant", [{}, {"label_key": "Label"}, {"drop_keys": ("DataType",)}, {"drop_keys": ("Run",)}])
def test_god_files_read_alike(tmp_path, monkeypatch, variant):
    built = build_god(tmp_path / "GOD", subjects=("Subject1", "Subject2"), **variant)
    assert_both(built.files.values(), monkeypatch)


@pytest.mark.parametrize("names", [("dataSet", "metaData"), ("dataset", "metadata")])
def test_god_mat_file_reads_alike(tmp_path, monkeypatch, names):
    built = build_god(tmp_path / "GOD")
    root = tmp_path / "mat"
    root.mkdir()
    write_mat_copy(built.files["Subject1"], root / "Subject1.mat", names=names)
    assert_both([root / "Subject1.mat"], monkeypatch)
    # And the .mat file decodes to what its .h5 original decodes to.
    via_mat = _decoded(root / "Subject1.mat", monkeypatch, "reconbench")
    via_h5 = _decoded(built.files["Subject1"], monkeypatch, "reconbench")
    for session in via_h5:
        for roi, x in via_h5[session][0].items():
            np.testing.assert_array_equal(via_mat[session][0][roi], x)


def test_simulated_tiny_reads_alike_in_both_layouts(tiny_data_dir, tmp_path, monkeypatch):
    from reconbench.datasets.simulated.simulate import simulate

    assert_both(sorted(tiny_data_dir.glob("*.h5")), monkeypatch)
    god_root = simulate(preset="tiny", out=tmp_path / "god", seed=0, layout="god")
    assert_both(sorted(god_root.glob("Subject*.h5")), monkeypatch)


def test_unreadable_files_fail_alike(tmp_path, monkeypatch):
    built = build_dataset(tmp_path / "ds")
    path = built.files["sub-01"]["NaturalImageTest"]
    truncated = tmp_path / "t" / path.name
    truncated.parent.mkdir()
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    not_hdf5 = tmp_path / "n" / path.name
    not_hdf5.parent.mkdir()
    not_hdf5.write_text("not hdf5")
    no_metadata = tmp_path / "m" / path.name
    no_metadata.parent.mkdir()
    shutil.copy(path, no_metadata)
    with h5py.File(no_metadata, "r+") as h5:
        del h5["metadata/description"]
    bdpy_module()
    for broken in (truncated, not_hdf5, no_metadata):
        messages = []
        for reader in READERS:
            monkeypatch.setenv(BDATA_READER_ENV, reader)
            with pytest.raises(DataError, match="cannot read .* as a BData") as caught:
                open_bdata(broken)
            messages.append(str(caught.value))
        assert messages[0] == messages[1]
        assert_same_loading(broken, monkeypatch)


# ---------------------------------------------------------------------------
# Random files: the reader against what was written (everywhere) and against bdpy (where installed)

_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
_CELL = st.one_of(st.sampled_from([1.0, 2.0, 3.0, 0.0, np.nan]), st.floats(width=64, allow_nan=True, allow_infinity=True))
_META = st.sampled_from([1.0, np.nan, 0.0, 2.0, -1.0, 1.0000000000000002])
_UTF8 = st.characters(codec="utf-8", exclude_characters="\x00")
#: MATLAB files: printable ASCII, not blank (loadmat gives an empty cell for "", where both readers fail alike).
_MAT_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8).filter(str.strip)


@st.composite
def bdata_files(draw):
    """A BData file's content: dataset, keys (some repeated), metadata values, value maps, names and format."""
    n_rows = draw(st.integers(0, 5))
    n_cols = draw(st.integers(1, 6))
    dataset = np.array(draw(st.lists(_CELL, min_size=n_rows * n_cols, max_size=n_rows * n_cols)), dtype=np.float64).reshape(n_rows, n_cols)
    pool = draw(st.lists(_KEY, min_size=1, max_size=5, unique=True))
    keys = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=7))
    value = np.array(draw(st.lists(_META, min_size=len(keys) * n_cols, max_size=len(keys) * n_cols)), dtype=np.float64).reshape(len(keys), n_cols)
    fmt = draw(st.sampled_from(["h5", "mat"]))
    text = _MAT_TEXT if fmt == "mat" else st.text(_UTF8, min_size=1, max_size=8)
    descriptions = draw(st.lists(text, min_size=len(keys), max_size=len(keys)))
    vmap = {}
    if fmt == "h5":
        for key in draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)):
            numbers = draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 0.5]), max_size=3, unique=True))
            vmap[key] = {n: draw(st.text(_UTF8, max_size=6)) for n in numbers}
    return {
        "dataset": dataset,
        "keys": keys,
        "descriptions": [d.strip() if fmt == "mat" else d for d in descriptions],
        "value": value,
        "vmap": vmap,
        "format": fmt,
        "braindecoder_names": draw(st.booleans()),
        "text_keys": draw(st.booleans()),
        "integer_vmap_names": draw(st.booleans()),
    }


def _write(spec: dict, folder: Path) -> Path:
    data_name, meta_name = ("dataSet", "metaData") if spec["braindecoder_names"] else ("dataset", "metadata")
    if spec["format"] == "mat":
        path = folder / "random.mat"

        def cell(strings):
            out = np.empty((1, len(strings)), dtype=object)
            out[0, :] = strings
            return out

        scipy.io.savemat(
            path, {data_name: spec["dataset"], meta_name: {"key": cell(spec["keys"]), "description": cell(spec["descriptions"]), "value": spec["value"]}}
        )
        return path
    path = folder / "random.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset(data_name, data=spec["dataset"])
        meta = h5.create_group(meta_name)
        if spec["text_keys"]:  # variable-length UTF-8 strings
            meta.create_dataset("key", data=spec["keys"], dtype=h5py.string_dtype())
            meta.create_dataset("description", data=spec["descriptions"], dtype=h5py.string_dtype())
        else:  # fixed-length byte strings, as the published files hold them
            meta.create_dataset("key", data=np.array([k.encode() for k in spec["keys"]]))
            meta.create_dataset("description", data=[d.encode() for d in spec["descriptions"]])
        meta.create_dataset("value", data=spec["value"])
        if spec["vmap"]:
            for key, mapping in spec["vmap"].items():
                group = h5.create_group(f"vmap/{key}")
                for number, label in mapping.items():
                    name = str(int(number)) if spec["integer_vmap_names"] and number == int(number) else str(number)
                    group.create_dataset(name, data=label.encode())
    return path


def _expected_columns(spec: dict, key: str) -> np.ndarray:
    """The columns a key selects: 1 in its row of the metadata values (its first row, where it repeats)."""
    return spec["value"][spec["keys"].index(key)] == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=bdata_files())
def test_random_files_read_as_written(spec):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(spec, Path(folder))
        ours = BDataFile(path)
        assert ours.dataset.dtype == np.float64 and ours.dataset.shape == spec["dataset"].shape
        np.testing.assert_array_equal(ours.dataset, spec["dataset"])
        assert ours.metadata.key == spec["keys"]
        assert ours.metadata.description == spec["descriptions"]
        np.testing.assert_array_equal(ours.metadata.value, spec["value"])
        for key in set(spec["keys"]):
            expected = _expected_columns(spec, key)
            selected, index = ours.select(f"{key} = 1", return_index=True, verbose=False)
            assert index.dtype == bool
            np.testing.assert_array_equal(index, expected)
            np.testing.assert_array_equal(selected, spec["dataset"][:, expected])
            np.testing.assert_array_equal(ours.get(key), spec["dataset"][:, expected])
        assert set(ours.get_vmap_keys()) == set(spec["vmap"])
        for key, mapping in spec["vmap"].items():
            if key not in spec["keys"]:
                continue
            values = spec["dataset"][:, _expected_columns(spec, key)].flatten()
            if all(np.isnan(v) or v in mapping for v in values):
                assert ours.get_labels(key) == ["n/a" if np.isnan(v) else mapping[v] for v in values]
            else:
                with pytest.raises(KeyError):
                    ours.get_labels(key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=bdata_files())
def test_random_files_read_as_bdpy_reads_them(spec):
    bdpy_module()
    with tempfile.TemporaryDirectory() as folder:
        assert_same_reading(_write(spec, Path(folder)))


# ---------------------------------------------------------------------------
# The reader's limits, the choice of reader and its record (everywhere)


def test_only_key_equals_one_is_selected(tmp_path):
    built = build_god(tmp_path / "GOD")
    bdata = BDataFile(built.files["Subject1"])
    assert bdata.select(" ROI_V1=1 ").shape[1] == bdata.get("ROI_V1").shape[1] > 0
    for condition in ("ROI_V1 = 1 | ROI_V2 = 1", "ROI_V1", "ROI_* = 1", "ROI_V1 = 2", "1 = 1"):
        with pytest.raises(ValueError, match="selects only 'KEY = 1'"):
            bdata.select(condition)
    with pytest.raises(KeyError, match="ROI_nowhere"):
        bdata.get("ROI_nowhere")
    with pytest.raises(ValueError, match="unknown BData file extension"):
        BDataFile(tmp_path / "Subject1.hdf5")


def test_reader_choice(monkeypatch):
    monkeypatch.delenv(BDATA_READER_ENV, raising=False)
    assert bdata_reader() == ("bdpy" if bdata_choice.bdpy_installed() else "reconbench")
    monkeypatch.setenv(BDATA_READER_ENV, " Reconbench ")
    assert bdata_reader() == "reconbench"
    monkeypatch.setenv(BDATA_READER_ENV, "h5py")
    with pytest.raises(ReconbenchError, match="RECONBENCH_BDATA_READER 'h5py': expected one of auto, bdpy, reconbench"):
        bdata_reader()
    monkeypatch.setattr(bdata_choice, "bdpy_installed", lambda: False)
    monkeypatch.setenv(BDATA_READER_ENV, "auto")
    assert bdata_reader() == "reconbench"
    monkeypatch.setenv(BDATA_READER_ENV, "bdpy")
    with pytest.raises(ReconbenchError, match="bdpy is not installed here"):
        bdata_reader()


def test_rows_name_bdpy_only_when_it_read_the_data(monkeypatch, tmp_path):
    built = build_god(tmp_path / "GOD")
    monkeypatch.setenv(BDATA_READER_ENV, "reconbench")
    assert isinstance(open_bdata(built.files["Subject1"]), BDataFile)
    recorded = json.loads(package_versions())
    assert "bdpy" not in recorded and "h5py" in recorded and "reconbench" in recorded
    if not bdata_choice.bdpy_installed():
        pytest.skip(NO_BDPY)
    monkeypatch.setenv(BDATA_READER_ENV, "bdpy")
    assert type(open_bdata(built.files["Subject1"])).__module__.startswith("bdpy.")
    assert json.loads(package_versions())["bdpy"] == importlib.metadata.version("bdpy")
    monkeypatch.delenv(BDATA_READER_ENV)
    assert "bdpy" in json.loads(package_versions())


@pytest.mark.parametrize("reader", ["reconbench", "bdpy"])
def test_a_matlab_v73_file_is_refused_with_a_data_error(tmp_path, monkeypatch, reader) -> None:
    """A v7.3 .mat file (HDF5 inside) is one scipy's loadmat refuses with NotImplementedError; the
    user gets a DataError naming the file and what to do, from either reader."""
    if reader == "bdpy":
        pytest.importorskip("bdpy")
    from reconbench.core.errors import DataError
    from reconbench.datasets.ds001506.bdata import open_bdata

    monkeypatch.setenv("RECONBENCH_BDATA_READER", reader)
    path = tmp_path / "Subject1.mat"
    # The 128-byte MAT-file header of version 0x0200 (v7.3), little-endian ("IM"): what loadmat checks.
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02" + b"IM" + b"\0" * 512)
    with pytest.raises(DataError, match=r"Subject1\.mat: a MATLAB v7\.3 \.mat file.*-v7"):
        open_bdata(path)

"""Small GOD (ds001246) BData files written with h5py alone, in the layout the lab's code reads.

One file per subject (``Subject1.h5``), trials of all sessions in one ``/dataset``
told apart by a ``DataType`` column (1 training, 2 test perception, 3 test
imagery), the float ImageNet id in ``stimulus_id`` (the 2019 ``.h5`` files,
KamitaniLab/GenericObjectDecoding ``code/python/analysis_FeaturePrediction.py``)
or in ``Label`` (the MATLAB demo), ``Run`` and ``Block`` columns, ROI keys
``ROI_V1`` .. ``ROI_PPA``, ``ROI_LVC``, ``ROI_HVC``, ``ROI_VC``; no ``/header``,
no ``/vmap``. Imagery trials carry the category synset as an integer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.data.bdata_files import BASE_ROIS, ROI_SIZES, natural_float, natural_name, roi_layout, write_bdata, write_image

# Test categories are absent from training, as in GOD.
GOD_TRAIN = [
    (1518878, 5958),
    (1518878, 10042),
    (1639765, 48),
    (1639765, 7),
    (2085620, 10042),
    (2085620, 3),
    (2950826, 3013),
    (2950826, 110),
    (3452741, 110),
    (3452741, 90001),
]
GOD_TEST = [(1443537, 22563), (1621127, 19020), (1677366, 18182)]
DATATYPE = {"ImageNetTraining": 1, "ImageNetTest": 2, "Imagery": 3}


@dataclass
class BuiltGOD:
    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    #: per subject: DataType, Run and stimulus id text of every trial, in file order
    trials: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def build_god(
    root: Path,
    *,
    subjects: tuple[str, ...] = ("Subject1",),
    label_key: str = "stimulus_id",
    seed: int = 0,
    train_runs: int = 2,
    test_reps: int = 3,
    imagery_reps: int = 2,
    drop_keys: tuple[str, ...] = (),
) -> BuiltGOD:
    """A GOD folder: ``Subject<N>.h5`` files and ``stimuli/`` with one image per training and test stimulus."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    built = BuiltGOD(root=root)
    for synset, number in GOD_TRAIN:
        write_image(root / "stimuli" / "training" / f"{natural_name(synset, number)}.JPEG", rng)
    for synset, number in GOD_TEST:
        write_image(root / "stimuli" / "test" / f"{natural_name(synset, number)}.png", rng)
    layout = roi_layout()
    n_vox = sum(ROI_SIZES.values())
    for subject in subjects:
        datatype, runs, labels, names = [], [], [], []
        run = 0
        # Training: every image once, split over train_runs runs.
        order = rng.permutation(len(GOD_TRAIN))
        for chunk in np.array_split(order, train_runs):
            run += 1
            for i in chunk:
                datatype.append(1)
                runs.append(run)
                labels.append(natural_float(*GOD_TRAIN[i]))
                names.append(natural_name(*GOD_TRAIN[i]))
        for _ in range(test_reps):
            run += 1
            for i in rng.permutation(len(GOD_TEST)):
                datatype.append(2)
                runs.append(run)
                labels.append(natural_float(*GOD_TEST[i]))
                names.append(natural_name(*GOD_TEST[i]))
        for _ in range(imagery_reps):
            run += 1
            for i in rng.permutation(len(GOD_TEST)):
                synset = GOD_TEST[i][0]
                datatype.append(3)
                runs.append(run)
                labels.append(float(synset))
                names.append("n%08d" % synset)
        datatype, runs, labels = np.array(datatype, float), np.array(runs, float), np.array(labels, float)
        offsets = rng.normal(scale=5.0, size=(run + 1, n_vox))
        voxels = rng.normal(size=(len(runs), n_vox)) + offsets[runs.astype(int)]
        columns = [("VoxelData", voxels), ("DataType", datatype), ("Run", runs), ("Block", np.arange(len(runs)) + 1.0), (label_key, labels)]
        columns = [c for c in columns if c[0] not in drop_keys]
        n_cols = n_vox + len(columns) - 1
        extra = []
        for roi in BASE_ROIS:
            row = np.full(n_cols, np.nan)
            row[layout[roi]] = 1
            extra.append((f"ROI_{roi}", row))
        for union, members in (("LVC", ("V1", "V2", "V3")), ("HVC", ("LOC", "FFA", "PPA")), ("VC", BASE_ROIS)):
            row = np.full(n_cols, np.nan)
            row[np.concatenate([layout[m] for m in members])] = 1
            extra.append((f"ROI_{union}", row))
        path = root / f"{subject}.h5"
        write_bdata(path, columns, extra)
        built.files[subject] = path
        built.trials[subject] = {"DataType": datatype, "Run": runs, "ids": np.array(names)}
    return built


def write_mat_copy(h5_path: Path, mat_path: Path, *, names: tuple[str, str] = ("dataSet", "metaData")) -> None:
    """The BData file ``h5_path`` as a MATLAB ``.mat`` file written with scipy.io alone: the dataset and a
    metadata struct of 1 x K cell arrays ``key`` and ``description`` and the K x columns ``value``, under
    ``names`` (BrainDecoderToolbox2's ``dataSet`` / ``metaData`` as the MATLAB demo reads them, or
    ``dataset`` / ``metadata``)."""
    import h5py
    import scipy.io

    with h5py.File(h5_path, "r") as h5:
        dataset = h5["dataset"][()]
        keys = [k.decode() for k in h5["metadata/key"][()]]
        descriptions = [d.decode() for d in h5["metadata/description"][()]]
        value = h5["metadata/value"][()]

    def cell(strings):
        out = np.empty((1, len(strings)), dtype=object)
        out[0, :] = strings
        return out

    scipy.io.savemat(mat_path, {names[0]: dataset, names[1]: {"key": cell(keys), "description": cell(descriptions), "value": value}})

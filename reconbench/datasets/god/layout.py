"""The Generic Object Decoding layout (Horikawa & Kamitani 2017, OpenNeuro ds001246).

What was checked, and where (read, not copied):

- **Files**: one BData file per subject, ``Subject1.h5`` ... ``Subject5.h5``
  (KamitaniLab/GenericObjectDecoding, ``code/python/god_config.py`` and
  ``data/README.md``: figshare article 7387130). The MATLAB demo reads
  ``Subject1.mat`` ... ``Subject5.mat`` (``code/matlab/analysis_FeaturePrediction.m``);
  bdpy's ``BData`` reads both (``bdpy/bdata/bdata.py``: ``.mat`` through
  ``scipy.io.loadmat``, keys ``dataSet``/``metaData`` or ``dataset``/``metadata``).
  A ``.mat`` file saved as MATLAB v7.3 is HDF5 inside and ``loadmat`` cannot read
  it; we could not confirm which version the published ``.mat`` files are.
- **DataType**: 1 training (perception), 2 test perception, 3 test imagery
  (``analysis_FeaturePrediction.m``, the comment block "dataType";
  ``analysis_FeaturePrediction.py``: ``i_train = datatype == 1`` etc.).
- **Labels**: the float ImageNet id ``<synset>.<image number>`` (issue #5 of
  that repository: ``1518878.010042`` is ``n01518878_10042.JPEG``; the stimulus
  tables ``data/stimulus_ImageNet{Training,Test}.tsv`` list name, id, category,
  index). The ``.mat`` files keep it in ``Label`` (column 1 in the MATLAB demo);
  the 2019 ``.h5`` files are read with ``select('stimulus_id')`` (commit
  60f44d9, "use the latest data files"). The loader finds the id column as for
  ds001506, so either key works.
- **Imagery labels**: the demo averages imagery predictions per
  ``int(label)`` (the category); whether imagery trials carry a category id
  (integer) or an image id (with decimals) is not visible in the code. Both are
  accepted here: an integer label becomes the synset ``n%08d``, a label with
  decimals the image id.
- **ROIs**: ``ROI_V1`` ``ROI_V2`` ``ROI_V3`` ``ROI_V4`` ``ROI_LOC`` ``ROI_FFA``
  ``ROI_PPA`` ``ROI_LVC`` ``ROI_HVC`` ``ROI_VC`` (``god_config.py``, ``rois``).
- **Run** (and ``Block``) keys exist: the Python demo concatenates files with
  ``successive=['Run', 'Block']``.
- Not confirmed from code (from the paper, via the issue): 1,200 training
  images from 150 categories shown once each; 50 test images from 50 other
  categories, each repeated (35 times in the paper) and averaged.
"""

from __future__ import annotations

import re

#: GOD session name -> the split part it feeds. A session is the set of trials of one DataType.
SESSIONS = {
    "ImageNetTraining": "train",
    "ImageNetTest": "natural",
    "Imagery": "imagery",
}
#: Session name -> the value of the ``DataType`` column that marks its trials.
DATATYPES = {"ImageNetTraining": 1, "ImageNetTest": 2, "Imagery": 3}
TRAIN_SESSION = "ImageNetTraining"
#: Test-set name -> session name.
TEST_SET_SESSIONS = {part: session for session, part in SESSIONS.items() if part != "train"}
#: Sessions whose stimuli may have no image (imagery: nothing was shown); scored only when the user provides images.
OPTIONAL_IMAGE_SESSIONS = ("Imagery",)

#: ``Subject<N>.h5`` (preferred) or ``Subject<N>.mat``.
FILE_PATTERN = re.compile(r"^(?P<subject>Subject[0-9]+)\.(?P<ext>h5|mat)$")
FILE_EXTENSIONS = (".h5", ".mat")

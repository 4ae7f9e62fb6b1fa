"""The ``data check`` report on a hand-built dataset."""

from __future__ import annotations

from reconbench.datasets.ds001506.check import check_data


def test_check_data_prints_summary(two_subject_dataset, capsys):
    check_data(two_subject_dataset.root)
    out = capsys.readouterr().out
    for text in ("sub-01", "sub-02", "NaturalImageTraining", "LetterImage", "V1", "PPA", "every label has one stimulus image"):
        assert text in out
    # 12 training stimuli x 4 repetitions = 48 trials.
    assert "48" in out

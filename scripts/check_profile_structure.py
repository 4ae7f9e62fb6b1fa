"""Check that a data folder's decoding profile has real visual cortex's structure (lower areas best for low-level
features, higher areas for the semantic vector and category), for presets too large for the test suite.

    python scripts/check_profile_structure.py DIR [--subject sub-01 --subject sub-02] [--all-rois]

For each subject (default: every subject of the folder) it runs ``reconbench data profile`` on LVC and HVC
(every ROI with ``--all-rois``), prints the LVC/HVC identification per level as a Markdown table, the claims of
:mod:`reconbench.analysis.profile_structure` and where the curves cross, and exits 1 when a claim fails.
The same claims are tested on the ``ci`` preset in tests/analysis/test_profile_structure.py. On the
``default`` preset one subject takes about 1 min on 2 busy cores (AlexNet features of the 600 training
images and two ridge decoders; ``--all-rois``: about 1.5 min).
"""

from __future__ import annotations

import argparse
import sys
import time

from reconbench.analysis.profile import compute_profile, print_profile, resolve_subject
from reconbench.analysis.profile_structure import crossing_level, structure_claims, structure_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a data folder (simulated, ds001506 or GOD layout)")
    parser.add_argument("--subject", action="append", help="a subject (repeat); default: every subject of the folder")
    parser.add_argument("--all-rois", action="store_true", help="profile every ROI and print the full tables too")
    args = parser.parse_args(argv)

    from reconbench.datasets.layouts import detect_layout

    subjects = args.subject or detect_layout(args.folder).list_subjects(args.folder)
    failed = 0
    for subject in subjects:
        subject = resolve_subject(args.folder, subject)
        started = time.perf_counter()
        result = compute_profile(args.folder, subject, rois=None if args.all_rois else "LVC,HVC")
        print(f"\n## {args.folder}, {subject} ({time.perf_counter() - started:.0f} s)\n")
        if args.all_rois:
            print_profile(result)
        print(structure_table(result))
        print(f"\nthe curves cross at: {crossing_level(result)}")
        for claim in structure_claims(result):
            print(f"{'PASS' if claim.holds else 'FAIL'}  {claim.text}: {claim.detail}")
            failed += not claim.holds
    print(f"\n{'every claim holds' if not failed else f'{failed} claim(s) fail'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

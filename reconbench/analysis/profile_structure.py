"""The qualitative structure a decoding profile of visual cortex should have, as claims a profile passes or fails.

Real visual cortex orders information along the feature ladder: features of the
lower layers of a CNN are decoded best from lower visual areas, those of the
higher layers and category information best from higher visual areas, so the
two curves cross (Horikawa & Kamitani 2017, Nature Communications 8:15037,
"Generic decoding of seen and imagined objects using hierarchical visual
features"; only the ordering is taken from it, no value). The claims, on the
pairwise identification of :func:`reconbench.analysis.profile.compute_profile`
from the two ROI unions LVC (V1-V3) and HVC (LOC, FFA, PPA):

- the low end: LVC above HVC on ``luminance`` and on ``conv1``;
- the high end: HVC above LVC on ``semantic`` (divide-and-conquer's vector, the
  highest feature level below category), so the curves cross along the ladder
  (:func:`crossing_level` says where);
- category: HVC above LVC on ``category``.

``colour`` and ``conv2``..``conv5`` are reported but not claimed: where the
curves cross between ``conv1`` and ``semantic`` differs between presets and
seeds (docs/simulated-data.md, "Calibration").
"""

from __future__ import annotations

from dataclasses import dataclass

from reconbench.analysis.profile import LEVELS, ProfileResult

LOWER, HIGHER = "LVC", "HVC"
#: Levels where the lower areas must win, and levels where the higher areas must win.
LOW_END = ("luminance", "conv1")
HIGH_END = ("semantic", "category")


@dataclass(frozen=True)
class Claim:
    """One claim about a profile: ``text``, whether it holds, and the numbers behind it."""

    text: str
    holds: bool
    detail: str


def differences(result: ProfileResult, key: str = "identification") -> dict[str, float]:
    """``LVC - HVC`` per level of the profile (NaN where either is missing)."""
    return {level: result.value(LOWER, level, key) - result.value(HIGHER, level, key) for level in LEVELS if level in result.levels}


def crossing_level(result: ProfileResult) -> str | None:
    """Where the curves cross: the lowest feature level from which HVC is at least LVC on every level up to
    ``semantic``, when LVC is above HVC on some lower level; None when there is no such level.

    ``category`` is left out: it is not an image feature, and the higher areas win it in every profile.
    """
    d = differences(result)
    features = [level for level in LEVELS if level in d and level != "category"]
    cross = None
    for k in range(len(features) - 1, -1, -1):
        if not d[features[k]] <= 0:
            break
        cross = k
    if cross is None or not any(d[level] > 0 for level in features[:cross]):
        return None
    return features[cross]


def structure_claims(result: ProfileResult) -> list[Claim]:
    """The claims of the module docstring, evaluated on ``result`` (which must hold LVC and HVC).

    Raises
    ------
    ValueError
        The profile lacks LVC or HVC, or a claimed level.
    """
    missing = [roi for roi in (LOWER, HIGHER) if roi not in result.rois] + [level for level in LOW_END + HIGH_END if level not in result.levels]
    if missing:
        raise ValueError(f"the profile lacks {', '.join(missing)}; profile with --rois LVC,HVC and every level")
    d = differences(result)
    claims = []
    for level in LOW_END:
        claims.append(Claim(f"{LOWER} > {HIGHER} on {level}", bool(d[level] > 0), _detail(result, level)))
    for level in HIGH_END:
        claims.append(Claim(f"{HIGHER} > {LOWER} on {level}", bool(d[level] < 0), _detail(result, level)))
    return claims


def _detail(result: ProfileResult, level: str) -> str:
    lower, higher = result.value(LOWER, level, "identification"), result.value(HIGHER, level, "identification")
    return f"{LOWER} {lower:.3f}, {HIGHER} {higher:.3f} ({lower - higher:+.3f})"


def structure_table(result: ProfileResult) -> str:
    """A Markdown table: LVC, HVC and their difference per level (identification)."""
    levels = [level for level in LEVELS if level in result.levels]
    lines = ["| ROI | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    for roi in (LOWER, HIGHER):
        lines.append(f"| {roi} | " + " | ".join(f"{result.value(roi, level, 'identification'):.3f}" for level in levels) + " |")
    d = differences(result)
    lines.append(f"| {LOWER} - {HIGHER} | " + " | ".join(f"{d[level]:+.3f}" for level in levels) + " |")
    return "\n".join(lines)

"""The page of ``reconbench data profile``: ROI x level heat maps and identification curves as inline SVG.

Self-contained: no script, no stylesheet or font from elsewhere, no image file;
every figure is SVG written into the page.
"""

from __future__ import annotations

import html
import math

import numpy as np

#: Viridis at five stops (low -> high).
_PALETTE = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
#: Curve colours of the ROIs (the unions thick).
_ROI_COLOURS = {
    "V1": "#fdae61",
    "V2": "#f46d43",
    "V3": "#d73027",
    "V4": "#a6d96a",
    "LOC": "#74add1",
    "FFA": "#4575b4",
    "PPA": "#313695",
    "LVC": "#b2182b",
    "HVC": "#2166ac",
    "VC": "#1a1a1a",
}
_UNIONS = ("LVC", "HVC", "VC")


def _colour(t: float) -> str:
    if not math.isfinite(t):
        return "#dddddd"
    t = min(1.0, max(0.0, t)) * (len(_PALETTE) - 1)
    k = min(int(t), len(_PALETTE) - 2)
    f = t - k
    rgb = [round(a + (b - a) * f) for a, b in zip(_PALETTE[k], _PALETTE[k + 1])]
    return "#%02x%02x%02x" % tuple(rgb)


def _text_colour(t: float) -> str:
    return "#000000" if math.isfinite(t) and t > 0.55 else "#ffffff"


def heatmap_svg(result, key: str, low: float, high: float) -> str:
    """One ROI x level heat map of ``key`` (``identification`` or ``correlation``), ``low``..``high`` mapped onto the palette."""
    rois, levels = result.rois, result.levels
    cell_w, cell_h, left, top = 74, 26, 110, 90
    width = left + cell_w * (len(levels) + 1) + 90
    height = top + cell_h * len(rois) + 40
    best = {}
    for level in levels:
        values = {roi: result.value(roi, level, key) for roi in rois}
        finite = {roi: v for roi, v in values.items() if math.isfinite(v)}
        best[level] = max(finite, key=finite.get) if finite else None
    parts = [f'<svg width="{width}" height="{height}" font-family="sans-serif" font-size="12">']
    for j, level in enumerate(levels):
        x = left + cell_w * j + cell_w / 2 - 8
        parts.append(f'<text x="{x:.0f}" y="{top - 8}" transform="rotate(-35 {x:.0f} {top - 8})">{html.escape(level)}</text>')
    x_rel = left + cell_w * len(levels) + cell_w / 2 - 8
    parts.append(f'<text x="{x_rel:.0f}" y="{top - 8}" transform="rotate(-35 {x_rel:.0f} {top - 8})">reliability</text>')
    for i, roi in enumerate(rois):
        y = top + cell_h * i
        parts.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="end">{html.escape(roi)} ({result.voxels(roi)})</text>')
        for j, level in enumerate(levels):
            value = result.value(roi, level, key)
            t = (value - low) / (high - low) if math.isfinite(value) else float("nan")
            x = left + cell_w * j
            stroke = ' stroke="#000000" stroke-width="2.5"' if best[level] == roi else ' stroke="#ffffff"'
            label = f"{value:.3f}" if math.isfinite(value) else "-"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{_colour(t)}"{stroke}><title>{html.escape(roi)}, {html.escape(level)}: {label}</title></rect>'
            )
            parts.append(f'<text x="{x + cell_w / 2:.0f}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="middle" fill="{_text_colour(t)}">{label}</text>')
        rel = result.reliability(roi)
        x = left + cell_w * len(levels)
        label = f"{rel:.3f}" if math.isfinite(rel) else "-"
        parts.append(f'<rect x="{x + 6}" y="{y}" width="{cell_w - 6}" height="{cell_h}" fill="#f4f4f4" stroke="#ffffff"/>')
        parts.append(f'<text x="{x + cell_w / 2 + 3:.0f}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="middle">{label}</text>')
    # Colour bar.
    y = top + cell_h * len(rois) + 14
    for k in range(50):
        parts.append(f'<rect x="{left + k * 4}" y="{y}" width="4" height="10" fill="{_colour(k / 49)}"/>')
    parts.append(f'<text x="{left - 4}" y="{y + 9}" text-anchor="end">{low:.2f}</text>')
    parts.append(f'<text x="{left + 204}" y="{y + 9}">{high:.2f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def curves_svg(result, key: str = "identification", low: float = 0.5, high: float = 1.0) -> str:
    """``key`` along the ladder, one line per ROI (the unions LVC, HVC, VC thick)."""
    rois, levels = result.rois, result.levels
    left, top, plot_w, plot_h = 60, 20, max(360, 70 * len(levels)), 260
    width, height = left + plot_w + 120, top + plot_h + 80

    def px(j: int) -> float:
        return left + (plot_w * j / max(1, len(levels) - 1))

    def py(v: float) -> float:
        return top + plot_h * (1 - (min(high, max(low, v)) - low) / (high - low))

    parts = [f'<svg width="{width}" height="{height}" font-family="sans-serif" font-size="12">']
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999999"/>')
    for tick in np.linspace(low, high, 6):
        y = py(float(tick))
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eeeeee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    for j, level in enumerate(levels):
        x = px(j)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="end" transform="rotate(-35 {x:.1f} {top + plot_h + 16})">{html.escape(level)}</text>'
        )
    ordered = [r for r in rois if r not in _UNIONS] + [r for r in rois if r in _UNIONS]
    for n, roi in enumerate(ordered):
        points = [(px(j), py(v)) for j, level in enumerate(levels) if math.isfinite(v := result.value(roi, level, key))]
        if not points:
            continue
        thick = roi in _UNIONS
        colour = _ROI_COLOURS.get(roi, "#777777")
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = "" if thick else ' stroke-dasharray="4 2"'
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{3 if thick else 1.3}"{dash}><title>{html.escape(roi)}</title></polyline>'
        )
        parts.append(
            f'<line x1="{left + plot_w + 14}" x2="{left + plot_w + 34}" y1="{top + 10 + 16 * n}" y2="{top + 10 + 16 * n}" stroke="{colour}" stroke-width="{3 if thick else 1.3}"/>'
        )
        parts.append(f'<text x="{left + plot_w + 40}" y="{top + 14 + 16 * n}">{html.escape(roi)}</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2:.0f}" transform="rotate(-90 14 {top + plot_h / 2:.0f})" text-anchor="middle">{html.escape(key)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(result) -> str:
    """The whole page (a string)."""
    meta = result.meta
    correlations = [v for row in result.rows if math.isfinite(v := float(row["correlation"]))]
    corr_high = max(0.1, max(correlations, default=0.1))
    facts = [
        ("data", meta.get("data")),
        ("layout", meta.get("layout")),
        ("subject", meta.get("subject")),
        (
            "training images",
            f"{meta.get('training_images')} ({meta.get('fitting_images')} fitted, {meta.get('validation_images')} of them the validation fold; {meta.get('heldout_images')} held out and scored)",
        ),
        ("image size", f"{meta.get('image_size')} px"),
        ("dimensions per level", ", ".join(f"{k} {v}" for k, v in meta.get("levels", {}).items())),
        ("reliability", meta.get("reliability")),
    ]
    if meta.get("max_voxels"):
        facts.append(("--max-voxels", meta["max_voxels"]))
    facts.extend(("note", note) for note in meta.get("notes", []))
    rows = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>reconbench data profile: {html.escape(str(meta.get("subject")))}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; color: #222; }}
table.facts th {{ text-align: left; padding-right: 1em; vertical-align: top; }}
p.recipe {{ font-size: 0.9em; color: #444; }}
</style>
</head>
<body>
<h1>Decoding profile</h1>
<table class="facts">
{rows}
</table>
<h2>Pairwise identification in feature space (chance 0.5)</h2>
<p>Held-out training images; the best ROI of each level is outlined. Voxel counts in brackets; the last column is the median voxel split-half reliability.</p>
{heatmap_svg(result, "identification", 0.5, 1.0)}
<h2>Identification along the feature ladder</h2>
{curves_svg(result, "identification", 0.5, 1.0)}
<h2>Mean correlation per feature dimension (chance 0)</h2>
{heatmap_svg(result, "correlation", 0.0, corr_high)}
<h2>Recipe</h2>
<p class="recipe">{html.escape(str(meta.get("recipe", "")))}</p>
</body>
</html>
"""

"""Procedural stimulus images for the simulated dataset.

Three stimulus families mirror the sessions of ds001506:

* **Natural-like images** (:func:`render_natural`) from ``K`` latent
  categories grouped in families. A :class:`CategorySpec` fixes a silhouette kind (Fourier
  descriptor blob, star, ring or cross) with its shape parameters, an object
  colour palette, a surface texture and a background kind (1/f noise or a
  horizon gradient). Each image keeps its category's silhouette, and its
  palette, texture and background only with a probability (:func:`image_surface`,
  otherwise they are drawn at random); it varies the object's position, scale,
  rotation and colours and places it on a textured background.
* **Artificial shapes** (:func:`render_shape`): 5 shapes x 8 colours on grey,
  named ``colorExpStimNN_<colour>_<shape>`` like the ds001506 files.
* **Letters** (:func:`render_letter`): 10 capital letters drawn as thick strokes
  on grey (no font files, so the pixels do not depend on the installed fonts).

Every renderer is a pure function of its arguments and an explicit
``numpy.random.Generator``; images are float32 arrays ``(H, W, 3)`` in [0, 1]
together with the object mask ``(H, W)`` in [0, 1] (the encoding model's shape
channel reads it).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace

import numpy as np

SILHOUETTE_FAMILIES = ("blob", "star", "ring", "cross")
TEXTURES = ("stripes", "checks", "spots", "grain")
BACKGROUNDS = ("noise", "horizon")

SHAPE_COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "cyan": (0.0, 1.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
}
SHAPE_NAMES = ("square", "smallring", "largering", "+", "X")
GREY = 0.5

# Strokes of each letter in a unit box (x right, y down, both in [0, 1]); straight
# segments only, so the letters render identically on every machine.
LETTER_STROKES: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "A": ((0.5, 0.0, 0.0, 1.0), (0.5, 0.0, 1.0, 1.0), (0.22, 0.6, 0.78, 0.6)),
    "E": ((0.1, 0.0, 0.1, 1.0), (0.1, 0.0, 0.9, 0.0), (0.1, 0.5, 0.75, 0.5), (0.1, 1.0, 0.9, 1.0)),
    "F": ((0.1, 0.0, 0.1, 1.0), (0.1, 0.0, 0.9, 0.0), (0.1, 0.5, 0.75, 0.5)),
    "H": ((0.1, 0.0, 0.1, 1.0), (0.9, 0.0, 0.9, 1.0), (0.1, 0.5, 0.9, 0.5)),
    "K": ((0.15, 0.0, 0.15, 1.0), (0.15, 0.55, 0.9, 0.0), (0.4, 0.38, 0.9, 1.0)),
    "L": ((0.15, 0.0, 0.15, 1.0), (0.15, 1.0, 0.9, 1.0)),
    "N": ((0.1, 0.0, 0.1, 1.0), (0.1, 0.0, 0.9, 1.0), (0.9, 0.0, 0.9, 1.0)),
    "T": ((0.0, 0.0, 1.0, 0.0), (0.5, 0.0, 0.5, 1.0)),
    "V": ((0.0, 0.0, 0.5, 1.0), (1.0, 0.0, 0.5, 1.0)),
    "Z": ((0.05, 0.0, 0.95, 0.0), (0.95, 0.0, 0.05, 1.0), (0.05, 1.0, 0.95, 1.0)),
}
LETTERS = tuple(LETTER_STROKES)


@dataclass(frozen=True)
class CategorySpec:
    """What all images of one latent category share.

    Categories belong to families (as ImageNet's categories share higher-level
    groups): the silhouette kind, texture kind, background kind and a base
    palette come from the family, the exact outline, hue, texture frequency and
    background statistics from the category. So a category's images resemble
    those of other categories of its family more than those of other families.
    The surface fields (:data:`SURFACE_GROUPS`) are the category's typical
    surface; :func:`image_surface` decides per image whether it wears them.

    Attributes
    ----------
    index : int
        Category index, 0-based.
    family_index : int
        Family of the category, 0-based.
    silhouette : str
        Silhouette kind, one of :data:`SILHOUETTE_FAMILIES` (from the family).
    harmonics : tuple of float
        Amplitudes of the radial Fourier harmonics 2..(len+1) of a blob outline
        (also a gentle wobble for the other kinds).
    phases : tuple of float
        Phases (radians) of those harmonics.
    n_points : int
        Number of points of a star / arms of a cross.
    depth : float
        Star point depth, ring inner radius ratio, or cross arm half-width (by kind).
    hue, hue2 : float
        Object palette hues in [0, 1).
    saturation, value : float
        Object palette saturation and value.
    texture : str
        Surface texture, one of :data:`TEXTURES` (from the family).
    texture_frequency : float
        Texture frequency in cycles per object radius.
    texture_orientation : float
        Texture orientation in radians.
    background : str
        Background kind, one of :data:`BACKGROUNDS` (from the family).
    background_hue : float
        Hue of the background.
    background_slope : float
        Spectral slope beta of the 1/f^beta background noise.
    horizon : float
        Mean horizon height as a fraction of the image height (horizon backgrounds).
    """

    index: int
    family_index: int
    silhouette: str
    harmonics: tuple[float, ...]
    phases: tuple[float, ...]
    n_points: int
    depth: float
    hue: float
    hue2: float
    saturation: float
    value: float
    texture: str
    texture_frequency: float
    texture_orientation: float
    background: str
    background_hue: float
    background_slope: float
    horizon: float


#: Spread of a category's hue around its family's hue (fraction of the hue circle).
CATEGORY_HUE_SPREAD = 0.07


def make_categories(family_of: "np.ndarray | list[int]", rng: np.random.Generator) -> list[CategorySpec]:
    """Draw one category specification per entry of ``family_of`` (the 0-based family of each category).

    Each family first draws what its categories share: the silhouette kind,
    texture kind and background kind cycle over the families (so every kind is
    present whenever there are at least 4 families), the base hue splits the
    hue circle evenly with jitter, and the star/cross parameters, saturation,
    value and background hue are drawn around family values. Then each category
    draws its own outline harmonics, hue (within :data:`CATEGORY_HUE_SPREAD` of
    the family's), texture frequency and orientation, background statistics.
    """
    family_of = np.asarray(family_of, dtype=int)
    if family_of.size < 1:
        raise ValueError("make_categories needs at least one category")
    if family_of.min() < 0:
        raise ValueError(f"family indices must be >= 0, got {int(family_of.min())}")
    n_families = int(family_of.max()) + 1
    hue_order = rng.permutation(n_families)
    families = []
    for f in range(n_families):
        silhouette = SILHOUETTE_FAMILIES[f % len(SILHOUETTE_FAMILIES)]
        families.append(
            {
                "silhouette": silhouette,
                "n_points": int(rng.integers(4, 9)) if silhouette == "star" else int(rng.choice([3, 4, 5])) if silhouette == "cross" else 0,
                "depth": {"star": rng.uniform(0.3, 0.55), "ring": rng.uniform(0.4, 0.65), "cross": rng.uniform(0.22, 0.4)}.get(silhouette, 0.0),
                "hue": float((hue_order[f] + rng.uniform(-0.2, 0.2)) / n_families % 1.0),
                "hue_offset": float(rng.uniform(0.08, 0.5)),
                "saturation": float(rng.uniform(0.5, 0.9)),
                "value": float(rng.uniform(0.55, 0.9)),
                "texture": TEXTURES[(f // len(SILHOUETTE_FAMILIES) + f) % len(TEXTURES)],
                "background": BACKGROUNDS[(f // 2) % len(BACKGROUNDS)],
                "background_hue": float(rng.uniform(0, 1)),
            }
        )
    specs = []
    for k, f in enumerate(family_of):
        fam = families[int(f)]
        silhouette = fam["silhouette"]
        n_harm = 5
        harm_scale = 0.16 if silhouette == "blob" else 0.04
        harmonics = tuple(float(a) for a in harm_scale * rng.uniform(0.2, 1.0, n_harm) / np.arange(1, n_harm + 1) ** 0.5)
        phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, n_harm))
        hue = float((fam["hue"] + CATEGORY_HUE_SPREAD * rng.standard_normal()) % 1.0)
        n_points = fam["n_points"]
        if silhouette == "star":
            n_points = int(np.clip(n_points + rng.integers(-1, 2), 4, 8))
        specs.append(
            CategorySpec(
                index=k,
                family_index=int(f),
                silhouette=silhouette,
                harmonics=harmonics,
                phases=phases,
                n_points=n_points,
                depth=float(fam["depth"] * rng.uniform(0.85, 1.15)),
                hue=hue,
                hue2=float((hue + fam["hue_offset"] + 0.05 * rng.standard_normal()) % 1.0),
                saturation=float(np.clip(fam["saturation"] + 0.1 * rng.standard_normal(), 0.3, 1.0)),
                value=float(np.clip(fam["value"] + 0.1 * rng.standard_normal(), 0.4, 1.0)),
                texture=fam["texture"],
                texture_frequency=float(rng.uniform(1.5, 5.0)),
                texture_orientation=float(rng.uniform(0, np.pi)),
                background=fam["background"],
                background_hue=float((fam["background_hue"] + 0.1 * rng.standard_normal()) % 1.0),
                background_slope=float(rng.uniform(1.4, 2.6)),
                horizon=float(rng.uniform(0.3, 0.7)),
            )
        )
    return specs


#: Fields of :class:`CategorySpec` that make an image's surface, in three groups that follow the category
#: independently of each other (:func:`image_surface`): object palette, object texture, background.
SURFACE_GROUPS = {
    "palette": ("hue", "hue2", "saturation", "value"),
    "texture": ("texture", "texture_frequency", "texture_orientation"),
    "background": ("background", "background_hue", "background_slope", "horizon"),
}


def random_surface(rng: np.random.Generator) -> dict[str, float | str]:
    """One surface drawn from the marginal distribution of all categories, whatever their family.

    Returns the fields of :data:`SURFACE_GROUPS`: hues uniform on the circle (the second hue offset
    from the first as a family offsets it), saturation and value in the families' ranges, a texture and
    background kind drawn uniformly, texture frequency, orientation and background statistics in the
    categories' ranges.
    """
    hue = float(rng.uniform(0, 1))
    return {
        "hue": hue,
        "hue2": float((hue + rng.uniform(0.08, 0.5)) % 1.0),
        "saturation": float(rng.uniform(0.5, 0.9)),
        "value": float(rng.uniform(0.55, 0.9)),
        "texture": str(TEXTURES[int(rng.integers(len(TEXTURES)))]),
        "texture_frequency": float(rng.uniform(1.5, 5.0)),
        "texture_orientation": float(rng.uniform(0, np.pi)),
        "background": str(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]),
        "background_hue": float(rng.uniform(0, 1)),
        "background_slope": float(rng.uniform(1.4, 2.6)),
        "horizon": float(rng.uniform(0.3, 0.7)),
    }


def image_surface(spec: CategorySpec, category_surface: float, rng: np.random.Generator) -> CategorySpec:
    """The specification one image is rendered from: ``spec`` with its surface drawn per image.

    Each group of :data:`SURFACE_GROUPS` (palette, texture, background) is the category's with
    probability ``category_surface`` and otherwise the group of a :func:`random_surface`, independently
    per group. The silhouette (kind, outline, points, depth) is always the category's. So at
    ``category_surface=1`` every image wears its category's surface, and at 0 an image's colours,
    texture and background say nothing of its category and only its outline does.

    The draws do not depend on ``category_surface`` (one uniform per group and one random surface are
    always drawn), so two values of it give the same images except for the groups whose choice flips.
    """
    if not 0.0 <= category_surface <= 1.0:
        raise ValueError(f"category_surface must lie in [0, 1], got {category_surface}")
    follows = rng.uniform(0, 1, len(SURFACE_GROUPS)) < category_surface
    drawn = random_surface(rng)
    changes = {}
    for keep, fields in zip(follows, SURFACE_GROUPS.values()):
        if not keep:
            changes.update({name: drawn[name] for name in fields})
    return replace(spec, **changes) if changes else spec


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1], x to the right and y downwards, shape (size, size)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return np.meshgrid(c, c, indexing="xy")


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))), dtype=np.float32)


def _smooth_inside(signed_distance: np.ndarray, pixel: float) -> np.ndarray:
    """Antialiased indicator of ``signed_distance > 0`` with a one-pixel ramp."""
    return np.clip(signed_distance / pixel + 0.5, 0.0, 1.0).astype(np.float32)


def _pink_noise(size: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """A 1/f^slope noise image of shape (size, size), scaled to zero mean and unit std."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    amplitude = radius ** (-slope / 2.0)
    amplitude[0, 0] = 0.0
    phase = rng.uniform(0, 2 * np.pi, amplitude.shape)
    field = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(size, size))
    field = field - field.mean()
    return (field / (field.std() + 1e-12)).astype(np.float32)


def _silhouette(spec: CategorySpec, x: np.ndarray, y: np.ndarray, radius: float, pixel: float, rng: np.random.Generator) -> np.ndarray:
    """Object mask (antialiased) for object-centred, rotated coordinates ``x, y``."""
    r = np.sqrt(x**2 + y**2)
    theta = np.arctan2(y, x)
    # Python floats (not numpy float64 scalars) keep the float32 grid in float32 under NEP 50.
    jitter = [1.0 + 0.15 * float(v) for v in rng.standard_normal(len(spec.harmonics))]
    wobble = np.zeros_like(r)
    for h, (amp, ph) in enumerate(zip(spec.harmonics, spec.phases), start=2):
        wobble += amp * jitter[h - 2] * np.cos(h * theta + ph)
    if spec.silhouette == "blob":
        outline = radius * (1.0 + wobble)
        return _smooth_inside(outline - r, pixel)
    if spec.silhouette == "star":
        depth = spec.depth * (1.0 + 0.1 * rng.standard_normal())
        outline = radius * (1.0 - depth * (0.5 - 0.5 * np.cos(spec.n_points * theta)) + wobble)
        return _smooth_inside(outline - r, pixel)
    if spec.silhouette == "ring":
        outer = radius * (1.0 + wobble)
        inner = outer * np.clip(spec.depth * (1.0 + 0.1 * rng.standard_normal()), 0.2, 0.8)
        return _smooth_inside(np.minimum(outer - r, r - inner), pixel)
    # cross: the union of n_points arms of half-width depth*radius, each of length radius
    half_width = spec.depth * radius * (1.0 + 0.1 * rng.standard_normal())
    distance = np.full_like(r, -np.inf)
    for a in range(spec.n_points):
        angle = np.pi * a / spec.n_points if spec.n_points % 2 == 0 else 2 * np.pi * a / spec.n_points
        along = x * math.cos(angle) + y * math.sin(angle)
        across = -x * math.sin(angle) + y * math.cos(angle)
        extent = radius * (1.0 + wobble)
        if spec.n_points % 2 == 0:
            arm = np.minimum(half_width - np.abs(across), extent - np.abs(along))
        else:
            arm = np.minimum(np.minimum(half_width - np.abs(across), extent - along), along + half_width)
        distance = np.maximum(distance, arm)
    return _smooth_inside(distance, pixel)


def _texture(spec: CategorySpec, x: np.ndarray, y: np.ndarray, radius: float, orientation: float, rng: np.random.Generator) -> np.ndarray:
    """Texture modulation in [0, 1] over object-centred coordinates, shape like ``x``."""
    freq = spec.texture_frequency * (1.0 + 0.1 * rng.standard_normal()) / radius
    u = x * math.cos(orientation) + y * math.sin(orientation)
    v = -x * math.sin(orientation) + y * math.cos(orientation)
    if spec.texture == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * u)
    elif spec.texture == "checks":
        t = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * freq * u) * np.sin(2 * np.pi * freq * v)) * 0.9
    elif spec.texture == "spots":
        t = (np.sin(2 * np.pi * freq * u) * np.sin(2 * np.pi * freq * v) > 0.35).astype(np.float32)
    else:
        t = 0.5 + 0.25 * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(t, 0.0, 1.0).astype(np.float32)


def render_natural(spec: CategorySpec, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one natural-like image of category ``spec``.

    Parameters
    ----------
    spec : CategorySpec
    size : int
        Image height and width in pixels.
    rng : numpy.random.Generator
        Source of the within-category variation (position, scale, rotation,
        colours, background).

    Returns
    -------
    image : ndarray, shape (size, size, 3), float32 in [0, 1]
    mask : ndarray, shape (size, size), float32 in [0, 1]
        The object silhouette.
    background : ndarray, shape (size, size, 3), float32 in [0, 1]
        The background alone (the PPA layout channel reads it).
    """
    x, y = _grid(size)
    pixel = 2.0 / size
    # Background: category hue with a per-image shift; 1/f noise or a horizon split.
    # Backgrounds vary widely within a category (as scenes behind one ImageNet object class do), so
    # that category alone predicts pixels only coarsely.
    bg_hue = spec.background_hue + 0.25 * rng.standard_normal()
    bg_saturation, bg_value = rng.uniform(0.15, 0.6), rng.uniform(0.35, 0.85)
    noise = _pink_noise(size, spec.background_slope, rng)
    if spec.background == "horizon":
        horizon = min(max(spec.horizon + 0.2 * rng.standard_normal(), 0.15), 0.85) * 2 - 1
        tilt = 0.25 * rng.standard_normal()
        below = _smooth_inside(y - (horizon + tilt * x), 4 * pixel)
        sky = _hsv(bg_hue + 0.5 + 0.1 * rng.standard_normal(), bg_saturation * 0.7, 0.5 + 0.5 * bg_value) * (1 - 0.25 * (y[..., None] + 1) / 2)
        ground = _hsv(bg_hue, bg_saturation, bg_value * 0.7)
        background = sky * (1 - below[..., None]) + ground * below[..., None]
        background = background + 0.06 * noise[..., None] * (0.3 + below[..., None])
    else:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = 0.5 + 0.25 * (x * math.cos(angle) + y * math.sin(angle))
        base = _hsv(bg_hue, bg_saturation, bg_value)
        background = base * (0.6 + 0.6 * ramp[..., None]) + 0.12 * noise[..., None]
    background = np.clip(background, 0, 1).astype(np.float32)

    # Object pose.
    radius = float(rng.uniform(0.35, 0.55))
    cx, cy = (float(v) * (1.0 - radius) for v in rng.uniform(-0.5, 0.5, 2))
    rotation = float(rng.uniform(0, 2 * np.pi))
    xr = (x - cx) * math.cos(rotation) + (y - cy) * math.sin(rotation)
    yr = -(x - cx) * math.sin(rotation) + (y - cy) * math.cos(rotation)
    mask = _silhouette(spec, xr, yr, radius, pixel, rng)

    colour1 = _hsv(spec.hue + 0.06 * rng.standard_normal(), spec.saturation + 0.15 * rng.standard_normal(), spec.value + 0.15 * rng.standard_normal())
    colour2 = _hsv(spec.hue2 + 0.06 * rng.standard_normal(), spec.saturation * 0.7, spec.value * rng.uniform(0.4, 0.9))
    orientation = spec.texture_orientation + rotation + 0.35 * rng.standard_normal()
    tex = _texture(spec, x - cx, y - cy, radius, orientation, rng)
    # Soft shading from the upper left makes the object look like a solid.
    shade = 1.0 - 0.25 * np.clip((xr + yr) / (2 * radius), -1, 1)
    surface = (colour1 * tex[..., None] + colour2 * (1 - tex[..., None])) * shade[..., None]
    image = background * (1 - mask[..., None]) + np.clip(surface, 0, 1) * mask[..., None]
    return np.clip(image, 0, 1).astype(np.float32), mask, background


def render_shape(colour: str, shape: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Render one artificial shape on uniform grey (no randomness).

    Parameters
    ----------
    colour : str
        A key of :data:`SHAPE_COLOURS`.
    shape : str
        One of :data:`SHAPE_NAMES`.
    size : int

    Returns
    -------
    image : ndarray, shape (size, size, 3), float32 in [0, 1]
    mask : ndarray, shape (size, size), float32 in [0, 1]
    """
    if colour not in SHAPE_COLOURS:
        raise ValueError(f"unknown colour {colour!r}; expected one of {sorted(SHAPE_COLOURS)}")
    x, y = _grid(size)
    pixel = 2.0 / size
    r = np.sqrt(x**2 + y**2)
    if shape == "square":
        mask = _smooth_inside(0.5 - np.maximum(np.abs(x), np.abs(y)), pixel)
    elif shape == "smallring":
        mask = _smooth_inside(np.minimum(0.35 - r, r - 0.22), pixel)
    elif shape == "largering":
        mask = _smooth_inside(np.minimum(0.75 - r, r - 0.6), pixel)
    elif shape == "+":
        arms = np.maximum(np.minimum(0.12 - np.abs(x), 0.65 - np.abs(y)), np.minimum(0.12 - np.abs(y), 0.65 - np.abs(x)))
        mask = _smooth_inside(arms, pixel)
    elif shape == "X":
        u, v = (x + y) / np.sqrt(2), (x - y) / np.sqrt(2)
        arms = np.maximum(np.minimum(0.12 - np.abs(u), 0.75 - np.abs(v)), np.minimum(0.12 - np.abs(v), 0.75 - np.abs(u)))
        mask = _smooth_inside(arms, pixel)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPE_NAMES}")
    rgb = np.array(SHAPE_COLOURS[colour], dtype=np.float32)
    image = GREY * (1 - mask[..., None]) + rgb * mask[..., None]
    return image.astype(np.float32), mask


def render_letter(letter: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Render one black capital letter on uniform grey (no randomness, no fonts).

    Returns
    -------
    image : ndarray, shape (size, size, 3), float32 in [0, 1]
    mask : ndarray, shape (size, size), float32 in [0, 1]
    """
    if letter not in LETTER_STROKES:
        raise ValueError(f"unknown letter {letter!r}; expected one of {LETTERS}")
    x, y = _grid(size)
    pixel = 2.0 / size
    box, half_stroke = 0.55, 0.075  # letter box half-size and stroke half-width in image units
    distance = np.full_like(x, np.inf)
    for x0, y0, x1, y1 in LETTER_STROKES[letter]:
        ax, ay = (x0 * 2 - 1) * box * 0.8, (y0 * 2 - 1) * box
        bx, by = (x1 * 2 - 1) * box * 0.8, (y1 * 2 - 1) * box
        dx, dy = bx - ax, by - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        distance = np.minimum(distance, np.sqrt((x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2))
    mask = _smooth_inside(half_stroke - distance, pixel)
    image = np.repeat((GREY * (1 - mask))[..., None], 3, axis=2)
    return image.astype(np.float32), mask


def shape_stimulus_names() -> list[tuple[str, str, str]]:
    """The 40 artificial stimuli as ``(name, colour, shape)``, ids 1..40 in this order.

    Names follow ds001506: ``colorExpStimNN_<colour>_<shape>`` with NN = 01..40,
    colours in the outer loop.
    """
    out = []
    for c, colour in enumerate(SHAPE_COLOURS):
        for s, shape in enumerate(SHAPE_NAMES):
            number = c * len(SHAPE_NAMES) + s + 1
            out.append((f"colorExpStim{number:02d}_{colour}_{shape}", colour, shape))
    return out


def letter_stimulus_names() -> list[tuple[str, str]]:
    """The 10 letter stimuli as ``(name, letter)``, ids 1..10 in this order (names ``Letter_<X>``)."""
    return [(f"Letter_{letter}", letter) for letter in LETTERS]

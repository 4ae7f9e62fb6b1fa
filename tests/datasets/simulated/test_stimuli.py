"""Tests of the procedural stimuli against geometry and spectra computed independently."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage

from reconbench.datasets.simulated import stimuli


def test_shape_names_follow_ds001506():
    names = stimuli.shape_stimulus_names()
    assert len(names) == 40
    pattern = re.compile(r"^colorExpStim(\d\d)_(red|green|blue|yellow|magenta|cyan|white|black)_(square|smallring|largering|\+|X)$")
    numbers = []
    for name, colour, shape in names:
        match = pattern.match(name)
        assert match, name
        assert (match.group(2), match.group(3)) == (colour, shape)
        numbers.append(int(match.group(1)))
    assert numbers == list(range(1, 41))
    assert len({(c, s) for _, c, s in names}) == 40


def test_letter_names_unique():
    names = stimuli.letter_stimulus_names()
    assert len(names) == 10
    assert len({n for n, _ in names}) == 10


@pytest.mark.parametrize("colour", sorted(stimuli.SHAPE_COLOURS))
def test_shape_colour_and_grey_background(colour):
    image, mask = stimuli.render_shape(colour, "square", 64)
    expected = np.array(stimuli.SHAPE_COLOURS[colour], dtype=np.float32)
    np.testing.assert_allclose(image[32, 32], expected, atol=1e-6)
    np.testing.assert_allclose(image[1, 1], [0.5, 0.5, 0.5], atol=1e-6)
    # The square spans half the image width: a quarter of the area.
    assert mask.mean() == pytest.approx(0.25, abs=0.01)


def test_rings_have_holes_and_the_expected_area():
    size = 128
    for shape, outer, inner in (("smallring", 0.35, 0.22), ("largering", 0.75, 0.6)):
        image, mask = stimuli.render_shape("red", shape, size)
        assert mask[size // 2, size // 2] == 0.0  # the hole
        # Annulus area in image-half-width units, over the 2x2 image square.
        assert mask.mean() == pytest.approx(np.pi * (outer**2 - inner**2) / 4, rel=0.05)
        # One connected component surrounding one hole (scipy labelling as reference).
        assert ndimage.label(mask > 0.5)[1] == 1
        assert ndimage.label(mask < 0.5)[1] == 2


def test_letters_black_on_grey_and_distinct():
    masks = []
    for _, letter in stimuli.letter_stimulus_names():
        image, mask = stimuli.render_letter(letter, 64)
        assert image.min() == pytest.approx(0.0, abs=1e-6)
        assert image.max() == pytest.approx(0.5, abs=1e-6)
        assert 0.03 < mask.mean() < 0.3
        masks.append(mask > 0.5)
    flat = np.array([m.ravel() for m in masks])
    for i in range(len(flat)):
        for j in range(i + 1, len(flat)):
            assert np.any(flat[i] != flat[j])


def test_unknown_shape_and_letter_raise():
    with pytest.raises(ValueError, match="unknown shape"):
        stimuli.render_shape("red", "triangle", 32)
    with pytest.raises(ValueError, match="unknown colour"):
        stimuli.render_shape("orange", "square", 32)
    with pytest.raises(ValueError, match="unknown letter"):
        stimuli.render_letter("Q", 32)


def test_families_cycle_silhouettes_and_their_categories_share_them():
    family_of = np.arange(40) % 8
    specs = stimuli.make_categories(family_of, np.random.default_rng(0))
    assert [s.index for s in specs] == list(range(40))
    assert [s.family_index for s in specs] == list(family_of)
    for silhouette in stimuli.SILHOUETTE_FAMILIES:
        assert sum(s.silhouette == silhouette for s in specs) == 10
    assert {s.background for s in specs} == set(stimuli.BACKGROUNDS)
    for f in range(8):
        members = [s for s in specs if s.family_index == f]
        # What a family fixes is shared; what a category draws differs.
        assert len({(s.silhouette, s.texture, s.background) for s in members}) == 1
        assert len({s.harmonics for s in members}) == len(members)
        # Hues stay near the family's (circular distance), far closer than across the hue circle.
        hues = np.array([s.hue for s in members])
        spread = np.abs((hues[:, None] - hues[None, :] + 0.5) % 1.0 - 0.5)
        assert spread.max() < 0.5 and spread.mean() < 0.15
    with pytest.raises(ValueError, match="family indices must be >= 0"):
        stimuli.make_categories([0, -1], np.random.default_rng(0))


def test_render_natural_deterministic_and_varied():
    spec = stimuli.make_categories(np.arange(4), np.random.default_rng(1))[0]
    a = stimuli.render_natural(spec, 64, np.random.default_rng(5))
    b = stimuli.render_natural(spec, 64, np.random.default_rng(5))
    c = stimuli.render_natural(spec, 64, np.random.default_rng(6))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    image, mask, background = a
    assert image.shape == (64, 64, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert 0.02 < mask.mean() < 0.6
    # Outside the object the image is the background.
    outside = mask == 0
    np.testing.assert_allclose(image[outside], background[outside], atol=1e-6)


def test_blob_without_harmonics_is_a_disc_of_the_drawn_radius():
    spec = stimuli.make_categories([0], np.random.default_rng(0))[0]
    spec = stimuli.CategorySpec(**{**spec.__dict__, "harmonics": (0.0,) * 5})
    size = 256
    x, y = stimuli._grid(size)
    mask = stimuli._silhouette(spec, x, y, 0.5, 2.0 / size, np.random.default_rng(0))
    # Area of a disc of radius 0.5 in a 2x2 square.
    assert mask.mean() == pytest.approx(np.pi * 0.25 / 4, rel=0.01)


def test_star_has_its_number_of_points():
    specs = stimuli.make_categories(np.arange(4), np.random.default_rng(3))
    star = next(s for s in specs if s.silhouette == "star")
    star = stimuli.CategorySpec(**{**star.__dict__, "harmonics": (0.0,) * 5})
    size = 256
    x, y = stimuli._grid(size)
    mask = stimuli._silhouette(star, x, y, 0.6, 2.0 / size, np.random.default_rng(0))
    # Count the points crossing the circle halfway down their depth.
    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    radius = 0.6 * (1 - 0.5 * star.depth)
    cols = ((radius * np.cos(angles) + 1) / 2 * size).astype(int)
    rows = ((radius * np.sin(angles) + 1) / 2 * size).astype(int)
    on = mask[rows, cols] > 0.5
    rises = np.count_nonzero(on & ~np.roll(on, 1))
    assert rises == star.n_points


def test_pink_noise_has_the_requested_spectral_slope():
    size, slope = 128, 2.0
    field = stimuli._pink_noise(size, slope, np.random.default_rng(0))
    assert field.mean() == pytest.approx(0.0, abs=1e-5) and field.std() == pytest.approx(1.0, rel=1e-4)
    power = np.abs(np.fft.fft2(field)) ** 2
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
    keep = (f > 0.02) & (f < 0.4)
    fitted = np.polyfit(np.log(f[keep]), np.log(power[keep]), 1)[0]
    assert fitted == pytest.approx(-slope, abs=0.15)


def test_image_surface_follows_the_category_with_its_probability():
    """Each surface group (palette, texture, background) is the category's with probability category_surface, the
    silhouette always; the draws do not depend on the probability, so two values differ only in the flipped groups."""
    spec = stimuli.make_categories(np.arange(4), np.random.default_rng(2))[1]
    surface_fields = {name for fields in stimuli.SURFACE_GROUPS.values() for name in fields}
    silhouette = {k: v for k, v in spec.__dict__.items() if k not in surface_fields}
    assert stimuli.image_surface(spec, 1.0, np.random.default_rng(0)) == spec
    follows = {group: 0 for group in stimuli.SURFACE_GROUPS}
    for k in range(400):
        low = stimuli.image_surface(spec, 0.25, np.random.default_rng([7, k]))
        never = stimuli.image_surface(spec, 0.0, np.random.default_rng([7, k]))
        assert {name: getattr(low, name) for name in silhouette} == silhouette == {name: getattr(never, name) for name in silhouette}
        for group, fields in stimuli.SURFACE_GROUPS.items():
            drawn = [getattr(never, name) for name in fields]
            assert drawn != [getattr(spec, name) for name in fields]  # at 0 every group is drawn at random
            if [getattr(low, name) for name in fields] == [getattr(spec, name) for name in fields]:
                follows[group] += 1
            else:  # a group that does not follow its category is the very draw of the other value
                assert [getattr(low, name) for name in fields] == drawn
    for group, count in follows.items():
        assert count / 400 == pytest.approx(0.25, abs=0.07), group
    with pytest.raises(ValueError, match=r"category_surface must lie in \[0, 1\]"):
        stimuli.image_surface(spec, 1.5, np.random.default_rng(0))


def test_random_surfaces_cover_every_kind_and_the_categories_ranges():
    rng = np.random.default_rng(0)
    draws = [stimuli.random_surface(rng) for _ in range(300)]
    assert {d["texture"] for d in draws} == set(stimuli.TEXTURES) and {d["background"] for d in draws} == set(stimuli.BACKGROUNDS)
    for key, low, high in (("saturation", 0.5, 0.9), ("value", 0.55, 0.9), ("texture_frequency", 1.5, 5.0), ("background_slope", 1.4, 2.6)):
        values = np.array([d[key] for d in draws])
        assert low <= values.min() and values.max() <= high, key
    hues = np.array([d["hue"] for d in draws])
    assert np.histogram(hues, bins=4, range=(0, 1))[0].min() > 50  # uniform on the hue circle, whatever the family

"""Markdown, CSV and the self-contained HTML page, plus a headless-Chromium screenshot."""

from __future__ import annotations

import io
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reconbench.core.images import png_bytes
from reconbench.core.types import RowNote
from reconbench.leaderboard import write_leaderboard
from reconbench.leaderboard.html import to_html
from reconbench.leaderboard.render import to_csv, to_markdown
from reconbench.leaderboard.tables import summarise
from reconbench.store.results import ResultStore, reconstruction_dir

CHROMIUM = Path("/usr/bin/chromium")


class _Collector(HTMLParser):
    """Collects tags and attributes; raises on unbalanced table markup."""

    VOID = {"img", "meta", "br", "hr", "input", "link", "circle", "line", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "svg":
            self.svgs += 1
        for key in ("src", "href"):
            if key in attrs:
                self.urls.append(attrs[key])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> (open: {self.stack[-3:]})"
        self.stack.pop()


@pytest.fixture
def results_dir(tmp_path, three_methods) -> Path:
    """A results folder with the synthetic rows and thumbnail PNGs for the grid."""
    store = ResultStore(tmp_path / "results")
    store.write_cell("all", three_methods, {"status": "ok"})
    store.consolidate()
    rng = np.random.default_rng(0)
    ids = sorted(three_methods["stimulus_id"].unique())
    files = {}
    for k, stimulus_id in enumerate(ids):
        truth = np.zeros((3, 16, 16), np.float32)
        truth[k % 3] = 1.0
        files[reconstruction_dir("simulated:tiny", "sub-01", "natural", None) / f"{stimulus_id}.png"] = truth
        for method in ("good", "near_good", "poor", "copy_truth", "category-only"):
            files[reconstruction_dir("simulated:tiny", "sub-01", "natural", method, "default", 0) / f"{stimulus_id}.png"] = rng.random((3, 16, 16)).astype(
                np.float32
            )
    for rel, image in files.items():
        path = store.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(image))
    return store.root


def test_markdown_has_one_table_per_dataset_and_test_set(three_methods) -> None:
    other = three_methods.copy()
    other["test_set"] = "letters"
    rows = pd.concat([three_methods, other], ignore_index=True)
    notes = {"category-only": RowNote("true-category mean training image", "category-only is a test row")}
    text = to_markdown(summarise(rows), notes=notes)
    assert "category-only is a test row; literature rows" in text
    assert text.index("## simulated:tiny · natural") < text.index("## simulated:tiny · letters")
    assert "| # | method | pairwise_identification ↑ | lpips ↓ |" in text
    assert "copy_truth (oracle: sees the true test images, not ranked)" in text
    assert "category-only (true-category mean training image; reference, not ranked)" in text
    lines = [line for line in text.splitlines() if line.startswith("| 3 |")]
    assert lines and lines[0].startswith("| 3 | poor |")
    assert "**" in text  # the best value is bold


def test_csv_round_trips(three_methods) -> None:
    summary = summarise(three_methods)
    back = pd.read_csv(io.StringIO(to_csv(summary)))
    assert list(back.columns) == list(summary.columns)
    np.testing.assert_allclose(back["mean"], summary["mean"], rtol=1e-5)


def test_html_is_self_contained_and_well_formed(results_dir) -> None:
    out = write_leaderboard(results_dir)
    page = (out / "leaderboard.html").read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    # true images + 5 entries, 10 test images shown (GRID_IMAGES = 8)
    assert len(parser.images) == 6 * 8
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert all(url.startswith("data:") or url.startswith("#") for url in parser.urls), "no external resources"
    assert parser.svgs == 2  # one plot per metric
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert (out / "leaderboard.md").is_file() and (out / "leaderboard.csv").is_file()


def test_rewriting_gives_identical_files(results_dir) -> None:
    out = write_leaderboard(results_dir)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    write_leaderboard(results_dir)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_empty_results_still_render(three_methods, tmp_path) -> None:
    empty = three_methods.iloc[:0]
    summary = summarise(empty)
    assert "No successful results yet." in to_markdown(summary)
    assert "No successful results yet." in to_html(summary, empty, tmp_path)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium (/usr/bin/chromium) is not installed")
def test_screenshot_in_headless_chromium(results_dir, tmp_path) -> None:
    out = write_leaderboard(results_dir)
    shot = tmp_path / "leaderboard.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1400",
        f"--screenshot={shot}",
        (out / "leaderboard.html").as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    with Image.open(shot) as image:
        assert image.size == (1200, 1400)
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    # Something was drawn: not a blank page; the green "best" cell colour (#e6f4ea) appears.
    assert pixels.std() > 10
    assert np.any(np.all(pixels == np.array([0xE6, 0xF4, 0xEA]), axis=-1))

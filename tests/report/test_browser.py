"""The report as a CS manager opens it, in Japanese and in English: headless Chromium at 1280 px
renders the quarterly report and the health review (not blank, Japanese in real glyphs rather
than boxes), and every link of the quarterly report's index resolves to a page of the run and an
anchor on it.

Without Chromium (or a Japanese font) these tests skip and say what to install; CI installs both
and sets CS_ANALYSIS_BROWSER_TEST=required, which turns the skip into a failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from PIL import Image

from cs_analysis.report.exports import browser, screenshot

INSTALL = "Debian: apt-get install chromium fonts-ipafont-gothic"
# fontconfig without the fonts that cover Japanese: what a machine with no Japanese font renders
WITHOUT_JAPANESE_FONTS = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <selectfont><rejectfont><pattern><patelt name="lang"><string>ja</string></patelt></pattern></rejectfont></selectfont>
</fontconfig>
"""


def _unavailable(why: str) -> None:
    if os.environ.get("CS_ANALYSIS_BROWSER_TEST") == "required":
        pytest.fail(f"{why} ({INSTALL}); CS_ANALYSIS_BROWSER_TEST=required")
    pytest.skip(f"{why} ({INSTALL})")


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = browser()
    if exe is None:
        _unavailable("Chromium is not installed")
    fc_list = shutil.which("fc-list")
    listed = subprocess.run([fc_list, ":lang=ja", "file"], capture_output=True, text=True).stdout if fc_list else ""
    if not listed.strip():
        _unavailable("no font that covers Japanese is installed")
    return exe


def _shot(page: Path, target: Path, env: dict[str, str] | None = None) -> np.ndarray:
    why = screenshot(page, target, width=1280, height=3000, env=env)
    assert why is None, why
    return np.asarray(Image.open(target).convert("RGB")).astype(np.int16)


def _assert_rendered(pixels: np.ndarray, name: str) -> None:
    """Text and charts on the page: enough ink over the background, spread down the page, in
    many colours (anti-aliased glyphs, chart fills), not a blank or single-colour window."""
    background = pixels[0, 0]
    ink = np.abs(pixels - background).sum(axis=2) > 60
    assert ink.mean() > 0.01, f"{name}: {ink.mean():.2%} of the pixels differ from the background"
    assert ink.any(axis=1).mean() > 0.2, f"{name}: ink on only {ink.any(axis=1).mean():.0%} of the rows"
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 64, f"{name}: {len(colours)} colours"


@pytest.mark.parametrize("page", ["quarterly_report", "health_review"])
def test_the_page_renders_with_japanese_glyphs(run_in: Path, chromium: str, page: str, tmp_path: Path):
    """Japanese pages, and English ones with Japanese text from the data (company names)."""
    html = run_in / f"{page}.html"
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", html.read_text(encoding="utf-8")), "no Japanese text to check"
    shown = _shot(html, tmp_path / f"{page}.png")
    _assert_rendered(shown, page)
    assert np.array_equal(_shot(html, tmp_path / f"{page}.again.png"), shown)  # rendering is deterministic
    conf = tmp_path / "fonts.conf"
    conf.write_text(WITHOUT_JAPANESE_FONTS, encoding="utf-8")
    boxes = _shot(html, tmp_path / f"{page}.no-ja-fonts.png", env={**os.environ, "FONTCONFIG_FILE": str(conf)})
    # The same page with no Japanese font shows boxes where the Japanese text is; so a real
    # Japanese font drew it exactly where the two differ.
    changed = (shown != boxes).any(axis=2)
    assert changed.mean() > 0.002, f"{page}: Japanese renders the same without a Japanese font"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"])
        for key in ("id", "name"):
            if found.get(key):
                self.ids.add(found[key])


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_the_quarterly_report_indexes_every_page_of_the_run(run_in: Path):
    links = _parse(run_in / "quarterly_report.html").hrefs
    assert {urlsplit(h).path for h in links if urlsplit(h).path} == {p.name for p in run_in.glob("*.html")}


@pytest.mark.parametrize("page", ["quarterly_report", "health_review"])
def test_every_link_resolves(run_in: Path, page: str):
    """The index's pages and anchors; the health review's link from the transition matrix to the
    accounts that dropped a level."""
    run = run_in
    report = run / f"{page}.html"
    links = _parse(report).hrefs
    if page == "health_review":
        assert "#dropped-a-level" in links
    for href in links:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, f"{href}: the report links outside its folder"
        target = run / unquote(parts.path) if parts.path else report
        assert target.is_file() and target.resolve().parent == run.resolve(), f"{href}: no such page"
        if parts.fragment:  # as a browser finds it: the fragment as written, else percent-decoded
            ids = _parse(target).ids
            assert parts.fragment in ids or unquote(parts.fragment) in ids, f"{href}: no such anchor on {target.name}"

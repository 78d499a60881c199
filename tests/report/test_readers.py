"""What a reader gets: the HTML in a real browser (Chromium) and the PDF rasterised and as text."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fieldready.report.context import SECTIONS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "install with: apt-get install -y chromium poppler-utils && pip install playwright (no browser download)"


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright; fails (never skips) when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed; {INSTALL_HINT}")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found; {INSTALL_HINT}")
    with sync_playwright() as p:
        # Playwright gives the browser its own temporary --user-data-dir.
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 800])
def test_html_in_chromium(browser, rendered, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(rendered[1].html.as_uri(), wait_until="load")
    assert errors == []
    images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(images) == 6 and all(done and w > 0 for done, w in images), images
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"page is {scroll}px wide in a {inner}px viewport"
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)")
    assert wide == []
    assert page.locator("#criteria").is_visible() and page.title().startswith("PPE detector release readiness")
    page.close()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found; {INSTALL_HINT}")
    return path


def test_pdf_pages_rasterise_and_none_is_blank(rendered, tmp_path):
    from pypdf import PdfReader

    pdf = rendered[1].pdf
    n = len(PdfReader(pdf).pages)
    assert 5 <= n <= 30, n
    subprocess.run([_tool("pdftoppm"), "-r", "25", "-gray", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.pgm"))
    assert len(pages) == n
    for p in pages:
        import cv2

        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        assert img is not None and float(np.std(img)) > 3.0, f"{p.name} looks blank"


def test_pdf_text_has_models_verdicts_sections_and_page_numbers(rendered):
    results, paths = rendered
    text = subprocess.run([_tool("pdftotext"), "-layout", str(paths.pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    for m in results.models:
        assert m.name in text
    for word in ("GO", "NO-GO", "INCONCLUSIVE", "Recommendation: ship model-a"):
        assert word in text
    for _, title in SECTIONS:
        assert title in text
    from pypdf import PdfReader

    n = len(PdfReader(paths.pdf).pages)
    assert f"Page 1 of {n}" in text and f"Page {n} of {n}" in text
    assert "PPE detector release readiness" in text and "plan sha256:cdcdcdcd" in text

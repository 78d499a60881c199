"""Page 1 decides: a reader who only sees the first PDF page learns every model's verdict and what to ship."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fieldready.report import render_report
from fieldready.report.context import _metric_name, plain_words

from .conftest import make_classification_results, make_detection_results

VERDICT_WORD = {"GO": r"(?<![\w-])GO(?![\w-])", "NO-GO": r"(?<![\w-])NO-GO(?![\w-])",
                "INCONCLUSIVE": r"(?<![\w-])INCONCLUSIVE(?![\w-])"}


def _pdftotext(pdf: Path, *args: str) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.fail("pdftotext not found; install with: apt-get install -y poppler-utils")
    return subprocess.run([tool, *args, str(pdf), "-"], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module", params=[("detection", "A4"), ("detection", "Letter"),
                                        ("classification", "A4"), ("classification", "Letter")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def page_one(request, tmp_path_factory):
    kind, size = request.param
    out = tmp_path_factory.mktemp(f"p1-{kind}-{size}")
    make = make_detection_results if kind == "detection" else make_classification_results
    results = make(out)
    paths = render_report(results, out, page_size=size)
    # -layout keeps a table row on one line; the default mode keeps each cell's text together.
    return results, _pdftotext(paths.pdf, "-layout", "-f", "1", "-l", "1"), _pdftotext(paths.pdf, "-f", "1", "-l", "1")


def test_page_one_names_every_model_verdict_and_the_recommendation(page_one):
    results, text, _ = page_one
    assert text.strip(), "page 1 has no text"
    for m in results.models:
        assert m.name in text, f"{m.name} is not on page 1"
        assert re.search(VERDICT_WORD[m.verdict], text), f"verdict {m.verdict} is not on page 1"
        # The model's table row carries its name and its verdict on the same line.
        assert any(m.name in line and re.search(VERDICT_WORD[m.verdict], line) for line in text.splitlines()), (
            f"no page-1 line shows {m.name} with {m.verdict}")
    assert f"Recommendation: ship {results.recommendation.model}" in text
    assert results.recommendation.reason.split(";")[0] in " ".join(text.split())


def test_page_one_lists_blocking_criteria_that_did_not_pass(page_one):
    results, _, cells = page_one

    def squash(s: str) -> str:  # pdftotext drops the hyphen of a word broken at a line end
        return re.sub(r"[\s-]", "", s)

    flat = squash(cells)
    for m in results.models:
        for c in m.criteria:
            if c.blocking and c.passed is not True:
                status = "FAIL" if c.passed is False else "INCONCLUSIVE"
                # plain words first (a safety officer's reading), the technical id and description small beside
                assert squash(f"{status} {plain_words(c, _metric_name(results, c.metric))}") in flat, (m.name, c.id)
                # (pdftotext may interleave a wrapped small-type line with the next cell, so word by word)
                assert all(squash(w) in flat for w in (c.id, *c.description.split())), (m.name, c.id)
    if any(m.production_ci for m in results.models):
        m = next(m for m in results.models if m.production_ci)
        assert squash(f"{m.production_score:.3f}") in flat
        assert squash(f"[{m.production_ci[0]:.3f}, {m.production_ci[1]:.3f}]") in flat


def test_page_one_table_header_does_not_break_words(page_one):
    _, text, _ = page_one
    header = next(line for line in text.splitlines() if "Model" in line and "Verdict" in line)
    assert re.match(r"\s*#\s+Model\s+Verdict\s+Expected", header), header
    assert not re.search(r"\bRan\b", text), "the rank header is broken over two lines"

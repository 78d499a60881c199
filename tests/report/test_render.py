"""render_report: self-contained HTML, PDF, sections, escaping, determinism, template overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fieldready.errors import ReportError
from fieldready.report import render_report
from fieldready.report.context import SECTIONS, build_context
from fieldready.report.render import make_environment, render_html

from .conftest import make_detection_results

EVIL = "<script>alert(1)</script>"


def _html(results, run_dir: Path, **kw) -> str:
    return render_html(make_environment(kw.pop("template_dir", None)), build_context(results, run_dir=run_dir), pdf=False, **kw)


def test_html_and_pdf_written_with_every_section(rendered):
    results, paths = rendered
    html = paths.html.read_text(encoding="utf-8")
    assert paths.pdf.read_bytes()[:5] == b"%PDF-"
    for sid, title in SECTIONS:
        assert f'id="{sid}"' in html and f'href="#{sid}"' in html
    for m in results.models:
        assert m.name in html
    assert html.count("<svg") >= 6 + 3 + 2  # curves per condition, heat map per model, families, scatter
    # the judge's sentence, its criterion id now a link to the criterion's row
    assert 'model-b fails only on <a class="xref" href="#criterion-blur-drop"><code>blur-drop</code></a>' in html


def test_html_is_self_contained(rendered):
    html = rendered[1].html.read_text(encoding="utf-8")
    assert not re.search(r'(?:src|href)="(?!#|data:)', html), "only anchors and data URIs may be referenced"
    assert "<link" not in html and "<script" not in html
    assert html.count('src="data:image/png;base64,') == 6


def test_same_results_render_byte_identical(tmp_path):
    results = make_detection_results(tmp_path)
    assert _html(results, tmp_path) == _html(results, tmp_path)


def test_strings_from_the_spec_are_escaped(tmp_path):
    results = make_detection_results(tmp_path, model_names={"model-b": EVIL})
    results.title = EVIL
    results.provenance.spec_text += f"# {EVIL}\n"
    html = _html(results, tmp_path)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_size_is_checked(tmp_path, detection_results):
    with pytest.raises(ReportError, match="page size 'A5'.*'A4' or 'Letter'"):
        render_report(detection_results, tmp_path, page_size="A5")


def test_letter_pdf_and_classification(tmp_path, classification_results):
    from pypdf import PdfReader

    paths = render_report(classification_results, tmp_path / "out", page_size="Letter", run_dir=tmp_path)
    box = PdfReader(paths.pdf).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    html = paths.html.read_text(encoding="utf-8")
    assert "resnet-s" in html and "top-1 accuracy" in html and 'src="data:image/png' in html


def test_user_template_dir_overrides_one_partial(tmp_path, detection_results):
    custom = tmp_path / "tpl" / "partials"
    custom.mkdir(parents=True)
    (custom / "signoff.html.j2").write_text('<section id="signoff"><h2>Approvals</h2>{{ ctx.signoff[0].role }}</section>')
    html = _html(detection_results, tmp_path, template_dir=tmp_path / "tpl")
    assert "<h2>Approvals</h2>ML lead</section>" in html
    assert 'id="summary"' in html  # the rest still comes from the package


def test_missing_template_dir_and_missing_gallery_image(tmp_path, detection_results):
    with pytest.raises(ReportError, match="template directory .*nope does not exist"):
        make_environment(tmp_path / "nope")
    (tmp_path / "gallery" / "model-a-blur.png").unlink()
    html = _html(detection_results, tmp_path)
    assert "corrupted image not available" in html and "model-a-blur.png cannot be read" in html


def test_render_run_reads_results_json(tmp_path, classification_results):
    from fieldready.report import load_results, render_run

    (tmp_path / "results.json").write_text(classification_results.model_dump_json(indent=2))
    assert load_results(tmp_path / "results.json") == classification_results
    paths = render_run(tmp_path)
    assert paths.html == tmp_path / "report.html" and paths.pdf.stat().st_size > 10_000
    (tmp_path / "results.json").write_text('{"name": 3}')
    with pytest.raises(ReportError, match=r"results.json: .*re-run the spec"):
        render_run(tmp_path)
    with pytest.raises(ReportError, match=r"cannot read .*nope/results.json"):
        render_run(tmp_path / "nope")


def test_gallery_is_a_grid_of_unsplit_pairs(tmp_path, classification_results):
    """12 digit-sized examples (32x32) fit on at most 3 PDF pages, and no pair is split across pages."""
    import subprocess

    import numpy as np
    from pypdf import PdfReader

    from fieldready.report.gallery import draw_classification
    from fieldready.judge.results import GalleryItem

    rng = np.random.default_rng(0)
    names = {i: str(i) for i in range(10)}
    for m in classification_results.models:
        m.gallery = []
        for k in range(6):
            digit = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            rels = []
            for tag, pred in (("c", k), ("x", (k + 1) % 10)):
                rel = f"gallery/{m.name}-{k}-{tag}.png"
                (tmp_path / rel).write_bytes(draw_classification(digit, true_label=k, pred_label=pred, prob=0.8,
                                                                 class_names=names))
                rels.append(rel)
            m.gallery.append(GalleryItem(image_id=k, condition="gaussian_noise", label="L5", score=0.9,
                                         clean_png=rels[0], corrupted_png=rels[1], caption=f"example-{m.name}-{k}"))
    paths = render_report(classification_results, tmp_path)

    def run(tool: str, n: int, *args: str) -> str:
        out = ["-"] if tool == "pdftotext" else []
        return subprocess.run([tool, "-f", str(n), "-l", str(n), *args, str(paths.pdf), *out],
                              check=True, capture_output=True, text=True).stdout

    pages_with_items, seen = [], 0
    for n in range(1, len(PdfReader(paths.pdf).pages) + 1):
        items = len(re.findall(r"example-[\w-]+-\d", run("pdftotext", n)))
        if items:
            pages_with_items.append(n)
            seen += items
            # pdfimages lists the images drawn on the page: both halves of every pair whose caption is there.
            drawn = [ln for ln in run("pdfimages", n, "-list").splitlines()[2:] if " image " in ln]
            assert len(drawn) == 2 * items, f"page {n}: {len(drawn)} images for {items} captions"
    assert seen == 12 and len(pages_with_items) <= 3, pages_with_items

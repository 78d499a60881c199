"""Anchors and cross-references: every model card and criterion row has a stable, unique, URL-safe id,
every in-page link lands on exactly one element, in the HTML and in the PDF."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fieldready.report.context import build_context, slug, unique_slugs
from fieldready.report.render import make_environment, render_html

from .conftest import make_classification_results, make_detection_results

EVIL = "<script>alert(1)</script>"
URL_SAFE = re.compile(r"[a-z][a-z0-9-]*\Z")


class _Refs(HTMLParser):
    """Every id (HTML and inline SVG) and every same-document href (href or xlink:href)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.ids_by_tag: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id":
                self.ids.append(v)
                self.ids_by_tag.setdefault(tag, []).append(v)
            elif k in ("href", "xlink:href") and v and v.startswith("#"):
                self.hrefs.append(v[1:])

    handle_startendtag = handle_starttag


def _parse(html: str) -> _Refs:
    p = _Refs()
    p.feed(html)
    p.close()
    return p


def _awkward(run_dir: Path):
    """Names that slug alike or to nothing, a script tag, and user-given criterion ids that collide."""
    r = make_detection_results(run_dir, model_names={"model-a": "Model B", "model-b": EVIL, "model-c": "model b"})
    r.models.append(r.models[0].model_copy(update={"name": "★ ★", "rank": None, "comparison": None}))
    rename = {"rpc": "Clean MAP", "person-night": "c 1 / night #2"}
    for m in r.models:
        for c in m.criteria:
            c.id = rename.get(c.id, c.id)
    return r


CASES = {
    "detection": lambda d: make_detection_results(d),
    "detection-evil": lambda d: make_detection_results(d, model_names={"model-b": EVIL}),
    "awkward": _awkward,
    "classification": make_classification_results,
}


@pytest.fixture(params=sorted(CASES))
def case(request, tmp_path):
    results = CASES[request.param](tmp_path)
    ctx = build_context(results, run_dir=tmp_path)
    return results, ctx, render_html(make_environment(), ctx, pdf=False)


def test_slug_is_url_safe_and_unique():
    assert slug("Model B") == "model-b" and slug(EVIL) == "script-alert-1-script"
    assert slug("Café  über/ß") == "cafe-uber" and slug("模型") == "" and slug("--a--b--") == "a-b"
    assert unique_slugs(["Model B", "model b", "model-b", "模型", "", "model-b-2"]) == [
        "model-b", "model-b-2", "model-b-3", "4", "5", "model-b-2-2"]
    assert unique_slugs(["x", "y"]) == unique_slugs(["x", "y"])


def test_every_link_resolves_to_exactly_one_id(case):
    _, _, html = case
    refs = _parse(html)
    dup = [k for k, n in Counter(refs.ids).items() if n > 1]
    assert dup == [], f"duplicate ids: {dup[:10]}"
    counts = Counter(refs.ids)
    missing = sorted({h for h in refs.hrefs if counts[h] != 1})
    assert missing == [], f"links to no element: {missing}"
    # The regex view agrees with the parser (no href hidden from it by odd markup).
    assert set(re.findall(r'href="#([^"]*)"', html)) == set(refs.hrefs)


def test_every_model_and_criterion_has_an_anchor_that_is_linked(case):
    results, ctx, html = case
    refs = _parse(html)
    hrefs = set(refs.hrefs)
    cards = refs.ids_by_tag.get("article", [])
    rows = refs.ids_by_tag.get("tr", [])
    cells = refs.ids_by_tag.get("td", [])
    assert len(cards) == len(results.models) and [m.anchor for m in ctx.models] == cards
    criterion_ids = list(dict.fromkeys(c.id for m in results.models for c in m.criteria))
    assert [r.id for r in ctx.criteria] == criterion_ids and [r.anchor for r in ctx.criteria] == rows
    assert len(cells) == sum(len(m.criteria) for m in results.models)
    for anchor in cards + rows + cells:
        assert URL_SAFE.match(anchor), anchor
    assert all(a.startswith("model-") for a in cards) and all(a.startswith("criterion-") for a in rows)
    assert all(a.startswith("result-") for a in cells)
    # Page 1 links every model name to its card; every card is reachable.
    summary = html[html.index('<section id="summary"'):html.index('<nav class="toc"')]
    for m in ctx.models:
        assert f'href="#{m.anchor}"' in summary, m.name
    # Every criterion id shown in the issue lists (page 1 and cards) links to its row.
    for m in ctx.models:
        for i in m.issues:
            assert i.anchor == next(r.anchor for r in ctx.criteria if r.id == i.id)
            assert i.anchor in hrefs
    cards_html = html[html.index('<section id="verdicts"'):html.index('<section id="criteria"')]
    for m in ctx.models:
        for i in m.issues:
            assert f'<a class="xref" href="#{i.anchor}"><code>' in cards_html


def test_card_and_row_carry_what_they_anchor(tmp_path):
    results = make_detection_results(tmp_path, model_names={"model-b": EVIL})
    html = render_html(make_environment(), build_context(results, run_dir=tmp_path), pdf=False)
    card = re.search(r'<article [^>]*id="model-script-alert-1-script">(.*?)</article>', html, re.S)
    assert card and "<h3>&lt;script&gt;alert(1)&lt;/script&gt;" in card.group(1)
    assert "<script" not in html
    row = re.search(r'<tr id="criterion-blur-drop">(.*?)</tr>', html, re.S)
    assert row and "<code>blur-drop</code>" in row.group(1)
    assert 'id="result-blur-drop--script-alert-1-script"' in row.group(1)
    # page 1: the NO-GO model's failing criterion links to its row
    assert '<a class="xref" href="#criterion-blur-drop"><code>blur-drop</code></a> mAP drop under gaussian blur' in html


def test_anchors_are_stable_across_renders(tmp_path):
    results = _awkward(tmp_path)
    env = make_environment()
    first = render_html(env, build_context(results, run_dir=tmp_path), pdf=False)
    second = render_html(make_environment(), build_context(results, run_dir=tmp_path), pdf=False)
    assert first == second
    assert render_html(env, build_context(results, run_dir=tmp_path), pdf=True) == render_html(
        env, build_context(results, run_dir=tmp_path), pdf=True)
    ids = _parse(first).ids_by_tag["article"]
    assert ids == ["model-model-b", "model-script-alert-1-script", "model-model-b-2", "model-4"]
    assert _parse(first).ids_by_tag["tr"] == [
        "criterion-clean-map", "criterion-blur-drop", "criterion-clean-map-2", "criterion-production",
        "criterion-c-1-night-2"]


def test_pdf_links_go_to_named_destinations(rendered):
    """WeasyPrint turns href="#id" into a PDF link to a named destination; page 1 links to every card."""
    from pypdf import PdfReader

    results, paths = rendered
    reader = PdfReader(paths.pdf)
    dests = reader.named_destinations
    page_of = {name: reader.get_destination_page_number(d) for name, d in dests.items()}
    targets_by_page: list[set[str]] = []
    for page in reader.pages:
        targets = set()
        for annot in page.get("/Annots", []) or []:
            a = annot.get_object()
            if a.get("/Subtype") != "/Link" or "/URI" in (a.get("/A") or {}):
                continue
            dest = a.get("/Dest")
            assert dest is not None and str(dest) in dests, f"link to unknown destination {dest!r}"
            targets.add(str(dest))
        targets_by_page.append(targets)
    ctx = build_context(results, run_dir=paths.html.parent)
    for m in ctx.models:
        assert m.anchor in targets_by_page[0], f"page 1 does not link to {m.anchor}"
        assert page_of[m.anchor] > 0  # the card is in the verdict details, after page 1
    for row in ctx.criteria:
        assert row.anchor in dests
    linked = set().union(*targets_by_page)
    assert {i.anchor for m in ctx.models for i in m.issues} <= linked

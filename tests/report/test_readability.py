"""Issue 13: a report a reviewer reads without stumbling — one model order, the baseline not judged against
itself, display names, floors and bands on the curves, honest axes, labels that do not overlap, real
per-class highlights, linked criterion ids and page 1's plain words and run facts."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from fieldready.evaluation.metrics.registry import metrics_for
from fieldready.judge.results import ClassResult, CriterionResult, Results
from fieldready.report import charts
from fieldready.report.context import _thresholds, build_context, in_rank_order
from fieldready.report.render import make_environment, render_html
from tests.report.conftest import make_detection_results


def _reversed_ranks(results: Results) -> Results:
    """The same results with the ranking reversed against the listing order (spec order ≠ rank order)."""
    n = len(results.models)
    return results.model_copy(update={"models": [m.model_copy(update={"rank": n - i}) for i, m in enumerate(results.models)]})


def _html(results: Results, tmp_path: Path) -> str:
    return render_html(make_environment(), build_context(results, run_dir=tmp_path), pdf=False)


def test_one_model_order_everywhere(tmp_path: Path) -> None:
    results = _reversed_ranks(make_detection_results(tmp_path))
    ranked = [m.name for m in sorted(results.models, key=lambda m: m.rank)]
    assert ranked != [m.name for m in results.models]  # the check below could fail
    ctx = build_context(results, run_dir=tmp_path)
    assert [m.name for m in ctx.models] == ranked
    assert ctx.model_names == ranked
    assert ctx.comparison.headers[1:] == ranked
    assert [name for name, _ in ctx.per_class] == ranked
    html = _html(results, tmp_path)
    criteria = re.search(r'<table class="data criteria">.*?</thead>', html, re.S).group(0)
    assert re.findall(r'<a class="xref" href="#model-[^"]+">([^<]+)</a>', criteria) == ranked
    cards = re.findall(r'<article class="model-card[^"]*" id="model-([^"]+)"', html)
    assert cards == ranked


def test_the_baseline_is_not_judged_against_itself(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path)
    baseline = results.baseline
    models = []
    for m in results.models:
        own = 0.0 if m.name == baseline else 0.03
        crit = CriterionResult(id="vs-base", description="mAP at most 5 % below the baseline", metric="map", scope="clean",
                               kind="max_drop_vs_baseline", threshold=0.05, value=own, passed=True, ci=[own, own],
                               confidence=0.95, applies=m.name != baseline)  # the judge marks the baseline's own
        models.append(m.model_copy(update={"criteria": [*m.criteria, crit]}))
    results = results.model_copy(update={"models": models})
    ctx = build_context(results, run_dir=tmp_path)
    row = next(r for r in ctx.criteria if r.id == "vs-base")
    cells = dict(zip(ctx.model_names, row.cells))
    assert cells[baseline].status == "baseline" and cells[baseline].value == ""
    assert all(c.status == "PASS" for name, c in cells.items() if name != baseline)
    html = _html(results, tmp_path)
    cell = re.search(rf'<td class="cell-baseline[^"]*" id="result-vs-base--{baseline}">(.*?)</td>', html, re.S)
    assert cell and "baseline" in cell.group(1) and "PASS" not in cell.group(1) and "0.0" not in cell.group(1)


def test_tables_use_display_names_never_raw_metric_keys(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path)
    models = [m.model_copy(update={"clean": {**m.clean, "ar_small": 0.2, "ar_medium": 0.3, "ar_large": 0.4}})
              for m in results.models]
    results = results.model_copy(update={"models": models})
    html = _html(results, tmp_path)
    comparison = re.search(r'<table class="data comparison">.*?</table>', html, re.S).group(0)
    labels = re.findall(r'<th scope="row">([^<]*)</th>', comparison)
    raw = {row.name for row in metrics_for("detection") if row.label != row.name}
    for label in labels:
        words = set(re.split(r"[\s·]+", label))
        assert not words & raw, label
    assert "ar_small" not in comparison and "Clean ar_small" not in html


def test_every_drop_floor_is_drawn_and_inside_the_y_range(tmp_path: Path) -> None:
    results = in_rank_order(make_detection_results(tmp_path))
    results = results.model_copy(update={"models": [m.model_copy(update={"criteria": [
        c.model_copy(update={"floor": m.clean["map"] * (1 - c.threshold)}) if c.kind == "max_drop" else c
        for c in m.criteria]}) for m in results.models]})
    lines = _thresholds(results, "gaussian_blur")
    floors = {(c.floor, i) for i, m in enumerate(results.models) for c in m.criteria
              if c.kind == "max_drop" and c.scope == "gaussian_blur" and c.floor is not None}
    assert floors and floors <= {(t.y, t.style) for t in lines}
    values = [v for m in results.models for c in m.conditions if c.condition == "gaussian_blur" for v in c.metrics.values()]
    lo, hi = charts.honest_ylim(values + [t.y for t in lines], (0.0, 1.0))
    assert all(lo <= t.y <= hi for t in lines)


def test_y_range_does_not_blow_up_small_differences() -> None:
    lo, hi = charts.honest_ylim([0.79, 0.80, 0.81], (0.0, 1.0))
    assert hi - lo >= 0.25 and 0.0 <= lo and hi <= 1.0
    lo, hi = charts.honest_ylim([0.95, 0.99, 1.0], (0.0, 1.0))
    assert hi <= 1.0 and lo <= 0.95 and hi - lo >= 0.25


def _text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """(text, x0, y0, x1, y1) of each <text> element, from its x, y, anchor and font size (0.6 em per character)."""
    out = []
    for m in re.finditer(r'<text style="([^"]*)" x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]+)</text>', svg):
        style, x, y, text = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
        size = float(re.search(r"font-size:\s*([\d.]+)px", style).group(1))
        width = 0.6 * size * len(text)
        anchor = (re.search(r"text-anchor:\s*(\w+)", style) or re.match("", "")).group(1) if "text-anchor" in style else "start"
        x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        out.append((text, x0, y - size, x0 + width, y))
    return out


def test_scatter_labels_never_overlap() -> None:
    points = [("model-a", 0.654, 0.487, 0, (0.456, 0.501)), ("model-c", 0.656, 0.491, 1, (0.463, 0.509)),
              ("model-b", 0.640, 0.590, 2, (0.553, 0.615)), ("model-d", 0.655, 0.489, 3, None)]
    svg = charts.scatter_svg("t", points, xlabel="clean", ylabel="production", yrange=(0.0, 1.0))
    names = {p[0] for p in points}
    boxes = [b for b in _text_boxes(svg) if b[0] in names]
    assert {b[0] for b in boxes} == names
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
            assert not overlap, (a, b)


def test_scatter_axes_stay_inside_the_metric_range() -> None:
    svg = charts.scatter_svg("t", [("a", 0.97, 0.95, 0, (0.93, 0.99)), ("b", 0.99, 0.98, 1, None)],
                             xlabel="clean", ylabel="production", yrange=(0.0, 1.0))
    ticks = [float(t) for t in re.findall(r">(\d\.\d+)</text>", svg)]
    assert ticks and max(ticks) <= 1.0


def test_heat_map_shows_improvements_in_another_colour() -> None:
    svg = charts.heatmap_svg("h", "t", ["cond"], ["s1", "s2", "s3"], [[-0.1, 0.0, 0.1]], cbar_label="drop", vmax=0.1)
    uri = re.search(r'xlink:href="data:image/png;base64,([^"]+)"', svg).group(1)
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB")).astype(int)
    row = image[image.shape[0] // 2]
    better, same, worse = row[image.shape[1] // 6], row[image.shape[1] // 2], row[5 * image.shape[1] // 6]
    assert better[2] > better[0] + 60  # blue: better than clean
    assert worse[0] > worse[2] + 60  # red: worse
    assert min(same) > 220  # white: unchanged


def test_curves_have_interval_bands(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path)
    models = [m.model_copy(update={
        "clean_ci": [m.clean["map"] - 0.03, m.clean["map"] + 0.03],
        "conditions": [c.model_copy(update={"ci": [c.metrics["map"] - 0.03, c.metrics["map"] + 0.03]}) for c in m.conditions],
    }) for m in results.models]
    without = build_context(results, run_dir=tmp_path).curves[0].svg
    with_bands = build_context(results.model_copy(update={"models": models}), run_dir=tmp_path).curves[0].svg
    assert with_bands.count("<path") >= without.count("<path") + len(models)  # one filled band per model
    assert "fill-opacity: 0.13" in with_bands and "fill-opacity: 0.13" not in without


def test_per_class_highlights_only_real_drops(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path)
    first = results.models[0]
    classes = [c.model_copy(update={"drop": d, "drop_ci": ci, "degrades": deg}) for c, (d, ci, deg) in zip(
        first.per_class, [(0.30, [0.2, 0.4], True), (0.25, [-0.05, 0.5], False), (0.01, [0.005, 0.02], False)])]
    results = results.model_copy(update={"models": [first.model_copy(update={"per_class": classes}), *results.models[1:]]})
    ctx = build_context(results, run_dir=tmp_path)
    table = dict(ctx.per_class)[first.name]
    assert table.highlight[:3] == [True, False, False]


def test_criterion_ids_in_what_would_change_are_links(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path)
    html = _html(results, tmp_path)
    changes = re.findall(r'<div class="change">.*?</div>', html, re.S)
    ids = {c.id for m in results.models for c in m.criteria}
    mentioned = [cid for cid in ids if any(f"{cid} (" in line for m in results.models for line in m.change)]
    assert mentioned
    for cid in mentioned:
        assert any(f'href="#criterion-{cid}"><code>{cid}</code></a>' in c for c in changes), cid


def test_page_one_in_plain_words_with_run_facts(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path).model_copy(update={"instances": 1234})
    html = _html(results, tmp_path)
    summary = re.search(r'<section id="summary">.*?</section>', html, re.S).group(0)
    for fact in ("2025-03-01", "500 images", "1234 objects", "95 %", "cpu"):
        assert fact in summary, fact
    assert "expected score in the field" in summary
    # the technical names stay, in small type beside the plain words
    assert re.search(r'<span class="tech">.*?production-weighted mAP', summary, re.S)
    hashes = re.search(r'<p class="hashes">.*?</p>', html, re.S).group(0)
    assert '<code class="hash">' + results.plan_hash + "</code>" in hashes

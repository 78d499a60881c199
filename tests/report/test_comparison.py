"""Paired comparison with the baseline and the detection confusion counts of the clean per-class table."""

from __future__ import annotations

import re
from pathlib import Path

from fieldready.judge.readings import read
from fieldready.judge.readings import significance as _significance
from fieldready.report.context import build_context
from fieldready.report.render import make_environment, render_html

from .conftest import make_classification_results, make_detection_results


def _html(results, run_dir: Path) -> str:
    return render_html(make_environment(None), build_context(results, run_dir=run_dir), pdf=False)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _vs_section(html: str) -> str:
    m = re.search(r'<div class="baseline-comparison".*?</table>', html, re.S)
    assert m, "no paired-comparison table"
    return m.group(0)


def test_detection_candidates_against_the_baseline(tmp_path):
    html = _html(make_detection_results(tmp_path), tmp_path)
    table = _vs_section(html)
    text = _text(table)
    assert "vs baseline model-a" in text
    assert "Δ clean mAP@[.5:.95] [95 % CI]" in text and "Δ production score [95 % CI]" in text
    assert "McNemar" not in text  # detection: no per-image correctness test
    rows = re.findall(r'<tr class="vs-values">(.*?)</tr>\s*<tr class="vs-reading">(.*?)</tr>', table, re.S)
    assert [re.search(r"<th[^>]*>(.*?)</th>", v).group(1) for v, _ in rows] == ["model-b", "model-c"]
    (b_vals, b_read), (c_vals, c_read) = ((_text(v), _text(r)) for v, r in rows)
    assert "+0.010 [−0.012, +0.031]" in b_vals and "+0.030 [+0.008, +0.052]" in b_vals
    assert "−0.030 [−0.051, −0.009]" in c_vals and "−0.040 [−0.065, −0.015]" in c_vals
    assert "Clean mAP@[.5:.95]: not distinguishable from model-a at 95 % (95 % CI includes 0)" in b_read
    assert "production score: significantly better than model-a (95 % CI excludes 0)" in b_read
    assert "Clean mAP@[.5:.95]: significantly worse than model-a" in c_read
    assert "production score: significantly worse than model-a" in c_read
    assert "model-a" not in re.findall(r'<tr class="vs-values"><th scope="row">([^<]*)', table)


def test_classification_shows_mcnemar_and_wins_losses(tmp_path):
    text = _text(_vs_section(_html(make_classification_results(tmp_path), tmp_path)))
    assert "vs baseline resnet-s" in text and "McNemar p" in text and "wins / losses" in text
    assert "vit-t +0.020 [−0.010, +0.050] −0.055 [−0.080, −0.030] 0.210 9 / 3" in text
    assert ("Clean top-1 accuracy: not distinguishable from resnet-s at 95 % (95 % CI includes 0, McNemar p = 0.210); "
            "production score: significantly worse than resnet-s (95 % CI excludes 0).") in text


def test_section_absent_without_comparisons(tmp_path):
    results = make_detection_results(tmp_path)
    for m in results.models:
        m.comparison = None
    html = _html(results, tmp_path)
    body = html.split("<body", 1)[1]
    assert 'class="baseline-comparison"' not in body and "Paired comparison" not in body and "vs baseline" not in body
    assert 'id="comparison"' in html  # the plain model-comparison table stays


def test_significance_wording_is_a_reading_of_ci_and_p():
    assert _significance(0.03, [0.01, 0.05], 0.004, True)[0] == "significantly better"
    assert _significance(0.03, [0.01, 0.05], 0.004, False)[0] == "significantly worse"  # lower is better
    assert _significance(-0.02, [-0.03, -0.01], None, False)[0] == "significantly better"
    assert _significance(0.01, [-0.01, 0.03], 0.5, True)[0] == "not distinguishable at 95 %"
    word, why = _significance(0.02, [0.001, 0.04], 0.08, True)
    assert word == "not clearly distinguishable at 95 %" and "McNemar p = 0.080" in why and "disagree" in why
    assert _significance(0.02, None, 0.0004, True) == ("significantly better", "McNemar p < 0.001")
    assert _significance(0.02, None, None, True)[0] == "not assessed"


def test_lower_is_better_primary_metric_reads_a_negative_difference_as_better(tmp_path):
    results = make_classification_results(tmp_path)
    cmp = results.models[1].comparison
    cmp.metric, cmp.clean_difference, cmp.clean_ci, cmp.mcnemar_p = "error", -0.02, [-0.04, -0.01], 0.01
    results = read(results)  # the judge reads the changed numbers again
    text = _text(_vs_section(_html(results, tmp_path)))
    assert "significantly better than resnet-s (95 % CI excludes 0, McNemar p = 0.010)" in text
    # The production score follows the primary metric's direction: −0.055 in error is an improvement.
    assert "production score: significantly better than resnet-s (95 % CI excludes 0)" in text
    assert "lower" in text and "is better" in text


def test_detection_per_class_table_shows_confusion_counts_as_integers(tmp_path):
    results = make_detection_results(tmp_path)
    html = _html(results, tmp_path)
    section = re.search(r'<section id="clean">.*?</section>', html, re.S).group(0)
    tables = re.findall(r"<table.*?</table>", section, re.S)
    assert len(tables) == 3
    headers = re.findall(r"<th>(.*?)</th>", tables[0])
    assert headers == ["Class", "AP", "AP50", "TP", "FP", "missed", "wrong class", "Drop under corruption"]
    first = _text(re.findall(r"<tr[^>]*>(.*?)</tr>", tables[0], re.S)[1])
    # person (class 0) of model-a: tp 40, fp 3, missed 4, wrong class 0 — no decimals.
    assert first == "person 0.475 0.720 40 3 4 0 0.070", first
    assert not re.search(r"\b\d+\.0\b", _text(tables[0]).replace("0.0", "x"))
    note = _text(section)
    assert "IoU ≥ 0.5" in note and "at or above each model's operating point" in note and "missed = object not found in its class (includes wrong class)" in note


def test_classification_per_class_table_has_no_count_note(tmp_path):
    html = _html(make_classification_results(tmp_path), tmp_path)
    section = re.search(r'<section id="clean">.*?</section>', html, re.S).group(0)
    assert "IoU" not in section and "TP" not in section


def test_long_tick_labels_wrap_instead_of_running_off_the_chart():
    from fieldready.report.charts import _tick_labels

    labels, rotation = _tick_labels(["clean", "brightness -0.3 + gaussian_noise 0.05"])
    assert rotation == 0 and all(len(line) <= 16 for line in labels[1].split("\n")), labels
    assert _tick_labels(["clean", "level 1", "level 3", "level 5"]) == (["clean", "level 1", "level 3", "level 5"], 30)

"""The operating point end to end: spec → run → results.json (threshold, how it was chosen) → a recall criterion
judged with an interval, against counts recomputed here from the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.evaluation.evaluate import detections_of, targets_of
from fieldready.evaluation.metrics.bootstrap import clopper_pearson
from fieldready.evaluation.metrics.confusion import detection_confusion
from fieldready.execution.store import ResultStore
from fieldready.plan import CLEAN, compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("op")
    spec = make_detection_project(root / "p", n_images=10)
    text = spec.read_text()
    text = text.replace("path: models/a.pt}", "path: models/a.pt, operating_point: {score_threshold: 0.3}}")
    text = text.replace("path: models/b.pt}", "path: models/b.pt, operating_point: {rule: min_precision, precision: 0.9}}")
    text = text.replace("criteria:\n", "criteria:\n  - {id: night-recall, metric: recall, class: square, on: night, at_least: 0.5}\n"
                                       "  - {id: fa, metric: false_alarms, on: gaussian_noise, at_most: 0.5}\n")
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(root / "run"), "--quiet"])
    assert result.exit_code in (0, 1), result.output
    return spec, json.loads((root / "run" / "results.json").read_text())


def test_results_record_each_models_threshold_and_how_it_was_set(run: tuple[Path, dict]) -> None:
    _, results = run
    ops = {m["name"]: m["operating_point"] for m in results["models"]}
    assert ops["model-a"]["source"] == "declared" and ops["model-a"]["score_threshold"] == 0.3
    b = ops["model-b"]
    assert b["source"] == "rule" and b["rule"] == "min_precision" and b["precision_target"] == 0.9
    assert b["reached"] is True and b["clean"]["precision"] >= 0.9
    assert "score ≥" in b["description"] and "IoU 0.5" in b["description"]


def test_recall_at_the_operating_point_is_judged_with_an_interval(run: tuple[Path, dict]) -> None:
    spec, results = run
    plan = compile_plan(load_spec(spec))
    night = [p.key for p in plan.points if p.condition == "night"]
    for m in results["models"]:
        c = next(c for c in m["criteria"] if c["id"] == "night-recall")
        threshold = m["operating_point"]["score_threshold"]
        # recomputed independently: confusion.py's per-image matching at the recorded threshold
        with ResultStore(spec.parent.parent / "run") as store:
            recalls, objects = [], 0
            for key in night:
                targets = targets_of(plan, store, key)
                conf = detection_confusion(targets, detections_of(store.predictions(m["name"], key)),
                                           category_ids=[1, 2], score_threshold=threshold)
                recalls.append(conf.per_class[1].tp / (conf.per_class[1].tp + conf.per_class[1].fn))
                objects = sum(len(t.labels) for t in targets_of(plan, store, CLEAN))
        assert c["value"] == pytest.approx(float(np.mean(recalls)))
        assert c["ci"] is not None and c["confidence"] == 0.95
        lo, hi = c["ci"]
        assert lo <= c["value"] <= hi
        # a rate over objects: never narrower than Clopper–Pearson's interval for that many objects
        cp_lo, cp_hi = clopper_pearson(c["value"] * objects, objects)
        assert lo <= cp_lo + 1e-9 and hi >= cp_hi - 1e-9
        expected = True if lo > 0.5 else (False if hi < 0.5 else None)
        assert c["passed"] is expected


def test_the_metrics_appear_per_point_and_per_class(run: tuple[Path, dict]) -> None:
    _, results = run
    for m in results["models"]:
        assert {"precision", "recall", "f1", "miss_rate", "false_alarms"} <= set(m["clean"])
        assert all("recall" in c["metrics"] for c in m["conditions"])
        square = next(c for c in m["per_class"] if c["name"] == "square")
        assert square["metrics"]["recall"] == pytest.approx(1 - square["metrics"]["miss_rate"])
        # the confusion counts are taken at the same operating point
        assert square["metrics"]["tp"] / (square["metrics"]["tp"] + square["metrics"]["fn"]) == pytest.approx(
            square["metrics"]["recall"])
    fa = next(c for c in results["models"][0]["criteria"] if c["id"] == "fa")
    assert fa["ci"] is not None and fa["value"] is not None


def test_the_report_shows_the_operating_point_beside_each_model(run: tuple[Path, dict]) -> None:
    spec, results = run
    html = (spec.parent.parent / "run" / "report.html").read_text()
    for m in results["models"]:
        assert m["operating_point"]["description"].split(",")[0] in html  # e.g. "score ≥ 0.3"
    assert html.count("Operating point") >= len(results["models"])

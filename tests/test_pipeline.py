"""End to end on a tiny project: run → results.json, report.html, report.pdf; numbers equal pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from pypdf import PdfReader

from fieldready.cli import cli
from fieldready.execution.store import ResultStore
from fieldready.plan import CLEAN, compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    spec = make_detection_project(root / "project", n_images=12)
    out = root / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return spec, out


def test_run_writes_report_and_results(finished: tuple[Path, Path]) -> None:
    _, out = finished
    results = json.loads((out / "results.json").read_text())
    assert {"spec_hash", "plan_hash", "models"} <= set(results)
    for model in results["models"]:
        assert {"name", "verdict", "production_score", "clean", "criteria", "conditions"} <= set(model)
        assert model["verdict"] in ("GO", "NO-GO", "INCONCLUSIVE")
        for crit in model["criteria"]:
            assert {"id", "description", "value", "threshold", "passed"} <= set(crit)
        assert {"condition", "corruption", "severity", "metrics"} <= set(model["conditions"][0])
    html = (out / "report.html").read_text()
    assert "model-a" in html and results["plan_hash"][:12] in html
    pdf = PdfReader(out / "report.pdf")
    assert len(pdf.pages) >= 3
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "model-b" in text


def test_clean_ap_equals_pycocotools(finished: tuple[Path, Path]) -> None:
    spec, out = finished
    plan = compile_plan(load_spec(spec))
    results = json.loads((out / "results.json").read_text())
    coco = COCO()
    coco.dataset = json.loads((spec.parent / "val.json").read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    with ResultStore(out) as store:
        for model in results["models"]:
            rows = store.predictions(model["name"], CLEAN)
            dets = [
                {"image_id": i, "category_id": int(r[5]), "bbox": [float(r[0]), float(r[1]), float(r[2] - r[0]), float(r[3] - r[1])], "score": float(r[4])}
                for i, arr in rows.items()
                for r in arr
            ]
            with contextlib.redirect_stdout(io.StringIO()):
                ev = COCOeval(coco, coco.loadRes(dets), "bbox")
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            assert model["clean"]["map"] == pytest.approx(ev.stats[0], abs=1e-12)
            assert model["clean"]["ap50"] == pytest.approx(ev.stats[1], abs=1e-12)
    assert len(plan.dataset.records) == 12


def test_report_rerenders_identically(finished: tuple[Path, Path]) -> None:
    _, out = finished
    before = (out / "report.html").read_bytes()
    result = CliRunner().invoke(cli, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").read_bytes() == before


def test_verdicts_follow_thresholds(finished: tuple[Path, Path]) -> None:
    _, out = finished
    results = json.loads((out / "results.json").read_text())
    for model in results["models"]:
        for crit in model["criteria"]:
            if crit["passed"] is True:
                lo, hi = crit["ci"]
                assert (lo >= crit["threshold"]) if crit["id"] in ("c1", "c3", "c4", "c5") else (hi <= crit["threshold"])
            assert crit["ci"] is None or crit["ci"][0] <= crit["value"] + 1e-9 or np.isnan(crit["value"])
        blocking = [c for c in model["criteria"] if c["blocking"]]
        expected = "NO-GO" if any(c["passed"] is False for c in blocking) else ("GO" if all(c["passed"] for c in blocking) else "INCONCLUSIVE")
        assert model["verdict"] == expected


def test_candidates_are_compared_with_the_baseline_pairwise(finished: tuple[Path, Path]) -> None:
    _, out = finished
    models = {m["name"]: m for m in json.loads((out / "results.json").read_text())["models"]}
    assert models["model-a"]["comparison"] is None  # the baseline itself
    comparison = models["model-b"]["comparison"]
    assert comparison["against"] == "model-a"
    assert comparison["clean_difference"] == pytest.approx(models["model-b"]["clean"]["map"] - models["model-a"]["clean"]["map"])
    lo, hi = comparison["production_ci"]
    assert lo <= comparison["production_difference"] <= hi or lo == hi

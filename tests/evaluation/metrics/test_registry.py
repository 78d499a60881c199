"""The metric registry: one row per metric, read by the spec, the evaluation, the bootstrap, the judge and the report.

The end-to-end case adds a toy metric through the registry alone (no other file changes) and sees it
validated in a spec, measured with a bootstrap interval, judged, and labelled in the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.errors import FieldreadyError
from fieldready.evaluation.metrics import registry
from fieldready.evaluation.metrics.detection import DetectionUnit
from fieldready.evaluation.metrics.registry import MetricDef
from fieldready.execution.store import ResultStore
from fieldready.plan import CLEAN, compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project


def test_each_builtin_metric_has_one_row_with_what_every_stage_reads() -> None:
    rows = registry.all_metrics()
    assert len({r.name for r in rows}) == len(rows)
    for row in rows:
        assert row.tasks and set(row.tasks) <= set(registry.TASKS), row.name
        assert row.label and row.description, row.name
        if row.scope == "aggregate":
            assert row.aggregate is not None and row.value is None, row.name
        else:
            assert row.value is not None and row.replicates is not None, row.name
    assert registry.PRIMARY == {"detection": "map", "classification": "top1"}
    assert all(registry.lookup(task, name).scope == "unit" for task, name in registry.PRIMARY.items())


def test_lookup_is_per_task_and_only_for_criterion_metrics() -> None:
    assert registry.lookup("detection", "map") is registry.get_metric("map")
    assert registry.lookup("classification", "map") is None
    assert registry.lookup("detection", "ar_small") is None  # shown in tables, not judged
    assert registry.lookup("classification", "production_score") is registry.lookup("detection", "production_score")
    with pytest.raises(KeyError, match="did you mean 'top1'"):
        registry.get_metric("top_1")


def test_a_duplicate_or_incomplete_row_is_refused() -> None:
    with pytest.raises(FieldreadyError, match="already registered"):
        registry.register_metric(registry.get_metric("map"))
    with pytest.raises(FieldreadyError, match="value and replicates"):
        registry.register_metric(MetricDef(name="half", tasks=("detection",), scope="unit", higher_is_better=True,
                                           label="half", description="no compute"))
    with pytest.raises(FieldreadyError, match="unknown task"):
        registry.register_metric(MetricDef(name="seg", tasks=("segmentation",), scope="aggregate",
                                           higher_is_better=True, label="s", description="d", aggregate=len))


# ----------------------------------------------------------------------------- a toy metric, end to end

SCORE = 0.5


def _found(unit: DetectionUnit) -> np.ndarray:
    """Per image (in id order, the bootstrap's positions): a detection with score ≥ 0.5."""
    return np.array([bool((d.scores >= SCORE).any()) for d in unit.detections], dtype=np.float64)


def _found_value(row: MetricDef, unit: DetectionUnit, class_id: int | None) -> float:
    return float(_found(unit).mean())


def _found_replicates(row: MetricDef, unit: DetectionUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return _found(unit)[idx].mean(axis=1)


@pytest.fixture
def found_rate() -> Iterator[MetricDef]:
    row = registry.register_metric(MetricDef(
        name="found_rate", tasks=("detection",), scope="unit", higher_is_better=True,
        label="share of images with a confident detection", description="images with a detection scored ≥ 0.5",
        value=_found_value, replicates=_found_replicates,
    ))
    yield row
    registry.unregister_metric("found_rate")


SPEC_CRITERION = "  - {id: found, metric: found_rate, on: gaussian_noise, at_least: 0.25}\n"


def _spec_with_toy_criterion(tmp_path: Path) -> Path:
    spec = make_detection_project(tmp_path / "p", n_images=6)
    spec.write_text(spec.read_text().replace("criteria:\n", "criteria:\n" + SPEC_CRITERION))
    return spec


def test_a_metric_the_registry_lacks_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(_spec_with_toy_criterion(tmp_path))])
    assert result.exit_code == 2 and "unknown detection metric 'found_rate'" in result.output


def test_a_toy_metric_is_validated_judged_and_reported(tmp_path: Path, found_rate: MetricDef) -> None:
    spec = _spec_with_toy_criterion(tmp_path)
    load_spec(spec)  # validated: the criterion names a registered detection metric
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((run / "results.json").read_text())

    # measured on every unit, from the same predictions the store holds
    plan = compile_plan(load_spec(spec))
    noise = [p.key for p in plan.conditions[0].points]
    with ResultStore(run) as store:
        expected = {}
        for point in (CLEAN, *noise):
            rows = store.predictions("model-a", point)
            expected[point] = float(np.mean([(r[:, 4] >= SCORE).any() for r in rows.values()]))
    model_a = next(m for m in results["models"] if m["name"] == "model-a")
    assert model_a["clean"]["found_rate"] == expected[CLEAN]
    measured = [c["metrics"]["found_rate"] for c in model_a["conditions"] if c["condition"] == "gaussian_noise"]
    assert measured == [expected[k] for k in noise]

    # judged like any criterion: mean over the condition's points, a bootstrap interval, a verdict
    crit = next(c for c in model_a["criteria"] if c["id"] == "found")
    assert crit["value"] == pytest.approx(np.mean([expected[k] for k in noise]), abs=1e-12)
    assert crit["ci"] is not None and crit["ci"][0] <= crit["value"] <= crit["ci"][1]
    assert crit["passed"] in (True, False, None)
    assert crit["passed"] is (True if crit["ci"][0] >= 0.25 else False if crit["ci"][1] < 0.25 else None)

    # labelled in the report from its row
    assert results["metric_names"]["found_rate"] == "share of images with a confident detection"
    html = (run / "report.html").read_text()
    assert "Clean share of images with a confident detection" in html
    assert "found_rate" in html  # the criteria table names the metric

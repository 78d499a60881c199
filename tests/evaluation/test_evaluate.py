"""The evaluation stage: the store's predictions → every unit's metrics, as the metric registry defines them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldready.evaluation.evaluate import evaluate, detections_of, targets_of
from fieldready.evaluation.metrics.detection import STAT_KEYS, DetectionUnit, evaluate_detection
from fieldready.evaluation.metrics.operating_point import OPERATING_METRICS
from fieldready.execution.store import ResultStore
from fieldready.plan import CLEAN, TestPlan, compile_plan
from fieldready.spec import load_spec
from tests._project import executed_plan, make_detection_project

OPERATING = list(OPERATING_METRICS)  # precision, recall, f1, miss_rate, false_alarms at the operating point
PER_CLASS = ["ap", "ap50", "ar100", *OPERATING]
COUNTS = ["tp", "fp", "fn", "wrong_class"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestPlan, Path]:
    root = tmp_path_factory.mktemp("eval")
    spec = make_detection_project(root / "p", n_images=5)
    return executed_plan(spec, root / "run"), root / "run"


def test_every_unit_has_the_registry_metrics_of_its_point(run: tuple[TestPlan, Path]) -> None:
    plan, run_dir = run
    with ResultStore(run_dir) as store:
        ev = evaluate(plan, store)
    assert set(ev.units) == set(plan.units)
    for (model, point), unit in ev.units.items():
        assert list(unit.metrics) == [*STAT_KEYS, *OPERATING], (model, point)  # no criterion asks for consistency
        classes = sorted(plan.dataset.classes)
        assert sorted(unit.per_class) == classes
        for c in classes:
            assert list(unit.per_class[c]) == PER_CLASS + (COUNTS if point == CLEAN else [])


def test_metrics_are_those_of_the_stores_predictions(run: tuple[TestPlan, Path]) -> None:
    plan, run_dir = run
    with ResultStore(run_dir) as store:
        ev = evaluate(plan, store)
        for model, point in plan.units:
            direct = evaluate_detection(targets_of(plan, store, point), detections_of(store.predictions(model, point)),
                                        category_ids=sorted(plan.dataset.classes))
            assert {k: ev.units[(model, point)].metrics[k] for k in STAT_KEYS} == direct.stats


def test_the_source_yields_values_and_replicates_again(run: tuple[TestPlan, Path]) -> None:
    plan, run_dir = run
    with ResultStore(run_dir) as store:
        unit = evaluate(plan, store).units[("model-a", CLEAN)]
    assert isinstance(unit.source, DetectionUnit)
    identity = np.arange(len(plan.dataset.records))[None, :]
    for name in ("map", "ap50"):
        assert unit.source.value(name) == unit.metrics[name]
        rep = unit.source.replicates(identity, name)[0]
        assert rep == pytest.approx(unit.metrics[name], abs=1e-12)
    rep = unit.source.replicates(identity, "ap", 1)[0]
    assert rep == pytest.approx(unit.per_class[1]["ap"], abs=1e-12)


def test_consistency_is_measured_when_a_criterion_names_it(run: tuple[TestPlan, Path]) -> None:
    plan, run_dir = run
    text = plan.loaded.path.read_text()
    asking = plan.loaded.path.with_name("consistency.yaml")
    asking.write_text(text.replace("criteria:\n", "criteria:\n  - {metric: consistency, on: gaussian_noise, at_least: 0.1}\n"))
    with ResultStore(run_dir) as store:
        ev = evaluate(compile_plan(load_spec(asking)), store)
    assert "consistency" not in ev.units[("model-a", CLEAN)].metrics  # at clean it would be trivially perfect
    corrupted = [p.key for p in plan.points if p.key != CLEAN]
    values = [ev.units[("model-a", k)].metrics["consistency"] for k in corrupted]
    assert all(v is None or 0.0 <= v <= 1.0 for v in values) and any(v is not None for v in values)


def test_every_unit_of_a_model_is_measured_at_its_clean_operating_point(run: tuple[TestPlan, Path]) -> None:
    plan, run_dir = run
    with ResultStore(run_dir) as store:
        ev = evaluate(plan, store)
    for model in (m.name for m in plan.models):
        op = ev.operating_points[model]
        assert op.source == "default" and op.rule == "max_f1" and op.single is not None
        for point in (p.key for p in plan.points):
            assert ev.units[(model, point)].source.operating_point is op

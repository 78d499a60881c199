"""Verdict logic from data tables: spec fragment + metrics → expected value and outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from fieldready.judge.criteria import criterion_value, judge, model_verdict
from fieldready.judge.results import CriterionResult
from fieldready.plan import CLEAN, TestPlan, compile_plan
from fieldready.spec import load_spec
from fieldready.spec.models import Criterion
from tests._project import make_detection_project

CASES = YAML(typ="safe").load((Path(__file__).parent / "verdicts.yaml").read_text())


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> TestPlan:
    return compile_plan(load_spec(make_detection_project(tmp_path_factory.mktemp("v"), n_images=3)))


def _lookup(plan: TestPlan, table: dict):
    names = {CLEAN: CLEAN}
    for condition in plan.conditions:
        for n, point in enumerate(condition.points):
            names[point.key] = f"{condition.name}@{n}"

    def get(model: str, point: str, metric: str, class_id: int | None) -> float:
        return float(table[model][names[point]])

    return get


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_verdict_table(plan: TestPlan, case: dict) -> None:
    criterion = Criterion.model_validate(case["criterion"])
    value = criterion_value(plan, criterion, case.get("model", "model-a"), _lookup(plan, case["metrics"]))
    assert value == pytest.approx(case["value"], abs=1e-12)
    assert judge(value, criterion) is case["passed"]


@pytest.mark.parametrize(
    ("kind", "threshold", "ci", "expected"),
    [
        ("at_least", 0.5, (0.52, 0.60), True),
        ("at_least", 0.5, (0.40, 0.49), False),
        ("at_least", 0.5, (0.45, 0.55), None),
        ("at_most", 0.1, (0.02, 0.08), True),
        ("at_most", 0.1, (0.11, 0.20), False),
        ("max_drop", 0.1, (0.05, 0.15), None),
    ],
)
def test_interval_decides_or_is_inconclusive(kind: str, threshold: float, ci: tuple, expected: bool | None) -> None:
    criterion = Criterion.model_validate({"metric": "map", "on": "clean" if kind != "max_drop" else "x", kind: threshold})
    assert judge(sum(ci) / 2, criterion, ci) is expected


def _crit(passed: bool | None, blocking: bool = True) -> CriterionResult:
    return CriterionResult(id="c", description="", metric="map", scope="clean", kind="at_least", threshold=0.5,
                           value=0.5, passed=passed, blocking=blocking)


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ([_crit(True), _crit(True)], "GO"),
        ([_crit(True), _crit(False)], "NO-GO"),
        ([_crit(True), _crit(None)], "INCONCLUSIVE"),
        ([_crit(None), _crit(False)], "NO-GO"),
        ([_crit(True), _crit(False, blocking=False)], "GO"),
        ([_crit(True), _crit(None, blocking=False)], "GO"),
    ],
)
def test_model_verdict(outcomes: list[CriterionResult], verdict: str) -> None:
    assert model_verdict(outcomes) == verdict


@pytest.mark.parametrize(
    ("kind", "threshold", "ci", "expected"),
    [
        ("at_least", 0.9, (0.9, 0.95), None),  # touching the threshold is not beyond it
        ("at_least", 0.9, (0.9 + 1e-17, 0.95), None),  # nor is float noise in a ratio of counts
        ("at_least", 0.9, (0.85, 0.9), None),
        ("at_most", 0.05, (0.01, 0.05), None),
        ("max_drop", 0.1, (0.1, 0.2), None),
        ("at_least", 0.9, (0.9001, 0.95), True),
        ("at_most", 0.05, (0.051, 0.06), False),
    ],
)
def test_an_interval_reaching_the_threshold_is_inconclusive(kind: str, threshold: float, ci: tuple, expected: bool | None) -> None:
    criterion = Criterion.model_validate({"metric": "map", "on": "clean" if kind != "max_drop" else "x", kind: threshold})
    assert judge(sum(ci) / 2, criterion, ci) is expected


def test_a_point_value_on_the_threshold_meets_it() -> None:
    assert judge(0.9, Criterion.model_validate({"metric": "map", "at_least": 0.9})) is True
    assert judge(0.05, Criterion.model_validate({"metric": "map", "at_most": 0.05})) is True


def _classification_plan(labels: list[int]):
    from types import SimpleNamespace

    return SimpleNamespace(
        spec=SimpleNamespace(task="classification", baseline=None),
        dataset=SimpleNamespace(records=[SimpleNamespace(label=y) for y in labels], classes={0: "cat", 1: "dog"}),
        conditions=[],
        primary_metric="top1",
    )


def test_rates_are_bounded_by_clopper_pearson(plan: TestPlan) -> None:
    from fieldready.judge.criteria import criterion_interval, proportion_trials

    cls_plan = _classification_plan([0] * 30 + [1] * 10)
    top1 = Criterion.model_validate({"metric": "top1", "at_least": 0.5})
    dog = Criterion.model_validate({"metric": "accuracy", "class": "dog", "at_least": 0.5})
    assert proportion_trials(cls_plan, top1) == 40
    assert proportion_trials(cls_plan, dog) == 10
    assert proportion_trials(cls_plan, Criterion.model_validate({"metric": "top1", "on": "x", "max_drop": 0.1})) is None
    assert proportion_trials(plan, Criterion.model_validate({"metric": "map", "at_least": 0.5})) is None  # AP is no rate
    # 0 correct of 40: every resample is 0, yet the interval is Clopper-Pearson's, not [0, 0]
    ci = criterion_interval(cls_plan, top1, np.zeros(1000), 0.0)
    assert ci[0] == 0.0 and ci[1] == pytest.approx(0.0881, abs=1e-4)
    assert judge(0.0, top1, ci) is False
    # 0 errors of 40 cannot show an error rate below 5 %: inconclusive, not PASS
    error = Criterion.model_validate({"metric": "error", "at_most": 0.05})
    ci = criterion_interval(cls_plan, error, np.zeros(1000), 0.0)
    assert judge(0.0, error, ci) is None

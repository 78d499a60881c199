"""Drop floors: a ``max_drop: t`` criterion's floor is clean · (1 − t), computed by the judge and drawn by the report.

A drop is a fraction of the clean value, so a 50 % drop from 0.8 is a floor of 0.4 — the report used
to draw ``clean − t`` (0.3). These cases fail on that formula.
"""

from __future__ import annotations

import math

import pytest

from fieldready.evaluation.evaluate import Evaluation, UnitResult
from fieldready.judge.build import build_results
from fieldready.judge.criteria import criterion_value, drop_floor
from fieldready.judge.results import Provenance, Results, results_json
from fieldready.plan import CLEAN, TestPlan, compile_plan
from fieldready.report.context import _thresholds
from fieldready.spec import load_spec
from fieldready.spec.models import Criterion
from tests._project import make_detection_project

CLEAN_MAP = {"model-a": 0.8, "model-b": 0.6}
THRESHOLD = 0.5  # the tiny project's {metric: map, on: gaussian_noise, max_drop: 0.5}


@pytest.mark.parametrize(
    ("reference", "t", "higher", "floor"),
    [(0.8, 0.1, True, 0.72), (0.8, 0.5, True, 0.4), (0.2, 0.1, False, 0.22), (0.5, 0.0, True, 0.5)],
)
def test_floor_is_relative_to_the_reference(reference: float, t: float, higher: bool, floor: float) -> None:
    assert drop_floor(reference, t, higher_is_better=higher) == pytest.approx(floor, abs=1e-12)
    if t:
        assert drop_floor(reference, t, higher_is_better=higher) != pytest.approx(reference - t)  # the old line


def test_no_reference_no_floor() -> None:
    assert drop_floor(None, 0.1, higher_is_better=True) is None
    assert drop_floor(math.nan, 0.1, higher_is_better=True) is None


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> TestPlan:
    spec = make_detection_project(tmp_path_factory.mktemp("floor"), n_images=3)
    spec.write_text(spec.read_text().replace("bootstrap: 200", "bootstrap: 0"))
    return compile_plan(load_spec(spec))


def _evaluation(plan: TestPlan) -> Evaluation:
    """Hand-made unit metrics: each model's clean mAP, 10 % lower at every corrupted point."""
    units = {}
    for model, point in plan.units:
        v = CLEAN_MAP[model] * (1.0 if point == CLEAN else 0.9)
        units[(model, point)] = UnitResult(model, point, {"map": v}, {1: {"ap": v}})
    return Evaluation(plan, units)


def _provenance(plan: TestPlan) -> Provenance:
    return Provenance(spec_path="spec.yaml", spec_text="", spec_hash="", plan_hash=plan.plan_hash, data_hash="",
                      model_hashes={}, versions={}, device="cpu", seed=0, started="", finished="", duration_s=0.0,
                      images=3, units=len(plan.units))


@pytest.fixture(scope="module")
def results(plan: TestPlan) -> Results:
    return build_results(plan, _evaluation(plan), _provenance(plan))


def test_the_judge_stores_each_models_floor(results: Results) -> None:
    for m in results.models:
        drop = next(c for c in m.criteria if c.kind == "max_drop")
        assert drop.floor == pytest.approx(CLEAN_MAP[m.name] * (1 - THRESHOLD), abs=1e-12)
        assert drop.floor != pytest.approx(CLEAN_MAP[m.name] - THRESHOLD)
        assert all(c.floor is None for c in m.criteria if c.kind in ("at_least", "at_most"))


def test_a_mean_at_the_floor_is_a_drop_of_exactly_the_threshold(plan: TestPlan, results: Results) -> None:
    floor = next(c for c in results.models[0].criteria if c.kind == "max_drop").floor
    crit = Criterion(metric="map", on="gaussian_noise", max_drop=THRESHOLD)

    def get(model: str, point: str, metric: str, class_id: int | None) -> float:
        return CLEAN_MAP[model] if point == CLEAN else floor

    assert criterion_value(plan, crit, "model-a", get) == pytest.approx(THRESHOLD, abs=1e-12)


def test_the_report_draws_the_judges_floor(results: Results) -> None:
    lines = {line.label: line.y for line in _thresholds(results, "gaussian_noise")}
    for m in results.models:
        drop = next(c for c in m.criteria if c.kind == "max_drop")
        assert lines[f"{drop.id} floor {m.name}"] == drop.floor


def test_the_floor_is_in_results_json(results: Results) -> None:
    data = results_json(results)
    assert f'"floor": {CLEAN_MAP["model-a"] * (1 - THRESHOLD)}' in data

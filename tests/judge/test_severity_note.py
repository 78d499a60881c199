"""Results assembly: the note that says which severities make a criterion fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldready.judge.criteria import severity_note as _severity_note
from fieldready.plan import CLEAN, TestPlan, compile_plan
from fieldready.spec import load_spec
from fieldready.spec.models import Criterion
from tests._project import make_detection_project


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> TestPlan:
    return compile_plan(load_spec(make_detection_project(tmp_path_factory.mktemp("s"), n_images=3)))


def _get(values: dict[str, float], plan: TestPlan):
    noise = [p.key for p in plan.conditions[0].points]

    def get(model: str, point: str, metric: str, class_id: int | None) -> float:
        return values[CLEAN] if point == CLEAN else values[f"noise{noise.index(point)}"]

    return get


def test_note_names_the_failing_severities(plan: TestPlan) -> None:
    crit = Criterion(metric="map", on="gaussian_noise", max_drop=0.2)
    note = _severity_note(plan, crit, "model-a", _get({CLEAN: 0.8, "noise0": 0.75, "noise1": 0.4}, plan))
    assert note == "fails at level 3 (passes at level 1)"


def test_note_when_every_severity_fails(plan: TestPlan) -> None:
    crit = Criterion(metric="map", on="gaussian_noise", at_least=0.9)
    note = _severity_note(plan, crit, "model-a", _get({CLEAN: 0.8, "noise0": 0.75, "noise1": 0.4}, plan))
    assert note == "fails at level 1, level 3 (every severity)"


def test_no_note_for_clean_or_single_point_conditions(plan: TestPlan) -> None:
    get = _get({CLEAN: 0.8, "noise0": 0.75, "noise1": 0.4}, plan)
    assert _severity_note(plan, Criterion(metric="map", on="clean", at_least=0.9), "model-a", get) == ""
    assert _severity_note(plan, Criterion(metric="map", on="night", at_least=0.9), "model-a", get) == ""

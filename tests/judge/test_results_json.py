"""results.json is strict JSON: non-finite numbers are null, never the bare NaN/Infinity tokens."""

from __future__ import annotations

import json
import math
from pathlib import Path

from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.judge.results import (
    ClassResult,
    Comparison,
    ConditionResult,
    CriterionResult,
    ModelResult,
    Provenance,
    Recommendation,
    Results,
    results_json,
)
from tests._project import make_detection_project

NAN, INF = float("nan"), float("inf")


def _strict_loads(text: str) -> dict:
    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


def _results() -> Results:
    provenance = Provenance(
        spec_path="spec.yaml", spec_text="", spec_hash="s", plan_hash="p", data_hash="d", model_hashes={},
        versions={}, device="cpu", seed=0, started="", finished="", duration_s=1.0, images=2, units=2,
    )
    model = ModelResult(
        name="m", kind="torchscript", verdict="INCONCLUSIVE", production_score=NAN, production_ci=[0.1, NAN],
        clean={"map": NAN, "ap50": 0.5, "ar100": -INF}, robustness={"mpc": INF}, families={"noise": NAN},
        per_class=[ClassResult(class_id=1, name="a", metrics={"ap": NAN}, drop=INF)],
        criteria=[CriterionResult(id="c1", description="", metric="map", scope="clean", kind="at_least",
                                  threshold=0.3, value=NAN, passed=None, ci=[NAN, NAN], confidence=0.95)],
        conditions=[ConditionResult(condition="fog", corruption="fog", severity=0.5, metrics={"map": NAN})],
        comparison=Comparison(against="b", metric="map", clean_difference=NAN, clean_ci=[-INF, 0.1], mcnemar_p=NAN),
    )
    return Results(name="r", title="r", task="detection", spec_hash="s", plan_hash="p", primary_metric="map",
                   models=[model], recommendation=Recommendation(model=None, reason="none"), provenance=provenance)


def test_non_finite_numbers_are_written_as_null() -> None:
    results = _results()
    data = _strict_loads(results_json(results))
    model = data["models"][0]
    assert model["production_score"] is None and model["production_ci"] is None
    assert model["clean"] == {"map": None, "ap50": 0.5, "ar100": None}
    assert model["robustness"] == {"mpc": None} and model["families"] == {"noise": None}
    assert model["per_class"][0]["metrics"] == {"ap": None} and model["per_class"][0]["drop"] is None
    assert model["criteria"][0]["value"] is None and model["criteria"][0]["ci"] is None
    assert model["conditions"][0]["metrics"] == {"map": None}
    assert model["comparison"]["clean_difference"] is None and model["comparison"]["clean_ci"] is None
    assert model["comparison"]["mcnemar_p"] is None
    # the in-memory result already reads "no data", so the report renders what the file says
    assert results.models[0].clean["map"] is None
    # and the file reads back into the same results
    again = Results.model_validate_json(results_json(results))
    assert again.models[0].clean == {"map": None, "ap50": 0.5, "ar100": None}


def test_a_run_writes_strict_json(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=4)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = _strict_loads((out / "results.json").read_text())

    def numbers(node: object) -> list[float]:
        if isinstance(node, dict):
            return [x for v in node.values() for x in numbers(v)]
        if isinstance(node, list):
            return [x for v in node for x in numbers(v)]
        return [float(node)] if isinstance(node, (int, float)) and not isinstance(node, bool) else []

    values = numbers(data)
    assert values and all(math.isfinite(v) for v in values)
    # category 'other' has no instances: its AP is "no data", written as null
    other = next(c for c in data["models"][0]["per_class"] if c["name"] == "other")
    assert other["metrics"]["ap"] is None

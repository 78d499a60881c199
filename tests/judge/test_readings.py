"""Readings: what the judge derives from judged numbers for the report — margins, what would change, drops, significance."""

from __future__ import annotations

import pytest

from fieldready.judge.readings import read, significance
from fieldready.judge.results import (
    Comparison,
    ConditionResult,
    CriterionResult,
    ModelResult,
    Provenance,
    Recommendation,
    Results,
)


def _crit(cid: str, kind: str, threshold: float, value: float | None, passed: bool | None, **kw) -> CriterionResult:
    return CriterionResult(id=cid, description=cid, metric="top1", scope="clean", kind=kind, threshold=threshold,
                           value=value, passed=passed, **kw)


def _results(criteria: list[CriterionResult], *, primary: str = "top1", comparison: Comparison | None = None) -> Results:
    model = ModelResult(name="m", kind="torchscript", verdict="GO", clean={primary: 0.9}, criteria=criteria,
                        conditions=[ConditionResult(condition="noise", corruption="gaussian_noise", label="L1",
                                                    metrics={primary: 0.7})],
                        comparison=comparison)
    return Results(name="r", title="r", task="classification", spec_hash="", plan_hash="", primary_metric=primary,
                   models=[model], recommendation=Recommendation(model=None, reason=""),
                   provenance=Provenance(spec_path="", spec_text="", spec_hash="", plan_hash="", data_hash="",
                                         model_hashes={}, versions={}, device="cpu", seed=0, started="", finished="",
                                         duration_s=0.0, images=1, units=1))


def test_margins_are_on_the_passing_side() -> None:
    r = read(_results([_crit("a", "at_least", 0.8, 0.85, True), _crit("b", "at_most", 0.1, 0.04, True),
                       _crit("c", "max_drop", 0.2, 0.25, False)]))
    assert [c.margin for c in r.models[0].criteria] == pytest.approx([0.05, 0.06, -0.05])


def test_what_would_change_names_the_closest_call_or_the_failure() -> None:
    passing = read(_results([_crit("a", "at_least", 0.8, 0.85, True), _crit("b", "at_least", 0.5, 0.9, True)]))
    assert passing.models[0].change == [
        "m passes every blocking criterion; the closest call is a (a): 0.850 vs ≥ 0.800, a margin of 0.050. "
        "A change of that size would make it NO-GO."
    ]
    failing = read(_results([_crit("a", "at_least", 0.8, 0.7, False), _crit("b", "at_least", 0.5, 0.5, None,
                                                                             ci=[0.45, 0.55])]))
    assert failing.models[0].change[0].startswith("m fails only on a (a: 0.700 vs ≥ 0.800)")
    assert "INCONCLUSIVE until b is settled" in failing.models[0].change[0]


def test_heat_map_drops_follow_the_primary_metrics_direction() -> None:
    assert read(_results([])).models[0].conditions[0].drop == pytest.approx(0.9 - 0.7)
    lower = _results([], primary="error")  # an error falling from 0.9 to 0.7 is an improvement: a negative drop
    assert read(lower).models[0].conditions[0].drop == pytest.approx(0.7 - 0.9)


def test_comparison_reads_with_the_metrics_direction() -> None:
    cmp = Comparison(against="base", metric="error", clean_difference=-0.02, clean_ci=[-0.04, -0.01])
    c = read(_results([], comparison=cmp)).models[0].comparison
    assert c is not None and c.higher_is_better is False
    assert c.clean_significance is not None and c.clean_significance.word == "significantly better"
    assert c.production_significance is not None and c.production_significance.word == "not assessed"
    assert significance(0.02, [-0.01, 0.05], None, True) == ("not distinguishable at 95 %", "95 % CI includes 0")

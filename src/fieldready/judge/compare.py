"""Comparison: candidates against the baseline on the same images, ranking, and the recommendation.

Differences are paired (model − baseline, the same bootstrap resamples for both), so the variation
common to both models cancels; for classification McNemar's exact test adds a per-image view.
"""

from __future__ import annotations

import numpy as np

from fieldready.evaluation.evaluate import Evaluation
from fieldready.evaluation.metrics.bootstrap import paired_difference
from fieldready.evaluation.metrics.classification import ClassificationUnit
from fieldready.evaluation.metrics.significance import mcnemar_exact
from fieldready.judge.criteria import Lookup
from fieldready.judge.results import Comparison, ModelResult, Recommendation
from fieldready.plan import CLEAN, TestPlan

__all__ = ["compare", "rank", "recommend"]


def compare(
    plan: TestPlan,
    evaluation: Evaluation,
    model: ModelResult,
    models: list[ModelResult],
    rep_get: Lookup | None,
    production_reps: dict[str, np.ndarray | None],
) -> Comparison | None:
    """Paired comparison with the baseline: clean and production differences, McNemar for top-1."""
    base_name = plan.spec.baseline
    if base_name is None or model.name == base_name:
        return None
    base = next(m for m in models if m.name == base_name)
    primary = plan.primary_metric
    out = Comparison(against=base_name, metric=primary)
    a, b = model.clean.get(primary), base.clean.get(primary)
    if a is not None and b is not None:
        out.clean_difference = a - b
        if rep_get is not None:
            n = len(plan.dataset.records)
            ci = paired_difference(rep_get(model.name, CLEAN, primary, None), rep_get(base_name, CLEAN, primary, None),  # type: ignore[arg-type]
                                   estimate=a - b, n=n)[1]
            out.clean_ci = list(ci) if ci else None
    if model.production_score is not None and base.production_score is not None:
        out.production_difference = model.production_score - base.production_score
        ra, rb = production_reps.get(model.name), production_reps.get(base_name)
        if ra is not None and rb is not None:
            ci = paired_difference(ra, rb, estimate=out.production_difference, n=len(plan.dataset.records))[1]
            out.production_ci = list(ci) if ci else None
    ua, ub = (evaluation.units[(name, CLEAN)].source for name in (model.name, base_name))
    if plan.dataset.labelled and isinstance(ua, ClassificationUnit) and isinstance(ub, ClassificationUnit):
        test = mcnemar_exact(ua.predicted == ua.labels, ub.predicted == ub.labels)
        out.mcnemar_p, out.wins, out.losses = test.p_value, test.a_only, test.b_only
    return out


def rank(models: list[ModelResult]) -> list[ModelResult]:
    """The models with their rank: by verdict (GO first), then production score."""
    order = {"GO": 0, "INCONCLUSIVE": 1, "NO-GO": 2}
    ranked = sorted(models, key=lambda m: (order[m.verdict], -(m.production_score or float("-inf"))))
    position = {id(m): r for r, m in enumerate(ranked, 1)}
    return [m.model_copy(update={"rank": position[id(m)]}) for m in models]


def recommend(
    models: list[ModelResult], primary_metric: str, reps: dict[str, np.ndarray | None], *, n: int
) -> Recommendation:
    """The model to ship — the GO model with the best production score — and why, in one sentence.

    ``n`` is the number of images, which calibrates the interval of the paired difference.
    """
    go = sorted((m for m in models if m.verdict == "GO"), key=lambda m: -(m.production_score or float("-inf")))
    if not go:
        undecided = [m.name for m in models if m.verdict == "INCONCLUSIVE"]
        reason = "no candidate passes every blocking criterion"
        if undecided:
            reason += f"; {', '.join(undecided)} could not be decided with this data — evaluate on more images"
        return Recommendation(model=None, reason=reason + ".")
    best = go[0]
    reason = f"{best.name} passes every blocking criterion and has the highest production score ({best.production_score:.3f})"
    if len(go) > 1:
        second = go[1]
        a, b = reps.get(best.name), reps.get(second.name)
        diff = (best.production_score or 0.0) - (second.production_score or 0.0)
        diff_ci = paired_difference(a, b, estimate=diff, n=n)[1] if a is not None and b is not None else None
        if diff_ci is not None and diff_ci[0] <= 0.0:
            reason += (
                f"; {second.name} ({second.production_score:.3f}) is statistically indistinguishable "
                f"(paired bootstrap difference, 95 % interval {diff_ci[0]:+.3f} to {diff_ci[1]:+.3f})"
            )
        else:
            reason += f", ahead of {second.name} ({second.production_score:.3f})"
    clean_best = max(models, key=lambda m: m.clean.get(primary_metric) or float("-inf"))
    if clean_best.name != best.name:
        reason += f"; note that {clean_best.name} has the best clean {primary_metric}"
    return Recommendation(model=best.name, reason=reason + ".")

"""Evaluation → Results: judge every criterion with its bootstrap interval and assemble results.json.

The bootstrap resamples images once (one index matrix for all models and points, so every
comparison is paired) and reuses each unit's evaluation object to recompute metrics per resample.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from fieldready.evaluate import Evaluation
from fieldready.metrics.bootstrap import paired_difference, resample_indices
from fieldready.metrics.classification import classification_replicates
from fieldready.metrics.info import json_number
from fieldready.metrics.significance import mcnemar_exact
from fieldready.plan import CLEAN, TestPlan
from fieldready.results import (
    ClassResult,
    Comparison,
    ConditionInfo,
    ConditionResult,
    CriterionResult,
    ModelResult,
    Provenance,
    Recommendation,
    Results,
)
from fieldready.spec.metric_names import METRICS
from fieldready.spec.models import Criterion, SeverityScope
from fieldready.verdicts import criterion_id, criterion_interval, criterion_value, describe, judge, model_verdict, scope_label

__all__ = ["build_results", "PRODUCTION"]

#: The production score as a criterion, so the score and its interval share the criteria's value code.
PRODUCTION = Criterion(metric="production_score", on="all", at_least=0.0, confidence=0.95)


def _point_lookup(evaluation: Evaluation) -> Callable:
    def get(model: str, point: str, metric: str, class_id: int | None) -> float:
        unit = evaluation.units[(model, point)]
        value = unit.per_class.get(class_id, {}).get(metric) if class_id is not None else unit.metrics.get(metric)
        return float("nan") if value is None else float(value)

    return get


def _replicate_lookup(evaluation: Evaluation, indices: np.ndarray) -> Callable:
    @cache
    def get(model: str, point: str, metric: str, class_id: int | None) -> np.ndarray:
        unit = evaluation.units[(model, point)]
        if evaluation.plan.spec.task == "detection":
            engine = unit.extra["consistency"] if metric == "consistency" else unit.engine
            return engine.replicates(indices, "map" if metric == "consistency" else metric, category_id=class_id)  # type: ignore[union-attr]
        labels, logits, clean_top1 = unit.engine  # type: ignore[misc]
        return classification_replicates(labels, logits, indices, metric, class_id=class_id, reference_top1=clean_top1)

    return get


def _judged(
    plan: TestPlan, criterion: Criterion, model: str, point_get: Callable, rep_get: Callable | None
) -> tuple[float | None, tuple[float, float] | None, np.ndarray | None]:
    """The criterion's value, its bootstrap interval and the replicates behind it (paired across models)."""
    value = json_number(criterion_value(plan, criterion, model, point_get))
    if rep_get is None or value is None:
        return value, None, None
    reps = np.asarray(criterion_value(plan, criterion, model, rep_get), dtype=np.float64)
    return value, criterion_interval(plan, criterion, reps, value), reps


def build_results(plan: TestPlan, evaluation: Evaluation, provenance: Provenance) -> Results:
    """Judge all criteria of all models and assemble the Results that the report renders."""
    spec = plan.spec
    n = len(plan.dataset.records)
    resamples = spec.run.bootstrap
    indices = resample_indices(n, resamples=resamples, seed=plan.seed) if resamples else None
    point_get = _point_lookup(evaluation)
    rep_get = _replicate_lookup(evaluation, indices) if indices is not None else None
    models = []
    production_reps: dict[str, np.ndarray | None] = {}
    for entry in plan.models:
        name = entry.name
        criteria = []
        for i, crit in enumerate(spec.criteria):
            value, ci, _ = _judged(plan, crit, name, point_get, rep_get)
            passed = judge(value, crit, ci)
            criteria.append(
                CriterionResult(
                    id=criterion_id(i, crit),
                    description=describe(crit, spec.task),
                    metric=crit.metric,
                    scope=scope_label(crit, spec.task),
                    kind=crit.kind,  # type: ignore[arg-type]
                    threshold=crit.threshold,
                    value=value,
                    passed=passed,
                    blocking=crit.severity == "blocking",
                    ci=list(ci) if ci is not None else None,
                    confidence=crit.confidence if ci is not None else None,
                    note=_severity_note(plan, crit, name, point_get) if passed is not True else "",
                )
            )
        production, production_ci, production_reps[name] = _judged(
            plan, PRODUCTION, name, point_get, rep_get
        )
        models.append(
            ModelResult(
                name=name,
                kind=entry.spec.kind,
                file_hash=entry.file_hash,
                verdict=model_verdict(criteria),  # type: ignore[arg-type]
                production_score=production,
                production_ci=list(production_ci) if production_ci else None,
                clean={k: json_number(v) for k, v in evaluation.units[(name, CLEAN)].metrics.items()},
                robustness=_robustness(plan, name, point_get),
                families=_families(plan, name, point_get),
                per_class=_per_class(plan, evaluation, name),
                criteria=criteria,
                conditions=_conditions(plan, evaluation, name),
            )
        )
    for m in models:
        m.comparison = _comparison(plan, evaluation, m, models, point_get, rep_get, production_reps)
    _rank(models)
    return Results(
        name=spec.name,
        title=spec.report.title or spec.name,
        task=spec.task,
        spec_hash=plan.loaded.spec_hash,
        plan_hash=plan.plan_hash,
        primary_metric=plan.primary_metric,
        metric_names={k: m.description for k, m in METRICS[spec.task].items()},
        classes={str(k): v for k, v in plan.dataset.classes.items()},
        baseline=spec.baseline,
        conditions=[
            ConditionInfo(
                name=c.name,
                corruptions=list(c.corruptions),
                family=c.family,
                frequency=c.frequency,
                severities=[p.label for p in c.points],
                unit=c.unit,
            )
            for c in plan.conditions
        ],
        models=models,
        recommendation=_recommend(models, plan, production_reps),
        signoff=[{"role": s.role, "name": s.name or ""} for s in spec.report.signoff],
        page_size=spec.report.page_size,
        provenance=provenance,
    )


def _comparison(
    plan: TestPlan,
    evaluation: Evaluation,
    model: ModelResult,
    models: list[ModelResult],
    point_get: Callable,
    rep_get: Callable | None,
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
            ci = paired_difference(rep_get(model.name, CLEAN, primary, None), rep_get(base_name, CLEAN, primary, None), estimate=a - b, n=n)[1]
            out.clean_ci = list(ci) if ci else None
    if model.production_score is not None and base.production_score is not None:
        out.production_difference = model.production_score - base.production_score
        ra, rb = production_reps.get(model.name), production_reps.get(base_name)
        if ra is not None and rb is not None:
            ci = paired_difference(ra, rb, estimate=out.production_difference, n=len(plan.dataset.records))[1]
            out.production_ci = list(ci) if ci else None
    if plan.spec.task == "classification" and plan.dataset.labelled:
        labels, logits_a, _ = evaluation.units[(model.name, CLEAN)].engine  # type: ignore[misc]
        _, logits_b, _ = evaluation.units[(base_name, CLEAN)].engine  # type: ignore[misc]
        test = mcnemar_exact(logits_a.argmax(axis=1) == labels, logits_b.argmax(axis=1) == labels)
        out.mcnemar_p, out.wins, out.losses = test.p_value, test.a_only, test.b_only
    return out


def _severity_note(plan: TestPlan, criterion: Criterion, model: str, get: Callable) -> str:
    """For a criterion on a condition with several severities: which of them fail on their own.

    "fails at 1.5, 2 (passes at 0.5, 1)" tells a reader what would change the decision.
    """
    condition = next((c for c in plan.conditions if c.name == criterion.on), None)
    if condition is None or len(condition.points) < 2 or criterion.severities is not None:
        return ""
    failing, passing = [], []
    for point in condition.points:
        if point.severity is None:
            return ""
        alone = criterion.model_copy(update={"severities": SeverityScope(min=point.severity, max=point.severity)})
        value = json_number(criterion_value(plan, alone, model, get))
        (passing if judge(value, alone) else failing).append(point.label)
    if not failing:
        return f"each severity passes on its own ({', '.join(passing)}); only their combination is borderline"
    return f"fails at {', '.join(failing)}" + (f" (passes at {', '.join(passing)})" if passing else " (every severity)")


def _robustness(plan: TestPlan, model: str, get: Callable) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if not plan.conditions:
        return out
    for metric in ("mpc", "rpc", "mce", "relative_mce"):
        if metric.endswith("mce") and plan.spec.baseline is None:
            continue
        crit = Criterion(metric=metric, on="all", at_least=0.0)
        out[metric] = json_number(criterion_value(plan, crit, model, get))
    return out


def _families(plan: TestPlan, model: str, get: Callable) -> dict[str, float | None]:
    by_family: dict[str, list[float]] = {}
    for c in plan.conditions:
        for p in c.points:
            by_family.setdefault(c.family, []).append(get(model, p.key, plan.primary_metric, None))
    return {f: json_number(float(np.nanmean(v))) if not np.all(np.isnan(v)) else None for f, v in by_family.items()}


def _per_class(plan: TestPlan, evaluation: Evaluation, model: str) -> list[ClassResult]:
    clean = evaluation.units[(model, CLEAN)].per_class
    corrupted = [p.key for p in plan.points if p.key != CLEAN]
    key = "ap" if plan.spec.task == "detection" else "accuracy"
    out = []
    for class_id, name in plan.dataset.classes.items():
        metrics = {k: json_number(v) for k, v in clean.get(class_id, {}).items()}
        under = [evaluation.units[(model, p)].per_class.get(class_id, {}).get(key) for p in corrupted]
        under = [u for u in under if u is not None]
        base = metrics.get(key)
        drop = json_number(base - float(np.mean(under))) if base is not None and under else None
        out.append(ClassResult(class_id=class_id, name=name, metrics=metrics, drop=drop))
    return out


def _conditions(plan: TestPlan, evaluation: Evaluation, model: str) -> list[ConditionResult]:
    out = []
    for c in plan.conditions:
        for p in c.points:
            metrics = evaluation.units[(model, p.key)].metrics
            out.append(
                ConditionResult(
                    condition=c.name,
                    corruption="+".join(c.corruptions),
                    severity=p.severity,
                    level=p.level,
                    label=p.label,
                    metrics={k: json_number(v) for k, v in metrics.items()},
                )
            )
    return out


def _rank(models: list[ModelResult]) -> None:
    """Rank by verdict (GO first), then production score."""
    order = {"GO": 0, "INCONCLUSIVE": 1, "NO-GO": 2}
    ranked = sorted(models, key=lambda m: (order[m.verdict], -(m.production_score or float("-inf"))))
    for rank, m in enumerate(ranked, 1):
        m.rank = rank


def _recommend(models: list[ModelResult], plan: TestPlan, reps: dict[str, np.ndarray | None]) -> Recommendation:
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
        diff_ci = paired_difference(a, b, estimate=diff, n=len(plan.dataset.records))[1] if a is not None and b is not None else None
        if diff_ci is not None and diff_ci[0] <= 0.0:
            reason += (
                f"; {second.name} ({second.production_score:.3f}) is statistically indistinguishable "
                f"(paired bootstrap difference {diff_ci[0]:+.3f} to {diff_ci[1]:+.3f})"
            )
        else:
            reason += f", ahead of {second.name} ({second.production_score:.3f})"
    clean_best = max(models, key=lambda m: m.clean.get(plan.primary_metric) or float("-inf"))
    if clean_best.name != best.name:
        reason += f"; note that {clean_best.name} has the best clean {plan.primary_metric}"
    return Recommendation(model=best.name, reason=reason + ".")


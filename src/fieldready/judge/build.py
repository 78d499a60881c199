"""Evaluation → Results: judge every criterion with its bootstrap interval and assemble results.json.

The bootstrap resamples images once (one index matrix for all models and points, so every
comparison is paired) and asks each unit's ``Resampled`` source for the replicates of a metric
(never evaluating again). The figures the report shows beside the numbers are derived last
(``readings.read``), so ``results.json`` holds every number the report draws.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np

from fieldready.evaluation.evaluate import Evaluation
from fieldready.evaluation.metrics.bootstrap import resample_indices
from fieldready.evaluation.metrics.operating_point import IOU
from fieldready.evaluation.metrics.registry import get_metric, metrics_for
from fieldready.evaluation.metrics.robustness import family_summary
from fieldready.judge.compare import compare, rank, recommend
from fieldready.judge.criteria import (
    Lookup,
    criterion_id,
    criterion_interval,
    criterion_value,
    describe,
    drop_floor,
    drop_reference,
    judge,
    model_verdict,
    scope_label,
    severity_note,
)
from fieldready.judge.envelope import model_envelopes
from fieldready.judge.readings import read
from fieldready.judge.repeat import repeatability_result
from fieldready.judge.results import (
    ClassResult,
    ConditionInfo,
    ConditionResult,
    CriterionResult,
    ModelResult,
    OperatingPointResult,
    Provenance,
    Results,
    SignoffEntry,
    json_number,
)
from fieldready.plan import CLEAN, TestPlan
from fieldready.spec.models import Criterion

__all__ = ["build_results", "PRODUCTION"]

#: The production score as a criterion, so the score and its interval share the criteria's value code.
PRODUCTION = Criterion(metric="production_score", on="all", at_least=0.0, confidence=0.95)
#: A class "degrades" (the report's highlight) when its drop's interval excludes 0 and the drop is at
#: least this share of the class's clean value: real and large enough to act on.
MEANINGFUL_CLASS_DROP = 0.05


def _point_interval(plan: TestPlan, model: str, point: str, metric: str, value: float | None,
                    rep_get: Lookup | None, class_id: int | None = None) -> list[float] | None:
    """A metric's interval at one point (curve bands), calibrated like a clean criterion on the same images."""
    if rep_get is None or value is None or not np.isfinite(value):
        return None
    reps = np.asarray(rep_get(model, point, metric, class_id), dtype=np.float64)
    ci = criterion_interval(plan, Criterion(metric=metric, on="clean", at_least=0.0, confidence=PRODUCTION.confidence),
                            reps, value)
    return [json_number(ci[0]), json_number(ci[1])] if ci else None  # type: ignore[list-item]


def _point_lookup(evaluation: Evaluation) -> Lookup:
    def get(model: str, point: str, metric: str, class_id: int | None) -> float:
        unit = evaluation.units[(model, point)]
        value = unit.per_class.get(class_id, {}).get(metric) if class_id is not None else unit.metrics.get(metric)
        return float("nan") if value is None else float(value)

    return get


def _replicate_lookup(evaluation: Evaluation, indices: np.ndarray) -> Lookup:
    @cache
    def get(model: str, point: str, metric: str, class_id: int | None) -> np.ndarray:
        source = evaluation.units[(model, point)].source
        return source.replicates(indices, metric, class_id)

    return get


def _judged(
    plan: TestPlan, criterion: Criterion, model: str, point_get: Lookup, rep_get: Lookup | None
) -> tuple[float | None, tuple[float, float] | None, np.ndarray | None]:
    """The criterion's value, its bootstrap interval and the replicates behind it (paired across models)."""
    value = json_number(criterion_value(plan, criterion, model, point_get))  # type: ignore[arg-type]
    if rep_get is None or value is None:
        return value, None, None
    reps = np.asarray(criterion_value(plan, criterion, model, rep_get), dtype=np.float64)
    return value, criterion_interval(plan, criterion, reps, value), reps


def _floor(plan: TestPlan, criterion: Criterion, model: str, get: Lookup) -> float | None:
    """The metric's floor of a drop criterion: its reference · (1 ∓ threshold)."""
    reference = drop_reference(plan, criterion, model, get)
    if reference is None:
        return None
    higher = get_metric(criterion.metric).higher_is_better
    return json_number(drop_floor(json_number(reference), criterion.threshold, higher_is_better=higher))  # type: ignore[arg-type]


def _criteria(plan: TestPlan, name: str, point_get: Lookup, rep_get: Lookup | None) -> list[CriterionResult]:
    spec = plan.spec
    out = []
    for i, crit in enumerate(spec.criteria):
        value, ci, _ = _judged(plan, crit, name, point_get, rep_get)
        # The baseline measured against itself (a drop vs the baseline, mCE): 0 or 1 by definition.
        applies = not (name == spec.baseline and (crit.kind == "max_drop_vs_baseline" or get_metric(crit.metric).needs_baseline))
        passed = judge(value, crit, ci) if applies else None
        out.append(
            CriterionResult(
                id=criterion_id(i, crit),
                description=describe(crit, spec.task),
                metric=crit.metric,
                scope=scope_label(crit, spec.task),
                kind=crit.kind,  # type: ignore[arg-type]
                threshold=crit.threshold,
                value=value,
                passed=passed,
                applies=applies,
                blocking=crit.severity == "blocking",
                ci=list(ci) if ci is not None else None,
                confidence=crit.confidence if ci is not None else None,
                note=severity_note(plan, crit, name, point_get) if passed is not True and applies else "",
                floor=_floor(plan, crit, name, point_get),
            )
        )
    return out


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
        criteria = _criteria(plan, name, point_get, rep_get)
        production, production_ci, production_reps[name] = _judged(plan, PRODUCTION, name, point_get, rep_get)
        models.append(
            ModelResult(
                name=name,
                kind=entry.spec.kind,
                file_hash=entry.file_hash,
                verdict=model_verdict(criteria),  # type: ignore[arg-type]
                production_score=production,
                production_ci=list(production_ci) if production_ci else None,
                production_confidence=PRODUCTION.confidence if production_ci else None,
                clean={k: json_number(v) for k, v in evaluation.units[(name, CLEAN)].metrics.items()},
                clean_ci=_point_interval(plan, name, CLEAN, plan.primary_metric,
                                         evaluation.units[(name, CLEAN)].metrics.get(plan.primary_metric), rep_get),
                robustness=_robustness(plan, name, point_get),
                families=_families(plan, name, point_get),
                per_class=_per_class(plan, evaluation, name, rep_get),
                criteria=criteria,
                repeatability=repeatability_result(plan, evaluation, name, rep_get),
                conditions=_conditions(plan, evaluation, name, rep_get),
                operating_point=_operating_point(plan, evaluation, name),
                envelope=model_envelopes(plan, name, point_get, rep_get),
            )
        )
    models = [m.model_copy(update={"comparison": compare(plan, evaluation, m, models, rep_get, production_reps)})
              for m in models]
    models = rank(models)
    results = Results(
        name=spec.name,
        title=spec.report.title or spec.name,
        task=spec.task,
        spec_hash=plan.loaded.spec_hash,
        plan_hash=plan.plan_hash,
        primary_metric=plan.primary_metric,
        metric_names={r.name: r.label for r in metrics_for(spec.task)},  # every metric a table may show
        classes={str(k): v for k, v in plan.dataset.classes.items()},
        instances=sum(len(t.labels) for t in plan.dataset.targets.values()) if plan.dataset.targets else n,
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
        recommendation=recommend(models, plan.primary_metric, production_reps, n=n),
        signoff=[SignoffEntry(role=s.role, name=s.name or "") for s in spec.report.signoff],
        page_size=spec.report.page_size,
        provenance=provenance,
    )
    return read(results)


def _operating_point(plan: TestPlan, evaluation: Evaluation, model: str) -> OperatingPointResult | None:
    """The model's operating point as results.json records it (detection only)."""
    op = evaluation.operating_points.get(model)
    if op is None:
        return None
    names = plan.dataset.classes
    return OperatingPointResult(
        score_threshold=json_number(op.single),
        per_class={} if op.single is not None else {names.get(c, str(c)): t for c, t in sorted(op.thresholds.items())},
        source=op.source,
        rule=op.rule,
        precision_target=op.precision_target,
        reached=op.reached,
        clean={k: json_number(v) for k, v in op.clean.items()},
        iou=IOU,
        description=op.describe(names),
    )


def _robustness(plan: TestPlan, model: str, get: Lookup) -> dict[str, float | None]:
    """Every aggregate of the registry over all conditions (those normalised by a baseline only with one)."""
    out: dict[str, float | None] = {}
    if not plan.conditions:
        return out
    for row in metrics_for(plan.spec.task, scopes=("aggregate",)):
        if row.production_mix or (row.needs_baseline and plan.spec.baseline is None):
            continue
        crit = Criterion(metric=row.name, on="all", at_least=0.0)
        out[row.name] = json_number(criterion_value(plan, crit, model, get))  # type: ignore[arg-type]
    return out


def _families(plan: TestPlan, model: str, get: Lookup) -> dict[str, float | None]:
    """The primary metric's mean per corruption family, over every point of the family's conditions."""
    values = {c.name: [get(model, p.key, plan.primary_metric, None) for p in c.points] for c in plan.conditions}
    summary = family_summary(values, {c.name: c.family for c in plan.conditions})
    return {f: json_number(v) for f, v in summary.items()}  # type: ignore[arg-type]


def _per_class(plan: TestPlan, evaluation: Evaluation, model: str, rep_get: Lookup | None = None) -> list[ClassResult]:
    clean = evaluation.units[(model, CLEAN)].per_class
    corrupted = [p.key for p in plan.points if p.key != CLEAN]
    class_rows = metrics_for(plan.spec.task, scopes=("class",))
    key = class_rows[0].name if class_rows else plan.primary_metric
    out = []
    for class_id, name in plan.dataset.classes.items():
        metrics = {k: json_number(v) for k, v in clean.get(class_id, {}).items()}
        under = [evaluation.units[(model, p)].per_class.get(class_id, {}).get(key) for p in corrupted]
        under = [u for u in under if u is not None]
        base = metrics.get(key)
        drop = json_number(base - float(np.mean(under))) if base is not None and under else None
        drop_ci = _class_drop_interval(plan, model, key, class_id, corrupted, drop, rep_get)
        degrades = None if drop_ci is None or drop is None or base is None else bool(
            drop_ci[0] > 0 and drop >= MEANINGFUL_CLASS_DROP * abs(base))
        out.append(ClassResult(class_id=class_id, name=name, metrics=metrics, drop=drop, drop_ci=drop_ci,
                               degrades=degrades))
    return out


def _class_drop_interval(plan: TestPlan, model: str, key: str, class_id: int, corrupted: list[str],
                         drop: float | None, rep_get: Lookup | None) -> list[float] | None:
    """The interval of a class's drop (clean minus the mean over corrupted points), paired replicates."""
    if rep_get is None or drop is None or not corrupted:
        return None
    clean = np.asarray(rep_get(model, CLEAN, key, class_id), dtype=np.float64)
    stacked = np.stack([np.asarray(rep_get(model, p, key, class_id), dtype=np.float64) for p in corrupted])
    with warnings.catch_warnings():  # a resample without the class is NaN at every point: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        under = np.nanmean(stacked, axis=0)
    reps = clean - under
    if not np.isfinite(reps).any():
        return None
    ci = criterion_interval(plan, Criterion(metric=key, on="clean", at_least=0.0, confidence=PRODUCTION.confidence),
                            reps, drop)
    return [json_number(ci[0]), json_number(ci[1])] if ci else None  # type: ignore[list-item]


def _conditions(plan: TestPlan, evaluation: Evaluation, model: str, rep_get: Lookup | None = None) -> list[ConditionResult]:
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
                    ci=_point_interval(plan, model, p.key, plan.primary_metric, metrics.get(plan.primary_metric), rep_get),
                )
            )
    return out

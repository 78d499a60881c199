"""Criteria: a criterion's measured value, its verdict, its drop floor and margin; models → GO / NO-GO / INCONCLUSIVE.

Threshold semantics, in one place and used everywhere:
- ``at_least t``: value ≥ t;  ``at_most t``: value ≤ t;
- ``max_drop t``: drop = (clean − on) / clean ≤ t, for a metric where higher is better
  ((on − clean) / clean where lower is better), ``on`` averaged over the condition's points;
- ``max_drop_vs_baseline t``: drop = (baseline − model) / baseline ≤ t on the same scope (mirrored
  where lower is better); both drops are fractions, so 0.05 means 5 %, and the metric's floor is
  reference · (1 − t) (reference · (1 + t) where lower is better).
A criterion's value is computed by one function of metric look-ups; looking up point estimates
gives the value, looking up bootstrap replicates (arrays) gives its distribution — same code, and
the aggregates are the ones of ``fieldready.evaluation.metrics.robustness``.
With an interval, a criterion PASSES only when the whole interval lies strictly on the good side of
the threshold and FAILS only when it lies strictly on the bad side; an interval that reaches the
threshold is inconclusive (a discrete figure such as 180/200 = 0.900 sits exactly on a threshold
often, and counting that as a PASS passed 4.7 % of models at the line instead of ≤ 2.5 %).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fieldready.evaluation.metrics.bootstrap import interval
from fieldready.evaluation.metrics.registry import MetricDef, get_metric, lookup
from fieldready.evaluation.metrics.robustness import AggregateInputs, Profile, Value, mean, ratio
from fieldready.judge.results import CriterionResult, json_number
from fieldready.plan import CLEAN, REPEAT, ConditionEntry, TestPlan
from fieldready.spec.models import Criterion, SeverityScope

__all__ = [
    "Lookup",
    "criterion_id",
    "describe",
    "scope_label",
    "scope_points",
    "criterion_value",
    "criterion_interval",
    "proportion_trials",
    "sample_count",
    "drop_reference",
    "drop_floor",
    "margin",
    "judge",
    "model_verdict",
    "severity_note",
]

# (model, point key, metric name, class id or None) → value (float) or replicates (array)
Lookup = Callable[[str, str, str, int | None], Value]


def criterion_id(index: int, criterion: Criterion) -> str:
    """The criterion's id from the spec, else ``c<n>`` by position (1-based)."""
    return criterion.id or f"c{index + 1}"


def _row(task: str, criterion: Criterion) -> MetricDef:
    row = lookup(task, criterion.metric)
    if row is None:  # the spec checks refuse it first; this names it for API callers
        raise KeyError(f"criterion metric {criterion.metric!r} is not a {task} metric")
    return row


def describe(criterion: Criterion, task: str = "detection") -> str:
    """A one-line human reading of a criterion."""
    if criterion.description:
        return criterion.description
    what = criterion.metric + (f"[{criterion.class_}]" if criterion.class_ else "")
    row = lookup(task, criterion.metric)
    aggregate = row is not None and row.scope == "aggregate"
    if aggregate and criterion.on in ("clean", "all"):
        scope = " under the production mix" if row.production_mix else " over all conditions"  # type: ignore[union-attr]
    elif row is not None and row.scope == "repeatability":
        scope = " on the repeated captures"
    else:
        scope = " over all conditions" if criterion.on == "all" else f" on {criterion.on}"
    if criterion.severities is not None:
        s = criterion.severities
        lo = s.min if s.min is not None else "…"
        hi = s.max if s.max is not None else "…"
        scope += f" (levels {s.levels})" if s.levels else f" (severity {lo}–{hi})"
    words = threshold_words(criterion.kind, criterion.threshold)
    if criterion.kind == "max_drop":
        return f"{what}{scope}: {words} vs clean"
    return f"{what}{scope} {words}"


#: One way to write each kind of threshold, everywhere (descriptions, tables, sentences, the CLI).
_THRESHOLD_WORDS = {"at_least": "≥ {v}", "at_most": "≤ {v}", "max_drop": "drop ≤ {p}",
                    "max_drop_vs_baseline": "≤ {p} below the baseline"}


def threshold_words(kind: str, threshold: float) -> str:
    """A threshold as text: absolute ones with three decimals ('≥ 0.550'), drops as percentages ('drop ≤ 10 %').

    >>> threshold_words("max_drop", 0.1), threshold_words("at_least", 0.55)
    ('drop ≤ 10 %', '≥ 0.550')
    """
    value = "—" if threshold != threshold else (f"{threshold:.0f}" if abs(threshold) >= 100 else f"{threshold:.3f}")
    return _THRESHOLD_WORDS[kind].format(v=value, p=f"{round(threshold * 100, 2):g} %")


def scope_label(criterion: Criterion, task: str) -> str:
    """Where a criterion is measured, in words: clean, a condition, all conditions or the production mix."""
    row = lookup(task, criterion.metric)
    if row is not None and row.scope == "aggregate" and criterion.on in ("clean", "all"):
        label = "production mix" if row.production_mix else "all conditions"
    elif row is not None and row.scope == "repeatability":
        label = "repeated captures"
    else:
        label = "all conditions" if criterion.on == "all" else criterion.on
    return label + (f" / class {criterion.class_}" if criterion.class_ else "")


def scope_points(plan: TestPlan, criterion: Criterion) -> list[str]:
    """The point keys a criterion averages over: its condition's points (filtered), or all corrupted points.

    A repeatability metric is measured once per model, on the repeated captures (``REPEAT``).
    """
    row = lookup(plan.spec.task, criterion.metric)
    if row is not None and row.scope == "repeatability":
        return [REPEAT]
    if criterion.on == "clean":
        return [CLEAN]
    conditions = plan.conditions if criterion.on == "all" else [c for c in plan.conditions if c.name == criterion.on]
    points = [p for c in conditions for p in c.points]
    s = criterion.severities
    if s is not None:
        points = [
            p
            for p in points
            if (s.levels is None or p.level in s.levels)
            and (s.min is None or (p.severity is not None and p.severity >= s.min))
            and (s.max is None or (p.severity is not None and p.severity <= s.max))
        ]
    return [p.key for p in points]


def _drop(reference: Value, value: Value, higher_is_better: bool) -> Value:
    delta = (reference - value) if higher_is_better else (value - reference)
    return ratio(delta, reference)


def criterion_value(plan: TestPlan, criterion: Criterion, model: str, get: Lookup) -> Value:
    """The measured value the criterion's threshold is compared with (a drop for the drop kinds)."""
    row = _row(plan.spec.task, criterion)
    if row.scope == "aggregate":
        value = _aggregate(plan, row, criterion, model, get)
        if criterion.kind == "max_drop_vs_baseline":
            return _drop(_aggregate(plan, row, criterion, plan.spec.baseline, get), value, row.higher_is_better)  # type: ignore[arg-type]
        return value
    class_id = _class_id(plan, criterion.class_)
    value = mean([get(model, p, criterion.metric, class_id) for p in scope_points(plan, criterion)])
    reference = drop_reference(plan, criterion, model, get)
    return value if reference is None else _drop(reference, value, row.higher_is_better)


def drop_reference(plan: TestPlan, criterion: Criterion, model: str, get: Lookup) -> Value | None:
    """What a drop criterion's drop is measured against: the model's clean value (``max_drop``), or the
    baseline on the same scope (``max_drop_vs_baseline``); None for ``at_least``/``at_most``."""
    if criterion.kind not in ("max_drop", "max_drop_vs_baseline"):
        return None
    row = _row(plan.spec.task, criterion)
    if row.scope == "aggregate":
        return _aggregate(plan, row, criterion, plan.spec.baseline, get) if criterion.kind == "max_drop_vs_baseline" else None  # type: ignore[arg-type]
    class_id = _class_id(plan, criterion.class_)
    if criterion.kind == "max_drop":
        return get(model, CLEAN, criterion.metric, class_id)
    return mean([get(plan.spec.baseline, p, criterion.metric, class_id) for p in scope_points(plan, criterion)])  # type: ignore[arg-type]


def drop_floor(reference: float | None, threshold: float, *, higher_is_better: bool) -> float | None:
    """The metric's value at which a drop of ``threshold`` (a fraction) from ``reference`` is reached.

    ``reference · (1 − t)`` where higher is better, ``reference · (1 + t)`` where lower is better: a
    drop is relative, so a 10 % drop from 0.8 is a floor of 0.72, not 0.7.

    >>> drop_floor(0.8, 0.1, higher_is_better=True)
    0.72
    """
    if reference is None or not np.isfinite(reference):
        return None
    return float(reference * (1.0 - threshold) if higher_is_better else reference * (1.0 + threshold))


def margin(kind: str, value: float | None, threshold: float) -> float | None:
    """How far ``value`` is from ``threshold`` on its passing side (negative when it fails)."""
    if value is None:
        return None
    return value - threshold if kind == "at_least" else threshold - value


def _profile(plan: TestPlan, conditions: list[ConditionEntry], model: str, get: Lookup) -> Profile:
    primary = plan.primary_metric
    return Profile(
        clean=get(model, CLEAN, primary, None),
        conditions={c.name: [get(model, p.key, primary, None) for p in c.points] for c in conditions},
    )


def _aggregate(plan: TestPlan, row: MetricDef, criterion: Criterion, model: str, get: Lookup) -> Value:
    """An aggregate metric (mPC, rPC, mCE, …) of ``model`` over the criterion's conditions, by its registry row."""
    on = plan.conditions if criterion.on in ("all", "clean") else [c for c in plan.conditions if c.name == criterion.on]
    base = plan.spec.baseline
    inputs = AggregateInputs(
        model=_profile(plan, on, model, get),
        production=_profile(plan, plan.conditions, model, get),
        frequencies={c.name: c.frequency for c in plan.conditions},
        higher_is_better=get_metric(plan.primary_metric).higher_is_better,
        baseline=_profile(plan, on, base, get) if base is not None and row.needs_baseline else None,
    )
    return row.aggregate(inputs)  # type: ignore[misc]


def _class_id(plan: TestPlan, name: str | None) -> int | None:
    if name is None:
        return None
    return next(i for i, n in plan.dataset.classes.items() if n == name)


def proportion_trials(plan: TestPlan, criterion: Criterion) -> int | None:
    """The number of images (for detection: ground-truth objects) a criterion's value is a rate over (its
    interval is never narrower than Clopper–Pearson's), or None when the value is not a plain rate (AP,
    drops, aggregates)."""
    row = lookup(plan.spec.task, criterion.metric)
    if criterion.kind not in ("at_least", "at_most") or row is None or not row.rate:
        return None
    if row.scope == "repeatability":  # a share of groups or of video transitions, not of images
        return plan.captures.sample_size(row.name)[1] if plan.captures is not None else None
    if plan.spec.task == "detection":  # a detection rate (recall, miss rate) is a share of non-crowd objects
        class_id = _class_id(plan, criterion.class_)
        objects = 0
        for t in plan.dataset.targets.values():
            real = ~np.asarray(t.iscrowd, dtype=bool)
            objects += int(np.count_nonzero(real if class_id is None else real & (np.asarray(t.labels) == class_id)))
        return objects or None
    if criterion.class_ is None:
        return len(plan.dataset.records) or None
    class_id = _class_id(plan, criterion.class_)
    return sum(1 for r in plan.dataset.records if r.label == class_id) or None


def criterion_interval(
    plan: TestPlan, criterion: Criterion, replicates: np.ndarray, value: float | None
) -> tuple[float, float] | None:
    """The interval a criterion is judged with: ``bootstrap.interval`` at the criterion's confidence,
    calibrated for the plan's number of images and, for a rate, bounded by Clopper–Pearson."""
    if value is None or not np.isfinite(value):
        return None
    return interval(
        replicates,
        confidence=criterion.confidence,
        estimate=value,
        n=sample_count(plan, criterion),
        trials=proportion_trials(plan, criterion),
    )


def sample_count(plan: TestPlan, criterion: Criterion) -> int | None:
    """The number of independent units the bootstrap resampled for a criterion: images, or for a
    repeatability metric its groups (videos for the flip rate)."""
    row = lookup(plan.spec.task, criterion.metric)
    if row is not None and row.scope == "repeatability":
        return (plan.captures.sample_size(row.name)[0] or None) if plan.captures is not None else None
    return len(plan.dataset.records) or None


def judge(value: float | None, criterion: Criterion, ci: tuple[float, float] | None = None) -> bool | None:
    """Pass (True), fail (False) or inconclusive (None).

    With an interval, PASS needs it strictly on the good side of the threshold and FAIL strictly on
    the bad side; an end within 1e-9 (relative) of the threshold counts as touching it, so float
    noise in a ratio of counts cannot decide. Without one, the value is compared as written
    (``at_least t``: value ≥ t passes).
    """
    if value is None or not np.isfinite(value):
        return None
    t = criterion.threshold
    higher = criterion.kind == "at_least"  # at_most and both drops: smaller is better
    if ci is None:
        return bool(value >= t) if higher else bool(value <= t)
    lo, hi = ci
    tol = 1e-9 * max(1.0, abs(t))
    if higher:
        return True if lo > t + tol else (False if hi < t - tol else None)
    return True if hi < t - tol else (False if lo > t + tol else None)


def model_verdict(criteria: list[CriterionResult]) -> str:
    """GO when every blocking criterion passes, NO-GO when one fails, INCONCLUSIVE otherwise.

    Criteria that do not apply (the baseline compared with itself) take no part.
    """
    blocking = [c for c in criteria if c.blocking and c.applies]
    if any(c.passed is False for c in blocking):
        return "NO-GO"
    if all(c.passed is True for c in blocking):
        return "GO"
    return "INCONCLUSIVE"


def severity_note(plan: TestPlan, criterion: Criterion, model: str, get: Lookup) -> str:
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
        value = json_number(criterion_value(plan, alone, model, get))  # type: ignore[arg-type]
        (passing if judge(value, alone) else failing).append(point.label)
    if not failing:
        return f"each severity passes on its own ({', '.join(passing)}); only their combination is borderline"
    return f"fails at {', '.join(failing)}" + (f" (passes at {', '.join(passing)})" if passing else " (every severity)")

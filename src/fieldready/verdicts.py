"""Judge: criteria → pass / fail / inconclusive per model; models → GO / NO-GO / INCONCLUSIVE; ranking.

Threshold semantics, in one place and used everywhere:
- ``at_least t``: value ≥ t;  ``at_most t``: value ≤ t;
- ``max_drop t``: drop = (clean − on) / clean ≤ t, for a metric where higher is better
  ((on − clean) / clean where lower is better), ``on`` averaged over the condition's points;
- ``max_drop_vs_baseline t``: drop = (baseline − model) / baseline ≤ t on the same scope (mirrored
  where lower is better); both drops are fractions, so 0.05 means 5 %.
A criterion's value is computed by one function of metric look-ups; looking up point estimates
gives the value, looking up bootstrap replicates (arrays) gives its distribution — same code.
With an interval, a criterion PASSES only when the whole interval lies strictly on the good side of
the threshold and FAILS only when it lies strictly on the bad side; an interval that reaches the
threshold is inconclusive (a discrete figure such as 180/200 = 0.900 sits exactly on a threshold
often, and counting that as a PASS passed 4.7 % of models at the line instead of ≤ 2.5 %).
"""

from __future__ import annotations

from collections.abc import Callable
import numpy as np

from fieldready.metrics import robustness
from fieldready.metrics.bootstrap import interval
from fieldready.plan import CLEAN, TestPlan
from fieldready.results import CriterionResult
from fieldready.spec.metric_names import lookup
from fieldready.spec.models import Criterion

__all__ = [
    "Lookup",
    "criterion_id",
    "describe",
    "scope_label",
    "criterion_value",
    "criterion_interval",
    "proportion_trials",
    "judge",
    "model_verdict",
    "scope_points",
]

Value = float | np.ndarray
# (model, point key, metric name, class id or None) → value (float) or replicates (array)
Lookup = Callable[[str, str, str, int | None], Value]


def criterion_id(index: int, criterion: Criterion) -> str:
    """The criterion's id from the spec, else ``c<n>`` by position (1-based)."""
    return criterion.id or f"c{index + 1}"


def describe(criterion: Criterion, task: str = "detection") -> str:
    """A one-line human reading of a criterion."""
    if criterion.description:
        return criterion.description
    what = criterion.metric + (f"[{criterion.class_}]" if criterion.class_ else "")
    meta = lookup(task, criterion.metric)
    aggregate = meta is not None and meta.scope == "aggregate"
    if aggregate and criterion.on in ("clean", "all"):
        scope = " over all conditions" if criterion.metric != "production_score" else " under the production mix"
    else:
        scope = " over all conditions" if criterion.on == "all" else f" on {criterion.on}"
    if criterion.severities is not None:
        s = criterion.severities
        lo = s.min if s.min is not None else "…"
        hi = s.max if s.max is not None else "…"
        scope += f" (levels {s.levels})" if s.levels else f" (severity {lo}–{hi})"
    t = criterion.threshold
    return {
        "at_least": f"{what}{scope} ≥ {t:g}",
        "at_most": f"{what}{scope} ≤ {t:g}",
        "max_drop": f"drop of {what}{scope} vs clean ≤ {t:.0%}",
        "max_drop_vs_baseline": f"{what}{scope} at most {t:.0%} below the baseline",
    }[criterion.kind]


def scope_label(criterion: Criterion, task: str) -> str:
    """Where a criterion is measured, in words: clean, a condition, all conditions or the production mix."""
    meta = lookup(task, criterion.metric)
    if meta is not None and meta.scope == "aggregate" and criterion.on in ("clean", "all"):
        label = "production mix" if criterion.metric == "production_score" else "all conditions"
    else:
        label = "all conditions" if criterion.on == "all" else criterion.on
    return label + (f" / class {criterion.class_}" if criterion.class_ else "")


def scope_points(plan: TestPlan, criterion: Criterion) -> list[str]:
    """The point keys a criterion averages over: its condition's points (filtered), or all corrupted points."""
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


def _mean(values: list[Value]) -> Value:
    return sum(values[1:], values[0]) / len(values)


def _ratio(num: Value, den: Value) -> Value:
    """num / den for floats or replicate arrays; a zero denominator gives NaN (undecidable), not an error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(num, den)
    out = np.where(np.isfinite(out), out, np.nan)
    return out if isinstance(num, np.ndarray) or isinstance(den, np.ndarray) else float(out)


def _drop(reference: Value, value: Value, higher_is_better: bool) -> Value:
    delta = (reference - value) if higher_is_better else (value - reference)
    return _ratio(delta, reference)


def criterion_value(plan: TestPlan, criterion: Criterion, model: str, get: Lookup) -> Value:
    """The measured value the criterion's threshold is compared with (a drop for the drop kinds)."""
    task = plan.spec.task
    meta = lookup(task, criterion.metric)
    assert meta is not None  # the spec checks guarantee it
    class_id = _class_id(plan, criterion.class_)

    def at(m: str, points: list[str], name: str) -> Value:
        return _mean([get(m, p, name, class_id) for p in points])

    if meta.scope == "aggregate":
        value = _aggregate(plan, criterion, model, get)
        if criterion.kind == "max_drop_vs_baseline":
            return _drop(_aggregate(plan, criterion, plan.spec.baseline, get), value, meta.higher_is_better)
        return value
    name = "ap" if meta.scope == "class" and task == "detection" else criterion.metric
    name = "accuracy" if meta.scope == "class" and task == "classification" else name
    points = scope_points(plan, criterion)
    value = at(model, points, name)
    if criterion.kind == "max_drop":
        return _drop(at(model, [CLEAN], name), value, meta.higher_is_better)
    if criterion.kind == "max_drop_vs_baseline":
        return _drop(at(plan.spec.baseline, points, name), value, meta.higher_is_better)
    return value


def _aggregate(plan: TestPlan, criterion: Criterion, model: str, get: Lookup) -> Value:
    """mPC, rPC, mCE, relative mCE or production score of ``model`` over the criterion's conditions."""
    primary = plan.primary_metric
    higher = lookup(plan.spec.task, primary).higher_is_better  # type: ignore[union-attr]
    clean = get(model, CLEAN, primary, None)
    if criterion.metric == "production_score":  # always the whole declared mix
        means = {c.name: _mean([get(model, p.key, primary, None) for p in c.points]) for c in plan.conditions}
        return robustness.production_score(clean, means, {c.name: c.frequency for c in plan.conditions})
    conditions = plan.conditions if criterion.on in ("all", "clean") else [c for c in plan.conditions if c.name == criterion.on]
    per_condition = {c.name: _mean([get(model, p.key, primary, None) for p in c.points]) for c in conditions}
    mpc = _mean(list(per_condition.values()))
    if criterion.metric == "mpc":
        return mpc
    if criterion.metric == "rpc":
        return _ratio(mpc, clean)
    # mCE family: errors E = 1 − metric (or the metric itself when lower is better), normalised by the baseline.
    base = plan.spec.baseline

    def err(m: str, key: str) -> Value:
        v = get(m, key, primary, None)
        return (1.0 - v) if higher else v

    ces = []
    for c in conditions:
        keys = [p.key for p in c.points]
        e_model = [err(model, k) for k in keys]
        e_base = [err(base, k) for k in keys]
        if criterion.metric == "relative_mce":
            e_model = [e - err(model, CLEAN) for e in e_model]
            e_base = [e - err(base, CLEAN) for e in e_base]
        ces.append(_ratio(sum(e_model[1:], e_model[0]), sum(e_base[1:], e_base[0])))
    return _mean(ces)


def _class_id(plan: TestPlan, name: str | None) -> int | None:
    if name is None:
        return None
    return next(i for i, n in plan.dataset.classes.items() if n == name)


#: The metrics that are a rate over images (per-class accuracy: over the class's images).
_RATES = {"classification": frozenset({"top1", "top5", "error", "flip_rate", "accuracy"})}


def proportion_trials(plan: TestPlan, criterion: Criterion) -> int | None:
    """The number of images a criterion's value is a rate over (its interval is never narrower than
    Clopper–Pearson's), or None when the value is not a plain rate (AP, drops, aggregates)."""
    if criterion.kind not in ("at_least", "at_most") or criterion.metric not in _RATES.get(plan.spec.task, ()):
        return None
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
        n=len(plan.dataset.records) or None,
        trials=proportion_trials(plan, criterion),
    )


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
    """GO when every blocking criterion passes, NO-GO when one fails, INCONCLUSIVE otherwise."""
    blocking = [c for c in criteria if c.blocking]
    if any(c.passed is False for c in blocking):
        return "NO-GO"
    if all(c.passed is True for c in blocking):
        return "GO"
    return "INCONCLUSIVE"


"""A model's repeatability for results.json: figures with intervals, synthetic stability beside them, groups that disagreed.

The intervals are the criteria's (``criterion_interval`` at 95 %): a bootstrap over groups (videos
for the flip rate), widened for their number and, for a share, never narrower than Clopper–Pearson.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from fieldready.evaluation.evaluate import Evaluation
from fieldready.evaluation.metrics.registry import metrics_for
from fieldready.evaluation.metrics.repeatability import REPEAT_METRICS
from fieldready.evaluation.repeat import GroupAnswers, score_threshold
from fieldready.judge.criteria import Lookup, criterion_interval
from fieldready.judge.results import RepeatabilityResult, RepeatCapture, RepeatFigure, RepeatGroup, json_number
from fieldready.plan import CLEAN, REPEAT, TestPlan
from fieldready.spec.models import Criterion

__all__ = ["repeatability_result", "shown_captures", "MAX_SHOWN"]

#: Captures shown per disagreeing group in the report's gallery.
MAX_SHOWN = 6


def shown_captures(answers: list[str], limit: int = MAX_SHOWN) -> list[int]:
    """Positions of the captures to show: those whose answer differs from the most common first, in capture order.

    >>> shown_captures(["a", "a", "b", "a"], limit=2)
    [0, 2]
    """
    common = Counter(answers).most_common(1)[0][0] if answers else None
    odd = [i for i, a in enumerate(answers) if a != common]
    usual = [i for i, a in enumerate(answers) if a == common]
    return sorted(odd[: limit - 1] + usual[: max(1, limit - len(odd[: limit - 1]))])[:limit]


#: The confidence of the repeatability figures' intervals shown in the report (criteria use their own).
SHOWN_CONFIDENCE = 0.95


def _group(g: GroupAnswers, stem: str) -> RepeatGroup:
    shown = shown_captures(g.answers)
    return RepeatGroup(
        name=g.group.name,
        kind=g.group.kind,
        captures=len(g.group.captures),
        agreeing_pairs=g.counts.agreeing_pairs,
        pairs=g.counts.pairs,
        flips=g.counts.flips,
        transitions=g.counts.transitions,
        shown=[RepeatCapture(image_id=g.group.captures[i].image_id, name=g.group.captures[i].name, answer=g.answers[i],
                             png=f"{stem}-{i}.png") for i in shown],
    )


def repeatability_result(plan: TestPlan, evaluation: Evaluation, model: str, rep_get: Lookup | None) -> RepeatabilityResult | None:
    """The model's ``RepeatabilityResult``, or None when the spec declares no repeated captures."""
    r = evaluation.repeat.get(model)
    if r is None or plan.captures is None:
        return None
    figures = {}
    for metric in REPEAT_METRICS:
        value = json_number(r.unit.value(metric))
        ci = None
        if rep_get is not None and value is not None:
            reps = np.asarray(rep_get(model, REPEAT, metric, None), dtype=np.float64)
            ci = criterion_interval(plan, Criterion(metric=metric, at_least=0.0, confidence=SHOWN_CONFIDENCE), reps, value)
        figures[metric] = RepeatFigure(value=value, ci=list(ci) if ci else None, confidence=SHOWN_CONFIDENCE,
                                       n=plan.captures.sample_size(metric)[0])
    synthetic = {}
    for row in metrics_for(plan.spec.task, scopes=("stability",)):
        values = [evaluation.units[(model, p.key)].metrics.get(row.name) for p in plan.points if p.key != CLEAN]
        finite = [v for v in values if v is not None and np.isfinite(v)]
        if finite:
            synthetic[row.name] = json_number(float(np.mean(finite)))
    index = [m.name for m in plan.models].index(model)
    disagreeing = [
        _group(g, f"gallery/repeat-{index}-{i}")
        for i, g in enumerate(r.groups)
        if (g.counts.flips if g.group.kind == "video" else not g.counts.repeatable)
    ]
    names = plan.dataset.classes
    op = evaluation.operating_points.get(model)
    if plan.spec.task != "detection":
        threshold = "top-1 class"
    elif op is not None and op.single is not None:
        threshold = f"detections with score ≥ {op.single:.3g} (the model's operating point)"
    elif op is not None:
        per_class = ", ".join(f"{names.get(c, c)} {t:.3g}" for c, t in sorted(op.thresholds.items()))
        threshold = f"detections above the model's operating point ({per_class})"
    else:
        t = score_threshold(next(m for m in plan.models if m.name == model).spec, dict(names))
        threshold = (f"detections with score ≥ {t:g}" if isinstance(t, float)
                     else "detections above " + ", ".join(f"{names.get(c, c)} {v:g}" for c, v in sorted(t.items())))
    return RepeatabilityResult(
        groups=len(plan.captures.of_kind("group")),
        videos=len(plan.captures.of_kind("video")),
        captures=len(plan.captures.captures),
        figures=figures,
        synthetic=synthetic,
        threshold=threshold,
        disagreeing=disagreeing,
    )

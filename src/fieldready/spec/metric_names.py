"""The metric names a criterion may use, per task, and how each is scoped.

A *unit* metric is measured on one severity point (and averaged over a condition's points); a
*class* metric needs ``class:``; an *aggregate* is computed across conditions; a *stability*
metric compares a condition with the model's own clean predictions. Labels here are short, for
tables; the direction (higher is better, which decides what a drop means) is read from
``fieldready.evaluate.metrics.METRICS``, the one place that defines it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fieldready.evaluate.metrics import METRICS as METRIC_INFO

__all__ = ["MetricName", "METRICS", "metric_names", "lookup", "PRIMARY", "RATIOS", "threshold_problem", "unknown_metric"]


@dataclass(frozen=True)
class MetricName:
    """A metric as criteria see it."""

    name: str
    scope: str  # unit | class | aggregate | stability
    higher_is_better: bool
    description: str


# name → (scope, short label for tables); the direction comes from the metrics package.
_AGGREGATE = {
    "mpc": ("aggregate", "mean performance under corruption"),
    "rpc": ("aggregate", "relative performance under corruption (mPC / clean)"),
    "mce": ("aggregate", "mean corruption error normalised by the baseline"),
    "relative_mce": ("aggregate", "relative mCE (E − E_clean) normalised by the baseline"),
    "production_score": ("aggregate", "frequency-weighted metric under the production mix"),
}
_SCOPES = {
    "detection": {
        "map": ("unit", "COCO AP@[.5:.95]"),
        "ap50": ("unit", "COCO AP at IoU 0.5"),
        "ap75": ("unit", "COCO AP at IoU 0.75"),
        "ap_small": ("unit", "COCO AP, small objects"),
        "ap_medium": ("unit", "COCO AP, medium objects"),
        "ap_large": ("unit", "COCO AP, large objects"),
        "ar1": ("unit", "COCO AR, 1 detection per image"),
        "ar10": ("unit", "COCO AR, 10 detections per image"),
        "ar100": ("unit", "COCO AR, 100 detections per image"),
        "ap": ("class", "per-class AP@[.5:.95]"),
        "consistency": ("stability", "AP against the model's own clean detections"),
        **_AGGREGATE,
    },
    "classification": {
        "top1": ("unit", "top-1 accuracy"),
        "top5": ("unit", "top-5 accuracy"),
        "error": ("unit", "top-1 error"),
        "ece": ("unit", "expected calibration error"),
        "accuracy": ("class", "per-class top-1 accuracy"),
        "flip_rate": ("stability", "share of images whose top-1 changes vs clean"),
        **_AGGREGATE,
    },
}

METRICS: dict[str, dict[str, MetricName]] = {
    task: {
        name: MetricName(name, scope, METRIC_INFO[name].higher_is_better, label)
        for name, (scope, label) in scopes.items()
    }
    for task, scopes in _SCOPES.items()
}
PRIMARY = {"detection": "map", "classification": "top1"}


def metric_names(task: str) -> list[str]:
    """The criterion metric names of ``task``."""
    return list(METRICS[task])


def lookup(task: str, name: str) -> MetricName | None:
    """The metric ``name`` of ``task``, or None."""
    return METRICS[task].get(name)


#: Criterion metrics that are ratios and may exceed 1 (mPC / clean, errors normalised by the
#: baseline); every other criterion metric is a fraction in [0, 1].
RATIOS = frozenset({"rpc", "mce", "relative_mce"})


def threshold_problem(metric: str, kind: str, value: float) -> str | None:
    """Why an ``at_least``/``at_most`` threshold cannot mean what it says (a percentage for a fraction), or None."""
    if kind not in ("at_least", "at_most") or metric in RATIOS or 0.0 <= value <= 1.0:
        return None
    hint = f"; write {value / 100:g} for {value:g} %" if 1.0 < value <= 100.0 else ""
    return f"'{metric}' is a fraction in [0, 1], got {kind}: {value:g}{hint}"


def unknown_metric(task: str, name: str) -> str:
    """The message for a metric ``task`` lacks: the other task's metric named as such, else a did-you-mean."""
    known = list(METRICS[task])
    owner = next((t for t in METRICS if t != task and name in METRICS[t]), None)
    if owner is not None:
        return f"'{name}' is a {owner} metric; this spec's task is {task} ({task} metrics: {', '.join(known)})"
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {task} metric {name!r}; {hint}known: {', '.join(known)}"

"""The metric names a criterion may use, per task, and how each is scoped.

A *unit* metric is measured on one severity point (and averaged over a condition's points); a
*class* metric needs ``class:``; an *aggregate* is computed across conditions. The direction
(higher is better) decides what a drop means.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricName", "METRICS", "metric_names", "lookup", "PRIMARY"]


@dataclass(frozen=True)
class MetricName:
    """A metric as criteria see it."""

    name: str
    scope: str  # unit | class | aggregate | stability
    higher_is_better: bool
    description: str


_DETECTION = [
    MetricName("map", "unit", True, "COCO AP@[.5:.95]"),
    MetricName("ap50", "unit", True, "COCO AP at IoU 0.5"),
    MetricName("ap75", "unit", True, "COCO AP at IoU 0.75"),
    MetricName("ap_small", "unit", True, "COCO AP, small objects"),
    MetricName("ap_medium", "unit", True, "COCO AP, medium objects"),
    MetricName("ap_large", "unit", True, "COCO AP, large objects"),
    MetricName("ar1", "unit", True, "COCO AR, 1 detection per image"),
    MetricName("ar10", "unit", True, "COCO AR, 10 detections per image"),
    MetricName("ar100", "unit", True, "COCO AR, 100 detections per image"),
    MetricName("ap", "class", True, "per-class AP@[.5:.95]"),
    MetricName("consistency", "stability", True, "AP against the model's own clean detections"),
]
_CLASSIFICATION = [
    MetricName("top1", "unit", True, "top-1 accuracy"),
    MetricName("top5", "unit", True, "top-5 accuracy"),
    MetricName("error", "unit", False, "top-1 error"),
    MetricName("ece", "unit", False, "expected calibration error"),
    MetricName("accuracy", "class", True, "per-class top-1 accuracy"),
    MetricName("flip_rate", "stability", False, "share of images whose top-1 changes vs clean"),
]
_AGGREGATE = [
    MetricName("mpc", "aggregate", True, "mean performance under corruption"),
    MetricName("rpc", "aggregate", True, "relative performance under corruption (mPC / clean)"),
    MetricName("mce", "aggregate", False, "mean corruption error normalised by the baseline"),
    MetricName("relative_mce", "aggregate", False, "relative mCE (E − E_clean) normalised by the baseline"),
    MetricName("production_score", "aggregate", True, "frequency-weighted metric under the production mix"),
]

METRICS: dict[str, dict[str, MetricName]] = {
    "detection": {m.name: m for m in _DETECTION + _AGGREGATE},
    "classification": {m.name: m for m in _CLASSIFICATION + _AGGREGATE},
}
PRIMARY = {"detection": "map", "classification": "top1"}


def metric_names(task: str) -> list[str]:
    """The criterion metric names of ``task``."""
    return list(METRICS[task])


def lookup(task: str, name: str) -> MetricName | None:
    """The metric ``name`` of ``task``, or None."""
    return METRICS[task].get(name)

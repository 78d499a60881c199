"""Metrics: COCO detection and classification point metrics, robustness aggregates, stability, bootstrap.

Every metric is a pure function over NumPy arrays; ``METRICS`` maps each metric name to its
description and direction (``higher_is_better``) so verdicts can read thresholds correctly.
"""

from __future__ import annotations

from fieldready.evaluate.metrics import classification, detection, robustness, stability
from fieldready.evaluate.metrics.bootstrap import interval, paired_difference, paired_ratio, resample_indices
from fieldready.evaluate.metrics.classification import ClassificationEval, classification_replicates, evaluate_classification
from fieldready.evaluate.metrics.confusion import DetectionConfusion, detection_confusion
from fieldready.evaluate.metrics.detection import DetectionEval, evaluate_detection
from fieldready.evaluate.metrics.failures import change_score, change_scores, classification_change_scores
from fieldready.evaluate.metrics.info import MetricInfo, json_number
from fieldready.evaluate.metrics.robustness import (
    ALEXNET_ERRORS,
    corruption_error,
    family_summary,
    mce,
    mean_performance,
    production_score,
    relative_corruption_error,
    relative_mce,
    relative_performance,
)
from fieldready.evaluate.metrics.significance import McNemarResult, mcnemar_exact
from fieldready.evaluate.metrics.stability import consistency_ap, consistency_eval, flip_probability, flip_rate

__all__ = [
    "METRICS",
    "MetricInfo",
    "json_number",
    "higher_is_better",
    "DetectionEval",
    "evaluate_detection",
    "ClassificationEval",
    "evaluate_classification",
    "ALEXNET_ERRORS",
    "mean_performance",
    "relative_performance",
    "corruption_error",
    "relative_corruption_error",
    "mce",
    "relative_mce",
    "production_score",
    "family_summary",
    "resample_indices",
    "interval",
    "paired_difference",
    "paired_ratio",
    "classification_replicates",
    "DetectionConfusion",
    "detection_confusion",
    "change_score",
    "change_scores",
    "classification_change_scores",
    "McNemarResult",
    "mcnemar_exact",
    "flip_rate",
    "flip_probability",
    "consistency_eval",
    "consistency_ap",
]

#: Every metric name fieldready computes → (description, higher_is_better). Per-class detection
#: metrics ("ap", "ap50", "ar100") and per-class "accuracy" share this namespace.
METRICS: dict[str, MetricInfo] = {
    **detection.PER_CLASS_METRICS,
    **detection.METRICS,
    **classification.METRICS,
    **robustness.METRICS,
    **stability.METRICS,
}


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric``; raises ``KeyError`` listing the known names for an unknown one."""
    try:
        return METRICS[metric].higher_is_better
    except KeyError:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(METRICS)}") from None

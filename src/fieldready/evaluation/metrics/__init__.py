"""Metrics: the one metric registry and the pure metric math behind it.

``registry.py`` holds one row per metric (name, tasks, scope, direction, label, unit, and how its
value and bootstrap replicates are computed); importing this package registers the built-in rows
from ``detection`` (COCO AP family), ``operating_point`` (precision, recall, F1, miss rate and false
alarms at a detector's score threshold), ``classification``, ``stability`` (flip rate, consistency)
and ``robustness`` (mPC, rPC, mCE, relative mCE, production score). Every metric is a pure
function over NumPy arrays; nothing here imports torch or a fieldready stage, so the spec stage
reads the registry to validate criteria.
"""

from __future__ import annotations

# Registration order is the order of the metric tables: per-unit metrics, stability, then aggregates.
from fieldready.evaluation.metrics import classification, detection, operating_point, stability  # isort: skip
from fieldready.evaluation.metrics import robustness  # isort: skip
from fieldready.evaluation.metrics import repeatability  # isort: skip
from fieldready.evaluation.metrics.bootstrap import interval, paired_difference, paired_ratio, resample_indices
from fieldready.evaluation.metrics.classification import (
    ClassificationEval,
    ClassificationUnit,
    classification_replicates,
    evaluate_classification,
)
from fieldready.evaluation.metrics.confusion import DetectionConfusion, detection_confusion
from fieldready.evaluation.metrics.detection import DetectionEval, DetectionUnit, evaluate_detection
from fieldready.evaluation.metrics.failures import change_score, change_scores, classification_change_scores
from fieldready.evaluation.metrics.registry import (
    PRIMARY,
    MetricDef,
    Resampled,
    all_metrics,
    get_metric,
    higher_is_better,
    lookup,
    metrics_for,
    register_metric,
    unregister_metric,
)
from fieldready.evaluation.metrics.robustness import (
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
from fieldready.evaluation.metrics.significance import McNemarResult, mcnemar_exact
from fieldready.evaluation.metrics.stability import consistency_ap, consistency_eval, flip_probability, flip_rate

__all__ = [
    "MetricDef",
    "Resampled",
    "PRIMARY",
    "register_metric",
    "unregister_metric",
    "get_metric",
    "lookup",
    "metrics_for",
    "all_metrics",
    "higher_is_better",
    "classification",
    "detection",
    "operating_point",
    "robustness",
    "stability",
    "repeatability",
    "DetectionEval",
    "DetectionUnit",
    "evaluate_detection",
    "ClassificationEval",
    "ClassificationUnit",
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

"""Label-free stability: flip rate, detection consistency AP, ImageNet-P flip probability.

Each compares a model with itself (clean vs perturbed), so it needs no labels and also works on raw
production images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldready.data.types import ImageDetections
from fieldready.errors import DataError
from fieldready.evaluation.metrics.classification import ClassificationUnit
from fieldready.evaluation.metrics.coco_format import CocoSummary
from fieldready.evaluation.metrics.detection import DetectionUnit, consistency_eval
from fieldready.evaluation.metrics.registry import MetricDef, register_metric

__all__ = ["flip_rate", "flip_probability", "consistency_eval", "consistency_ap"]


def flip_rate(clean_top1: np.ndarray, top1: np.ndarray) -> float:
    """Share of images whose top-1 prediction differs from the same model's clean prediction.

    >>> flip_rate(np.array([0, 1, 2, 3]), np.array([0, 1, 0, 3]))
    0.25
    """
    a, b = np.asarray(clean_top1).ravel(), np.asarray(top1).ravel()
    if a.shape != b.shape or a.size == 0:
        raise DataError(f"flip rate needs clean and perturbed predictions of the same images, got {a.size} and {b.size}")
    return float(np.mean(a != b))


def flip_probability(predictions: np.ndarray, *, compare_to_first: bool = False) -> float:
    """ImageNet-P flip probability over ``predictions[m sequences, n frames]`` of top-1 classes.

    FP = 1/(m(n−1)) Σ_i Σ_{j=2..n} 1[f(x_j) ≠ f(x_{j−1})]; with ``compare_to_first`` (the variant for
    noise perturbations) each frame is compared with the first frame instead of the previous one.

    >>> flip_probability(np.array([[0, 1, 1], [2, 2, 2]]))
    0.25
    >>> flip_probability(np.array([[0, 1, 0]]), compare_to_first=True)
    0.5
    """
    p = np.asarray(predictions)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise DataError(f"flip probability needs predictions[m sequences, n >= 2 frames], got shape {p.shape}")
    reference = p[:, :1] if compare_to_first else p[:, :-1]
    return float(np.mean(p[:, 1:] != reference))


def consistency_ap(
    clean: Sequence[ImageDetections],
    corrupted: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    score_threshold: float = 0.5,
) -> float | None:
    """Consistency AP@[.5:.95] of corrupted vs clean detections (None when no clean box passes)."""
    return consistency_eval(clean, corrupted, category_ids=category_ids, score_threshold=score_threshold).stats["map"]


def _reference(unit: ClassificationUnit) -> np.ndarray:
    if unit.clean_top1 is None:
        raise DataError("flip_rate replicates need reference_top1, the model's clean top-1 predictions")
    return unit.clean_top1


def _flip_value(row: MetricDef, unit: ClassificationUnit, class_id: int | None) -> float:
    return flip_rate(_reference(unit), unit.predicted)


def _flip_replicates(row: MetricDef, unit: ClassificationUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    flipped = _reference(unit) != unit.predicted
    return flipped[idx].mean(axis=1)


def _consistency_value(row: MetricDef, unit: DetectionUnit, class_id: int | None) -> float | None:
    return unit.consistency.summary(row.params)


def _consistency_replicates(row: MetricDef, unit: DetectionUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return unit.consistency.replicates(idx, "map")


register_metric(MetricDef(
    name="flip_rate", tasks=("classification",), scope="stability", higher_is_better=False,
    label="share of images whose top-1 changes vs clean",
    description="share of images whose top-1 class differs from the model's own clean top-1",
    needs_labels=False, rate=True, value=_flip_value, replicates=_flip_replicates,
))
register_metric(MetricDef(
    name="consistency", tasks=("detection",), scope="stability", higher_is_better=True,
    label="AP against the model's own clean detections",
    description="AP of corrupted detections against the model's own clean detections",
    needs_labels=False, on_demand=True, at_clean=False, params=CocoSummary(True),
    value=_consistency_value, replicates=_consistency_replicates,
))

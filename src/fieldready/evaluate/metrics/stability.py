"""Label-free stability: flip rate, detection consistency AP, ImageNet-P flip probability.

Each compares a model with itself (clean vs perturbed), so it needs no labels and also works on raw
production images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluate.metrics.detection import DetectionEval, evaluate_detection
from fieldready.evaluate.metrics.info import MetricInfo

__all__ = ["METRICS", "flip_rate", "flip_probability", "consistency_eval", "consistency_ap"]

METRICS: dict[str, MetricInfo] = {
    "flip_rate": MetricInfo("share of images whose top-1 class differs from the model's own clean top-1", False),
    "flip_probability": MetricInfo("ImageNet-P flip probability over frame sequences", False),
    "consistency": MetricInfo("AP of corrupted detections against the model's own clean detections", True),
}


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


def consistency_eval(
    clean: Sequence[ImageDetections],
    corrupted: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    score_threshold: float = 0.5,
) -> DetectionEval:
    """COCO evaluation of corrupted detections against the same model's clean detections as ground truth.

    Clean detections with score ≥ ``score_threshold`` become pseudo ground truth (not crowd, area =
    box area); ``.stats["map"]`` is the consistency AP, and ``.replicates`` bootstraps it. Needs no
    labels. An image without clean detections above the threshold contributes only false positives.
    """
    pseudo = []
    for d in clean:
        keep = d.scores >= score_threshold
        boxes = d.boxes[keep]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        pseudo.append(ImageTargets(d.image_id, boxes, d.labels[keep], np.zeros(len(area), bool), area))
    known = {d.image_id for d in clean}
    missing = sorted({d.image_id for d in corrupted} - known)
    if missing:
        raise DataError(f"corrupted detections of images without clean detections (first: {missing[:5]})")
    return evaluate_detection(pseudo, list(corrupted), category_ids=category_ids)


def consistency_ap(
    clean: Sequence[ImageDetections],
    corrupted: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    score_threshold: float = 0.5,
) -> float | None:
    """Consistency AP@[.5:.95] of corrupted vs clean detections (None when no clean box passes)."""
    return consistency_eval(clean, corrupted, category_ids=category_ids, score_threshold=score_threshold).stats["map"]

"""Failure mining: how much a model's output changed on each image between clean and corrupted input.

Scores are label-free and comparable across images, so the report's gallery shows the images with
the highest change score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldready.data.types import ImageDetections
from fieldready.errors import DataError
from fieldready.evaluation.metrics.classification import softmax
from fieldready.evaluation.metrics.coco_format import xyxy_to_xywh
from fieldready.evaluation.metrics.confusion import greedy_match
from fieldready.evaluation.metrics.match_tables import bbox_iou

__all__ = ["change_score", "change_scores", "classification_change_scores"]


def change_score(
    clean: ImageDetections,
    corrupted: ImageDetections,
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.5,
) -> float:
    """1 − F1 of class-aware matches (IoU ≥ ``iou_threshold``) between clean and corrupted detections.

    Only detections with score ≥ ``score_threshold`` count; clean ones act as ground truth and are
    matched greedily in corrupted-score order. 0 = the same boxes, 1 = nothing in common; two empty
    outputs have not changed (0).
    """
    a = clean.scores >= score_threshold
    b = corrupted.scores >= score_threshold
    n_clean, n_corr = int(a.sum()), int(b.sum())
    if n_clean + n_corr == 0:
        return 0.0
    order = np.argsort(-corrupted.scores[b], kind="mergesort")
    c_box, c_lab = xyxy_to_xywh(corrupted.boxes[b][order]), corrupted.labels[b][order]
    g_box, g_lab = xyxy_to_xywh(clean.boxes[a]), clean.labels[a]
    iou = bbox_iou(c_box, g_box, np.zeros(n_clean, dtype=bool))
    matches = 0
    for cls in np.intersect1d(c_lab, g_lab):
        di, gi = np.nonzero(c_lab == cls)[0], np.nonzero(g_lab == cls)[0]
        det_match, _ = greedy_match(iou[np.ix_(di, gi)], np.zeros(len(gi), dtype=bool), threshold=iou_threshold)
        matches += int(np.count_nonzero(det_match >= 0))
    return float(1.0 - 2.0 * matches / (n_clean + n_corr))


def change_scores(
    clean: Sequence[ImageDetections],
    corrupted: Sequence[ImageDetections],
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.5,
) -> np.ndarray:
    """``change_score`` for each image, paired by ``image_id``; returned in the order of ``clean``."""
    by_id = {d.image_id: d for d in corrupted}
    missing = [d.image_id for d in clean if d.image_id not in by_id]
    if missing:
        raise DataError(f"no corrupted detections for image ids {missing[:5]}; pair the same images")
    return np.array(
        [
            change_score(d, by_id[d.image_id], iou_threshold=iou_threshold, score_threshold=score_threshold)
            for d in clean
        ],
        dtype=np.float64,
    )


def classification_change_scores(clean_logits: np.ndarray, corrupted_logits: np.ndarray) -> np.ndarray:
    """Per image: 1[top-1 changed] + total variation ½Σ|p − q| of the softmax distributions, in [0, 2].

    Images whose top-1 answer changed rank above all others; within each group, by probability
    mass moved.
    """
    a, b = np.asarray(clean_logits, dtype=np.float64), np.asarray(corrupted_logits, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise DataError(f"clean and corrupted logits must both be [N, C], got {a.shape} and {b.shape}")
    moved = 0.5 * np.abs(softmax(a) - softmax(b)).sum(axis=1)
    return (a.argmax(axis=1) != b.argmax(axis=1)).astype(np.float64) + moved

"""Failure mining: how much a model's output changed on each image between clean and corrupted input.

Scores are label-free and comparable across images, so the report's gallery shows the images with
the highest change score. A detector's change is measured at its operating point and defined with the
operating point's math (``operating_point.answer_change``: the score-weighted number of boxes that
changed, matched pairs cancelling by IoU · the smaller score).
"""

from __future__ import annotations

import numpy as np

from fieldready.errors import DataError
from fieldready.evaluation.metrics.classification import softmax
from fieldready.evaluation.metrics.operating_point import answer_changes, change_score, change_scores

__all__ = ["answer_changes", "change_score", "change_scores", "classification_change_scores"]


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

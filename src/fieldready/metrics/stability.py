"""Label-free stability: flip rate, detection consistency AP, ImageNet-P flip probability.

Each compares a model with itself (clean vs perturbed), so it needs no labels and also works on raw
production images.
"""

from __future__ import annotations

import numpy as np

from fieldready.errors import DataError
from fieldready.metrics.info import MetricInfo

__all__ = ["METRICS", "flip_rate"]

METRICS: dict[str, MetricInfo] = {
    "flip_rate": MetricInfo("share of images whose top-1 class differs from the model's own clean top-1", False),
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

"""Classification point metrics from labels and logits: top-1/top-k accuracy, error, per-class accuracy, ECE.

Ties between logits are broken by class index (lower index ranks first), the rule of ``argmax`` and
of a stable sort, so top-1 and top-k always agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fieldready.errors import DataError, ModelError
from fieldready.evaluate.metrics.bootstrap import check_indices
from fieldready.evaluate.metrics.info import MetricInfo

__all__ = [
    "METRICS",
    "ECE_BINS",
    "ClassificationEval",
    "check_inputs",
    "true_class_rank",
    "softmax",
    "expected_calibration_error",
    "evaluate_classification",
    "classification_replicates",
]

ECE_BINS = 15

METRICS: dict[str, MetricInfo] = {
    "top1": MetricInfo("top-1 accuracy", True),
    "top5": MetricInfo("top-k accuracy with k = min(5, number of classes)", True),
    "error": MetricInfo("top-1 error = 1 - top-1 accuracy", False),
    "ece": MetricInfo("expected calibration error of softmax confidence, 15 equal-width bins", False),
    "accuracy": MetricInfo("per-class top-1 accuracy (recall of the class)", True),
}


@dataclass
class ClassificationEval:
    """``stats``: top1, top5, error, ece; ``per_class[c]["accuracy"]`` is None for a class with no images."""

    stats: dict[str, float]
    per_class: dict[int, dict[str, float | None]]
    top_k: int


def check_inputs(labels: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes, label range and finiteness; return ``labels[N]`` int64 and ``logits[N, C]`` float64."""
    y = np.asarray(labels)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or y.ndim != 1 or len(y) != len(z):
        raise DataError(f"expected labels[N] and logits[N, C], got shapes {y.shape} and {z.shape}")
    if len(y) == 0 or z.shape[1] == 0:
        raise DataError("no images or no classes to evaluate; check the dataset and the model's output size")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise DataError(f"labels must lie in [0, {z.shape[1] - 1}] for {z.shape[1]} logits, got [{y.min()}, {y.max()}]")
    if not np.isfinite(z).all():
        raise ModelError("the model produced NaN or infinite logits; check its inputs and numeric precision")
    return y.astype(np.int64), z


def true_class_rank(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """0-based rank of the true class among the logits (0 = top-1), ties broken by class index."""
    y, z = np.asarray(labels), np.asarray(logits)
    true = z[np.arange(len(y)), y][:, None]
    cols = np.arange(z.shape[1])[None, :]
    return np.sum((z > true) | ((z == true) & (cols < y[:, None])), axis=1)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, shifted by the row maximum so it never overflows."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """ECE = Σ_b |B_b|/N · |accuracy(B_b) − mean confidence(B_b)| over equal-width bins (lo, hi].

    >>> expected_calibration_error(np.array([0.9, 0.9]), np.array([True, False]))
    0.4
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin b holds (edges[b], edges[b+1]]; confidence 0 (impossible for a softmax) goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    gap = np.bincount(idx, weights=ok, minlength=bins) - np.bincount(idx, weights=conf, minlength=bins)
    return float(np.sum(np.abs(gap)) / len(conf))


def evaluate_classification(labels: np.ndarray, logits: np.ndarray) -> ClassificationEval:
    """Top-1, top-k (k = min(5, C)), error, ECE and per-class accuracy of ``logits[N, C]`` vs ``labels[N]``."""
    y, z = check_inputs(labels, logits)
    n_classes = z.shape[1]
    k = min(5, n_classes)
    rank = true_class_rank(y, z)
    top1 = rank == 0
    probs = softmax(z)
    stats = {
        "top1": float(top1.mean()),
        "top5": float((rank < k).mean()),
        "error": float(1.0 - top1.mean()),
        "ece": expected_calibration_error(probs.max(axis=1), top1),
    }
    hits = np.bincount(y, weights=top1.astype(np.float64), minlength=n_classes)
    seen = np.bincount(y, minlength=n_classes)
    per_class = {
        c: {"accuracy": float(hits[c] / seen[c]) if seen[c] else None} for c in range(n_classes)
    }
    return ClassificationEval(stats=stats, per_class=per_class, top_k=k)


def classification_replicates(
    labels: np.ndarray,
    logits: np.ndarray,
    indices: np.ndarray,
    metric: str = "top1",
    *,
    class_id: int | None = None,
    reference_top1: np.ndarray | None = None,
) -> np.ndarray:
    """``metric`` recomputed on each row of image positions ``indices[B, n]`` (paired bootstrap).

    ``metric``: top1, top5, error, ece, flip_rate (needs ``reference_top1``, the clean top-1 of the
    same model), or with ``class_id`` the per-class ``accuracy``. NaN where a resample has no image
    of ``class_id``. An image drawn k times counts k times.
    """
    y, z = check_inputs(labels, logits)
    idx = check_indices(indices, len(y))
    rank = true_class_rank(y, z)
    top1 = rank == 0
    if class_id is not None:
        if metric != "accuracy":
            raise DataError(f"per-class classification metric must be 'accuracy', got {metric!r}")
        in_class = (y == class_id)[idx]
        hits = (top1 & (y == class_id))[idx].sum(axis=1)
        n = in_class.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, hits / n, np.nan)
    if metric == "top1":
        return top1[idx].mean(axis=1)
    if metric == "error":
        return 1.0 - top1[idx].mean(axis=1)
    if metric == "top5":
        return (rank < min(5, z.shape[1]))[idx].mean(axis=1)
    if metric == "flip_rate":
        if reference_top1 is None:
            raise DataError("flip_rate replicates need reference_top1, the model's clean top-1 predictions")
        flipped = np.asarray(reference_top1).ravel() != z.argmax(axis=1)
        return flipped[idx].mean(axis=1)
    if metric == "ece":
        conf = softmax(z).max(axis=1)
        return np.array([expected_calibration_error(conf[row], top1[row]) for row in idx])
    raise DataError(f"unknown classification metric {metric!r}; choose top1, top5, error, ece, flip_rate or accuracy")

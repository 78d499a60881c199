"""Classification point metrics from labels and logits: top-1/top-k accuracy, error, per-class accuracy, ECE.

Ties between logits are broken by class index (lower index ranks first), the rule of ``argmax`` and
of a stable sort, so top-1 and top-k always agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fieldready.errors import DataError, ModelError
from fieldready.evaluation.metrics.bootstrap import check_indices
from fieldready.evaluation.metrics.registry import MetricDef, get_metric, metrics_for, register_metric

__all__ = [
    "ECE_BINS",
    "ClassificationEval",
    "ClassificationUnit",
    "check_inputs",
    "true_class_rank",
    "softmax",
    "expected_calibration_error",
    "evaluate_classification",
    "classification_replicates",
]

ECE_BINS = 15


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
    gap = np.bincount(idx, weights=ok, minlength=bins) - np.bincount(idx, weights=conf, minlength=bins)
    return float(np.sum(np.abs(gap)) / len(conf))


class ClassificationUnit:
    """One model's logits at one point with their labels (``Resampled``): every classification metric's data.

    On unlabelled images the labels are the model's own clean answers (pseudo labels), so only the
    label-free metrics mean anything; ``clean_top1`` (the same model's clean top-1 classes) is the
    reference of the stability metrics.
    """

    task = "classification"

    def __init__(self, labels: np.ndarray, logits: np.ndarray, *, clean_top1: np.ndarray | None = None) -> None:
        self.labels, self.logits = check_inputs(labels, logits)
        self.clean_top1 = None if clean_top1 is None else np.asarray(clean_top1).ravel()

    @property
    def n_classes(self) -> int:
        return int(self.logits.shape[1])

    @property
    def class_ids(self) -> list[int]:
        return list(range(self.n_classes))

    @property
    def top_k(self) -> int:
        return min(5, self.n_classes)

    @cached_property
    def rank(self) -> np.ndarray:
        """0-based rank of the true class per image."""
        return true_class_rank(self.labels, self.logits)

    @cached_property
    def correct(self) -> np.ndarray:
        """Top-1 correct per image."""
        return self.rank == 0

    @cached_property
    def class_hits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per class: top-1 hits and images (``bincount`` over the labels)."""
        hits = np.bincount(self.labels, weights=self.correct.astype(np.float64), minlength=self.n_classes)
        return hits, np.bincount(self.labels, minlength=self.n_classes)

    @cached_property
    def predicted(self) -> np.ndarray:
        """The top-1 class per image."""
        return self.logits.argmax(axis=1)

    @cached_property
    def confidence(self) -> np.ndarray:
        """The softmax probability of the top-1 class per image."""
        return softmax(self.logits).max(axis=1)

    def value(self, metric: str, class_id: int | None = None) -> float | None:
        return _row(metric, class_id).measure(self, class_id)

    def replicates(self, indices: np.ndarray, metric: str, class_id: int | None = None) -> np.ndarray:
        return _row(metric, class_id).resample(self, check_indices(indices, len(self.labels)), class_id)


def _row(metric: str, class_id: int | None) -> MetricDef:
    try:
        row = get_metric(metric)
    except KeyError:
        row = None
    if class_id is not None and (row is None or row.scope != "class" or "classification" not in row.tasks):
        raise DataError(f"per-class classification metric must be 'accuracy', got {metric!r}")
    if row is None or "classification" not in row.tasks or row.scope == "aggregate":
        known = [r.name for r in metrics_for("classification", scopes=("unit", "class", "stability"))]
        raise DataError(f"unknown classification metric {metric!r}; choose {', '.join(known)}")
    return row


def _top1(row: MetricDef, unit: ClassificationUnit, class_id: int | None) -> float:
    return float(unit.correct.mean())


def _top1_reps(row: MetricDef, unit: ClassificationUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return unit.correct[idx].mean(axis=1)


def _top5(row: MetricDef, unit: ClassificationUnit, class_id: int | None) -> float:
    return float((unit.rank < unit.top_k).mean())


def _top5_reps(row: MetricDef, unit: ClassificationUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return (unit.rank < unit.top_k)[idx].mean(axis=1)


def _error(row: MetricDef, unit: ClassificationUnit, class_id: int | None) -> float:
    return float(1.0 - unit.correct.mean())


def _error_reps(row: MetricDef, unit: ClassificationUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return 1.0 - unit.correct[idx].mean(axis=1)


def _ece(row: MetricDef, unit: ClassificationUnit, class_id: int | None) -> float:
    return expected_calibration_error(unit.confidence, unit.correct)


def _ece_reps(row: MetricDef, unit: ClassificationUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return np.array([expected_calibration_error(unit.confidence[r], unit.correct[r]) for r in idx])


def _accuracy(row: MetricDef, unit: ClassificationUnit, class_id: int | None) -> float | None:
    hits, seen = unit.class_hits
    c = int(class_id)  # type: ignore[arg-type]
    return float(hits[c] / seen[c]) if seen[c] else None


def _accuracy_reps(row: MetricDef, unit: ClassificationUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    y = unit.labels
    in_class = (y == class_id)[idx]
    hits = (unit.correct & (y == class_id))[idx].sum(axis=1)
    n = in_class.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, hits / n, np.nan)


def _classification(name: str, label: str, description: str, value, replicates, *,  # noqa: ANN001
                    higher_is_better: bool = True, scope: str = "unit", rate: bool = True) -> MetricDef:
    return register_metric(MetricDef(
        name=name, tasks=("classification",), scope=scope, higher_is_better=higher_is_better, label=label,  # type: ignore[arg-type]
        description=description, rate=rate, value=value, replicates=replicates,
    ))


_classification("top1", "top-1 accuracy", "top-1 accuracy", _top1, _top1_reps)
_classification("top5", "top-5 accuracy", "top-k accuracy with k = min(5, number of classes)", _top5, _top5_reps)
_classification("error", "top-1 error", "top-1 error = 1 - top-1 accuracy", _error, _error_reps, higher_is_better=False)
_classification("ece", "expected calibration error",
                "expected calibration error of softmax confidence, 15 equal-width bins", _ece, _ece_reps,
                higher_is_better=False, rate=False)
_classification("accuracy", "per-class top-1 accuracy", "per-class top-1 accuracy (recall of the class)",
                _accuracy, _accuracy_reps, scope="class")


def evaluate_classification(labels: np.ndarray, logits: np.ndarray) -> ClassificationEval:
    """Top-1, top-k (k = min(5, C)), error, ECE and per-class accuracy of ``logits[N, C]`` vs ``labels[N]``.

    The labelled unit and class metrics of the registry, measured on all images.
    """
    unit = ClassificationUnit(labels, logits)
    rows = [r for r in metrics_for("classification", scopes=("unit",)) if r.needs_labels]
    stats = {r.name: r.measure(unit) for r in rows}
    per_class_rows = [r for r in metrics_for("classification", scopes=("class",)) if r.needs_labels]
    per_class = {c: {r.name: r.measure(unit, c) for r in per_class_rows} for c in unit.class_ids}
    return ClassificationEval(stats=stats, per_class=per_class, top_k=unit.top_k)  # type: ignore[arg-type]


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
    return ClassificationUnit(labels, logits, clean_top1=reference_top1).replicates(indices, metric, class_id)

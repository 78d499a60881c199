"""Repeatability on real captures: does the model give the same answer to the same thing captured again?

Label-free, like the stability metrics, but on real repeated captures instead of synthetic
perturbations (the repeatability part of a visual-inspection R&R study):

- ``repeatability``: share of groups (captures of one part or scene) whose captures all get the same
  answer;
- ``agreement``: share of capture pairs within groups that get the same answer (pooled over groups);
- ``video_flip_rate``: share of consecutive sampled video frames whose answer changes (ImageNet-P's
  flip probability on real frames).

An *answer* is the top-1 class (classification), or the set of detections at the model's operating
point (detection): two captures agree when their detections pair up one to one, same class and
IoU ≥ ``iou`` (greedy by IoU, as COCO matching does). Intervals come from a bootstrap over groups
(videos for the flip rate): captures of one group are not independent, groups are. Every function
here is pure NumPy; ``RepeatUnit`` holds the per-group counts the registry's rows read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fieldready.errors import DataError
from fieldready.evaluation.metrics.bootstrap import resample_indices
from fieldready.evaluation.metrics.registry import MetricDef, get_metric, register_metric

__all__ = [
    "GroupCounts",
    "RepeatUnit",
    "box_iou",
    "detections_agree",
    "group_counts",
    "top1_group_counts",
    "flip_counts",
    "pooled_share",
    "REPEAT_METRICS",
]

#: The registry's rows of this module, in table order.
REPEAT_METRICS = ("repeatability", "agreement", "video_flip_rate")


@dataclass(frozen=True)
class GroupCounts:
    """One group's comparison: all captures agree, agreeing pairs, pairs; a sequence's flips, transitions."""

    repeatable: bool
    agreeing_pairs: int
    pairs: int
    flips: int = 0
    transitions: int = 0


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` IoU of xyxy boxes.

    >>> float(box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2]]))[0, 0])
    0.3333333333333333
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def detections_agree(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], *, iou: float = 0.5) -> bool:
    """Whether two captures' detections (``(boxes[K, 4], labels[K])``, already at the operating point) are the same.

    Same number of detections, and every one pairs with one of the other's of the same class at
    IoU ≥ ``iou`` (greedy, highest IoU first). Two empty sets agree.

    >>> box = np.array([[0., 0., 10., 10.]])
    >>> detections_agree((box, np.array([1])), (box + 1, np.array([1])))
    True
    >>> detections_agree((box, np.array([1])), (box, np.array([2])))
    False
    """
    (boxes_a, labels_a), (boxes_b, labels_b) = a, b
    if len(labels_a) != len(labels_b):
        return False
    if len(labels_a) == 0:
        return True
    overlap = box_iou(boxes_a, boxes_b)
    overlap[np.asarray(labels_a)[:, None] != np.asarray(labels_b)[None, :]] = -1.0
    matched = 0
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, overlap.shape)
        if overlap[i, j] < iou:
            break
        overlap[i, :] = -1.0
        overlap[:, j] = -1.0
        matched += 1
    return matched == len(labels_a)


def group_counts(answers: Sequence, same: Callable[[object, object], bool], *, sequence: bool = False) -> GroupCounts:
    """Compare every pair of a group's answers with ``same``; for a ``sequence`` also count consecutive flips.

    >>> group_counts([1, 1, 2], lambda x, y: x == y)
    GroupCounts(repeatable=False, agreeing_pairs=1, pairs=3, flips=0, transitions=0)
    >>> group_counts([1, 2, 2], lambda x, y: x == y, sequence=True).flips
    1
    """
    n = len(answers)
    if n < 2:
        raise DataError(f"a group needs at least 2 captures to compare, got {n}")
    agree = sum(bool(same(answers[i], answers[j])) for i in range(n) for j in range(i + 1, n))
    pairs = n * (n - 1) // 2
    flips = sum(not same(answers[i - 1], answers[i]) for i in range(1, n)) if sequence else 0
    return GroupCounts(agree == pairs, agree, pairs, flips, n - 1 if sequence else 0)


def top1_group_counts(top1: np.ndarray, *, sequence: bool = False) -> GroupCounts:
    """``group_counts`` for top-1 classes, by counting (a pair agrees when both have the same class).

    >>> top1_group_counts(np.array([3, 3, 3, 5]))
    GroupCounts(repeatable=False, agreeing_pairs=3, pairs=6, flips=0, transitions=0)
    """
    t = np.asarray(top1).ravel()
    if t.size < 2:
        raise DataError(f"a group needs at least 2 captures to compare, got {t.size}")
    _, counts = np.unique(t, return_counts=True)
    flips = int(np.count_nonzero(t[1:] != t[:-1])) if sequence else 0
    n = int(t.size)
    return GroupCounts(len(counts) == 1, int((counts * (counts - 1) // 2).sum()), n * (n - 1) // 2, flips,
                       n - 1 if sequence else 0)


def flip_counts(top1: np.ndarray) -> tuple[int, int]:
    """(flips, transitions) of one sequence of top-1 classes: consecutive frames whose class changes.

    >>> flip_counts(np.array([0, 1, 1, 0]))
    (2, 3)
    """
    c = top1_group_counts(top1, sequence=True)
    return c.flips, c.transitions


def pooled_share(numerators: np.ndarray, denominators: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray | float:
    """Σ numerators / Σ denominators, on all groups (a float, NaN without data) or per resample ``indices[B, m]``.

    >>> pooled_share(np.array([1, 3]), np.array([3, 3]))
    0.6666666666666666
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if indices is None:
        total = den.sum()
        return float(num.sum() / total) if total > 0 else float("nan")
    tops, bottoms = num[indices].sum(axis=1), den[indices].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottoms > 0, tops / np.where(bottoms > 0, bottoms, 1.0), np.nan)


@dataclass
class RepeatUnit:
    """One model's comparisons on a capture set: counts per group and per video, and the bootstrap seed.

    ``replicates`` ignores the image indices the judge passes (they index the labelled images) and
    resamples groups, or videos, with its own seeded matrix of the same number of rows.
    """

    groups: list[GroupCounts] = field(default_factory=list)
    videos: list[GroupCounts] = field(default_factory=list)
    seed: int = 0

    def _arrays(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        if metric == "repeatability":
            return np.array([g.repeatable for g in self.groups], dtype=np.float64), np.ones(len(self.groups))
        if metric == "agreement":
            return np.array([g.agreeing_pairs for g in self.groups]), np.array([g.pairs for g in self.groups])
        if metric == "video_flip_rate":
            return np.array([v.flips for v in self.videos]), np.array([v.transitions for v in self.videos])
        raise DataError(f"unknown repeatability metric {metric!r}; choose {', '.join(REPEAT_METRICS)}")

    def value(self, metric: str, class_id: int | None = None) -> float | None:
        value = _row(metric).measure(self, class_id)
        return None if value is None or not np.isfinite(value) else float(value)

    def replicates(self, indices: np.ndarray, metric: str, class_id: int | None = None) -> np.ndarray:
        return _row(metric).resample(self, np.asarray(indices), class_id)

    def share(self, metric: str, resamples: int | None = None) -> np.ndarray | float:
        """The metric on all groups, or on ``resamples`` bootstrap resamples of them (NaN: no data)."""
        num, den = self._arrays(metric)
        if resamples is None:
            return pooled_share(num, den)
        if len(num) == 0:
            return np.full(resamples, np.nan)
        index = resample_indices(len(num), resamples=resamples, seed=self.seed)
        return pooled_share(num, den, index)


def _row(metric: str) -> MetricDef:
    row = get_metric(metric)
    if row.scope != "repeatability":
        raise DataError(f"{metric!r} is not a repeatability metric; choose {', '.join(REPEAT_METRICS)}")
    return row


def _value(row: MetricDef, unit: RepeatUnit, class_id: int | None) -> float | None:
    value = unit.share(row.name)
    return None if not np.isfinite(value) else float(value)  # type: ignore[arg-type]


def _replicates(row: MetricDef, unit: RepeatUnit, idx: np.ndarray, class_id: int | None) -> np.ndarray:
    return np.asarray(unit.share(row.name, resamples=int(idx.shape[0])), dtype=np.float64)


_BOTH = ("detection", "classification")
register_metric(MetricDef(
    name="repeatability", tasks=_BOTH, scope="repeatability", higher_is_better=True,
    label="share of capture groups with one answer",
    description="share of groups of repeated captures of one part or scene whose captures all get the same answer",
    needs_labels=False, rate=True, value=_value, replicates=_replicates,
))
register_metric(MetricDef(
    name="agreement", tasks=_BOTH, scope="repeatability", higher_is_better=True,
    label="share of capture pairs with the same answer",
    description="share of pairs of captures within a group that get the same answer",
    needs_labels=False, rate=True, value=_value, replicates=_replicates,
))
register_metric(MetricDef(
    name="video_flip_rate", tasks=_BOTH, scope="repeatability", higher_is_better=False,
    label="share of consecutive video frames whose answer changes",
    description="share of consecutive sampled frames of a static-scene video whose answer changes (ImageNet-P flip rate)",
    needs_labels=False, rate=True, value=_value, replicates=_replicates,
))

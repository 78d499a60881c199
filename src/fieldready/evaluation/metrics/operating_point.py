"""A detector at its operating point: the score threshold it ships with, and what it misses and falsely reports there.

mAP averages over every threshold; a deployed detector runs at one, and a safety case is written
about its misses and false alarms there. This module holds the pure math:

- **Matching** is COCO's at IoU 0.5 (``match_tables``: greedy in score order per image and class, each
  ground truth matched once, crowd regions and out-of-range matches absorb detections without
  counting them, the top ``max_dets[-1]`` = 100 detections per image and class). Greedy matching in
  score order decides a detection's match from higher-scored detections only, so the matches of the
  detections kept at a threshold are those of the full COCO matching: one matching serves every
  threshold, the threshold rules and the bootstrap.
- **Counts** per image and class at thresholds ``t[class]`` (a detection is kept when its score is
  ≥ the threshold of its class): TP, FP and P (non-crowd ground truth). FN = P − TP.
- **Metrics** (registry rows ``precision``, ``recall``, ``f1``, ``miss_rate``, ``false_alarms``) of
  summed counts, over all classes pooled or one class: precision TP/(TP+FP), recall TP/P, F1
  2TP/(2TP+FP+FN), miss rate FN/P, false alarms per image FP/n. Bootstrap replicates weight each
  image's counts by how often a resample draws it (one matrix product).
- **Rules** that choose a threshold once on clean data: ``max_f1`` (highest F1; ties go to the
  higher threshold) and ``min_precision`` (the lowest threshold whose precision is ≥ x; when no
  threshold reaches x, the one with the highest precision, reported as not reached). Candidates are
  the distinct detection scores, so a chosen threshold is a score the model produced.
- **Change score** of an image between clean and corrupted detections at the operating point, for
  the failure gallery (``answer_change``: the score-weighted number of boxes that changed, ties
  broken by the share of the answer that changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from fieldready.data.types import ImageDetections
from fieldready.errors import DataError
from fieldready.evaluation.metrics.bootstrap import check_indices
from fieldready.evaluation.metrics.coco_format import IOU_THRESHOLDS, xyxy_to_xywh
from fieldready.evaluation.metrics.match_tables import MatchTables, bbox_iou, resample_counts
from fieldready.evaluation.metrics.registry import MetricDef, register_metric

__all__ = [
    "IOU",
    "RULES",
    "FALLBACK_THRESHOLD",
    "OPERATING_METRICS",
    "OperatingPoint",
    "OperatingCounts",
    "Sweep",
    "operating_counts",
    "rates",
    "sweep",
    "choose_threshold",
    "fixed_point",
    "resolve",
    "answer_change",
    "answer_changes",
    "change_score",
    "change_scores",
]

#: The IoU at which a detection matches a ground truth at the operating point.
IOU = 0.5
RULES = ("max_f1", "min_precision")
#: The threshold used when no rule can be applied (unlabelled images, a model without detections).
FALLBACK_THRESHOLD = 0.5
_IOU_INDEX = int(np.nonzero(np.isclose(IOU_THRESHOLDS, IOU))[0][0])
_AREA_ALL = 0


@dataclass(frozen=True)
class OperatingPoint:
    """A model's score thresholds (category id → threshold; ``default`` for any other label) and how they were set.

    ``source``: ``declared`` (the spec's score_threshold), ``rule`` (the spec's rule) or ``default``
    (no operating point declared: rule max_f1; unlabelled images: ``FALLBACK_THRESHOLD``).
    ``clean`` holds precision, recall and F1 at the thresholds on the clean images, where a rule chose them.
    """

    thresholds: dict[int, float]
    default: float = FALLBACK_THRESHOLD
    source: Literal["declared", "rule", "default"] = "declared"
    rule: str | None = None
    precision_target: float | None = None
    reached: bool | None = None
    clean: dict[str, float | None] = field(default_factory=dict)

    @property
    def single(self) -> float | None:
        """The one threshold of every class, or None when classes have different ones."""
        values = set(self.thresholds.values()) | ({self.default} if not self.thresholds else set())
        return values.pop() if len(values) == 1 else None

    def threshold_of(self, labels: np.ndarray) -> np.ndarray:
        """The threshold of each detection's label (``default`` for labels without one)."""
        lab = np.asarray(labels, dtype=np.int64)
        out = np.full(lab.shape, self.default, dtype=np.float64)
        for cat, t in self.thresholds.items():  # a handful of classes, not boxes
            out[lab == cat] = t
        return out

    def keep(self, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Which detections the deployed model reports: score ≥ its class's threshold."""
        return np.asarray(scores, dtype=np.float64) >= self.threshold_of(labels)

    def describe(self, names: Mapping[int, str] | None = None) -> str:
        """One sentence saying the threshold and how it was set (classes named by ``names``)."""
        single = self.single
        names = names or {}
        value = f"score ≥ {single:.3g}" if single is not None else "score ≥ " + ", ".join(
            f"{t:.3g} ({names.get(c, f'class {c}')})" for c, t in sorted(self.thresholds.items()))
        clean = self.clean
        at = (f" (clean precision {clean['precision']:.3f}, recall {clean['recall']:.3f}, F1 {clean['f1']:.3f})"
              if clean and None not in (clean.get("precision"), clean.get("recall"), clean.get("f1")) else "")
        if self.rule == "max_f1":
            how = "the F1-maximising threshold on the clean images"
        elif self.rule == "min_precision":
            how = (f"the lowest threshold with clean precision ≥ {self.precision_target:g}" if self.reached
                   else f"no threshold reaches clean precision {self.precision_target:g}; the most precise one")
        elif self.source == "default":
            how = "no operating point declared and no labels to choose one; the fixed default"
        else:
            how = "declared in the spec"
        prefix = "default: " if self.source == "default" and self.rule else ""
        return f"{value}, {prefix}{how}{at}; matched at IoU {IOU:g}"


def fixed_point(threshold: float | Mapping[int, float], *, source: Literal["declared", "default"] = "declared") -> OperatingPoint:
    """An operating point at a given threshold (one number, or category id → threshold)."""
    if isinstance(threshold, Mapping):
        return OperatingPoint({int(k): float(v) for k, v in threshold.items()}, source=source)
    return OperatingPoint({}, default=float(threshold), source=source)


@dataclass
class OperatingCounts:
    """TP, FP and non-crowd ground truth P per image and class at one operating point: ``[n, K]`` each.

    Rows are ``tables.image_ids`` (sorted) positions; ``to_sorted`` maps input positions (the order a
    bootstrap index matrix refers to) to them.
    """

    tp: np.ndarray
    fp: np.ndarray
    npos: np.ndarray
    category_ids: list[int]
    to_sorted: np.ndarray

    @property
    def n_images(self) -> int:
        return self.tp.shape[0]

    def _column(self, class_id: int | None) -> slice | list[int]:
        if class_id is None:
            return slice(None)
        if class_id not in self.category_ids:
            raise DataError(f"category id {class_id} is not among the evaluated ids {self.category_ids}")
        return [self.category_ids.index(class_id)]

    def totals(self, class_id: int | None = None) -> tuple[float, float, float]:
        """Summed (TP, FP, P) over all images, of all classes or of ``class_id``."""
        k = self._column(class_id)
        return float(self.tp[:, k].sum()), float(self.fp[:, k].sum()), float(self.npos[:, k].sum())

    def resampled(self, indices: np.ndarray, class_id: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(TP, FP, P) ``[B]`` for each row of input positions ``indices[B, n]`` (an image drawn k times counts k times)."""
        idx = check_indices(indices, len(self.to_sorted))
        counts = resample_counts(self.to_sorted[idx], self.n_images).astype(np.float64)
        k = self._column(class_id)
        per_image = np.stack([self.tp[:, k].sum(axis=1), self.fp[:, k].sum(axis=1), self.npos[:, k].sum(axis=1)], axis=1)
        tp, fp, npos = (counts @ per_image.astype(np.float64)).T
        return tp, fp, npos


def operating_counts(tables: MatchTables, point: OperatingPoint, *, input_image_ids: Sequence[int] | None = None) -> OperatingCounts:
    """Per-image, per-class counts at ``point`` from COCO match tables (IoU 0.5, all areas)."""
    n, k = tables.n_images, len(tables.category_ids)
    cats = np.asarray(tables.category_ids, dtype=np.int64)
    keep = point.keep(tables.score, cats[tables.category]) if len(tables.score) else np.zeros(0, dtype=bool)
    tp_e = tables.tp[:, _AREA_ALL, _IOU_INDEX] & keep
    fp_e = tables.fp[:, _AREA_ALL, _IOU_INDEX] & keep
    flat = tables.image * k + tables.category
    tp = np.bincount(flat, weights=tp_e, minlength=n * k).reshape(n, k)
    fp = np.bincount(flat, weights=fp_e, minlength=n * k).reshape(n, k)
    npos = tables.npig[:, :, _AREA_ALL].astype(np.float64)
    ids = tables.image_ids if input_image_ids is None else list(input_image_ids)
    to_sorted = np.searchsorted(tables.image_ids, ids).astype(np.int64)
    return OperatingCounts(tp, fp, npos, list(tables.category_ids), to_sorted)


def rates(tp: Any, fp: Any, npos: Any, n_images: Any) -> dict[str, np.ndarray]:
    """precision, recall, f1, miss_rate and false_alarms (per image) of summed counts; NaN where undefined.

    Works elementwise on floats or ``[B]`` replicate arrays.

    >>> {k: round(float(v), 3) for k, v in rates(3, 1, 4, 2).items()}
    {'precision': 0.75, 'recall': 0.75, 'f1': 0.75, 'miss_rate': 0.25, 'false_alarms': 0.5}
    """
    tp, fp, npos, n = (np.asarray(x, dtype=np.float64) for x in (tp, fp, npos, n_images))
    fn = npos - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": np.where(npos > 0, tp / npos, np.nan),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            "miss_rate": np.where(npos > 0, fn / npos, np.nan),
            "false_alarms": np.where(n > 0, fp / n, np.nan),
        }


@dataclass(frozen=True)
class Sweep:
    """TP and FP at every distinct detection score as the threshold (descending), and P: the clean PR curve."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    npos: float


def sweep(tables: MatchTables) -> Sweep:
    """The counts at each candidate threshold (all classes pooled), from one sort of the detections."""
    order = np.argsort(-tables.score, kind="stable")
    score = tables.score[order]
    ctp = np.cumsum(tables.tp[order, _AREA_ALL, _IOU_INDEX])
    cfp = np.cumsum(tables.fp[order, _AREA_ALL, _IOU_INDEX])
    last = np.ones(len(score), dtype=bool)
    last[:-1] = score[1:] != score[:-1]  # a threshold keeps every detection of its score
    npos = float(tables.npig[:, :, _AREA_ALL].sum())
    return Sweep(score[last], ctp[last].astype(np.float64), cfp[last].astype(np.float64), npos)


def choose_threshold(tables: MatchTables, rule: str, *, precision: float | None = None) -> OperatingPoint:
    """The operating point ``rule`` picks on these (clean) match tables: one threshold for every class."""
    if rule not in RULES:
        raise DataError(f"unknown operating-point rule {rule!r}; choose one of {', '.join(RULES)}")
    s = sweep(tables)
    if len(s.thresholds) == 0:  # no detections at all: any threshold reports nothing
        return OperatingPoint({}, default=FALLBACK_THRESHOLD, source="rule", rule=rule, precision_target=precision,
                              reached=False if rule == "min_precision" else None)
    r = rates(s.tp, s.fp, s.npos, tables.n_images)
    reached = None
    if rule == "max_f1":
        f1 = np.nan_to_num(r["f1"], nan=-1.0)
        i = int(np.argmax(f1))  # thresholds descend: the first maximum is the highest threshold
    else:
        if precision is None:
            raise DataError("rule min_precision needs a precision target, e.g. precision: 0.9")
        p = np.nan_to_num(r["precision"], nan=-1.0)
        ok = np.nonzero(p >= precision)[0]
        reached = bool(len(ok))
        i = int(ok[-1]) if reached else int(len(p) - 1 - np.argmax(p[::-1]))  # the lowest such threshold
    clean = {k: (None if not np.isfinite(r[k][i]) else float(r[k][i])) for k in ("precision", "recall", "f1")}
    return OperatingPoint({}, default=float(s.thresholds[i]), source="rule", rule=rule, precision_target=precision,
                          reached=reached, clean=clean)


# ----------------------------------------------------------------------------- registry rows


def _counts(unit: Any) -> OperatingCounts:
    """The unit's counts at its operating point, computed once (a unit without one: max_f1 on its own images)."""
    cached = getattr(unit, "_operating_counts", None)
    if cached is None:
        coco = unit.coco
        tables = coco.match_tables()
        point = getattr(unit, "operating_point", None) or choose_threshold(tables, "max_f1")
        cached = operating_counts(tables, point, input_image_ids=coco.input_image_ids)
        unit._operating_counts = cached
    return cached


def _value(row: MetricDef, unit: Any, class_id: int | None) -> float | None:
    c = _counts(unit)
    v = rates(*c.totals(class_id), c.n_images)[row.name]
    return float(v) if np.isfinite(v) else None


def _replicates(row: MetricDef, unit: Any, indices: np.ndarray, class_id: int | None) -> np.ndarray:
    c = _counts(unit)
    tp, fp, npos = c.resampled(indices, class_id)
    return rates(tp, fp, npos, np.full(len(tp), float(len(c.to_sorted))))[row.name]


def _op(name: str, label: str, description: str, *, higher: bool, rate: bool = False, fraction: bool = True,
        unit: str = "") -> MetricDef:
    return register_metric(MetricDef(
        name=name, tasks=("detection",), scope="unit", higher_is_better=higher, label=label, description=description,
        unit=unit, fraction=fraction, rate=rate, per_class=True, params="operating_point", value=_value,
        replicates=_replicates,
    ))


_AT = "at the model's operating point (score threshold), matched at IoU 0.5"
#: The metrics at the operating point, each a row of the metric registry (per class too).
OPERATING_METRICS: dict[str, MetricDef] = {r.name: r for r in (
    # short labels: they head table columns; the operating point itself is shown on each model's card
    _op("precision", "precision", f"share of reported boxes that are right, {_AT}", higher=True),
    _op("recall", "recall", f"share of objects found, {_AT}", higher=True, rate=True),
    _op("f1", "F1", f"harmonic mean of precision and recall, {_AT}", higher=True),
    _op("miss_rate", "miss rate", f"share of objects missed (1 − recall), {_AT}", higher=False, rate=True),
    _op("false_alarms", "false alarms / image", f"unmatched reported boxes per image, {_AT}",
        higher=False, fraction=False, unit="per image"),
)}


# ----------------------------------------------------------------------------- change score


def answer_change(
    clean: ImageDetections, corrupted: ImageDetections, *, point: OperatingPoint | None = None
) -> tuple[float, float]:
    """How much a detector's answer on one image changed: (score-weighted boxes changed, share changed).

    Only detections at or above the operating point count (``point``; None: ``FALLBACK_THRESHOLD``).
    Pairs of the same class are weighted w = IoU · min(score_clean, score_corrupted) and matched
    one-to-one for the largest total weight W (an optimal assignment). With S the sum of the scores
    of both outputs:

    - changed = S − 2W: every box counts its score, a matched pair cancels up to 2·IoU·min-score. It
      is 0 for identical outputs and grows continuously as boxes move, lose confidence, vanish or
      appear: one box of score 0.9 lost is 0.9, two such boxes 1.8, a box shifted to IoU 0.8 is 0.36.
      The gallery ranks images by it, so "changed most" means most confident boxes changed.
    - share = changed / S in [0, 1] (1 − the agreement 2W/S): which part of the answer changed; it
      breaks ties of ``changed``.

    Two empty outputs have not changed: (0, 0).
    """
    point = point or fixed_point(FALLBACK_THRESHOLD, source="default")
    a = point.keep(clean.scores, clean.labels)
    b = point.keep(corrupted.scores, corrupted.labels)
    sa = np.asarray(clean.scores, dtype=np.float64)[a]
    sb = np.asarray(corrupted.scores, dtype=np.float64)[b]
    total = float(sa.sum() + sb.sum())
    if total <= 0.0:
        return 0.0, 0.0
    weight = 0.0
    if len(sa) and len(sb):
        iou = bbox_iou(xyxy_to_xywh(np.asarray(clean.boxes, dtype=np.float64)[a]),
                       xyxy_to_xywh(np.asarray(corrupted.boxes, dtype=np.float64)[b]), np.zeros(len(sb), dtype=bool))
        same = np.asarray(clean.labels)[a][:, None] == np.asarray(corrupted.labels)[b][None, :]
        w = np.where(same, iou, 0.0) * np.minimum(sa[:, None], sb[None, :])
        rows, cols = max_weight_assignment(w)
        weight = float(w[rows, cols].sum())
    changed = max(total - 2.0 * weight, 0.0)
    return changed, min(changed / total, 1.0)


def max_weight_assignment(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a one-to-one matching of ``weight[r, c]`` (r ≤ or > c) with the largest total.

    The Hungarian algorithm with potentials (O(n² m)), as ``scipy.optimize.linear_sum_assignment(...,
    maximize=True)`` solves it; written here because SciPy is not a dependency and a gallery's matrices
    are a few boxes a side.
    """
    w = np.asarray(weight, dtype=np.float64)
    transposed = w.shape[0] > w.shape[1]
    cost = (w.T if transposed else w) * -1.0  # rows ≤ columns, minimise
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: 1-based row matched to column j (0: none)
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        slack, used = np.full(m + 1, np.inf), np.zeros(m + 1, dtype=bool)
        while owner[j0] != 0:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, slack[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[1:][free] -= delta
            j0 = j1
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.flatnonzero(owner[1:])
    rows = owner[1:][cols] - 1
    order = np.argsort(rows)
    rows, cols = rows[order], cols[order]
    return (cols, rows) if transposed else (rows, cols)


def answer_changes(
    clean: Sequence[ImageDetections], corrupted: Sequence[ImageDetections], *, point: OperatingPoint | None = None
) -> np.ndarray:
    """``answer_change`` of each image, paired by ``image_id``: ``[n, 2]`` (changed, share), in the order of ``clean``."""
    by_id = {d.image_id: d for d in corrupted}
    missing = [d.image_id for d in clean if d.image_id not in by_id]
    if missing:
        raise DataError(f"no corrupted detections for image ids {missing[:5]}; pair the same images")
    return np.array([answer_change(d, by_id[d.image_id], point=point) for d in clean], dtype=np.float64).reshape(-1, 2)


def change_score(clean: ImageDetections, corrupted: ImageDetections, *, point: OperatingPoint | None = None) -> float:
    """The score-weighted boxes changed of ``answer_change``: 0 = the same answer."""
    return answer_change(clean, corrupted, point=point)[0]


def change_scores(
    clean: Sequence[ImageDetections], corrupted: Sequence[ImageDetections], *, point: OperatingPoint | None = None
) -> np.ndarray:
    """``change_score`` of each image, paired by ``image_id``; in the order of ``clean``."""
    return answer_changes(clean, corrupted, point=point)[:, 0]


def resolve(declared: Any | None, *, tables: MatchTables | None, class_ids: Mapping[str, int]) -> OperatingPoint:
    """A model's operating point from its spec entry (``spec.models.OperatingPoint`` or None) and its clean match tables.

    Declared thresholds are used as written (class names mapped to ids by ``class_ids``); a rule is
    applied to ``tables`` (the clean images); nothing declared means rule max_f1 (``source:
    default``), or ``FALLBACK_THRESHOLD`` when there are no labels (``tables`` None).
    """
    if declared is None:
        if tables is None:
            return fixed_point(FALLBACK_THRESHOLD, source="default")
        chosen = choose_threshold(tables, "max_f1")
        return OperatingPoint(chosen.thresholds, chosen.default, "default", chosen.rule, None, None, chosen.clean)
    threshold = declared.score_threshold
    if threshold is not None:
        if isinstance(threshold, Mapping):
            unknown = sorted(set(threshold) - set(class_ids))
            if unknown:
                raise DataError(f"operating_point.score_threshold names unknown class(es) {unknown}; known: {sorted(class_ids)}")
            return fixed_point({class_ids[name]: float(v) for name, v in threshold.items()})
        return fixed_point(float(threshold))
    if tables is None:
        raise DataError(f"operating_point rule {declared.rule} needs labelled images; give score_threshold instead")
    return choose_threshold(tables, declared.rule, precision=declared.precision)

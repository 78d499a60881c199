"""Detection-aware confusion counts per class at one IoU: TP, FP, FN and objects detected as another class.

Matching follows COCOeval at a single IoU threshold over detections with score ≥ ``score_threshold``:
per image and class, greedy in score order, each ground truth matched once, crowd regions absorb
detections without counting them (and are never missed). A missed object is ``wrong_class`` when an
unmatched detection of another class covers it at the same IoU — the model saw it, named it wrongly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.evaluation.metrics.coco_format import check_image_sets, xyxy_to_xywh
from fieldready.evaluation.metrics.match_tables import bbox_iou

__all__ = ["ClassConfusion", "DetectionConfusion", "detection_confusion", "greedy_match"]


@dataclass
class ClassConfusion:
    """Counts of one class. ``fn`` includes ``wrong_class`` (missed in its class, found as another)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    wrong_class: int = 0


@dataclass
class DetectionConfusion:
    """Per-class counts and the (true class → predicted class) pairs behind ``wrong_class``."""

    per_class: dict[int, ClassConfusion]
    pairs: dict[tuple[int, int], int] = field(default_factory=dict)
    iou_threshold: float = 0.5
    score_threshold: float = 0.5


def greedy_match(
    iou: np.ndarray, crowd: np.ndarray, *, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching at one IoU for detections already in score order.

    ``iou[D, G]``; returns ``det_match[D]`` (ground-truth index or -1) and ``gt_taken[G]``. Non-crowd
    ground truth is preferred; a crowd region may absorb several detections.
    """
    n_det, n_gt = iou.shape
    det_match = np.full(n_det, -1, dtype=np.int64)
    taken = np.zeros(n_gt, dtype=bool)
    thr = min(threshold, 1 - 1e-10)
    for d in range(n_det):
        cand = (iou[d] >= thr) & (~taken | crowd)
        for group in (cand & ~crowd, cand & crowd):
            if group.any():
                vals = np.where(group, iou[d], -1.0)
                g = n_gt - 1 - int(np.argmax(vals[::-1]))  # ties go to the later box, as in COCOeval
                det_match[d] = g
                taken[g] = True
                break
    return det_match, taken


def detection_confusion(
    targets: Sequence[ImageTargets],
    detections: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    iou_threshold: float = 0.5,
    score_threshold: float | Callable[[np.ndarray], np.ndarray] = 0.5,
) -> DetectionConfusion:
    """TP / FP / FN / wrong-class counts per category id over all images (see module docstring).

    ``score_threshold`` is one number, or a function of the detections' labels giving each one's
    threshold (an operating point's ``threshold_of``, for per-class thresholds).
    """
    threshold_of = score_threshold if callable(score_threshold) else (lambda labels: score_threshold)
    check_image_sets(targets, detections)
    cats = sorted(int(c) for c in set(category_ids))
    out = {c: ClassConfusion() for c in cats}
    pairs: dict[tuple[int, int], int] = {}
    dets = {d.image_id: d for d in detections}
    for t in targets:
        d = dets.get(t.image_id)
        keep = (d.scores >= threshold_of(d.labels)) & np.isin(d.labels, cats) if d is not None else np.zeros(0, bool)
        order = np.argsort(-d.scores[keep], kind="mergesort") if d is not None else np.zeros(0, int)
        d_box = xyxy_to_xywh(d.boxes[keep][order]) if d is not None else np.zeros((0, 4))
        d_lab = d.labels[keep][order] if d is not None else np.zeros(0, np.int64)
        g_in = np.isin(t.labels, cats)
        g_box, g_lab, g_crowd = xyxy_to_xywh(t.boxes[g_in]), t.labels[g_in], t.iscrowd[g_in]
        iou = bbox_iou(d_box, g_box, g_crowd)  # [D, G]
        det_ok = np.zeros(len(d_lab), dtype=bool)
        gt_found = np.zeros(len(g_lab), dtype=bool)
        for c in np.unique(np.concatenate([d_lab, g_lab])):
            di, gi = np.nonzero(d_lab == c)[0], np.nonzero(g_lab == c)[0]
            match, taken = greedy_match(iou[np.ix_(di, gi)], g_crowd[gi], threshold=iou_threshold)
            hit = match >= 0
            crowd_hit = np.zeros(len(di), dtype=bool)
            crowd_hit[hit] = g_crowd[gi[match[hit]]]
            det_ok[di[hit]] = True
            gt_found[gi[taken]] = True
            out[int(c)].tp += int(np.count_nonzero(hit & ~crowd_hit))
            out[int(c)].fp += int(np.count_nonzero(~hit))
        missed = np.nonzero(~gt_found & ~g_crowd)[0]
        stray = np.nonzero(~det_ok)[0]  # unmatched detections, candidates for a wrong class
        for g in missed:
            out[int(g_lab[g])].fn += 1
            other = stray[(d_lab[stray] != g_lab[g]) & (iou[stray, g] >= iou_threshold)]
            if len(other):
                out[int(g_lab[g])].wrong_class += 1
                pred = int(d_lab[other[np.argmax(iou[other, g])]])
                pairs[(int(g_lab[g]), pred)] = pairs.get((int(g_lab[g]), pred), 0) + 1
    return DetectionConfusion(out, pairs, iou_threshold, score_threshold if not callable(score_threshold) else float("nan"))

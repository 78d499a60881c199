"""COCO detection metrics (AP family, AR, per-class AP) with pycocotools semantics, via faster-coco-eval.

faster-coco-eval is the engine (a C++ drop-in for pycocotools' COCOeval, ~17x faster); the 12
summary numbers are read from its precision/recall arrays with pycocotools' ``summarize`` rules.

"No data" (COCOeval's -1: e.g. no non-crowd ground truth in an area range) is stored as ``None``,
never as -1 or NaN, so a JSON report shows it as missing and no average silently absorbs it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluate.metrics.coco_format import check_image_sets, coco_detections, coco_ground_truth
from fieldready.evaluate.metrics.info import MetricInfo

if TYPE_CHECKING:
    from fieldready.evaluate.metrics.match_tables import MatchTables

__all__ = ["METRICS", "PER_CLASS_METRICS", "STAT_KEYS", "DetectionEval", "evaluate_detection", "summarize"]

#: The 12 COCO summary numbers, in pycocotools' ``stats`` order.
STAT_KEYS: tuple[str, ...] = (
    "map", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
    "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large",
)  # fmt: skip

METRICS: dict[str, MetricInfo] = {
    "map": MetricInfo("COCO AP averaged over IoU 0.50:0.95 (all areas, max_dets[2])", True),
    "ap50": MetricInfo("COCO AP at IoU 0.50", True),
    "ap75": MetricInfo("COCO AP at IoU 0.75", True),
    "ap_small": MetricInfo("COCO AP on small objects (area < 32^2)", True),
    "ap_medium": MetricInfo("COCO AP on medium objects (32^2 <= area < 96^2)", True),
    "ap_large": MetricInfo("COCO AP on large objects (area >= 96^2)", True),
    "ar1": MetricInfo("COCO AR with max_dets[0] (default 1) detections per image and class", True),
    "ar10": MetricInfo("COCO AR with max_dets[1] (default 10) detections per image and class", True),
    "ar100": MetricInfo("COCO AR with max_dets[2] (default 100) detections per image and class", True),
    "ar_small": MetricInfo("COCO AR on small objects", True),
    "ar_medium": MetricInfo("COCO AR on medium objects", True),
    "ar_large": MetricInfo("COCO AR on large objects", True),
}

PER_CLASS_METRICS: dict[str, MetricInfo] = {
    "ap": MetricInfo("per-class COCO AP over IoU 0.50:0.95", True),
    "ap50": MetricInfo("per-class COCO AP at IoU 0.50", True),
    "ar100": MetricInfo("per-class COCO AR with max_dets[2] detections", True),
}

# (is AP, IoU threshold or None for all, area label, index into max_dets): pycocotools' summarize.
_SUMMARY: dict[str, tuple[bool, float | None, str, int]] = {
    "map": (True, None, "all", 2),
    "ap50": (True, 0.5, "all", 2),
    "ap75": (True, 0.75, "all", 2),
    "ap_small": (True, None, "small", 2),
    "ap_medium": (True, None, "medium", 2),
    "ap_large": (True, None, "large", 2),
    "ar1": (False, None, "all", 0),
    "ar10": (False, None, "all", 1),
    "ar100": (False, None, "all", 2),
    "ar_small": (False, None, "small", 2),
    "ar_medium": (False, None, "medium", 2),
    "ar_large": (False, None, "large", 2),
}
AREA_LABELS: tuple[str, ...] = ("all", "small", "medium", "large")
IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, 10)  # identical to pycocotools' Params.iouThrs


@dataclass
class DetectionEval:
    """The result of one COCO evaluation of one model on one set of images.

    ``stats`` holds the 12 keys of ``STAT_KEYS``; ``per_class[category_id]`` holds ``ap``, ``ap50``
    and ``ar100``. A value is ``None`` where COCOeval reports -1 (no non-ignored ground truth).
    ``precision[T, R, K, A, M]`` and ``recall[T, K, A, M]`` are the engine's arrays (-1 = no data).
    ``image_ids`` are sorted, as COCOeval orders images. Bootstrap indices refer to positions in the
    ``targets`` list as it was passed to ``evaluate_detection`` (``input_image_ids``), so one index
    matrix pairs every model and condition evaluated on the same list.
    """

    stats: dict[str, float | None]
    per_class: dict[int, dict[str, float | None]]
    precision: np.ndarray
    recall: np.ndarray
    image_ids: list[int]
    category_ids: list[int]
    max_dets: tuple[int, int, int]
    input_image_ids: list[int] = field(default_factory=list)
    _targets: list[ImageTargets] = field(default_factory=list, repr=False)
    _detections: list[ImageDetections] = field(default_factory=list, repr=False)
    _tables: MatchTables | None = field(default=None, repr=False)

    def match_tables(self) -> MatchTables:
        """Per-image match tables for bootstrap resampling, built once on first use."""
        if self._tables is None:
            from fieldready.evaluate.metrics.match_tables import build_match_tables

            self._tables = build_match_tables(
                self._targets, self._detections, category_ids=self.category_ids, max_dets=self.max_dets
            )
        return self._tables

    def replicates(self, indices: np.ndarray, metric: str = "map", *, category_id: int | None = None) -> np.ndarray:
        """Recompute ``metric`` on each row of image positions ``indices[B, n]`` (paired bootstrap).

        An image drawn k times counts k times. ``metric`` is one of ``STAT_KEYS``, or with
        ``category_id`` one of ``PER_CLASS_METRICS``. "No data" in a resample is NaN.
        """
        from fieldready.evaluate.metrics.bootstrap import check_indices
        from fieldready.evaluate.metrics.match_tables import table_replicates

        idx = check_indices(indices, len(self.input_image_ids))
        to_sorted = np.searchsorted(self.image_ids, self.input_image_ids)
        return table_replicates(self.match_tables(), to_sorted[idx], metric, category_id=category_id)


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None


def summarize(
    precision: np.ndarray, recall: np.ndarray, *, max_dets: Sequence[int] = (1, 10, 100)
) -> dict[str, float | None]:
    """The 12 COCO summary numbers from ``precision[T,R,K,A,M]`` and ``recall[T,K,A,M]``, -1 → None."""
    del max_dets  # the summary is positional over the max_dets axis; kept for symmetry with the engine
    stats: dict[str, float | None] = {}
    for key, (is_ap, iou, area, m) in _SUMMARY.items():
        a = AREA_LABELS.index(area)
        s = precision[:, :, :, a, m] if is_ap else recall[:, :, a, m]
        if iou is not None:
            s = s[np.where(iou == IOU_THRESHOLDS)[0]]
        stats[key] = _mean_valid(s)
    return stats


def _per_class(precision: np.ndarray, recall: np.ndarray, category_ids: Sequence[int]) -> dict[int, dict[str, float | None]]:
    t50 = np.where(IOU_THRESHOLDS == 0.5)[0]
    out: dict[int, dict[str, float | None]] = {}
    for k, cat in enumerate(category_ids):
        out[int(cat)] = {
            "ap": _mean_valid(precision[:, :, k, 0, -1]),
            "ap50": _mean_valid(precision[t50, :, k, 0, -1]),
            "ar100": _mean_valid(recall[:, k, 0, -1]),
        }
    return out


def _run_engine(
    gt: dict[str, Any], dt: list[dict[str, Any]], *, image_ids: list[int], category_ids: list[int], max_dets: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        # Built like COCO.loadRes (coco_detections adds its ids, areas, iscrowd) but also valid with zero detections.
        coco_dt = COCO({"images": gt["images"], "categories": gt["categories"], "annotations": dt})
        ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *_a, **_k: None)
        ev.params.imgIds = image_ids
        ev.params.catIds = category_ids
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
    return np.asarray(ev.eval["precision"], dtype=np.float64), np.asarray(ev.eval["recall"], dtype=np.float64)


def evaluate_detection(
    targets: Sequence[ImageTargets],
    detections: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    max_dets: tuple[int, int, int] = (1, 10, 100),
) -> DetectionEval:
    """COCO bbox evaluation of ``detections`` against ``targets``, identical to pycocotools' COCOeval.

    Images without annotations count (their detections are false positives); crowd annotations
    match without counting as misses; detections of categories outside ``category_ids`` are
    ignored, as COCOeval ignores them. Images without an ``ImageDetections`` have no detections.
    """
    if not category_ids:
        raise DataError("category_ids is empty; pass the dataset's COCO category ids")
    if len(max_dets) != 3 or list(max_dets) != sorted(max_dets):
        raise DataError(f"max_dets must be three increasing numbers like (1, 10, 100), got {max_dets!r}")
    check_image_sets(targets, detections)
    cats = sorted(int(c) for c in set(category_ids))
    image_ids = sorted(int(t.image_id) for t in targets)
    gt = coco_ground_truth(targets, category_ids=cats)
    dt = coco_detections(detections)
    precision, recall = _run_engine(gt, dt, image_ids=image_ids, category_ids=cats, max_dets=max_dets)
    return DetectionEval(
        stats=summarize(precision, recall),
        per_class=_per_class(precision, recall, cats),
        precision=precision,
        recall=recall,
        image_ids=image_ids,
        category_ids=cats,
        max_dets=tuple(int(m) for m in max_dets),  # type: ignore[arg-type]
        input_image_ids=[int(t.image_id) for t in targets],
        _targets=list(targets),
        _detections=list(detections),
    )

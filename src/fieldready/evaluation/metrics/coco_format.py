"""Convert fieldready's per-image records into in-memory COCO dicts, the input of every COCO engine.

Boxes go from xyxy to COCO xywh here and nowhere else, so the engine, the reference (pycocotools)
and the bootstrap match tables all see the same numbers. Ground truth read from a COCO file keeps
the file's xywh (``target_xywh``): converting back from xyxy can move w by an ulp, and an IoU
sitting exactly on a threshold would then match differently from pycocotools on the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError

__all__ = [
    "IOU_THRESHOLDS",
    "AREA_LABELS",
    "CocoSummary",
    "xyxy_to_xywh",
    "target_xywh",
    "coco_ground_truth",
    "coco_detections",
    "check_image_sets",
]

IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, 10)  # identical to pycocotools' Params.iouThrs
AREA_LABELS: tuple[str, ...] = ("all", "small", "medium", "large")  # pycocotools' areaRngLbl order


@dataclass(frozen=True)
class CocoSummary:
    """Which slice of COCOeval's accumulated arrays a metric averages, as pycocotools' ``summarize`` does.

    ``ap``: precision (AP) or recall (AR); ``iou``: one IoU threshold, or None for all ten;
    ``area``: all, small, medium or large; ``max_dets``: index into the three ``max_dets``.
    """

    ap: bool
    iou: float | None = None
    area: str = "all"
    max_dets: int = 2

    @property
    def iou_indices(self) -> tuple[int, ...]:
        """Indices into ``IOU_THRESHOLDS``: all ten, or the one equal to ``iou``."""
        if self.iou is None:
            return tuple(range(len(IOU_THRESHOLDS)))
        return tuple(int(i) for i in np.where(self.iou == IOU_THRESHOLDS)[0])

    @property
    def area_index(self) -> int:
        return AREA_LABELS.index(self.area)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``[N, 4]`` x1, y1, x2, y2 → COCO x, y, w, h (float64)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def target_xywh(targets: ImageTargets) -> np.ndarray:
    """The ground truth's COCO boxes: the annotation file's xywh while they still describe ``boxes``."""
    x = targets.xywh
    if x is not None and x.shape == targets.boxes.shape:
        if np.array_equal(np.concatenate([x[:, :2], x[:, :2] + x[:, 2:]], axis=1), targets.boxes):
            return x
    return xyxy_to_xywh(targets.boxes)


def check_image_sets(targets: Sequence[ImageTargets], detections: Sequence[ImageDetections]) -> None:
    """Refuse duplicate image ids and detections on images that have no ground-truth record."""
    ids = [t.image_id for t in targets]
    if len(set(ids)) != len(ids):
        raise DataError("ground truth lists an image_id more than once; give each image one ImageTargets")
    det_ids = [d.image_id for d in detections]
    if len(set(det_ids)) != len(det_ids):
        raise DataError("detections list an image_id more than once; merge them into one ImageDetections")
    unknown = sorted(set(det_ids) - set(ids))
    if unknown:
        raise DataError(
            f"detections refer to image ids without ground truth (first: {unknown[:5]}); "
            "evaluate predictions on the images of the dataset only"
        )


def coco_ground_truth(targets: Sequence[ImageTargets], *, category_ids: Sequence[int]) -> dict[str, Any]:
    """A COCO ground-truth dataset dict; annotation ids run 1..N in the order given."""
    images, annotations = [], []
    next_id = 1
    for t in targets:
        images.append({"id": int(t.image_id), "width": int(t.width), "height": int(t.height)})
        xywh = target_xywh(t)
        for j in range(len(t.labels)):
            annotations.append(
                {
                    "id": next_id,
                    "image_id": int(t.image_id),
                    "category_id": int(t.labels[j]),
                    "bbox": [float(v) for v in xywh[j]],
                    "area": float(t.area[j]),
                    "iscrowd": int(bool(t.iscrowd[j])),
                }
            )
            next_id += 1
    categories = [{"id": int(c), "name": str(c)} for c in category_ids]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(detections: Sequence[ImageDetections]) -> list[dict[str, Any]]:
    """COCO detection annotations as ``loadRes`` makes them: ids 1..N, bbox xywh, score, area = w·h, not crowd.

    Built from one concatenated array (``tolist`` gives Python floats in one call), not per element.
    """
    counts = [len(d.scores) for d in detections]
    if not sum(counts):
        return []
    image_ids = np.repeat([int(d.image_id) for d in detections], counts)
    boxes = xyxy_to_xywh(np.concatenate([d.boxes for d in detections]))
    scores = np.concatenate([d.scores for d in detections]).astype(np.float64)
    labels = np.concatenate([d.labels for d in detections]).astype(np.int64)
    rows = zip(image_ids.tolist(), labels.tolist(), boxes.tolist(), scores.tolist())
    return [
        {"image_id": i, "category_id": c, "bbox": b, "score": sc, "id": n, "area": b[2] * b[3], "iscrowd": 0}
        for n, (i, c, b, sc) in enumerate(rows, 1)
    ]

"""Convert fieldready's per-image records into in-memory COCO dicts, the input of every COCO engine.

Boxes go from xyxy to COCO xywh here and nowhere else, so the engine, the reference (pycocotools)
and the bootstrap match tables all see the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError

__all__ = ["xyxy_to_xywh", "coco_ground_truth", "coco_detections", "check_image_sets"]


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``[N, 4]`` x1, y1, x2, y2 → COCO x, y, w, h (float64)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


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
        xywh = xyxy_to_xywh(t.boxes)
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
    """COCO result dicts (``loadRes`` input): image_id, category_id, bbox xywh, score."""
    out: list[dict[str, Any]] = []
    for d in detections:
        xywh = xyxy_to_xywh(d.boxes)
        for j in range(len(d.scores)):
            out.append(
                {
                    "image_id": int(d.image_id),
                    "category_id": int(d.labels[j]),
                    "bbox": [float(v) for v in xywh[j]],
                    "score": float(d.scores[j]),
                }
            )
    return out

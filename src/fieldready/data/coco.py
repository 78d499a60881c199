"""COCO detection datasets: instances JSON + image folder → records and per-image targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fieldready.data.dataset import Dataset
from fieldready.data.types import ImageRecord, ImageTargets
from fieldready.errors import DataError

__all__ = ["load_coco"]


def load_coco(annotations: Path, images: Path) -> Dataset:
    """Read a COCO instances file; boxes become xyxy, and every image file must exist."""
    try:
        doc = json.loads(Path(annotations).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{annotations}: annotation file not found; check dataset.annotations") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{annotations}: not a readable COCO JSON file ({exc})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise DataError(f"{annotations}: a COCO instances file needs a '{key}' list")
    classes = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    records: list[ImageRecord] = []
    files: list[Path] = []
    for img in doc["images"]:
        path = Path(images) / img["file_name"]
        if not path.is_file():
            raise DataError(f"{path}: image listed in {annotations} (id {img['id']}) not found")
        records.append(ImageRecord(int(img["id"]), str(path), int(img["width"]), int(img["height"])))
        files.append(path)
    by_image: dict[int, list[dict]] = {r.image_id: [] for r in records}
    for ann in doc["annotations"]:
        image_id = int(ann["image_id"])
        if image_id not in by_image:
            raise DataError(f"{annotations}: annotation {ann.get('id')} refers to unknown image {image_id}")
        if int(ann["category_id"]) not in classes:
            raise DataError(f"{annotations}: annotation {ann.get('id')} has unknown category {ann['category_id']}")
        by_image[image_id].append(ann)
    targets = {}
    for record in records:
        anns = by_image[record.image_id]
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        targets[record.image_id] = ImageTargets(
            image_id=record.image_id,
            boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
            labels=np.array([a["category_id"] for a in anns], dtype=np.int64),
            iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
            area=np.array([a.get("area", a["bbox"][2] * a["bbox"][3]) for a in anns], dtype=np.float64),
            width=record.width,
            height=record.height,
        )
    order = sorted(range(len(records)), key=lambda i: records[i].image_id)
    return Dataset("detection", [records[i] for i in order], classes, targets, [files[i] for i in order])

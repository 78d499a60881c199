"""COCO detection datasets: instances JSON + image folder → records and per-image targets.

Every record of the file is checked before it is used, so a malformed file ends in one DataError
that names the file, the record (``images[3] (id 7)``) and the field — never a KeyError later on.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from fieldready.data.paths import outside_hint, within
from fieldready.data.types import Dataset, ImageRecord, ImageTargets
from fieldready.errors import DataError

__all__ = ["load_coco", "read_coco", "coco_classes"]

_MAX_INT = 2**53  # ids and sizes must survive float64 and int64 arrays exactly


def read_coco(annotations: Path) -> dict:
    """The parsed instances file: a JSON object with ``images``, ``annotations`` and ``categories`` lists."""
    annotations = Path(annotations)
    try:
        doc = json.loads(annotations.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{annotations}: annotation file not found; check dataset.annotations") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{annotations}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); fix the annotation file"
        ) from None
    except (OSError, ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise DataError(f"{annotations}: not a readable COCO JSON file ({detail})") from None
    if not isinstance(doc, dict):
        raise DataError(
            f"{annotations}: a COCO instances file is a JSON object with 'images', 'annotations' and "
            f"'categories' lists, got a JSON {_json_type(doc)}"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            got = "missing" if key not in doc else f"a JSON {_json_type(doc[key])}"
            raise DataError(f"{annotations}: a COCO instances file needs an '{key}' list ({key} is {got})")
    return doc


def coco_classes(annotations: Path) -> dict[int, str]:
    """Category id → name of an instances file, every category checked (DataError otherwise)."""
    return _categories(read_coco(annotations)["categories"], Path(annotations))


def load_coco(annotations: Path, images: Path) -> Dataset:
    """Read a COCO instances file; boxes become xyxy (float64 as written), and every image file must exist."""
    annotations = Path(annotations)
    doc = read_coco(annotations)
    classes = _categories(doc["categories"], annotations)
    records: list[ImageRecord] = []
    files: list[Path] = []
    seen: dict[int, int] = {}
    for i, img in enumerate(doc["images"]):
        where = _where(annotations, "images", i, img)
        if not isinstance(img, dict):
            raise DataError(f"{where}: an image is an object with id, file_name, width and height, got a JSON {_json_type(img)}")
        image_id = _integer(img, "id", where)
        if image_id in seen:
            raise DataError(f"{where}: id {image_id} is also the id of images[{seen[image_id]}]; image ids must be unique")
        seen[image_id] = i
        name = img.get("file_name")
        if not isinstance(name, str) or not name:
            raise DataError(f"{where}: {_missing_or_bad(img, 'file_name', 'a non-empty string')}")
        width = _integer(img, "width", where, positive=True)
        height = _integer(img, "height", where, positive=True)
        path = within(images, name)
        if path is None:
            raise DataError(f"{where}: file_name {outside_hint(name, images)}")
        if not path.is_file():
            raise DataError(f"{path}: image listed in {annotations} (images[{i}], id {image_id}) not found")
        records.append(ImageRecord(image_id, str(path), width, height, source=str(annotations)))
        files.append(path)
    by_image: dict[int, list[tuple[list[float], int, bool, float | None]]] = {r.image_id: [] for r in records}
    for i, ann in enumerate(doc["annotations"]):
        where = _where(annotations, "annotations", i, ann)
        if not isinstance(ann, dict):
            raise DataError(f"{where}: an annotation is an object with image_id, category_id and bbox, got a JSON {_json_type(ann)}")
        image_id = _integer(ann, "image_id", where)
        if image_id not in by_image:
            raise DataError(f"{where}: image_id {image_id} is not the id of any entry of 'images'")
        category = _integer(ann, "category_id", where)
        if category not in classes:
            raise DataError(
                f"{where}: category_id {category} is not the id of any entry of 'categories' "
                f"(known: {', '.join(str(c) for c in sorted(classes))})"
            )
        box = _bbox(ann, where)
        area = _number(ann, "area", where) if ann.get("area") is not None else None
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1, True, False):
            raise DataError(f"{where}: iscrowd must be 0 or 1, got {_shown(crowd)}")
        by_image[image_id].append((box, category, bool(crowd), area))
    targets = {r.image_id: _targets(r, by_image[r.image_id]) for r in records}
    order = sorted(range(len(records)), key=lambda i: records[i].image_id)
    return Dataset("detection", [records[i] for i in order], classes, targets, [files[i] for i in order])


def _targets(record: ImageRecord, anns: list[tuple[list[float], int, bool, float | None]]) -> ImageTargets:
    xywh = np.array([a[0] for a in anns], dtype=np.float64).reshape(-1, 4)
    return ImageTargets(
        image_id=record.image_id,
        boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
        labels=np.array([a[1] for a in anns], dtype=np.int64),
        iscrowd=np.array([a[2] for a in anns], dtype=bool),
        area=np.array([a[3] if a[3] is not None else a[0][2] * a[0][3] for a in anns], dtype=np.float64),
        width=record.width,
        height=record.height,
        xywh=xywh,
    )


def _categories(categories: list, annotations: Path) -> dict[int, str]:
    """Category id → name; ids and names must be unique (criteria name classes, results key them by id)."""
    classes: dict[int, str] = {}
    index: dict[int, int] = {}
    for i, cat in enumerate(categories):
        where = _where(annotations, "categories", i, cat)
        if not isinstance(cat, dict):
            raise DataError(f"{where}: a category is an object with id and name, got a JSON {_json_type(cat)}")
        cid = _integer(cat, "id", where)
        name = cat.get("name")
        if not isinstance(name, str) or not name:
            raise DataError(f"{where}: {_missing_or_bad(cat, 'name', 'a non-empty string')}")
        if cid in classes:
            raise DataError(f"{where}: id {cid} is also the id of categories[{index[cid]}]; category ids must be unique")
        if name in classes.values():
            other = next(j for j, c in index.items() if classes[j] == name)
            raise DataError(
                f"{where}: name {name!r} is also the name of categories[{index[other]}]; category names must be unique"
            )
        classes[cid] = name
        index[cid] = i
    return classes


def _bbox(ann: dict, where: str) -> list[float]:
    """``[x, y, w, h]``: four finite numbers, width and height not negative."""
    box = ann.get("bbox")
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise DataError(f"{where}: {_missing_or_bad(ann, 'bbox', 'a list of 4 numbers [x, y, width, height]')}")
    values = [float(v) for v in box]
    if not all(math.isfinite(v) for v in (*values, values[0] + values[2], values[1] + values[3])):
        raise DataError(f"{where}: bbox {_shown(box)} has NaN or infinite values; give 4 finite numbers [x, y, width, height]")
    if values[2] < 0 or values[3] < 0:
        raise DataError(f"{where}: bbox {_shown(box)} has a negative width or height; COCO boxes are [x, y, width, height]")
    return values


def _integer(record: dict, key: str, where: str, *, positive: bool = False) -> int:
    """An integer field (an integral JSON number such as 640.0 is accepted; strings, booleans and null are not)."""
    value = record.get(key)
    ok = _is_number(value) and math.isfinite(value) and float(value).is_integer() and abs(value) < _MAX_INT
    if not ok or (positive and value <= 0):
        wanted = "a positive integer" if positive else "an integer"
        raise DataError(f"{where}: {_missing_or_bad(record, key, wanted)}")
    return int(value)


def _number(record: dict, key: str, where: str) -> float:
    value = record.get(key)
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise DataError(f"{where}: {_missing_or_bad(record, key, 'a finite number ≥ 0')}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _missing_or_bad(record: dict, key: str, wanted: str) -> str:
    if key not in record:
        return f"missing '{key}' ({wanted})"
    value = record[key]
    return f"'{key}' must be {wanted}, got {_shown(value)} (a JSON {_json_type(value)})"


def _shown(value: Any, limit: int = 60) -> str:
    """A value as it reads in the JSON file, cut to ``limit`` characters."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(annotations: Path, section: str, index: int, record: Any) -> str:
    """``file: section[index] (id X)`` — the id only when the record has one that can be shown."""
    rid = record.get("id") if isinstance(record, dict) else None
    shown = f" (id {_shown(rid, 40)})" if rid is not None else ""
    return f"{annotations}: {section}[{index}]{shown}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"

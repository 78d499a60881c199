"""Class-per-folder classification datasets: ``root/<class>/<image>``; class index = position in the class list."""

from __future__ import annotations

from pathlib import Path

import cv2

from fieldready.data.dataset import Dataset
from fieldready.data.types import ImageRecord
from fieldready.errors import DataError

__all__ = ["load_imagefolder", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def load_imagefolder(root: Path, *, classes: list[str] | None = None) -> Dataset:
    """Read ``root/<class>/*`` (classes sorted by folder name unless given); ids follow the sorted paths."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found; check dataset.images")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    names = classes or folders
    missing = [c for c in names if c not in folders]
    if missing:
        raise DataError(f"{root}: no folder for classes {missing}; found {folders}")
    if not names:
        raise DataError(f"{root}: no class folders; expected {root}/<class>/<image>.png")
    records: list[ImageRecord] = []
    files: list[Path] = []
    for label, name in enumerate(names):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            header = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if header is None:
                raise DataError(f"{path}: cannot decode this image; replace or remove it")
            h, w = header.shape[:2]
            records.append(ImageRecord(len(records), str(path), int(w), int(h), label=label))
            files.append(path)
    if not records:
        raise DataError(f"{root}: no images found in the class folders")
    return Dataset("classification", records, dict(enumerate(names)), {}, files)

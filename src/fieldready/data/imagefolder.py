"""Class-per-folder classification datasets: ``root/<class>/<image>``; class index = position in the class list."""

from __future__ import annotations

from pathlib import Path

from fieldready.data.decode import image_size
from fieldready.data.types import IMAGE_SUFFIXES, Dataset, ImageRecord
from fieldready.errors import DataError

__all__ = ["load_imagefolder", "load_unlabelled"]



def load_unlabelled(root: Path, *, task: str, classes: list[str] | None = None) -> Dataset:
    """Every image below ``root`` (sorted by relative path), without labels: for label-free criteria."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found; check dataset.images")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    records = [ImageRecord(i, str(p), *image_size(p)) for i, p in enumerate(paths)]
    return Dataset(task, records, dict(enumerate(classes or [])), {}, paths)


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
            w, h = image_size(path)
            records.append(ImageRecord(len(records), str(path), w, h, label=label))
            files.append(path)
    if not records:
        raise DataError(f"{root}: no images found in the class folders")
    return Dataset("classification", records, dict(enumerate(names)), {}, files)

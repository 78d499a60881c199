"""The dataset a plan runs on: image records, class names and (detection) ground truth.

Data formats are a registry: a format name maps to a loader (reads and checks every file, returns a
``Dataset``) and a class-name reader (cheap, for checking a spec's criteria before anything is
loaded). Adding a format is one module with those two functions, imported here, and one
``register_format`` call at the end of this file. No format module imports torch, so
``fieldready validate`` stays light; they import ``Dataset`` from ``types``, so none imports this one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fieldready.data.coco import coco_classes, load_coco
from fieldready.data.imagefolder import load_imagefolder, load_unlabelled
from fieldready.data.types import Dataset
from fieldready.data.voc import load_voc, voc_classes
from fieldready.data.yolo import load_yolo, yolo_classes
from fieldready.errors import DataError

__all__ = [
    "Dataset",
    "DatasetSource",
    "DataFormat",
    "register_format",
    "get_format",
    "format_names",
    "load_dataset",
    "load_source",
    "load_spec_dataset",
    "spec_class_names",
    "spec_source",
    "subset",
]


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's files are, as the spec names them, with paths already resolved."""

    format: str
    task: str = "detection"
    images: Path | None = None
    annotations: Path | None = None
    data: Path | None = None
    split: str | None = None
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DataFormat:
    """A registered data format: its loader and its cheap class-name reader.

    ``class_names`` returns the names in category-id order, or None when the files cannot be read
    (the loader then names the problem); it must not raise for a malformed file.
    """

    name: str
    load: Callable[[DatasetSource], Dataset]
    class_names: Callable[[DatasetSource], list[str] | None]


_FORMATS: dict[str, DataFormat] = {}


def register_format(
    name: str,
    *,
    load: Callable[[DatasetSource], Dataset],
    class_names: Callable[[DatasetSource], list[str] | None],
) -> DataFormat:
    """Add a data format under ``name``; a name can be registered once."""
    if name in _FORMATS:
        raise ValueError(f"data format {name!r} is already registered")
    _FORMATS[name] = DataFormat(name, load, class_names)
    return _FORMATS[name]


def format_names() -> list[str]:
    """The registered data formats, in registration order."""
    return list(_FORMATS)


def get_format(name: str) -> DataFormat:
    """The registered format ``name`` (DataError listing the known ones otherwise)."""
    try:
        return _FORMATS[name]
    except KeyError:
        raise DataError(f"unknown dataset format {name!r}; known: {', '.join(_FORMATS)}") from None


def load_source(source: DatasetSource, *, subset_size: int | None = None, subset_seed: int = 0) -> Dataset:
    """Read the dataset ``source`` describes, optionally reduced to a deterministic subset."""
    dataset = get_format(source.format).load(source)
    if subset_size is not None and subset_size < len(dataset.records):
        dataset = subset(dataset, subset_size, seed=subset_seed)
    return dataset


def load_dataset(
    *,
    format: str,
    task: str = "detection",
    images: Path | None = None,
    annotations: Path | None = None,
    data: Path | None = None,
    split: str | None = None,
    classes: list[str] | None = None,
    subset_size: int | None = None,
    subset_seed: int = 0,
) -> Dataset:
    """Read a dataset in ``format`` (see ``format_names()``), optionally reduced to a deterministic subset."""
    source = DatasetSource(
        format=format,
        task=task,
        images=Path(images) if images is not None else None,
        annotations=Path(annotations) if annotations is not None else None,
        data=Path(data) if data is not None else None,
        split=split,
        classes=tuple(classes) if classes else None,
    )
    return load_source(source, subset_size=subset_size, subset_seed=subset_seed)


def spec_source(ds: Any, *, task: str, resolve: Callable[[str], Path]) -> DatasetSource:
    """The source a spec's ``dataset`` section names, its paths resolved (relative to the spec)."""

    def path(value: str | None) -> Path | None:
        return resolve(value) if value else None

    return DatasetSource(
        format=ds.format,
        task=task,
        images=path(ds.images),
        annotations=path(ds.annotations),
        data=path(getattr(ds, "data", None)),
        split=getattr(ds, "split", None),
        classes=tuple(ds.classes) if ds.classes else None,
    )


def load_spec_dataset(ds: Any, *, task: str, resolve: Callable[[str], Path]) -> Dataset:
    """The dataset a spec's ``dataset`` section declares, with its subset applied."""
    return load_source(
        spec_source(ds, task=task, resolve=resolve),
        subset_size=ds.subset.size if ds.subset else None,
        subset_seed=ds.subset.seed if ds.subset else 0,
    )


def spec_class_names(ds: Any, *, task: str, resolve: Callable[[str], Path]) -> list[str] | None:
    """Class names of a spec's dataset read cheaply, in category-id order; None when unreadable."""
    source = spec_source(ds, task=task, resolve=resolve)
    return get_format(source.format).class_names(source)


def subset(dataset: Dataset, size: int, *, seed: int = 0) -> Dataset:
    """A random subset of ``size`` images chosen by ``seed``, independent of file order (ids sorted first)."""
    ids = np.array(sorted(r.image_id for r in dataset.records))
    keep = set(np.random.default_rng(seed).choice(ids, size=size, replace=False).tolist())
    records = [r for r in dataset.records if r.image_id in keep]
    targets = {i: t for i, t in dataset.targets.items() if i in keep}
    return replace(dataset, records=records, targets=targets)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), or DataError naming the file."""
    h = hashlib.sha256()
    hash_file(path, h, what="the annotation file")
    return h.hexdigest()


def hash_file(path: Path, h: "hashlib._Hash", *, what: str) -> None:
    """Feed a file's bytes to ``h`` in 1 MiB chunks; DataError naming the file (``what`` it is) if unreadable."""
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what} ({exc.strerror or exc}); check the file") from None


# --- The built-in formats. ------------------------------------------------------------------------


def _load_coco(source: DatasetSource) -> Dataset:
    dataset = load_coco(source.annotations, source.images)  # type: ignore[arg-type]
    dataset.annotation_digest = file_digest(source.annotations)  # type: ignore[arg-type]
    return dataset


def _coco_classes(source: DatasetSource) -> list[str] | None:
    if source.classes:
        return list(source.classes)
    try:
        return list(coco_classes(source.annotations).values())  # type: ignore[arg-type]
    except DataError:
        return None  # load_coco names the malformed record


def _load_imagefolder(source: DatasetSource) -> Dataset:
    return load_imagefolder(source.images, classes=list(source.classes) if source.classes else None)  # type: ignore[arg-type]


def _load_images(source: DatasetSource) -> Dataset:
    return load_unlabelled(source.images, task=source.task, classes=list(source.classes) if source.classes else None)  # type: ignore[arg-type]


def _folder_classes(source: DatasetSource) -> list[str] | None:
    if source.classes:
        return list(source.classes)
    root = source.images
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root is not None and root.is_dir() else None


def _load_yolo(source: DatasetSource) -> Dataset:
    return load_yolo(source.data, split=source.split or "val")  # type: ignore[arg-type]


def _yolo_classes(source: DatasetSource) -> list[str] | None:
    try:
        return list(yolo_classes(source.data).values())  # type: ignore[arg-type]
    except DataError:
        return None


def _load_voc(source: DatasetSource) -> Dataset:
    return load_voc(source.annotations, source.images, classes=list(source.classes) if source.classes else None)  # type: ignore[arg-type]


def _voc_classes(source: DatasetSource) -> list[str] | None:
    if source.classes:
        return list(source.classes)
    try:
        return list(voc_classes(source.annotations).values())  # type: ignore[arg-type]
    except DataError:
        return None


register_format("coco", load=_load_coco, class_names=_coco_classes)
register_format("yolo", load=_load_yolo, class_names=_yolo_classes)
register_format("voc", load=_load_voc, class_names=_voc_classes)
register_format("imagefolder", load=_load_imagefolder, class_names=_folder_classes)
register_format("images", load=_load_images, class_names=_folder_classes)

"""The dataset a plan runs on: image records, class names and (detection) ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldready.data.types import ImageRecord, ImageTargets

__all__ = ["Dataset", "load_dataset", "subset"]


@dataclass
class Dataset:
    """Images in a stable order (by id) with their classes and, for detection, their targets."""

    task: str
    records: list[ImageRecord]
    classes: dict[int, str]
    targets: dict[int, ImageTargets] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def labelled(self) -> bool:
        return bool(self.targets) or any(r.label is not None for r in self.records)


def load_dataset(
    *,
    format: str,
    task: str = "detection",
    images: Path,
    annotations: Path | None = None,
    classes: list[str] | None = None,
    subset_size: int | None = None,
    subset_seed: int = 0,
) -> Dataset:
    """Read a dataset in ``format`` (coco | imagefolder | images), optionally reduced to a deterministic subset."""
    if format == "images":
        from fieldready.data.imagefolder import load_unlabelled

        dataset = load_unlabelled(images, task=task, classes=classes)
    elif format == "coco":
        from fieldready.data.coco import load_coco

        dataset = load_coco(annotations, images)  # type: ignore[arg-type]
    else:
        from fieldready.data.imagefolder import load_imagefolder

        dataset = load_imagefolder(images, classes=classes)
    if subset_size is not None and subset_size < len(dataset.records):
        dataset = subset(dataset, subset_size, seed=subset_seed)
    return dataset


def subset(dataset: Dataset, size: int, *, seed: int = 0) -> Dataset:
    """A random subset of ``size`` images chosen by ``seed``, independent of file order (ids sorted first)."""
    ids = np.array(sorted(r.image_id for r in dataset.records))
    keep = set(np.random.default_rng(seed).choice(ids, size=size, replace=False).tolist())
    records = [r for r in dataset.records if r.image_id in keep]
    targets = {i: t for i, t in dataset.targets.items() if i in keep}
    return Dataset(dataset.task, records, dataset.classes, targets, dataset.files)

"""The dataset a plan runs on: image records, class names and (detection) ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fieldready.data.coco import load_coco
from fieldready.data.imagefolder import load_imagefolder, load_unlabelled
from fieldready.data.types import Dataset

__all__ = ["Dataset", "load_dataset", "subset"]


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
        dataset = load_unlabelled(images, task=task, classes=classes)
    elif format == "coco":
        dataset = load_coco(annotations, images)  # type: ignore[arg-type]
    else:
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

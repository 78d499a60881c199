"""The per-image records that flow from the data loaders and models into the metrics.

Arrays are NumPy on the host: these records are what the result store keeps and the metrics read,
after the device work of a batch is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["ImageRecord", "ImageTargets", "ImageDetections", "Dataset", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES"]

#: Image files fieldready reads (what OpenCV decodes here), in the order a file stem is looked up.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Video files read with OpenCV (repeated captures, production frames).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass(frozen=True)
class ImageRecord:
    """One image of the dataset: a stable integer id, its file, its size and (classification) its label.

    ``source`` is the annotation file that declared the size (COCO), or None when the size was read
    from the image itself, so a size mismatch can blame the right file. ``data`` is the file's bytes
    when they travel with the record (a batch shipped to a Ray worker): decoded instead of ``path``,
    which still names the image in messages. It takes no part in equality or hashing.
    """

    image_id: int
    path: str
    width: int
    height: int
    label: int | None = None
    source: str | None = None
    data: bytes | None = field(default=None, compare=False, repr=False)


@dataclass
class ImageTargets:
    """Detection ground truth of one image: ``boxes[M, 4]`` xyxy pixels, COCO category ``labels[M]``.

    ``area`` is the COCO annotation area (pycocotools uses it, not the box, for small/medium/large);
    ``iscrowd`` marks crowd regions, which match without counting as false negatives. ``xywh`` keeps
    the COCO boxes as written in the annotation file: x + w → xyxy → x2 − x is not always w again,
    and an IoU on a threshold would then match differently from pycocotools.
    """

    image_id: int
    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    area: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    width: int = 0
    height: int = 0
    xywh: np.ndarray | None = None

    def __post_init__(self) -> None:
        m = len(self.labels)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(m, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.iscrowd) != m:
            self.iscrowd = np.zeros(m, dtype=bool)
        if len(self.area) != m:
            self.area = (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        self.iscrowd = np.asarray(self.iscrowd, dtype=bool)
        self.area = np.asarray(self.area, dtype=np.float64)
        if self.xywh is not None:
            self.xywh = np.asarray(self.xywh, dtype=np.float64).reshape(m, 4)


@dataclass
class ImageDetections:
    """A model's detections on one image, in the original image's pixel coordinates (xyxy)."""

    image_id: int
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.scores)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(k, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.labels = np.asarray(self.labels, dtype=np.int64)


@dataclass
class Dataset:
    """Images in a stable order (by id) with their classes and, for detection, their targets.

    ``annotation_digest`` is a SHA-256 of every annotation file the loader read (and of anything
    else that decides the labels, such as a class list), so a plan changes when a label does.
    """

    task: str
    records: list[ImageRecord]
    classes: dict[int, str]
    targets: dict[int, ImageTargets] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    annotation_digest: str = ""

    @property
    def labelled(self) -> bool:
        return bool(self.targets) or any(r.label is not None for r in self.records)

"""Decode a batch of image files into one float tensor on the device, in parallel threads.

Orientation: images are decoded with ``cv2.IMREAD_COLOR``, which applies a JPEG's EXIF orientation
tag, and every size fieldready reads (``image_size`` for folders, the check against COCO's
width/height) is of that same upright image. This is what browsers, and so the browser-based
annotation tools (CVAT, Label Studio, makesense), show and record, so boxes drawn there line up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fieldready.data.types import ImageRecord
from fieldready.errors import DataError

if TYPE_CHECKING:  # torch is imported when a batch is decoded, so indexing a dataset stays light
    import torch

__all__ = ["decode_images", "read_rgb", "image_size", "READ_FLAGS"]

#: The one decoding mode: 3-channel colour with the EXIF orientation applied.
READ_FLAGS = cv2.IMREAD_COLOR
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fieldready-decode")


def read_rgb(path: str | Path) -> np.ndarray:
    """One image file as ``HxWx3`` uint8 RGB (EXIF orientation applied), or DataError naming the file."""
    try:
        image = cv2.imread(str(path), READ_FLAGS)
    except cv2.error as exc:  # e.g. an image larger than OpenCV's pixel limit
        raise DataError(f"{path}: image cannot be decoded ({str(exc).strip().splitlines()[-1]}); fix or remove it") from None
    if image is None:
        hint = "not found" if not Path(path).exists() else "cannot be decoded (corrupt or unsupported format)"
        raise DataError(f"{path}: image {hint}; fix or remove it from the dataset")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of the image exactly as ``read_rgb`` returns it (EXIF orientation applied)."""
    array = read_rgb(path)
    return int(array.shape[1]), int(array.shape[0])


def _stored_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` as stored, ignoring EXIF orientation; None when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if image is None else (int(image.shape[1]), int(image.shape[0]))


def _size_error(record: ImageRecord, array: np.ndarray) -> DataError:
    """The mismatch between a decoded image and its record, blaming the file that gave the size."""
    h, w = array.shape[:2]
    said = f"{record.width}x{record.height}"
    if record.source is None:
        return DataError(
            f"{record.path}: image is now {w}x{h} but was {said} when the dataset was indexed; "
            "the file changed during the run — run the same command again"
        )
    stored = _stored_size(record.path)
    if stored == (record.width, record.height) and stored != (w, h):
        return DataError(
            f"{record.path}: image is {w}x{h} after its EXIF orientation (stored {said}), but {record.source} "
            f"(image id {record.image_id}) says {said}; fieldready applies EXIF orientation as browsers and "
            "annotation tools do — annotate the upright image or strip its EXIF orientation tag"
        )
    return DataError(
        f"{record.path}: image is {w}x{h} but {record.source} (image id {record.image_id}) says {said}; "
        "fix the annotation file"
    )


def decode_images(records: list[ImageRecord], device: torch.device) -> torch.Tensor:
    """``[N, 3, H, W]`` float32 in [0, 1] on ``device``; all records must share one size."""
    import torch

    arrays = list(_POOL.map(lambda r: read_rgb(r.path), records))
    for record, array in zip(records, arrays):
        if array.shape[:2] != (record.height, record.width):
            raise _size_error(record, array)
    batch = torch.from_numpy(np.stack(arrays)).to(device, non_blocking=True)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)

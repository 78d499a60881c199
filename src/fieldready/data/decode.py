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

__all__ = ["decode_images", "decode_rgb", "read_rgb", "image_size", "READ_FLAGS"]

#: The one decoding mode: 3-channel colour with the EXIF orientation applied.
READ_FLAGS = cv2.IMREAD_COLOR
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fieldready-decode")


def decode_rgb(data: bytes, name: str | Path) -> np.ndarray:
    """An image file's bytes as ``HxWx3`` uint8 RGB (EXIF orientation applied), or DataError naming ``name``.

    The one decoder: files on disk (``read_rgb``) and bytes shipped to a Ray worker go through it, so
    both give the same pixels (16-bit, grey and RGBA files included) and the same errors.
    """
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), READ_FLAGS) if data else None
    except cv2.error as exc:  # e.g. an image larger than OpenCV's pixel limit
        raise DataError(f"{name}: image cannot be decoded ({str(exc).strip().splitlines()[-1]}); fix or remove it") from None
    if image is None:
        raise DataError(f"{name}: image cannot be decoded (corrupt or unsupported format); fix or remove it from the dataset")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_rgb(path: str | Path) -> np.ndarray:
    """One image file as ``HxWx3`` uint8 RGB (EXIF orientation applied), or DataError naming the file."""
    return decode_rgb(_read(path), path)


def _read(path: str | Path) -> bytes:
    """The file's bytes, or DataError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: image not found; fix or remove it from the dataset") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc.strerror or exc}); fix or remove it from the dataset") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of the image exactly as ``read_rgb`` returns it (EXIF orientation applied)."""
    array = read_rgb(path)
    return int(array.shape[1]), int(array.shape[0])


def _stored_size(record: ImageRecord) -> tuple[int, int] | None:
    """``(width, height)`` as stored, ignoring EXIF orientation; None when it cannot be read."""
    try:
        data = record.data if record.data is not None else Path(record.path).read_bytes()
    except OSError:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data else None
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
    stored = _stored_size(record)
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


def _rgb(record: ImageRecord) -> np.ndarray:
    """A record's pixels: from the bytes it carries (shipped to a Ray worker), else from its file."""
    return read_rgb(record.path) if record.data is None else decode_rgb(record.data, record.path)


def decode_images(records: list[ImageRecord], device: torch.device) -> torch.Tensor:
    """``[N, 3, H, W]`` float32 in [0, 1] on ``device``; all records must share one size."""
    import torch

    arrays = list(_POOL.map(_rgb, records))
    for record, array in zip(records, arrays):
        if array.shape[:2] != (record.height, record.width):
            raise _size_error(record, array)
    batch = torch.from_numpy(np.stack(arrays)).to(device, non_blocking=True)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)

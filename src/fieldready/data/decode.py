"""Decode a batch of image files into one float tensor on the device, in parallel threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from fieldready.data.types import ImageRecord
from fieldready.errors import DataError

__all__ = ["decode_images", "read_rgb"]

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fieldready-decode")


def read_rgb(path: str | Path) -> np.ndarray:
    """One image file as ``HxWx3`` uint8 RGB, or DataError naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        hint = "not found" if not Path(path).exists() else "cannot be decoded (corrupt or unsupported format)"
        raise DataError(f"{path}: image {hint}; fix or remove it from the dataset")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_images(records: list[ImageRecord], device: torch.device) -> torch.Tensor:
    """``[N, 3, H, W]`` float32 in [0, 1] on ``device``; all records must share one size."""
    arrays = list(_POOL.map(lambda r: read_rgb(r.path), records))
    for record, array in zip(records, arrays):
        if array.shape[:2] != (record.height, record.width):
            raise DataError(
                f"{record.path}: image is {array.shape[1]}x{array.shape[0]} but the annotations say "
                f"{record.width}x{record.height}; fix the annotation file"
            )
    batch = torch.from_numpy(np.stack(arrays)).to(device, non_blocking=True)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)

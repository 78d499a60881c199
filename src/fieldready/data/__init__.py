"""Datasets: reading COCO, YOLO, Pascal VOC and class-per-folder datasets into records, and decoding image batches."""

from __future__ import annotations

from typing import Any

from fieldready.data.dataset import Dataset, load_dataset
from fieldready.data.types import ImageDetections, ImageRecord, ImageTargets

__all__ = ["Dataset", "load_dataset", "decode_images", "ImageRecord", "ImageTargets", "ImageDetections"]


def __getattr__(name: str) -> Any:
    # Decoding needs OpenCV (and torch for the batch): loaded on first use, so reading a spec's dataset index does not pay for it.
    if name == "decode_images":
        from fieldready.data.decode import decode_images

        return decode_images
    raise AttributeError(f"module 'fieldready.data' has no attribute {name!r}")

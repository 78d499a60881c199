"""Datasets: reading COCO, YOLO, Pascal VOC and class-per-folder datasets into records, and decoding image batches."""

from __future__ import annotations

from fieldready.data.dataset import Dataset, load_dataset
from fieldready.data.decode import decode_images
from fieldready.data.types import ImageDetections, ImageRecord, ImageTargets

__all__ = ["Dataset", "load_dataset", "decode_images", "ImageRecord", "ImageTargets", "ImageDetections"]

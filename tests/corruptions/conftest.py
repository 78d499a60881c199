"""Fixtures for the corruption tests: real photos at small sizes, and the imagecorruptions reference."""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
import skimage.data
import torch

_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@lru_cache(maxsize=None)
def photo_array(name: str, size: int) -> np.ndarray:
    """A skimage sample photo resized to ``size``×``size`` RGB uint8."""
    return cv2.resize(getattr(skimage.data, name)(), (size, size), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=None)
def photo_hw(name: str, h: int, w: int) -> np.ndarray:
    """A skimage sample photo resized to ``h``×``w`` (height × width) RGB uint8."""
    return cv2.resize(getattr(skimage.data, name)(), (w, h), interpolation=cv2.INTER_AREA)


def photos(n: int, size: int, device: str = "cpu") -> torch.Tensor:
    """``[n, 3, size, size]`` float photos in [0, 1]."""
    arr = np.stack([photo_array(_PHOTOS[i % len(_PHOTOS)], size) for i in range(n)])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255.0).to(device)


def reference() -> ModuleType:
    """imagecorruptions 1.1.2 through the repository's import shim (ImportError with an install hint if missing)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "_imagecorruptions_shim.py"
    spec = importlib.util.spec_from_file_location("_imagecorruptions_shim", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_imagecorruptions_shim", module)
    spec.loader.exec_module(module)
    return module.load()


@pytest.fixture
def small(device: str) -> torch.Tensor:
    """Four 48×56 photos (non-square, so H/W mix-ups show)."""
    arr = np.stack([cv2.resize(getattr(skimage.data, n)(), (56, 48), interpolation=cv2.INTER_AREA) for n in _PHOTOS])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255.0).to(device)

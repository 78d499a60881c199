"""Colour helpers on ``[N, 3, H, W]`` RGB tensors in [0, 1]."""

from __future__ import annotations

import torch

from fieldready.corruptions._filters import per_image

_GRAY = (0.299, 0.587, 0.114)


def gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma ``[N, 1, H, W]`` (cv2's RGB2GRAY weights)."""
    w = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve, so that light can be scaled physically (per image: ``pow`` is batch-sensitive)."""
    return per_image(lambda t: torch.where(t <= 0.04045, t / 12.92, ((t + 0.055) / 1.055).clamp_min(0) ** 2.4), x)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve (per image: ``pow`` is batch-sensitive)."""
    x = x.clamp(0, 1)
    return per_image(lambda t: torch.where(t <= 0.0031308, t * 12.92, 1.055 * t.clamp_min(1e-12) ** (1 / 2.4) - 0.055), x)

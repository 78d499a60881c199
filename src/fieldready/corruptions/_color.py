"""Colour helpers on ``[N, 3, H, W]`` RGB tensors in [0, 1]."""

from __future__ import annotations

import torch

_GRAY = (0.299, 0.587, 0.114)


def gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma ``[N, 1, H, W]`` (cv2's RGB2GRAY weights)."""
    w = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve, so that light can be scaled physically."""
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).clamp_min(0) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(1e-12) ** (1 / 2.4) - 0.055)

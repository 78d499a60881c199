"""Sensor noise: gaussian, shot (Poisson), impulse (salt-and-pepper) and speckle noise, as in ImageNet-C."""

from __future__ import annotations

import torch

from fieldready.corruptions.registry import register
from fieldready.rng import ImageRNG

__all__ = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"]


@register("gaussian_noise")
def gaussian_noise(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Additive white Gaussian noise of standard deviation σ, clipped to [0, 1]."""
    noise = rng.normal(*images.shape[1:], std=severity)
    return (images + noise).clamp_(0.0, 1.0)


@register("shot_noise")
def shot_noise(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Photon shot noise: Poisson(x·λ)/λ, where λ photons would make a white pixel."""
    return (rng.poisson(images * severity) / severity).clamp_(0.0, 1.0)


@register("impulse_noise")
def impulse_noise(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Salt-and-pepper noise on each channel value independently (skimage's ``s&p``, salt:pepper 1:1)."""
    u = rng.uniform(*images.shape[1:])
    # One uniform decides both whether a value is hit and which way: [0, a/2) pepper, [a/2, a) salt.
    hit = u < severity
    # 0 on [0, a/2), 1 on [a/2, a) (the clamp catches u·2/a rounding up to 2 just below a)
    salt = u.mul_(2.0 / severity).floor_().clamp_(max=1.0) if severity > 0 else u
    return torch.where(hit, salt, images)


@register("speckle_noise")
def speckle_noise(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Multiplicative Gaussian noise x + x·n, n ~ N(0, σ²), clipped to [0, 1]."""
    noise = rng.normal(*images.shape[1:], std=severity)
    return torch.addcmul(images, images, noise).clamp_(0.0, 1.0)

"""Field conditions seen in deployment: occlusion, dead/stuck pixels, exposure, gamma, colour temperature, vignetting."""

from __future__ import annotations

import math

import torch

from fieldready.corruptions._color import linear_to_srgb, srgb_to_linear
from fieldready.corruptions._filters import per_image
from fieldready.corruptions._kelvin import kelvin_to_rgb
from fieldready.corruptions.registry import Boxes, register
from fieldready.errors import CorruptionError
from fieldready.rng import ImageRNG

__all__ = [
    "occlusion",
    "object_occlusion",
    "dead_pixels",
    "stuck_pixels",
    "exposure",
    "gamma",
    "color_temperature",
    "vignetting",
]


def _rect_mask(y0: torch.Tensor, y1: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Union of rectangles ``[N, M]`` (pixel bounds, end exclusive) as a ``[N, 1, H, W]`` bool mask.

    Row and column masks are multiplied as ``[N, H, M] @ [N, M, W]``, so memory stays O(N·M·(H+W)).
    """
    ys = torch.arange(h, device=y0.device, dtype=torch.float32)
    xs = torch.arange(w, device=x0.device, dtype=torch.float32)
    rows = ((ys[None, :, None] >= y0[:, None, :]) & (ys[None, :, None] < y1[:, None, :])).float()
    cols = ((xs[None, None, :] >= x0[:, :, None]) & (xs[None, None, :] < x1[:, :, None])).float()
    return (rows @ cols > 0).unsqueeze(1)


@register("occlusion")
def occlusion(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Cutout: one black rectangle covering ``severity`` of the frame, random aspect (1:2–2:1) and position."""
    n, _, h, w = images.shape
    u = rng.uniform(3)  # aspect, vertical and horizontal position
    area = severity * h * w
    aspect = per_image(torch.exp, (u[:, 0] - 0.5) * 2 * math.log(2.0))  # height / width
    rh = torch.sqrt(area * aspect).clamp(max=h)
    rw = (area / rh.clamp_min(1e-6)).clamp(max=w)
    rh = (area / rw.clamp_min(1e-6)).clamp(max=h)  # a side clamped by the frame lengthens the other one
    rh, rw = torch.round(rh), torch.round(rw)
    y0 = torch.floor(u[:, 1] * (h - rh + 1))
    x0 = torch.floor(u[:, 2] * (w - rw + 1))
    mask = _rect_mask(y0[:, None], (y0 + rh)[:, None], x0[:, None], (x0 + rw)[:, None], h, w)
    return images.masked_fill(mask, 0.0)


@register("object_occlusion")
def object_occlusion(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> torch.Tensor:
    """Occlude each object: a black rectangle of the box's aspect and ``severity`` of its area, placed inside it."""
    if boxes is None:
        raise CorruptionError(
            "object_occlusion covers ground-truth objects but received no boxes; "
            "use it on a detection dataset, or use 'occlusion' for images without boxes"
        )
    n, _, h, w = images.shape
    b = boxes.xyxy.to(images.device)
    m = b.shape[1]
    u = rng.uniform(2, m) if m else rng.uniform(2, 1)[..., :0]
    side = math.sqrt(severity)
    bw, bh = (b[..., 2] - b[..., 0]) * side, (b[..., 3] - b[..., 1]) * side
    x0 = b[..., 0] + u[:, 0] * (b[..., 2] - b[..., 0] - bw)
    y0 = b[..., 1] + u[:, 1] * (b[..., 3] - b[..., 1] - bh)
    valid = boxes.valid.to(images.device)
    # Padding boxes get an empty rectangle; rounding to pixel edges keeps the covered share close.
    y1 = torch.where(valid, torch.round(y0 + bh), torch.round(y0))
    x1 = torch.where(valid, torch.round(x0 + bw), torch.round(x0))
    mask = _rect_mask(torch.round(y0), y1, torch.round(x0), x1, h, w)
    return images.masked_fill(mask, 0.0)


@register("dead_pixels")
def dead_pixels(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Dead sensor pixels: a random ``severity`` share of pixel sites read black in all channels."""
    dead = rng.uniform(1, *images.shape[2:]) < severity
    return images.masked_fill(dead, 0.0)


@register("stuck_pixels")
def stuck_pixels(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Stuck (hot) pixels: a random ``severity`` share of sites read a fixed saturated colour (one of the 7 non-black RGB corners)."""
    h, w = images.shape[2:]
    u = rng.uniform(2, h, w)
    stuck = (u[:, :1] < severity)
    code = torch.floor(u[:, 1:] * 7).long() + 1  # 1..7 → bits of R, G, B
    bits = torch.tensor([4, 2, 1], device=images.device).view(1, 3, 1, 1)
    colour = ((code & bits) > 0).float()
    return torch.where(stuck, colour, images)


@register("exposure")
def exposure(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Under- or over-exposure: linear-light intensity times 2^EV, clipped at sensor saturation."""
    return linear_to_srgb(srgb_to_linear(images) * (2.0**severity)).clamp_(0.0, 1.0)


@register("gamma")
def gamma(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """A wrong tone curve: every value raised to the power γ."""
    return per_image(lambda x: x.clamp(0.0, 1.0).pow(severity), images)


@register("color_temperature")
def color_temperature(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Wrong white balance: linear RGB scaled by the illuminant's colour relative to 6500 K (brightest channel kept)."""
    ref = kelvin_to_rgb(6500.0)
    ill = kelvin_to_rgb(severity)
    gains = [srgb_lin(i) / max(srgb_lin(r), 1e-6) for i, r in zip(ill, ref)]
    top = max(gains)
    g = torch.tensor([x / top for x in gains], device=images.device).view(1, 3, 1, 1)
    return linear_to_srgb(srgb_to_linear(images) * g).clamp_(0.0, 1.0)


def srgb_lin(v: float) -> float:
    """Scalar sRGB → linear (for the white-balance gains)."""
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


@register("vignetting")
def vignetting(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Lens vignetting: linear light scaled by 1 − v·(r/r_corner)⁴ -like cos⁴ fall-off, v at the corners."""
    h, w = images.shape[-2:]
    ys = (torch.arange(h, device=images.device, dtype=torch.float32) + 0.5 - h / 2) / (h / 2)
    xs = (torch.arange(w, device=images.device, dtype=torch.float32) + 0.5 - w / 2) / (w / 2)
    r2 = (ys[:, None] ** 2 * h * h + xs[None, :] ** 2 * w * w) / (h * h + w * w)  # 1 at the corners
    gain = 1.0 - severity * r2**2
    return linear_to_srgb(srgb_to_linear(images) * gain).clamp_(0.0, 1.0)

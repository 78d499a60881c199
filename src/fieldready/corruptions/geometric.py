"""Geometric corruptions: the content moves, so ground-truth boxes are moved with it.

Every function returns ``(images, boxes)``. Boxes are moved, clipped to the frame and marked invalid
when less than a quarter of their area (or less than one pixel of width or height) stays visible
(see ``_warp.MIN_VISIBLE``). Uncovered areas are black.
"""

from __future__ import annotations

import math

import torch

from fieldready.corruptions._filters import gaussian_kernel1d, per_image, separable
from fieldready.corruptions._warp import affine_boxes, displaced_boxes, finish_boxes, sample, warp_affine
from fieldready.corruptions.registry import Boxes, register
from fieldready.rng import ImageRNG

__all__ = ["translate", "rotate", "scale", "hflip", "vflip", "elastic_transform"]

Result = tuple[torch.Tensor, Boxes | None]


def _affine(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(3, device=device).repeat(n, 1, 1)


@register("translate")
def translate(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> Result:
    """Shift the image by ``severity`` pixels in a random direction (bilinear for sub-pixel shifts)."""
    n, _, h, w = images.shape
    theta = rng.uniform(low=0.0, high=2 * math.pi).view(n)
    shift = severity * spatial_scale
    fwd = _affine(n, images.device)
    fwd[:, 0, 2] = shift * per_image(torch.cos, theta)
    fwd[:, 1, 2] = shift * per_image(torch.sin, theta)
    return warp_affine(images, fwd), affine_boxes(boxes, fwd, h, w)


def _about_centre(linear: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The affine map applying ``linear[N, 2, 2]`` about the image centre."""
    fwd = _affine(linear.shape[0], linear.device)
    fwd[:, :2, :2] = linear
    c = torch.tensor([w / 2.0, h / 2.0], device=linear.device)
    fwd[:, :2, 2] = c - (linear * c).sum(-1)  # elementwise: batch-independent
    return fwd


@register("rotate")
def rotate(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> Result:
    """Rotate about the image centre by ``severity`` degrees, clockwise or anticlockwise at random.

    Boxes become the axis-aligned hull of their rotated corners (so they grow slightly).
    """
    n, _, h, w = images.shape
    sign = torch.where(rng.uniform().view(n) < 0.5, -1.0, 1.0)
    a = sign * math.radians(severity)
    cos, sin = per_image(torch.cos, a), per_image(torch.sin, a)
    linear = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    fwd = _about_centre(linear, h, w)
    return warp_affine(images, fwd), affine_boxes(boxes, fwd, h, w)


@register("scale")
def scale(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> Result:
    """Zoom the image about its centre by ``severity`` (camera distance or focal length change)."""
    n, _, h, w = images.shape
    linear = torch.eye(2, device=images.device).repeat(n, 1, 1) * severity
    fwd = _about_centre(linear, h, w)
    return warp_affine(images, fwd), affine_boxes(boxes, fwd, h, w)


def _flip(
    images: torch.Tensor, severity: float, rng: ImageRNG, boxes: Boxes | None, *, horizontal: bool
) -> Result:
    n, _, h, w = images.shape
    hit = rng.uniform().view(n) < severity
    dim = 3 if horizontal else 2
    out = torch.where(hit.view(n, 1, 1, 1), images.flip(dim), images)
    if boxes is None:
        return out, None
    b = boxes.xyxy.to(images.device)
    size = w if horizontal else h
    lo, hi = (0, 2) if horizontal else (1, 3)
    flipped = b.clone()
    flipped[..., lo], flipped[..., hi] = size - b[..., hi], size - b[..., lo]
    moved = torch.where(hit.view(n, 1, 1), flipped, b)
    return out, finish_boxes(moved, boxes.valid.to(images.device), h, w)


@register("hflip")
def hflip(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> Result:
    """Mirror left–right (x → W − x) each image with probability ``severity``."""
    return _flip(images, severity, rng, boxes, horizontal=True)


@register("vflip")
def vflip(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> Result:
    """Mirror top–bottom (y → H − y) each image with probability ``severity``."""
    return _flip(images, severity, rng, boxes, horizontal=False)


@register("elastic_transform")
def elastic_transform(
    images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0, boxes: Boxes | None = None
) -> Result:
    """Local rubber-sheet warp: uniform noise smoothed by a Gaussian of σ = 1 % of the size, times α.

    The displacement in pixels does not depend on the image size at a fixed α (noise amplitude and
    smoothing both scale with it), so ``spatial_scale`` multiplies α for resolution-aware severity.
    """
    n, _, h, w = images.shape
    max_d = 0.005 * h
    noise = rng.uniform(2, h, w, low=-max_d, high=max_d)
    sy, sx = 0.01 * h, 0.01 * w
    ky = gaussian_kernel1d(sy, int(3 * sy + 0.5))
    kx = gaussian_kernel1d(sx, int(3 * sx + 0.5))
    disp = separable(noise, ky, kx, mode="symmetric") * (severity * spatial_scale)
    ys = torch.arange(h, device=images.device, dtype=torch.float32).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=images.device, dtype=torch.float32).view(1, 1, w) + 0.5
    src = torch.stack([xs + disp[:, 0], ys + disp[:, 1]], -1)
    out = sample(images, src, padding="reflection").clamp_(0.0, 1.0)
    return out, displaced_boxes(boxes, disp, h, w)

"""Warping images and moving their boxes with them: affine maps, dense displacement fields, box clipping.

Coordinates are continuous pixels: pixel (i, j) covers [j, j+1) × [i, i+1), so a box ``x1, y1, x2, y2``
spans the whole frame as ``0, 0, W, H`` and a horizontal flip maps x to W − x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fieldready.corruptions.registry import Boxes

#: a box stays valid only if at least this share of its (transformed) area is still inside the frame
MIN_VISIBLE = 0.25
#: and if it is still at least this wide and tall, in pixels
MIN_SIDE = 1.0


def _centres(h: int, w: int, device: torch.device) -> torch.Tensor:
    ys = torch.arange(h, device=device, dtype=torch.float32) + 0.5
    xs = torch.arange(w, device=device, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy, torch.ones_like(gx)], -1)  # [H, W, 3]


def sample(images: torch.Tensor, src_xy: torch.Tensor, *, padding: str = "zeros") -> torch.Tensor:
    """Bilinearly read ``images`` at continuous source points ``src_xy[N, H, W, 2]`` (x, y in pixels)."""
    h, w = images.shape[-2:]
    scale = torch.tensor([2.0 / w, 2.0 / h], device=images.device)
    grid = src_xy * scale - 1.0
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def warp_affine(images: torch.Tensor, forward: torch.Tensor, *, padding: str = "zeros") -> torch.Tensor:
    """Apply per-image affine maps ``forward[N, 3, 3]`` (input pixel → output pixel); outside is black."""
    h, w = images.shape[-2:]
    inverse = torch.linalg.inv(forward)
    src = torch.einsum("nij,hwj->nhwi", inverse[:, :2], _centres(h, w, images.device))
    return sample(images, src, padding=padding)


def finish_boxes(xyxy: torch.Tensor, valid: torch.Tensor, h: int, w: int) -> Boxes:
    """Clip moved boxes to the frame; invalidate those with < MIN_VISIBLE of their area or a side < MIN_SIDE left."""
    area = (xyxy[..., 2] - xyxy[..., 0]).clamp_min(0) * (xyxy[..., 3] - xyxy[..., 1]).clamp_min(0)
    x1 = xyxy[..., 0].clamp(0, w)
    x2 = xyxy[..., 2].clamp(0, w)
    y1 = xyxy[..., 1].clamp(0, h)
    y2 = xyxy[..., 3].clamp(0, h)
    bw, bh = x2 - x1, y2 - y1
    visible = bw.clamp_min(0) * bh.clamp_min(0)
    keep = valid & (bw >= MIN_SIDE) & (bh >= MIN_SIDE) & (visible >= MIN_VISIBLE * area)
    return Boxes(torch.stack([x1, y1, x2, y2], -1), keep)


def affine_boxes(boxes: Boxes | None, forward: torch.Tensor, h: int, w: int) -> Boxes | None:
    """Move boxes with ``forward[N, 3, 3]``: the axis-aligned hull of the four moved corners, then clipped."""
    if boxes is None:
        return None
    b = boxes.xyxy.to(forward.device)
    corners = torch.stack(
        [b[..., [0, 1]], b[..., [2, 1]], b[..., [0, 3]], b[..., [2, 3]]], dim=-2
    )  # [N, M, 4, 2]
    moved = torch.einsum("nij,nmkj->nmki", forward[:, :2, :2], corners) + forward[:, None, None, :2, 2]
    lo, hi = moved.amin(-2), moved.amax(-2)
    return finish_boxes(torch.cat([lo, hi], -1), boxes.valid.to(forward.device), h, w)


def displaced_boxes(boxes: Boxes | None, disp: torch.Tensor, h: int, w: int, *, points: int = 5) -> Boxes | None:
    """Move boxes through a dense warp ``out(p) = in(p + disp(p))`` (``disp[N, 2, H, W]``, x then y).

    A point q of the input lands near q − disp(q); the box becomes the hull of its moved border points.
    """
    if boxes is None:
        return None
    b = boxes.xyxy.to(disp.device)
    n, m = b.shape[:2]
    if m == 0:
        return finish_boxes(b, boxes.valid.to(disp.device), h, w)
    t = torch.linspace(0, 1, points, device=disp.device)
    x1, y1, x2, y2 = (b[..., k, None] for k in range(4))
    xs = torch.cat([x1 + (x2 - x1) * t, x1 + (x2 - x1) * t, x1.expand(-1, -1, points), x2.expand(-1, -1, points)], -1)
    ys = torch.cat([y1.expand(-1, -1, points), y2.expand(-1, -1, points), y1 + (y2 - y1) * t, y1 + (y2 - y1) * t], -1)
    pts = torch.stack([xs, ys], -1)  # [N, M, P, 2]
    d = sample(disp, pts, padding="border").permute(0, 2, 3, 1)  # [N, M, P, 2]
    moved = pts - d
    return finish_boxes(torch.cat([moved.amin(-2), moved.amax(-2)], -1), boxes.valid.to(disp.device), h, w)

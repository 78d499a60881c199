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


def sample(images: torch.Tensor, src_xy: torch.Tensor, *, padding: str = "zeros") -> torch.Tensor:
    """Bilinearly read ``images`` at continuous source points ``src_xy[N, H, W, 2]`` (x, y in pixels)."""
    h, w = images.shape[-2:]
    scale = torch.tensor([2.0 / w, 2.0 / h], device=images.device)
    grid = src_xy * scale - 1.0
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def _apply(m: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Map points (x, y) by affine maps ``m[N, 3, 3]``; ``x``/``y`` broadcast against ``[N, 1, ...]``.

    Written elementwise rather than as a batched matmul so each image's numbers never depend on the
    batch it is in (matmul kernels may block differently for different batch sizes).
    """
    shape = (m.shape[0],) + (1,) * (max(x.dim(), y.dim()) - 1)
    e = [[m[:, i, j].view(shape) for j in range(3)] for i in range(2)]
    return e[0][0] * x + e[0][1] * y + e[0][2], e[1][0] * x + e[1][1] * y + e[1][2]


def affine_inverse(m: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of affine maps ``[N, 3, 3]`` (elementwise, batch-independent)."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    tx, ty = m[:, 0, 2], m[:, 1, 2]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    out = torch.zeros_like(m)
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = ia, ib, ic, id_
    out[:, 0, 2] = -(ia * tx + ib * ty)
    out[:, 1, 2] = -(ic * tx + id_ * ty)
    out[:, 2, 2] = 1.0
    return out


def warp_affine(images: torch.Tensor, forward: torch.Tensor, *, padding: str = "zeros") -> torch.Tensor:
    """Apply per-image affine maps ``forward[N, 3, 3]`` (input pixel → output pixel); outside is black."""
    h, w = images.shape[-2:]
    ys = torch.arange(h, device=images.device, dtype=torch.float32).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=images.device, dtype=torch.float32).view(1, 1, w) + 0.5
    sx, sy = _apply(affine_inverse(forward), xs, ys)
    return sample(images, torch.stack([sx, sy], -1), padding=padding)


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
    xs = torch.stack([b[..., 0], b[..., 2], b[..., 0], b[..., 2]], -1)  # the four corners, [N, M, 4]
    ys = torch.stack([b[..., 1], b[..., 1], b[..., 3], b[..., 3]], -1)
    mx, my = _apply(forward, xs, ys)
    lo = torch.stack([mx.amin(-1), my.amin(-1)], -1)
    hi = torch.stack([mx.amax(-1), my.amax(-1)], -1)
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

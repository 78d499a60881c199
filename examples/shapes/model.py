"""A tiny CenterNet-style detector in plain torch, scriptable, honouring fieldready's model contract.

Contract: ``forward(images)`` takes float ``[N, 3, H, W]`` RGB in [0, 1] (any H, W: the input is
padded to a multiple of 16 inside) and returns ``List[Dict[str, Tensor]]``, one dict per image with
``boxes`` ``[K, 4]`` float32 xyxy in input pixels, ``scores`` ``[K]`` and ``labels`` ``[K]`` int64
(the COCO category ids given at construction).

Architecture: a 4-stage conv encoder (strides 2, 4, 8, 16), a two-step top-down path back to stride
4, and three 1×1 heads on the stride-4 map: a class heatmap (sigmoid), log box size (in units of the
stride) and the sub-cell centre offset. Decoding — 3×3 max-pool peak extraction, top-K over classes
and cells, gathering size and offset — runs batched inside ``forward``; only the final filtering by
score builds the per-image list.
"""

from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TinyCenterNet", "STRIDE"]

STRIDE = 4
_PAD = 16


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyCenterNet(nn.Module):
    """CenterNet-style single-stage detector (~0.14 M parameters)."""

    def __init__(self, category_ids: List[int], widths: tuple[int, int, int, int] = (16, 24, 48, 64), max_det: int = 50,
                 score_threshold: float = 0.05) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.num_classes = len(category_ids)
        self.max_det = max_det
        self.score_threshold = score_threshold
        self.stride = STRIDE
        self.pad_to = _PAD
        self.register_buffer("category_ids", torch.tensor(category_ids, dtype=torch.int64), persistent=True)
        self.stem = _cbr(3, c1, 2)                                   # /2
        self.s4 = nn.Sequential(_cbr(c1, c2, 2), _cbr(c2, c2))        # /4
        self.s8 = nn.Sequential(_cbr(c2, c3, 2), _cbr(c3, c3))        # /8
        self.s16 = nn.Sequential(_cbr(c3, c4, 2), _cbr(c4, c4))       # /16
        self.lat8 = nn.Conv2d(c4, c3, 1)
        self.up8 = _cbr(c3, c3)
        self.lat4 = nn.Conv2d(c3, c2, 1)
        self.up4 = _cbr(c2, c2)
        self.head = _cbr(c2, c2)
        self.hm = nn.Conv2d(c2, self.num_classes, 1)
        self.wh = nn.Conv2d(c2, 2, 1)
        self.off = nn.Conv2d(c2, 2, 1)
        nn.init.constant_(self.hm.bias, -2.19)  # prior 0.1, as in CenterNet

    def features(self, x: torch.Tensor) -> torch.Tensor:
        f4 = self.s4(self.stem(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        p8 = self.up8(f8 + F.interpolate(self.lat8(f16), scale_factor=2.0, mode="nearest"))
        p4 = self.up4(f4 + F.interpolate(self.lat4(p8), scale_factor=2.0, mode="nearest"))
        return self.head(p4)

    def raw(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Head outputs on the stride-4 grid: heatmap logits, log-size, offset (for training)."""
        f = self.features(x)
        return {"hm": self.hm(f), "wh": self.wh(f), "off": self.off(f)}

    def forward(self, images: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
        n, _, h, w = images.shape
        ph = (self.pad_to - h % self.pad_to) % self.pad_to
        pw = (self.pad_to - w % self.pad_to) % self.pad_to
        x = F.pad(images, (0, pw, 0, ph)) if ph > 0 or pw > 0 else images
        out = self.raw(x)
        heat = torch.sigmoid(out["hm"])
        gh, gw = heat.shape[2], heat.shape[3]
        peaks = F.max_pool2d(heat, 3, 1, 1) == heat
        heat = heat * peaks.to(heat.dtype)
        k = min(self.max_det, self.num_classes * gh * gw)
        scores, idx = heat.reshape(n, -1).topk(k, dim=1)
        cls = torch.div(idx, gh * gw, rounding_mode="floor")
        cell = idx - cls * gh * gw
        ys = torch.div(cell, gw, rounding_mode="floor")
        xs = cell - ys * gw
        wh = out["wh"].reshape(n, 2, gh * gw).gather(2, cell.unsqueeze(1).expand(n, 2, k))
        off = out["off"].reshape(n, 2, gh * gw).gather(2, cell.unsqueeze(1).expand(n, 2, k))
        size = torch.exp(wh.clamp(max=6.0)) * self.stride
        cx = (xs.to(heat.dtype) + off[:, 0]) * self.stride
        cy = (ys.to(heat.dtype) + off[:, 1]) * self.stride
        x1 = (cx - size[:, 0] / 2).clamp(0.0, float(w))
        y1 = (cy - size[:, 1] / 2).clamp(0.0, float(h))
        x2 = (cx + size[:, 0] / 2).clamp(0.0, float(w))
        y2 = (cy + size[:, 1] / 2).clamp(0.0, float(h))
        boxes = torch.stack([x1, y1, x2, y2], dim=2).to(torch.float32)
        labels = self.category_ids[cls]
        keep = scores > self.score_threshold
        result: List[Dict[str, torch.Tensor]] = []
        for i in range(n):
            m = keep[i]
            result.append({"boxes": boxes[i][m], "scores": scores[i][m].to(torch.float32), "labels": labels[i][m]})
        return result

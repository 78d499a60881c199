"""Tiny real models for the model-kind tests, and straightforward reference decoders to compare with.

``BrightBoxYolo`` is a small detector whose head has the Ultralytics layout (``[N, 4 + C, A]``, or
YOLOv5's ``[N, A, 5 + C]`` with objectness): a few conv layers on a stride-8 grid give ordinary,
overlapping low-score anchors (so NMS has work), and one extra anchor finds the red rectangle of the
image from its pixels, with a high score. It undoes its own declared normalisation and reads the red
channel at its declared position, so a wrong input convention loses the rectangle, and a wrong
mapping back puts it in the wrong place.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

RED = (0.9, 0.1, 0.1)
BACKGROUND = 0.1


def scene(height: int, width: int, box: tuple[int, int, int, int], *, seed: int = 0) -> Tensor:
    """A float RGB ``[3, H, W]`` image in [0, 1]: dark noise with a red rectangle at xyxy ``box`` (pixels)."""
    g = torch.Generator().manual_seed(seed)
    img = BACKGROUND + 0.05 * torch.rand(3, height, width, generator=g)
    x1, y1, x2, y2 = box
    img[:, y1:y2, x1:x2] = torch.tensor(RED).view(3, 1, 1)
    return img


class BrightBoxYolo(nn.Module):
    """A YOLO-layout detector: conv anchors on a stride-8 grid plus one anchor on the red rectangle.

    Args:
        num_classes: C.
        target: the class of the rectangle's anchor.
        layout: ``v8`` → ``[N, 4 + C, A]``; ``v5`` → ``[N, A, 5 + C]`` with objectness.
        red: the channel index of red in the model's input (2 for a BGR model).
        mean, std, scale: the model's own input normalisation, undone first (``x * std + mean``, then ``/ scale``).
    """

    def __init__(self, num_classes: int = 3, *, target: int = 1, layout: str = "v8", red: int = 0,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None, scale: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.num_classes, self.target, self.layout, self.red, self.scale = num_classes, target, layout, red, scale
        self.register_buffer("mean", torch.tensor(mean or (0.0, 0.0, 0.0)).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std or (1.0, 1.0, 1.0)).view(1, 3, 1, 1))
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.SiLU(),
        )
        self.head = nn.Conv2d(8, 5 + num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = (x.float() * self.std + self.mean) / self.scale
        n, _, h, w = x.shape
        # the conv anchors: boxes around the grid cells, class scores below 0.3
        t = self.head(self.body(x))
        gh, gw = t.shape[2], t.shape[3]
        gy = torch.arange(gh, dtype=x.dtype, device=x.device).view(1, gh, 1).expand(n, gh, gw)
        gx = torch.arange(gw, dtype=x.dtype, device=x.device).view(1, 1, gw).expand(n, gh, gw)
        cx = (gx + 0.5 + torch.tanh(t[:, 0])) * 8
        cy = (gy + 0.5 + torch.tanh(t[:, 1])) * 8
        bw = torch.exp(t[:, 2].clamp(-2, 2)) * 16
        bh = torch.exp(t[:, 3].clamp(-2, 2)) * 16
        obj = torch.sigmoid(t[:, 4]) * 0.5 + 0.5
        cls = torch.sigmoid(t[:, 5:]) * 0.3
        grid = torch.cat([torch.stack([cx, cy, bw, bh, obj], 1), cls], 1).flatten(2)  # [N, 5 + C, A']
        # the rectangle's anchor, from the red channel's mask
        mask = (x[:, self.red] > 0.5) & (x[:, (self.red + 1) % 3] < 0.5)
        cols, rows = mask.amax(1), mask.amax(2)
        iw = torch.arange(w, dtype=x.dtype, device=x.device).expand(n, w)
        ih = torch.arange(h, dtype=x.dtype, device=x.device).expand(n, h)
        x1 = torch.where(cols, iw, torch.full_like(iw, w)).amin(1)
        x2 = torch.where(cols, iw + 1, torch.zeros_like(iw)).amax(1)
        y1 = torch.where(rows, ih, torch.full_like(ih, h)).amin(1)
        y2 = torch.where(rows, ih + 1, torch.zeros_like(ih)).amax(1)
        found = (x2 > x1).to(x.dtype)
        onehot = torch.full((n, self.num_classes), 0.01, dtype=x.dtype, device=x.device)
        onehot[:, self.target] = 0.9
        box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, torch.ones_like(x1)], 1)
        anchor = torch.cat([box, onehot * found[:, None]], 1)[:, :, None]  # [N, 5 + C, 1]
        out = torch.cat([grid, anchor], 2)
        if self.layout == "v5":
            # objectness at index 4; class scores such that objectness × class is the v8 score
            return torch.cat([out[:, :4], out[:, 4:5], out[:, 5:] / out[:, 4:5]], 1).transpose(1, 2)
        return torch.cat([out[:, :4], out[:, 5:]], 1)


class TinyClassifier(nn.Module):
    """A small CNN classifier ``[N, 3, H, W] → [N, C]`` logits; ``uint8``/``float16``/``nhwc`` change its input."""

    def __init__(self, num_classes: int = 4, *, input_kind: str = "float32", seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.input_kind = input_kind
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                                 nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        if self.input_kind == "nhwc":
            x = x.permute(0, 3, 1, 2)
        if self.input_kind == "uint8":
            x = x.float() / 255.0
        return self.net(x.float())


# ---------------------------------------------------------------------------------------------- references


def iou_np(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes``."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Textbook greedy NMS, one box at a time: indices kept, best first."""
    order = list(np.argsort(-scores, kind="stable"))
    kept = []
    while order:
        i = order.pop(0)
        kept.append(i)
        if order:
            ious = iou_np(boxes[i], boxes[order])
            order = [j for j, v in zip(order, ious) if v <= iou_threshold]
    return kept


def reference_yolo(out: np.ndarray, *, layout: str, score_threshold: float, iou_threshold: float,
                   max_detections: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Ultralytics' decode written out per image and per class: (xyxy boxes, scores, labels) for each image."""
    results = []
    for p in out:
        p = p.T if layout == "v8" else p  # [A, 4 + C] or [A, 5 + C]
        cls = p[:, 4:] if layout == "v8" else p[:, 5:] * p[:, 4:5]
        scores, labels = cls.max(1), cls.argmax(1)
        cx, cy, w, h = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        keep = scores > score_threshold
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        kept = []
        for c in np.unique(labels):
            idx = np.nonzero(labels == c)[0]
            kept += [idx[k] for k in greedy_nms(boxes[idx], scores[idx], iou_threshold)]
        kept = sorted(kept, key=lambda i: -scores[i])[:max_detections]
        results.append((boxes[kept].reshape(-1, 4), scores[kept], labels[kept]))
    return results


def canonical(boxes: np.ndarray, scores: np.ndarray, *rest: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows sorted by decreasing score, then by box corner: equal scores (anchors over flat padding) in one order."""
    boxes = boxes.reshape(-1, 4)
    order = np.lexsort((np.round(boxes[:, 1], 2), np.round(boxes[:, 0], 2), -np.round(scores, 4)))
    return (boxes[order], scores[order], *(r[order] for r in rest))


def as_per_image(index: Tensor, boxes: Tensor, scores: Tensor, *rest: Tensor, n: int) -> list[tuple[np.ndarray, ...]]:
    """Split batched rows by image, each in ``canonical`` order."""
    out = []
    for i in range(n):
        rows = (index == i).nonzero().flatten()
        parts = [t[rows].detach().cpu().numpy() for t in (boxes, scores, *rest)]
        out.append(canonical(*parts))
    return out

"""Run a loaded model on a batch: resize and normalise as declared, check the output, map boxes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from fieldready.errors import ModelError
from fieldready.models.loaders import LOADERS
from fieldready.spec.models import ModelSpec

__all__ = ["Adapter", "BatchDetections", "load_model"]


@dataclass
class BatchDetections:
    """All detections of a batch in one set of tensors: row r belongs to image ``index[r]``."""

    index: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


class Adapter:
    """A candidate model with its input contract: holds the callable, does no evaluation."""

    def __init__(self, spec: ModelSpec, fn: Callable, device: torch.device, task: str) -> None:
        self.spec = spec
        self.fn = fn
        self.device = device
        self.task = task
        inp = spec.input
        self._mean = torch.tensor(inp.mean, device=device).view(1, 3, 1, 1) if inp.mean else None
        self._std = torch.tensor(inp.std, device=device).view(1, 3, 1, 1) if inp.std else None

    @property
    def name(self) -> str:
        return self.spec.name

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Resize, reorder and normalise ``[N, 3, H, W]`` images in [0, 1] as the spec declares."""
        x = images
        size = self.spec.input.size
        if size is not None and tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        if self.spec.input.color == "bgr":
            x = x.flip(1)
        if self._mean is not None:
            x = (x - self._mean) / self._std
        return x

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor | BatchDetections:
        """Predict on a batch; detection boxes come back in the coordinates of ``images``."""
        x = self.prepare(images)
        try:
            out = self.fn(x)
        except Exception as exc:  # the user's model may raise anything
            raise ModelError(
                f"model {self.name!r} raised {type(exc).__name__} on a batch of {x.shape[0]} images "
                f"of {tuple(x.shape[-2:])}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        if self.task == "classification":
            return self._logits(out, x.shape[0])
        scale_x = images.shape[-1] / x.shape[-1]
        scale_y = images.shape[-2] / x.shape[-2]
        return self._detections(out, x.shape[0], scale_x, scale_y)

    def _logits(self, out: object, n: int) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != n:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ModelError(f"model {self.name!r} must return logits [N, num_classes] for classification, got {shape}")
        return out.float()

    def _detections(self, out: object, n: int, scale_x: float, scale_y: float) -> BatchDetections:
        if not isinstance(out, (list, tuple)) or len(out) != n or not all(isinstance(d, dict) for d in out):
            raise ModelError(
                f"model {self.name!r} must return a list of {n} dicts with boxes, scores, labels for detection, "
                f"got {type(out).__name__}"
            )
        try:
            boxes = torch.cat([d["boxes"].reshape(-1, 4).float() for d in out])
            scores = torch.cat([d["scores"].reshape(-1).float() for d in out])
            labels = torch.cat([d["labels"].reshape(-1).long() for d in out])
        except (KeyError, AttributeError, RuntimeError) as exc:
            raise ModelError(f"model {self.name!r}: each output dict needs tensors boxes [K,4], scores [K], labels [K] ({exc})") from None
        counts = torch.tensor([int(d["scores"].numel()) for d in out], device=boxes.device)
        if not (boxes.shape[0] == scores.shape[0] == labels.shape[0] == int(counts.sum())):
            raise ModelError(f"model {self.name!r}: boxes, scores and labels of an image must have the same length K")
        index = torch.repeat_interleave(torch.arange(n, device=boxes.device), counts)
        scale = torch.tensor([scale_x, scale_y, scale_x, scale_y], device=boxes.device)
        return BatchDetections(index, boxes * scale, scores, labels)


def load_model(spec: ModelSpec, root: Path, device: torch.device, task: str) -> Adapter:
    """Load a model of any registered kind onto ``device``."""
    loader = LOADERS.get(spec.kind)
    if loader is None:
        raise ModelError(f"model {spec.name!r}: unknown kind {spec.kind!r}; known: {', '.join(sorted(LOADERS))}")
    return Adapter(spec, loader(spec, root, device), device, task)

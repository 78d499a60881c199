"""A tiny but real fieldready project on disk for tests: images, COCO annotations, TorchScript models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from fieldready.execution.runner import execute
from fieldready.execution.store import ResultStore
from fieldready.plan import TestPlan, compile_plan
from fieldready.spec import load_spec


class BrightBoxDetector(torch.nn.Module):
    """Detects the brightest square of the image: one box per image, scored by its contrast.

    Deterministic and sensitive to corruptions, so pipeline tests see numbers move.
    """

    def __init__(self, box: int = 16, label: int = 1, bias: float = 0.0) -> None:
        super().__init__()
        self.box = box
        self.label = label
        self.bias = bias

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        gray = images.mean(dim=1, keepdim=True)
        pooled = torch.nn.functional.avg_pool2d(gray, self.box, stride=4)
        n, _, h, w = pooled.shape
        flat = pooled.reshape(n, -1)
        score, idx = flat.max(dim=1)
        y = (idx // w).float() * 4 + self.bias
        x = (idx % w).float() * 4 + self.bias
        boxes = torch.stack([x, y, x + self.box, y + self.box], dim=1)
        contrast = (score - gray.reshape(n, -1).mean(dim=1)).clamp(0, 1)
        out: list[dict[str, Tensor]] = []
        for i in range(n):
            out.append(
                {
                    "boxes": boxes[i : i + 1],
                    "scores": contrast[i : i + 1],
                    "labels": torch.full((1,), self.label, dtype=torch.int64),
                }
            )
        return out


class MeanClassifier(torch.nn.Module):
    """Classifies by mean brightness into 2 classes; logits [N, 2]."""

    def forward(self, images: Tensor) -> Tensor:
        m = images.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1) * 10


def make_detection_project(root: Path, *, n_images: int = 12, size: int = 64, seed: int = 0) -> Path:
    """Write images with one bright square each, COCO annotations, two TorchScript models and a spec."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n_images):
        img = (rng.random((size, size, 3)) * 80).astype(np.uint8)
        x, y = (int(v) for v in rng.integers(4, size - 20, 2))
        img[y : y + 16, x : x + 16] = 230
        name = f"img{i:03d}.png"
        cv2.imwrite(str(root / "images" / name), img)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [x, y, 16, 16], "area": 256.0, "iscrowd": 0})
    coco = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "other"}]}
    (root / "val.json").write_text(json.dumps(coco))
    (root / "models").mkdir(exist_ok=True)
    torch.jit.script(BrightBoxDetector()).save(str(root / "models" / "a.pt"))
    torch.jit.script(BrightBoxDetector(bias=1.0)).save(str(root / "models" / "b.pt"))
    spec = root / "spec.yaml"
    spec.write_text(DETECTION_SPEC)
    return spec


DETECTION_SPEC = """\
fieldready: 1
name: tiny-detector
task: detection
dataset: {format: coco, images: images, annotations: val.json}
models:
  - {name: model-a, kind: torchscript, path: models/a.pt}
  - {name: model-b, kind: torchscript, path: models/b.pt}
baseline: model-a
conditions:
  - {corruption: gaussian_noise, severity: {levels: [1, 3]}, frequency: 0.3}
  - {corruption: translate, severity: {values: [2, 6]}, frequency: 0.1}
  - name: night
    compose: [{corruption: brightness, severity: -0.3}, {corruption: gaussian_noise, severity: 0.05}]
    frequency: 0.1
criteria:
  - {metric: map, on: clean, at_least: 0.3}
  - {metric: map, on: gaussian_noise, max_drop: 0.5}
  - {metric: rpc, at_least: 0.5}
  - {metric: production_score, at_least: 0.2}
  - {metric: ap, class: square, on: night, at_least: 0.1, severity: warning}
report: {title: Tiny detector, signoff: [{role: ML lead}]}
run: {device: cpu, seed: 0, batch_size: 5, bootstrap: 200}
"""


def executed_plan(spec: Path, run_dir: Path) -> TestPlan:
    """Compile ``spec`` and run its units into a result store in ``run_dir`` (no evaluation, no report)."""
    plan = compile_plan(load_spec(spec))
    with ResultStore(run_dir) as store:
        execute(plan, store, device=torch.device("cpu"), progress=False)
    return plan

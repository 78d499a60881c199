"""Random detection cases shared by the metric tests: several classes, crowds, empty images, >100 dets."""

from __future__ import annotations

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets

CATEGORY_IDS = [1, 3, 7, 12]


def random_case(
    seed: int, *, n_images: int = 12, max_dets: int = 130, crowd_rate: float = 0.1
) -> tuple[list[ImageTargets], list[ImageDetections]]:
    """Ground truth and noisy detections around it; class 12 is never detected."""
    rng = np.random.default_rng(seed)
    targets, detections = [], []
    for i in range(n_images):
        image_id = int(rng.integers(1, 10_000)) * 100 + i  # unsorted, unique ids
        w, h = 640, 480
        m = 0 if rng.random() < 0.2 else int(rng.integers(1, 15))
        xy = rng.uniform(0, 500, size=(m, 2))
        size = np.exp(rng.uniform(np.log(4), np.log(300), size=(m, 2)))
        boxes = np.concatenate([xy, xy + size], axis=1)
        labels = rng.choice(CATEGORY_IDS, size=m)
        iscrowd = rng.random(m) < crowd_rate
        area = size[:, 0] * size[:, 1] * rng.uniform(0.5, 1.0, size=m)  # polygon area < box area
        targets.append(ImageTargets(image_id, boxes, labels, iscrowd, area, w, h))
        k = int(rng.integers(0, max_dets + 1)) if rng.random() > 0.1 else 0
        src = rng.integers(0, max(m, 1), size=k)
        if m:
            base = boxes[src] + rng.normal(0, 1, size=(k, 4)) * size[src].repeat(2, axis=1).reshape(k, 4) * 0.15
            dl = np.where(rng.random(k) < 0.8, labels[src], rng.choice(CATEGORY_IDS[:3], size=k))
        else:
            xy2 = rng.uniform(0, 500, size=(k, 2))
            base = np.concatenate([xy2, xy2 + rng.uniform(5, 100, size=(k, 2))], axis=1)
            dl = rng.choice(CATEGORY_IDS[:3], size=k)
        dl = np.where(dl == 12, 1, dl)
        base[:, 2:] = np.maximum(base[:, 2:], base[:, :2] + 0.5)
        scores = rng.random(k)
        detections.append(ImageDetections(image_id, base, scores, dl))
    return targets, detections

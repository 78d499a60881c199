"""Failure mining: the images whose predictions changed most under a condition, and what the gallery shows of them.

Mining reads predictions from the store (a change score per image and point against the model's
own clean prediction). For each chosen image the judge gathers the evidence a gallery image shows —
the pixels the model saw (decoded again and re-corrupted: per-image seeds make them identical to
the run's), its output and the ground truth at clean and at the point — and the report draws it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fieldready.data.decode import decode_images
from fieldready.data.types import ImageRecord, ImageTargets
from fieldready.evaluation.evaluate import detections_of, targets_of
from fieldready.evaluation.metrics.classification import softmax
from fieldready.evaluation.metrics.failures import change_scores, classification_change_scores
from fieldready.execution.runner import corrupt_point
from fieldready.execution.store import ResultStore
from fieldready.judge.results import GalleryItem, Panel, Results
from fieldready.plan import CLEAN, TestPlan

__all__ = ["PER_MODEL", "Failure", "Panel", "mine_failures", "failure_gallery"]

PER_MODEL = 4
_CHANGE = {
    "detection": "change vs clean (1 − F1 of matched boxes)",
    "classification": "change vs clean (top-1 flipped + probability moved)",
}


@dataclass(frozen=True)
class Failure:
    """One mined failure: an image whose output changed by ``score`` at ``point`` (a point key)."""

    score: float
    image_id: int
    point: str


def mine_failures(plan: TestPlan, store: ResultStore, model: str, *, top: int = PER_MODEL) -> list[Failure]:
    """The ``top`` largest changes vs clean, one per image, the worst of each condition first."""
    clean = store.predictions(model, CLEAN)
    ids = sorted(clean)
    detection = plan.spec.task == "detection"
    reference = detections_of(clean) if detection else np.stack([clean[i] for i in ids])
    candidates: list[Failure] = []
    for condition in plan.conditions:
        for point in condition.points:
            rows = store.predictions(model, point.key)
            if detection:
                scores = change_scores(reference, detections_of(rows))
            else:
                scores = classification_change_scores(reference, np.stack([rows[i] for i in ids]))
            candidates += [Failure(float(s), i, point.key) for s, i in zip(scores, ids)]
    candidates.sort(key=lambda c: (-c.score, c.image_id, c.point))
    # Spread the examples over conditions: the worst image of each condition first, then the rest.
    condition_of = {p.key: c.name for c in plan.conditions for p in c.points}
    firsts, seen_conditions = [], set()
    for cand in candidates:
        if condition_of[cand.point] not in seen_conditions:
            seen_conditions.add(condition_of[cand.point])
            firsts.append(cand)
    chosen, seen = [], set()
    for cand in firsts + candidates:
        if cand.score <= 0 or cand.image_id in seen:
            continue
        seen.add(cand.image_id)
        chosen.append(cand)
        if len(chosen) == top:
            break
    return chosen


def failure_gallery(
    plan: TestPlan, store: ResultStore, results: Results, *, device: torch.device
) -> tuple[Results, list[Panel]]:
    """``results`` with each model's gallery items, and the panels (two per item) the report draws."""
    records = {r.image_id: r for r in plan.dataset.records}
    galleries: dict[str, list[GalleryItem]] = {}
    panels: list[Panel] = []
    for entry in plan.models:
        items = []
        for n, failure in enumerate(mine_failures(plan, store, entry.name)):
            point = plan.point(failure.point)
            record = records[failure.image_id]
            stem = f"gallery/{_stem(entry.name)}-{n}"
            item = GalleryItem(
                image_id=failure.image_id,
                condition=point.condition,
                label=point.label,
                score=round(failure.score, 6),
                clean_png=f"{stem}-clean.png",
                corrupted_png=f"{stem}-corrupted.png",
                caption=f"{Path(record.path).name}: {point.condition} {point.label}; "
                f"{_CHANGE[plan.spec.task]} {failure.score:.2f}",
            )
            items.append(item)
            panels += _panels(plan, store, entry.name, record, failure, item, device)
        galleries[entry.name] = items
    models = [m.model_copy(update={"gallery": galleries.get(m.name, [])}) for m in results.models]
    return results.model_copy(update={"models": models}), panels


def _panels(
    plan: TestPlan, store: ResultStore, model: str, record: ImageRecord, failure: Failure, item: GalleryItem,
    device: torch.device,
) -> list[Panel]:
    """The clean and the corrupted panel of one failure."""
    image_id = record.image_id
    clean_img = decode_images([record], device)
    corrupted = corrupt_point(clean_img, plan.point(failure.point), [image_id], seed=plan.seed).images
    keys = [CLEAN, failure.point]
    preds = [store.predictions(model, key, [image_id])[image_id] for key in keys]
    out = []
    for key, image, pred, path in zip(keys, (clean_img, corrupted), preds, (item.clean_png, item.corrupted_png)):
        pixels = _to_uint8(image)
        if plan.spec.task == "detection":
            target = (
                targets_of(plan, store, key, [image_id])[0]
                if plan.dataset.labelled
                else ImageTargets(image_id, np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
            )
            out.append(Panel(path, pixels, dict(plan.dataset.classes), gt_boxes=target.boxes, gt_labels=target.labels,
                             boxes=pred[:, :4], scores=pred[:, 4], labels=pred[:, 5].astype(np.int64)))
        else:
            probs = softmax(pred[None])[0]
            clean_answer = int(preds[0].argmax())  # unlabelled data: the clean answer stands in for the label
            out.append(Panel(path, pixels, dict(plan.dataset.classes),
                             true_label=record.label if record.label is not None else clean_answer,
                             pred_label=int(probs.argmax()), prob=float(probs.max())))
    return out


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _stem(name: str) -> str:
    """A file-name stem unique per model name: a readable slug plus a digest of the exact name.

    "Model A" and "model-a" (or names differing only in case, on a case-insensitive disk) slugify
    alike; the digest keeps their images apart.
    """
    slug = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in name.lower())[:40]
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"

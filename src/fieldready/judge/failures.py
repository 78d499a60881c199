"""Failure gallery: the images whose predictions changed most under a condition, drawn for the report.

Mining reads predictions from the store (a change score per image and point against the model's
own clean prediction); only the few chosen images are decoded again and re-corrupted — their
per-image seeds make the pixels identical to those the model saw in the run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from fieldready.data.decode import decode_images
from fieldready.data.types import ImageRecord, ImageTargets
from fieldready.errors import StoreError
from fieldready.evaluate.evaluate import detections_of, targets_of
from fieldready.evaluate.metrics.classification import softmax
from fieldready.evaluate.metrics.failures import change_scores, classification_change_scores
from fieldready.plan import CLEAN, TestPlan
from fieldready.report.gallery import draw_classification, draw_detections
from fieldready.judge.results import GalleryItem, Results
from fieldready.execute.runner import corrupt_point
from fieldready.execute.store import ResultStore, write_atomic

__all__ = ["mine_failures", "build_gallery"]

PER_MODEL = 4
_CHANGE = {
    "detection": "change vs clean (1 − F1 of matched boxes)",
    "classification": "change vs clean (top-1 flipped + probability moved)",
}


def mine_failures(plan: TestPlan, store: ResultStore, model: str, *, top: int = PER_MODEL) -> list[tuple[float, int, str]]:
    """(score, image id, point key) of the ``top`` largest changes vs clean, one entry per image."""
    clean = store.predictions(model, CLEAN)
    ids = sorted(clean)
    detection = plan.spec.task == "detection"
    reference = detections_of(clean) if detection else np.stack([clean[i] for i in ids])
    candidates: list[tuple[float, int, str]] = []
    for condition in plan.conditions:
        for point in condition.points:
            rows = store.predictions(model, point.key)
            if detection:
                scores = change_scores(reference, detections_of(rows))
            else:
                scores = classification_change_scores(reference, np.stack([rows[i] for i in ids]))
            candidates += [(float(s), i, point.key) for s, i in zip(scores, ids)]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    # Spread the examples over conditions: the worst image of each condition first, then the rest.
    condition_of = {p.key: c.name for c in plan.conditions for p in c.points}
    firsts, seen_conditions = [], set()
    for cand in candidates:
        if condition_of[cand[2]] not in seen_conditions:
            seen_conditions.add(condition_of[cand[2]])
            firsts.append(cand)
    chosen, seen = [], set()
    for score, image_id, key in firsts + candidates:
        if score <= 0 or image_id in seen:
            continue
        seen.add(image_id)
        chosen.append((score, image_id, key))
        if len(chosen) == top:
            break
    return chosen


def build_gallery(plan: TestPlan, store: ResultStore, results: Results, run_dir: Path, *, device: torch.device) -> Results:
    """Write gallery PNGs under ``run_dir/gallery`` and return results with each model's gallery."""
    folder = Path(run_dir) / "gallery"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{folder}: cannot create the gallery folder ({exc.strerror})") from None
    records = {r.image_id: r for r in plan.dataset.records}
    by_name = {m.name: m for m in results.models}
    for entry in plan.models:
        items = []
        for n, (score, image_id, key) in enumerate(mine_failures(plan, store, entry.name)):
            point = plan.point(key)
            record = records[image_id]
            clean_img = decode_images([record], device)
            corrupted = corrupt_point(clean_img, point, [image_id], seed=plan.seed).images
            pair = [_to_uint8(clean_img), _to_uint8(corrupted)]
            stem = f"{_stem(entry.name)}-{n}"
            pngs = _draw(plan, store, entry.name, record, [CLEAN, key], pair)
            for suffix, png in zip(("clean", "corrupted"), pngs):
                _write(folder / f"{stem}-{suffix}.png", png)
            items.append(
                GalleryItem(
                    image_id=image_id,
                    condition=point.condition,
                    label=point.label,
                    score=round(score, 6),
                    clean_png=f"gallery/{stem}-clean.png",
                    corrupted_png=f"gallery/{stem}-corrupted.png",
                    caption=f"{Path(record.path).name}: {point.condition} {point.label}; {_CHANGE[plan.spec.task]} {score:.2f}",
                )
            )
        by_name[entry.name].gallery = items
    return results


def _draw(
    plan: TestPlan, store: ResultStore, model: str, record: ImageRecord, keys: list[str], images: list[np.ndarray]
) -> list[bytes]:
    """PNGs of one image at each point: boxes (ground truth and predictions) or labels drawn on it."""
    image_id = record.image_id
    preds = [store.predictions(model, key, [image_id])[image_id] for key in keys]
    out = []
    for key, image, pred in zip(keys, images, preds):
        if plan.spec.task == "detection":
            target = (
                targets_of(plan, store, key, [image_id])[0]
                if plan.dataset.labelled
                else ImageTargets(image_id, np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
            )
            out.append(
                draw_detections(
                    image,
                    gt_boxes=target.boxes,
                    gt_labels=target.labels,
                    boxes=pred[:, :4],
                    scores=pred[:, 4],
                    labels=pred[:, 5].astype(np.int64),
                    class_names=plan.dataset.classes,
                )
            )
        else:
            probs = softmax(pred[None])[0]
            clean_answer = int(preds[0].argmax())  # unlabelled data: the clean answer stands in for the label
            out.append(
                draw_classification(
                    image,
                    true_label=record.label if record.label is not None else clean_answer,
                    pred_label=int(probs.argmax()),
                    prob=float(probs.max()),
                    class_names=plan.dataset.classes,
                )
            )
    return out


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the gallery image ({exc.strerror}); free disk space and run the same command again") from None


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _stem(name: str) -> str:
    """A file-name stem unique per model name: a readable slug plus a digest of the exact name.

    "Model A" and "model-a" (or names differing only in case, on a case-insensitive disk) slugify
    alike; the digest keeps their images apart.
    """
    slug = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in name.lower())[:40]
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"

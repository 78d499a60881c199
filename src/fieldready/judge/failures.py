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
from fieldready.corruptions import Boxes
from fieldready.data.types import ImageDetections, ImageRecord, ImageTargets
from fieldready.evaluation.evaluate import detections_of, targets_of
from fieldready.evaluation.metrics.classification import softmax
from fieldready.evaluation.metrics.failures import answer_changes, classification_change_scores
from fieldready.evaluation.metrics.operating_point import FALLBACK_THRESHOLD, OperatingPoint, fixed_point
from fieldready.execution.runner import corrupt_point
from fieldready.execution.store import ResultStore
from fieldready.judge.results import GalleryItem, OperatingPointResult, Panel, Results
from fieldready.plan import CLEAN, Point, TestPlan

__all__ = ["PER_MODEL", "Failure", "Panel", "mine_failures", "failure_gallery", "operating_point_of"]

PER_MODEL = 4
_CHANGE = {
    "detection": "score-weighted boxes changed vs clean at the operating point",
    "classification": "change vs clean (top-1 flipped + probability moved)",
}


@dataclass(frozen=True)
class Failure:
    """One mined failure: an image whose output changed by ``score`` at ``point`` (a point key).

    ``share`` breaks ties between equal scores: for a detector the share of its answer that changed
    (``operating_point.answer_change``); 0 for a classifier.
    """

    score: float
    image_id: int
    point: str
    share: float = 0.0


def mine_failures(
    plan: TestPlan, store: ResultStore, model: str, *, top: int = PER_MODEL, operating_point: OperatingPoint | None = None,
    device: torch.device | None = None,
) -> list[Failure]:
    """The ``top`` largest changes vs clean, one per image, the worst of each condition first.

    A detector's change is measured at its ``operating_point`` (None: ``FALLBACK_THRESHOLD``) by
    ``operating_point.answer_change``: the score-weighted number of boxes that changed, continuous,
    so the picks are the images whose answer changed most; ties are broken by the share of the
    answer that changed, and only then by image id. At a geometric point (flip, shift, …) the clean
    boxes are first moved the way the corruption moved the image (``_aligned``), so a detector that
    follows the content has not changed.
    """
    clean = store.predictions(model, CLEAN)
    ids = sorted(clean)
    detection = plan.spec.task == "detection"
    reference = detections_of(clean) if detection else np.stack([clean[i] for i in ids])
    candidates: list[Failure] = []
    for condition in plan.conditions:
        for point in condition.points:
            rows = store.predictions(model, point.key)
            if detection:
                before = _aligned(plan, point, reference, device or torch.device("cpu")) if point.geometric else reference
                scores = answer_changes(before, detections_of(rows), point=operating_point)
            else:
                changes = classification_change_scores(reference, np.stack([rows[i] for i in ids]))
                scores = np.stack([changes, np.zeros_like(changes)], axis=1)
            candidates += [Failure(float(s), i, point.key, float(m)) for (s, m), i in zip(scores, ids)]
    candidates.sort(key=lambda c: (-c.score, -c.share, c.image_id, c.point))
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
    op_results = {m.name: getattr(m, "operating_point", None) for m in results.models}
    for entry in plan.models:
        items = []
        op = operating_point_of(plan, op_results.get(entry.name)) if plan.spec.task == "detection" else None
        for n, failure in enumerate(mine_failures(plan, store, entry.name, operating_point=op, device=device)):
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
                # folder/file: unambiguous when every class folder has a "0022.png"
                caption=f"{'/'.join(Path(record.path).parts[-2:])}: {point.condition} {point.label}; "
                f"{_CHANGE[plan.spec.task]} {failure.score:.2f}" + _boxes_note(op),
            )
            items.append(item)
            panels += _panels(plan, store, entry.name, record, failure, item, device, op)
        galleries[entry.name] = items
    models = [m.model_copy(update={"gallery": galleries.get(m.name, [])}) for m in results.models]
    return results.model_copy(update={"models": models}), panels


def _panels(
    plan: TestPlan, store: ResultStore, model: str, record: ImageRecord, failure: Failure, item: GalleryItem,
    device: torch.device, op: OperatingPoint | None = None,
) -> list[Panel]:
    """The clean and the corrupted panel of one failure; a detector's boxes only at or above its operating point."""
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
            shown = (op or fixed_point(FALLBACK_THRESHOLD)).keep(pred[:, 4], pred[:, 5].astype(np.int64))
            out.append(Panel(path, pixels, dict(plan.dataset.classes), gt_boxes=target.boxes, gt_labels=target.labels,
                             boxes=pred[shown, :4], scores=pred[shown, 4], labels=pred[shown, 5].astype(np.int64)))
        else:
            probs = softmax(pred[None])[0]
            clean_answer = int(preds[0].argmax())  # unlabelled data: the clean answer stands in for the label
            out.append(Panel(path, pixels, dict(plan.dataset.classes),
                             true_label=record.label if record.label is not None else clean_answer,
                             pred_label=int(probs.argmax()), prob=float(probs.max())))
    return out


def _aligned(plan: TestPlan, point: Point, clean: list[ImageDetections], device: torch.device,
             *, chunk: int = 64) -> list[ImageDetections]:
    """The clean detections moved as ``point`` moves each image (per-image seeds: the run's own draws,
    whatever the batch); boxes that leave the frame are dropped. Images are corrupted in chunks of one size."""
    records = {r.image_id: r for r in plan.dataset.records}
    by_size: dict[tuple[int, int], list[ImageDetections]] = {}
    for d in clean:
        by_size.setdefault((records[d.image_id].height, records[d.image_id].width), []).append(d)
    moved_of: dict[int, ImageDetections] = {}
    for group in by_size.values():
        for start in range(0, len(group), chunk):
            part = group[start : start + chunk]
            ids = [d.image_id for d in part]
            images = decode_images([records[i] for i in ids], device)
            boxes = Boxes.from_list([torch.from_numpy(np.asarray(d.boxes, dtype=np.float32)) for d in part], device=device)
            moved = corrupt_point(images, point, ids, seed=plan.seed, boxes=boxes).boxes
            for k, d in enumerate(part):
                if moved is None:
                    moved_of[d.image_id] = d
                    continue
                n = len(d.scores)
                keep = moved.valid[k, :n].cpu().numpy()
                xyxy = moved.xyxy[k, :n].cpu().numpy().astype(np.float64)
                moved_of[d.image_id] = ImageDetections(d.image_id, xyxy[keep], d.scores[keep], d.labels[keep])
    return [moved_of[d.image_id] for d in clean]


def _boxes_note(op: OperatingPoint | None) -> str:
    """What the drawn boxes are: those at or above the operating point (a detector's), said in the caption."""
    if op is None:
        return ""
    single = op.single
    return f"; boxes with score ≥ {single:.2f}" if single is not None else "; boxes at or above each class's threshold"


def operating_point_of(plan: TestPlan, result: OperatingPointResult | None) -> OperatingPoint:
    """The operating point results.json records for a model, as the thresholds the gallery applies."""
    if result is None:
        return fixed_point(FALLBACK_THRESHOLD, source="default")
    if result.per_class:
        ids = {name: i for i, name in plan.dataset.classes.items()}
        return fixed_point({ids[name]: t for name, t in result.per_class.items() if name in ids})
    threshold = result.score_threshold
    return fixed_point(FALLBACK_THRESHOLD if threshold is None else float(threshold))


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _stem(name: str) -> str:
    """A file-name stem unique per model name: a readable slug plus a digest of the exact name.

    "Model A" and "model-a" (or names differing only in case, on a case-insensitive disk) slugify
    alike; the digest keeps their images apart.
    """
    slug = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in name.lower())[:40]
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"

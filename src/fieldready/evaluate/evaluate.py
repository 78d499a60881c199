"""Evaluate a finished run: the result store's predictions → metrics per unit (model × point).

Each unit is evaluated once; the evaluation objects are kept so that confidence intervals are
resampled from them (never by evaluating again). Detection ground truth of geometric points comes
from the store, where the runner put the boxes as the corruption moved them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.evaluate.metrics.classification import evaluate_classification
from fieldready.evaluate.metrics.confusion import detection_confusion
from fieldready.evaluate.metrics.detection import evaluate_detection
from fieldready.evaluate.metrics.stability import consistency_eval, flip_rate
from fieldready.plan import CLEAN, TestPlan
from fieldready.execute.store import ResultStore

__all__ = ["UnitResult", "Evaluation", "evaluate", "detections_of", "targets_of"]


@dataclass
class UnitResult:
    """Metrics of one model at one point; ``engine`` is the metric object kept for resampling."""

    model: str
    point: str
    metrics: dict[str, float | None]
    per_class: dict[int, dict[str, float | None]] = field(default_factory=dict)
    engine: object | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class Evaluation:
    """All unit results of a run, plus what stability metrics need (clean top-1 per model)."""

    plan: TestPlan
    units: dict[tuple[str, str], UnitResult]

    def metric(self, model: str, point: str, name: str) -> float | None:
        return self.units[(model, point)].metrics.get(name)


def detections_of(rows: dict[int, np.ndarray]) -> list[ImageDetections]:
    """Store rows ``[K, 6]`` (xyxy, score, label) → ImageDetections in image-id order."""
    return [
        ImageDetections(image_id, r[:, :4].astype(np.float64), r[:, 4].astype(np.float64), r[:, 5].astype(np.int64))
        for image_id, r in rows.items()
    ]


def targets_of(plan: TestPlan, store: ResultStore, point: str, ids: list[int] | None = None) -> list[ImageTargets]:
    """Ground truth for a point (all images, or ``ids``): the dataset's, or the boxes a geometric point moved."""
    ids = [r.image_id for r in plan.dataset.records] if ids is None else ids
    if point == CLEAN or not plan.point(point).geometric:
        return [plan.dataset.targets[i] for i in ids]
    moved = store.targets(point, ids)
    out = []
    for i in ids:
        data = moved.get(i, np.zeros((0, 6), dtype=np.float32)).astype(np.float64)
        original = plan.dataset.targets[i]
        out.append(
            ImageTargets(
                image_id=i,
                boxes=data[:, :4],
                labels=data[:, 4].astype(np.int64),
                area=data[:, 5],
                width=original.width,
                height=original.height,
            )
        )
    return out


def _predicted_categories(plan: TestPlan, store: ResultStore) -> list[int]:
    """Unlabelled data has no category list: use the labels the models predict on clean images."""
    labels: set[int] = set()
    for model in plan.models:
        for rows in store.predictions(model.name, CLEAN).values():
            labels.update(int(v) for v in np.unique(rows[:, 5]))
    return sorted(labels) or [0]


def evaluate(plan: TestPlan, store: ResultStore) -> Evaluation:
    """Metrics of every unit of the plan, from the store."""
    units: dict[tuple[str, str], UnitResult] = {}
    labelled = plan.dataset.labelled
    if plan.spec.task == "detection":
        category_ids = sorted(plan.dataset.classes) or _predicted_categories(plan, store)
        wants_consistency = not labelled or any(c.metric == "consistency" for c in plan.spec.criteria)
        clean_detections: dict[str, list[ImageDetections]] = {}
        for point in plan.points:
            targets = targets_of(plan, store, point.key) if labelled else []
            for model in plan.models:
                detections = detections_of(store.predictions(model.name, point.key))
                unit = UnitResult(model.name, point.key, {})
                if labelled:
                    result = evaluate_detection(targets, detections, category_ids=category_ids)
                    per_class = {c: dict(v) for c, v in result.per_class.items()}
                    if point.key == CLEAN:  # the detection-aware confusion counts of the clean table
                        confusion = detection_confusion(targets, detections, category_ids=category_ids)
                        for c, counts in confusion.per_class.items():
                            per_class.setdefault(c, {}).update(
                                tp=counts.tp, fp=counts.fp, fn=counts.fn, wrong_class=counts.wrong_class
                            )
                    unit = UnitResult(model.name, point.key, dict(result.stats), per_class, result)
                if point.key == CLEAN:
                    clean_detections[model.name] = detections
                elif wants_consistency:
                    consistency = consistency_eval(clean_detections[model.name], detections, category_ids=category_ids)
                    unit.metrics["consistency"] = consistency.stats["map"]
                    unit.extra["consistency"] = consistency
                units[(model.name, point.key)] = unit
    else:
        clean_top1: dict[str, np.ndarray] = {}
        for model in plan.models:
            for point in plan.points:
                rows = store.predictions(model.name, point.key)
                logits = np.stack([rows[r.image_id] for r in plan.dataset.records])
                top1 = logits.argmax(axis=1)
                if point.key == CLEAN:
                    clean_top1[model.name] = top1
                # Unlabelled data: the model's own clean answers are the pseudo labels (label-free metrics only).
                labels = (
                    np.array([r.label for r in plan.dataset.records], dtype=np.int64) if labelled else clean_top1[model.name]
                )
                metrics: dict[str, float | None] = {}
                per_class: dict = {}
                if labelled:
                    result = evaluate_classification(labels, logits)
                    metrics, per_class = dict(result.stats), dict(result.per_class)
                metrics["flip_rate"] = flip_rate(clean_top1[model.name], top1)
                units[(model.name, point.key)] = UnitResult(
                    model.name, point.key, metrics, per_class, (labels, logits, clean_top1[model.name])
                )
    return Evaluation(plan, units)

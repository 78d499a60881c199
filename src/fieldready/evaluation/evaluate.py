"""Evaluate a finished run: the result store's predictions → metrics per unit (model × point).

Each unit is measured once, by the metric registry's rows for the task; its data (detections or
logits, with what they are compared against) is kept as the unit's ``Resampled`` source, so the
judge resamples confidence intervals from it without evaluating again. Detection ground truth of
geometric points comes from the store, where the runner put the boxes as the corruption moved them.
The per-image match tables may arrive already built, streamed while the run executed
(``evaluation.stream``); the COCO ground-truth dict of an image set is built once for all its units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.evaluation.metrics.classification import ClassificationUnit
from fieldready.evaluation.metrics.coco_format import coco_ground_truth
from fieldready.evaluation.metrics.confusion import detection_confusion
from fieldready.evaluation.metrics.detection import DetectionUnit
from fieldready.evaluation.metrics.match_tables import MatchTables, merge_match_tables
from fieldready.evaluation.metrics.operating_point import OperatingPoint, resolve
from fieldready.evaluation.metrics.registry import MetricDef, Resampled, class_metrics, metrics_for
from fieldready.evaluation.metrics.repeatability import REPEAT_METRICS
from fieldready.evaluation.repeat import RepeatEvaluation, evaluate_repeatability
from fieldready.execution.store import ResultStore
from fieldready.plan import CLEAN, REPEAT, Point, TestPlan

if TYPE_CHECKING:
    from fieldready.evaluation.stream import Streamed

__all__ = ["UnitResult", "Evaluation", "evaluate", "measure", "measured_at", "detections_of", "targets_of", "moved_targets"]


@dataclass
class UnitResult:
    """Metrics of one model at one point; ``source`` yields any of them again, resampled."""

    model: str
    point: str
    metrics: dict[str, float | None]
    per_class: dict[int, dict[str, float | None]] = field(default_factory=dict)
    source: Resampled | None = None


@dataclass
class Evaluation:
    """All unit results of a run; ``repeat``: each model's answers on the repeated captures (unit ``REPEAT``)."""

    plan: TestPlan
    units: dict[tuple[str, str], UnitResult]
    repeat: dict[str, RepeatEvaluation] = field(default_factory=dict)
    #: detection: each model's score thresholds, chosen once on the clean images (``metrics.operating_point``)
    operating_points: dict[str, OperatingPoint] = field(default_factory=dict)

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
    return moved_targets(plan, ids, store.targets(point, ids))


def moved_targets(plan: TestPlan, ids: list[int], moved: dict[int, np.ndarray]) -> list[ImageTargets]:
    """Ground truth of a geometric point from its stored rows ``[M, 6]`` (xyxy, label, area); no row: no boxes."""
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


def measured_at(row: MetricDef, plan: TestPlan, point: Point) -> bool:
    """Whether a unit or stability row is measured at ``point`` of this plan."""
    labelled = plan.dataset.labelled
    if row.needs_labels and not labelled:
        return False
    if point.key == CLEAN and not row.at_clean:
        return False
    if row.on_demand:
        return not labelled or any(c.metric == row.name for c in plan.spec.criteria)
    return True


def measure(plan: TestPlan, point: Point, source: Resampled, class_ids: list[int]) -> tuple[dict, dict]:
    """The registry's metrics of one unit at ``point``: (metrics, per-class metrics)."""
    task = plan.spec.task
    rows = [r for r in metrics_for(task, scopes=("unit", "stability")) if measured_at(r, plan, point)]
    metrics = {r.name: source.value(r.name) for r in rows}
    per_class_rows = [r for r in class_metrics(task) if measured_at(r, plan, point)]
    per_class = {c: {r.name: source.value(r.name, c) for r in per_class_rows} for c in class_ids} if per_class_rows else {}
    return metrics, per_class


def _covering(tables: MatchTables | None, image_ids: list[int], category_ids: list[int]) -> MatchTables | None:
    """Streamed tables when they hold exactly ``image_ids`` (cut to ``category_ids``); None: build them as before."""
    if tables is None or tables.image_ids != image_ids:
        return None
    return tables if tables.category_ids == category_ids else merge_match_tables([tables], category_ids=category_ids)


def evaluate(
    plan: TestPlan,
    store: ResultStore,
    *,
    on_unit: Callable[[], None] | None = None,
    streamed: Streamed | None = None,
) -> Evaluation:
    """Metrics of every unit of the plan, from the store; ``on_unit`` is called after each (the progress bar).

    ``streamed``: match tables built while the run executed (``evaluation.stream``), used for every
    unit whose images they all hold; the numbers are the same either way.
    """
    tick = on_unit or (lambda: None)
    units: dict[tuple[str, str], UnitResult] = {}
    labelled = plan.dataset.labelled
    operating: dict[str, OperatingPoint] = {}
    if plan.spec.task == "detection":
        category_ids = sorted(plan.dataset.classes) or _predicted_categories(plan, store)
        cats = sorted(set(category_ids))
        clean_detections: dict[str, list[ImageDetections]] = {}
        clean_ids: dict[str, list[int]] = {}
        class_ids = {name: i for i, name in plan.dataset.classes.items()}
        all_ids = sorted(r.image_id for r in plan.dataset.records)
        streamed_tables = streamed.tables if streamed is not None else {}
        streamed_consistency = streamed.consistency if streamed is not None else {}
        shared_truth: dict[str, Any] | None = None  # the COCO dict of the dataset's own boxes, built once
        for point in plan.points:
            targets = targets_of(plan, store, point.key) if labelled else None
            ground_truth = None
            if targets is not None and point.key != CLEAN and point.geometric:  # boxes this point moved
                ground_truth = coco_ground_truth(targets, category_ids=cats)
            elif targets is not None:
                shared_truth = shared_truth or coco_ground_truth(targets, category_ids=cats)
                ground_truth = shared_truth
            for model in plan.models:
                detections = detections_of(store.predictions(model.name, point.key))
                if point.key == CLEAN:
                    clean_detections[model.name] = detections
                    clean_ids[model.name] = sorted(d.image_id for d in detections)
                key = (model.name, point.key)
                unit = DetectionUnit(detections, category_ids=category_ids, targets=targets,
                                     clean=clean_detections[model.name], operating_point=operating.get(model.name),
                                     tables=_covering(streamed_tables.get(key), all_ids, cats) if labelled else None,
                                     consistency_tables=_covering(streamed_consistency.get(key), clean_ids[model.name], cats),
                                     ground_truth=ground_truth)
                if point.key == CLEAN:  # the operating point is chosen once, on the clean images
                    tables = unit.coco.match_tables() if labelled else None
                    declared = getattr(model.spec, "operating_point", None)
                    unit.operating_point = operating[model.name] = resolve(declared, tables=tables, class_ids=class_ids)
                metrics, per_class = measure(plan, point, unit, unit.class_ids)
                if labelled and point.key == CLEAN:  # the confusion counts of the clean table, at the operating point
                    confusion = detection_confusion(targets, detections, category_ids=category_ids,  # type: ignore[arg-type]
                                                    score_threshold=operating[model.name].threshold_of)
                    for c, counts in confusion.per_class.items():
                        per_class.setdefault(c, {}).update(
                            tp=counts.tp, fp=counts.fp, fn=counts.fn, wrong_class=counts.wrong_class
                        )
                units[(model.name, point.key)] = UnitResult(model.name, point.key, metrics, per_class, unit)
                tick()
    else:
        clean_top1: dict[str, np.ndarray] = {}
        for model in plan.models:
            for point in plan.points:
                rows = store.predictions(model.name, point.key)
                logits = np.stack([rows[r.image_id] for r in plan.dataset.records])
                if point.key == CLEAN:
                    clean_top1[model.name] = logits.argmax(axis=1)
                # Unlabelled data: the model's own clean answers are the pseudo labels (label-free metrics only).
                labels = (
                    np.array([r.label for r in plan.dataset.records], dtype=np.int64) if labelled else clean_top1[model.name]
                )
                unit = ClassificationUnit(labels, logits, clean_top1=clean_top1[model.name])
                metrics, per_class = measure(plan, point, unit, unit.class_ids)
                units[(model.name, point.key)] = UnitResult(model.name, point.key, metrics, per_class, unit)
                tick()
    repeat = evaluate_repeatability(plan, store, operating_points=operating)
    for name, r in repeat.items():  # one unit per model at REPEAT: the registry's repeatability rows
        units[(name, REPEAT)] = UnitResult(name, REPEAT, {m: r.unit.value(m) for m in REPEAT_METRICS}, {}, r.unit)
    return Evaluation(plan, units, repeat=repeat, operating_points=operating)

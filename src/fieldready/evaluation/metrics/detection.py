"""COCO detection metrics (AP family, AR, per-class AP) with pycocotools semantics, via faster-coco-eval.

faster-coco-eval is the engine (a C++ drop-in for pycocotools' COCOeval, ~17x faster); the 12
summary numbers are read from its precision/recall arrays with pycocotools' ``summarize`` rules.

"No data" (COCOeval's -1: e.g. no non-crowd ground truth in an area range) is stored as ``None``,
never as -1 or NaN, so a JSON report shows it as missing and no average silently absorbs it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluation.metrics.bootstrap import check_indices
from fieldready.evaluation.metrics.coco_format import (
    IOU_THRESHOLDS,
    CocoSummary,
    check_image_sets,
    coco_detections,
    coco_ground_truth,
)
from fieldready.evaluation.metrics.match_tables import MatchTables, build_match_tables, table_replicates
from fieldready.evaluation.metrics.registry import MetricDef, get_metric, metrics_for, register_metric

if TYPE_CHECKING:
    from fieldready.evaluation.metrics.operating_point import OperatingPoint

__all__ = [
    "COCO_METRICS",
    "STAT_KEYS",
    "MAX_DETS",
    "DetectionEval",
    "DetectionUnit",
    "evaluate_detection",
    "consistency_eval",
    "pseudo_targets",
    "summarize",
    "summary_value",
]


def _coco_value(row: MetricDef, unit: DetectionUnit, class_id: int | None) -> float | None:
    return unit.coco.summary(row.params, category_id=class_id)


def _coco_replicates(row: MetricDef, unit: DetectionUnit, indices: np.ndarray, class_id: int | None) -> np.ndarray:
    return unit.coco.replicates(indices, row.name, category_id=class_id)


def _coco(name: str, label: str, description: str, summary: CocoSummary, *, scope: str = "unit",
          criterion: bool = True, per_class: bool = False) -> MetricDef:
    return register_metric(MetricDef(
        name=name, tasks=("detection",), scope=scope, higher_is_better=True, label=label, description=description,  # type: ignore[arg-type]
        criterion=criterion, per_class=per_class, params=summary, value=_coco_value, replicates=_coco_replicates,
    ))


#: The 12 COCO summary numbers, in pycocotools' ``stats`` order, each a row of the metric registry.
COCO_METRICS: dict[str, MetricDef] = {r.name: r for r in (
    _coco("map", "COCO AP@[.5:.95]", "COCO AP averaged over IoU 0.50:0.95 (all areas, max_dets[2])", CocoSummary(True)),
    _coco("ap50", "COCO AP at IoU 0.5", "COCO AP at IoU 0.50", CocoSummary(True, 0.5), per_class=True),
    _coco("ap75", "COCO AP at IoU 0.75", "COCO AP at IoU 0.75", CocoSummary(True, 0.75)),
    _coco("ap_small", "COCO AP, small objects", "COCO AP on small objects (area < 32^2)", CocoSummary(True, area="small")),
    _coco("ap_medium", "COCO AP, medium objects", "COCO AP on medium objects (32^2 <= area < 96^2)",
          CocoSummary(True, area="medium")),
    _coco("ap_large", "COCO AP, large objects", "COCO AP on large objects (area >= 96^2)", CocoSummary(True, area="large")),
    _coco("ar1", "COCO AR, 1 detection per image", "COCO AR with max_dets[0] (default 1) detections per image and class",
          CocoSummary(False, max_dets=0)),
    _coco("ar10", "COCO AR, 10 detections per image",
          "COCO AR with max_dets[1] (default 10) detections per image and class", CocoSummary(False, max_dets=1)),
    _coco("ar100", "COCO AR, 100 detections per image",
          "COCO AR with max_dets[2] (default 100) detections per image and class", CocoSummary(False), per_class=True),
    _coco("ar_small", "COCO AR, small objects", "COCO AR on small objects", CocoSummary(False, area="small"), criterion=False),
    _coco("ar_medium", "COCO AR, medium objects", "COCO AR on medium objects", CocoSummary(False, area="medium"),
          criterion=False),
    _coco("ar_large", "COCO AR, large objects", "COCO AR on large objects", CocoSummary(False, area="large"), criterion=False),
)}
STAT_KEYS: tuple[str, ...] = tuple(COCO_METRICS)
#: COCOeval's default detections per image for AR (and the cut of the match tables), as every unit is evaluated.
MAX_DETS: tuple[int, int, int] = (1, 10, 100)
_coco("ap", "per-class AP@[.5:.95]", "per-class COCO AP over IoU 0.50:0.95", CocoSummary(True), scope="class")


@dataclass
class DetectionEval:
    """The result of one COCO evaluation of one model on one set of images.

    ``stats`` holds the registered COCO summary metrics (the 12 of ``STAT_KEYS``);
    ``per_class[category_id]`` holds the per-class ones (``ap``, ``ap50``, ``ar100``). A value is
    ``None`` where COCOeval reports -1 (no non-ignored ground truth). ``precision[T, R, K, A, M]``
    and ``recall[T, K, A, M]`` are the engine's arrays (-1 = no data). ``image_ids`` are sorted, as
    COCOeval orders images. Bootstrap indices refer to positions in the ``targets`` list as it was
    passed to ``evaluate_detection`` (``input_image_ids``), so one index matrix pairs every model
    and condition evaluated on the same list.
    """

    stats: dict[str, float | None]
    per_class: dict[int, dict[str, float | None]]
    precision: np.ndarray
    recall: np.ndarray
    image_ids: list[int]
    category_ids: list[int]
    max_dets: tuple[int, int, int]
    input_image_ids: list[int] = field(default_factory=list)
    _targets: list[ImageTargets] = field(default_factory=list, repr=False)
    _detections: list[ImageDetections] = field(default_factory=list, repr=False)
    _tables: MatchTables | None = field(default=None, repr=False)

    def summary(self, spec: CocoSummary, *, category_id: int | None = None) -> float | None:
        """One summary number of this evaluation (of one category with ``category_id``)."""
        k = None if category_id is None else self.category_ids.index(category_id)
        return summary_value(self.precision, self.recall, spec, category=k)

    def match_tables(self) -> MatchTables:
        """Per-image match tables for bootstrap resampling, built once on first use."""
        if self._tables is None:
            self._tables = build_match_tables(
                self._targets, self._detections, category_ids=self.category_ids, max_dets=self.max_dets
            )
        return self._tables

    def replicates(self, indices: np.ndarray, metric: str = "map", *, category_id: int | None = None) -> np.ndarray:
        """Recompute ``metric`` on each row of image positions ``indices[B, n]`` (paired bootstrap).

        An image drawn k times counts k times. ``metric`` is a COCO summary metric (``STAT_KEYS``),
        or with ``category_id`` a per-class one (``ap``, ``ap50``, ``ar100``). "No data" in a resample is NaN.
        """
        idx = check_indices(indices, len(self.input_image_ids))
        to_sorted = np.searchsorted(self.image_ids, self.input_image_ids)
        return table_replicates(self.match_tables(), to_sorted[idx], metric, category_id=category_id)


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None


def summary_value(
    precision: np.ndarray, recall: np.ndarray, spec: CocoSummary, *, category: int | None = None
) -> float | None:
    """pycocotools' ``summarize`` of one slice (of one category index ``category``); -1 ("no data") → None."""
    a, m = spec.area_index, spec.max_dets
    if spec.ap:
        s = precision[:, :, :, a, m] if category is None else precision[:, :, category, a, m]
    else:
        s = recall[:, :, a, m] if category is None else recall[:, category, a, m]
    if spec.iou is not None:
        s = s[np.where(spec.iou == IOU_THRESHOLDS)[0]]
    return _mean_valid(s)


def _coco_rows(scope: str) -> list[MetricDef]:
    rows = metrics_for("detection", scopes=(scope,))
    return [r for r in rows if isinstance(r.params, CocoSummary)]


def summarize(
    precision: np.ndarray, recall: np.ndarray, *, max_dets: Sequence[int] = (1, 10, 100)
) -> dict[str, float | None]:
    """The COCO summary numbers (the 12 of ``STAT_KEYS`` first) from ``precision[T,R,K,A,M]`` and ``recall[T,K,A,M]``."""
    del max_dets  # the summary is positional over the max_dets axis; kept for symmetry with the engine
    return {row.name: summary_value(precision, recall, row.params) for row in _coco_rows("unit")}


def _per_class(precision: np.ndarray, recall: np.ndarray, category_ids: Sequence[int]) -> dict[int, dict[str, float | None]]:
    rows = [r for r in _coco_rows("class")] + [r for r in _coco_rows("unit") if r.per_class]
    return {
        int(cat): {row.name: summary_value(precision, recall, row.params, category=k) for row in rows}
        for k, cat in enumerate(category_ids)
    }


def _run_engine(
    gt: dict[str, Any], dt: list[dict[str, Any]], *, image_ids: list[int], category_ids: list[int], max_dets: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        # Built like COCO.loadRes (coco_detections adds its ids, areas, iscrowd) but also valid with zero detections.
        coco_dt = COCO({"images": gt["images"], "categories": gt["categories"], "annotations": dt})
        ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *_a, **_k: None)
        ev.params.imgIds = image_ids
        ev.params.catIds = category_ids
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
    return np.asarray(ev.eval["precision"], dtype=np.float64), np.asarray(ev.eval["recall"], dtype=np.float64)


def evaluate_detection(
    targets: Sequence[ImageTargets],
    detections: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    max_dets: tuple[int, int, int] = MAX_DETS,
    tables: MatchTables | None = None,
    ground_truth: dict[str, Any] | None = None,
) -> DetectionEval:
    """COCO bbox evaluation of ``detections`` against ``targets``, identical to pycocotools' COCOeval.

    Images without annotations count (their detections are false positives); crowd annotations
    match without counting as misses; detections of categories outside ``category_ids`` are
    ignored, as COCOeval ignores them. Images without an ``ImageDetections`` have no detections.
    ``tables``: the match tables of these same images, already built (the streaming evaluator
    merges them batch by batch), instead of building them on first use. ``ground_truth``:
    ``coco_ground_truth(targets, category_ids=...)`` when already built (one per image set, shared by
    every model and point evaluated on it; the engine only marks its annotations' ``ignore`` flag).
    """
    if not category_ids:
        raise DataError("category_ids is empty; pass the dataset's COCO category ids")
    if len(max_dets) != 3 or list(max_dets) != sorted(max_dets):
        raise DataError(f"max_dets must be three increasing numbers like (1, 10, 100), got {max_dets!r}")
    check_image_sets(targets, detections)
    cats = sorted(int(c) for c in set(category_ids))
    image_ids = sorted(int(t.image_id) for t in targets)
    if tables is not None and (tables.image_ids != image_ids or tables.category_ids != cats
                               or tables.max_dets != tuple(int(m) for m in max_dets)):
        raise ValueError("the match tables given were built on other images, categories or max_dets")
    gt = coco_ground_truth(targets, category_ids=cats) if ground_truth is None else ground_truth
    dt = coco_detections(detections)
    precision, recall = _run_engine(gt, dt, image_ids=image_ids, category_ids=cats, max_dets=max_dets)
    return DetectionEval(
        stats=summarize(precision, recall),
        per_class=_per_class(precision, recall, cats),
        precision=precision,
        recall=recall,
        image_ids=image_ids,
        category_ids=cats,
        max_dets=tuple(int(m) for m in max_dets),  # type: ignore[arg-type]
        input_image_ids=[int(t.image_id) for t in targets],
        _targets=list(targets),
        _detections=list(detections),
        _tables=tables,
    )


def consistency_eval(
    clean: Sequence[ImageDetections],
    corrupted: Sequence[ImageDetections],
    *,
    category_ids: Sequence[int],
    score_threshold: float = 0.5,
    tables: MatchTables | None = None,
) -> DetectionEval:
    """COCO evaluation of corrupted detections against the same model's clean detections as ground truth.

    Clean detections with score ≥ ``score_threshold`` become pseudo ground truth (``pseudo_targets``);
    ``.stats["map"]`` is the consistency AP, and ``.replicates`` bootstraps it. Needs no labels. An
    image without clean detections above the threshold contributes only false positives.
    ``tables``: the match tables of these images, already built (as in ``evaluate_detection``).
    """
    pseudo = pseudo_targets(clean, corrupted, score_threshold=score_threshold)
    return evaluate_detection(pseudo, list(corrupted), category_ids=category_ids, tables=tables)


def pseudo_targets(
    clean: Sequence[ImageDetections], corrupted: Sequence[ImageDetections], *, score_threshold: float = 0.5
) -> list[ImageTargets]:
    """A model's clean detections as the ground truth of its corrupted ones (the consistency metrics' reference).

    Detections with score ≥ ``score_threshold`` become boxes (not crowd, area = box area), in ``clean``'s
    order; corrupted detections of an image without clean ones are refused.
    """
    pseudo = []
    for d in clean:
        keep = d.scores >= score_threshold
        boxes = d.boxes[keep]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        pseudo.append(ImageTargets(d.image_id, boxes, d.labels[keep], np.zeros(len(area), bool), area))
    known = {d.image_id for d in clean}
    missing = sorted({d.image_id for d in corrupted} - known)
    if missing:
        raise DataError(f"corrupted detections of images without clean detections (first: {missing[:5]})")
    return pseudo


class DetectionUnit:
    """One model's detections at one point and what they are measured against (``Resampled``).

    ``targets`` are the point's ground truth (None on unlabelled images); ``clean`` the same model's
    clean detections, the reference of the stability metrics; ``operating_point`` the model's score
    thresholds for the metrics at the operating point (None: chosen by max F1 on this unit's own
    images). Each COCO evaluation runs once, on first use, and serves every metric's value and replicates.
    ``tables`` / ``consistency_tables``: the match tables of the two evaluations when already built
    (streamed while the run executed), so they are not built again; ``ground_truth``: the COCO dict of
    ``targets`` when already built (``evaluate_detection``).
    """

    task = "detection"

    def __init__(
        self,
        detections: Sequence[ImageDetections],
        *,
        category_ids: Sequence[int],
        targets: Sequence[ImageTargets] | None = None,
        clean: Sequence[ImageDetections] | None = None,
        operating_point: OperatingPoint | None = None,
        tables: MatchTables | None = None,
        consistency_tables: MatchTables | None = None,
        ground_truth: dict[str, Any] | None = None,
    ) -> None:
        self.operating_point = operating_point
        self.tables, self.consistency_tables, self.ground_truth = tables, consistency_tables, ground_truth
        self.detections = list(detections)
        self.category_ids = sorted(int(c) for c in set(category_ids))
        self.targets = None if targets is None else list(targets)
        self.clean = None if clean is None else list(clean)

    @property
    def class_ids(self) -> list[int]:
        return self.category_ids

    @cached_property
    def coco(self) -> DetectionEval:
        """The COCO evaluation against the ground truth."""
        if self.targets is None:
            raise DataError("detection metrics against ground truth need labelled images; this unit has none")
        return evaluate_detection(self.targets, self.detections, category_ids=self.category_ids, tables=self.tables,
                                  ground_truth=self.ground_truth)

    @cached_property
    def consistency(self) -> DetectionEval:
        """The COCO evaluation against the model's own clean detections (label-free)."""
        if self.clean is None:
            raise DataError("consistency needs the model's clean detections of the same images")
        return consistency_eval(self.clean, self.detections, category_ids=self.category_ids,
                                tables=self.consistency_tables)

    def value(self, metric: str, class_id: int | None = None) -> float | None:
        return _row(metric).measure(self, class_id)

    def replicates(self, indices: np.ndarray, metric: str, class_id: int | None = None) -> np.ndarray:
        return _row(metric).resample(self, indices, class_id)


def _row(metric: str) -> MetricDef:
    try:
        row = get_metric(metric)
    except KeyError:
        row = None
    if row is None or "detection" not in row.tasks or row.scope == "aggregate":
        known = [r.name for r in metrics_for("detection", scopes=("unit", "class", "stability"))]
        raise DataError(f"unknown detection metric {metric!r}; choose one of {known}")
    return row

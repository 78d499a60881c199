"""Evaluate the repeated captures: each model's answers per capture → ``RepeatUnit`` counts per group and video.

An answer is the top-1 class (classification) or the detections at the model's operating point
(detection): the one evaluation chose on the clean images (``metrics.operating_point``), else the
spec's fixed ``operating_point.score_threshold``, else 0.5 (``score_threshold``). What the report's
gallery shows of a group that disagreed is kept too: each capture's answer in words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fieldready.data.captures import CaptureGroup
from fieldready.evaluation.metrics.operating_point import OperatingPoint
from fieldready.evaluation.metrics.repeatability import (
    GroupCounts,
    RepeatUnit,
    detections_agree,
    group_counts,
    top1_group_counts,
)
from fieldready.execution.store import ResultStore
from fieldready.plan import REPEAT, TestPlan
from fieldready.rng import derive_seed

__all__ = ["DEFAULT_SCORE_THRESHOLD", "score_threshold", "GroupAnswers", "RepeatEvaluation", "evaluate_repeatability"]

#: The score above which a detection counts when a model declares no fixed operating point.
DEFAULT_SCORE_THRESHOLD = 0.5


def score_threshold(model: object, classes: dict[int, str] | None = None) -> float | dict[int, float]:
    """A detector's operating point: its declared ``operating_point.score_threshold``, else 0.5.

    A per-class threshold (``{class name: t}``) becomes ``{class id: t}``, 0.5 for the classes it
    omits. A rule (``max_f1``, chosen on clean labelled data) is not resolved here yet: 0.5.
    """
    point = getattr(model, "operating_point", None)
    fixed = getattr(point, "score_threshold", None)
    if isinstance(fixed, (int, float)):
        return float(fixed)
    if isinstance(fixed, dict):
        ids = {name: i for i, name in (classes or {}).items()}
        return {ids[name]: float(t) for name, t in fixed.items() if name in ids}
    return DEFAULT_SCORE_THRESHOLD


def _kept(rows: np.ndarray, threshold: float | dict[int, float] | OperatingPoint) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, labels) of the detections at or above the threshold (their class's, per class)."""
    labels = rows[:, 5].astype(np.int64)
    if isinstance(threshold, OperatingPoint):
        keep = threshold.keep(rows[:, 4], labels)
        return rows[keep, :4].astype(np.float64), labels[keep]
    if isinstance(threshold, dict):
        limit = np.array([threshold.get(int(c), DEFAULT_SCORE_THRESHOLD) for c in labels], dtype=np.float64)
    else:
        limit = np.full(len(labels), threshold)
    keep = rows[:, 4] >= limit
    return rows[keep, :4].astype(np.float64), labels[keep]


@dataclass
class GroupAnswers:
    """One group's (or video's) comparison and each capture's answer in words, for the report."""

    group: CaptureGroup
    counts: GroupCounts
    answers: list[str]


@dataclass
class RepeatEvaluation:
    """One model's repeatability: the unit the registry's rows read, and every group's answers."""

    unit: RepeatUnit
    groups: list[GroupAnswers] = field(default_factory=list)


def _words(task: str, answer: object, classes: dict[int, str]) -> str:
    if task == "classification":
        return classes.get(int(answer), f"class {int(answer)}")  # type: ignore[call-overload]
    _, labels = answer  # type: ignore[misc]
    if len(labels) == 0:
        return "nothing"
    counts = Counter(classes.get(int(c), f"class {int(c)}") for c in labels)
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


def evaluate_repeatability(
    plan: TestPlan, store: ResultStore, *, operating_points: Mapping[str, OperatingPoint] | None = None
) -> dict[str, RepeatEvaluation]:
    """Model name → its repeatability on the plan's captures (empty without ``repeatability:``).

    ``operating_points``: each detector's operating point as evaluation resolved it on the clean images.
    """
    captures = plan.captures
    if captures is None:
        return {}
    task = plan.spec.task
    iou = plan.spec.repeatability.iou
    classes = dict(plan.dataset.classes)
    out = {}
    for model in plan.models:
        rows = store.predictions(model.name, REPEAT)
        threshold = (operating_points or {}).get(model.name) or score_threshold(model.spec, classes)
        unit = RepeatUnit(seed=derive_seed(plan.seed, REPEAT, 0) % (2**32))
        answers_of: list[GroupAnswers] = []
        for group in captures.groups:
            data = [rows[c.image_id] for c in group.captures]
            sequence = group.kind == "video"
            if task == "classification":
                answers: list = [int(np.argmax(d)) for d in data]
                counts = top1_group_counts(np.array(answers), sequence=sequence)
            else:
                answers = [_kept(d, threshold) for d in data]
                counts = group_counts(answers, lambda a, b: detections_agree(a, b, iou=iou), sequence=sequence)
            (unit.videos if sequence else unit.groups).append(counts)
            answers_of.append(GroupAnswers(group, counts, [_words(task, a, classes) for a in answers]))
        out[model.name] = RepeatEvaluation(unit, answers_of)
    return out

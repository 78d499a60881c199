"""The judge's hand-off to the report: ``Results`` (the shape of ``results.json``) and gallery ``Panel``s.

The judge fills these models — measured values, intervals, verdicts, and the figures derived from
them (drop floors, margins, what would change a decision, significance words); rendering only
reads them, so ``fieldready report DIR`` re-renders a run from its ``results.json`` alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "json_number",
    "Verdict",
    "Significance",
    "SignoffEntry",
    "CriterionResult",
    "ConditionResult",
    "EnvelopeResult",
    "ClassResult",
    "OperatingPointResult",
    "GalleryItem",
    "Comparison",
    "RepeatFigure",
    "RepeatCapture",
    "RepeatGroup",
    "RepeatabilityResult",
    "ModelResult",
    "ConditionInfo",
    "Recommendation",
    "Provenance",
    "Results",
    "Number",
    "Panel",
    "results_json",
]

Verdict = Literal["GO", "NO-GO", "INCONCLUSIVE"]


def json_number(value: float | None) -> float | None:
    """A metric value as results.json stores it: NaN, ±inf and None all become None ("no data")."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _interval(bounds: list[float] | None) -> list[float] | None:
    """An interval with a NaN or infinite bound is no interval: None ("no data"), like a missing number."""
    if bounds is None or not all(math.isfinite(b) for b in bounds):
        return None
    return bounds


#: A measured number as results.json holds it: NaN and ±inf become None when the result is built,
#: so the report and the file both read "no data" instead of a bare NaN.
Number = Annotated[float | None, AfterValidator(json_number)]
Interval = Annotated[list[float] | None, AfterValidator(_interval)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CriterionResult(_Model):
    """One criterion judged on one model. ``passed`` is None when the result is inconclusive."""

    id: str
    description: str
    metric: str
    scope: str
    kind: Literal["at_least", "at_most", "max_drop", "max_drop_vs_baseline"]
    threshold: float
    value: Number
    passed: bool | None
    # False for the baseline's own comparison with itself (a drop vs the baseline, a baseline-normalised
    # metric such as mCE): shown as "baseline", never judged, no part of its verdict.
    applies: bool = True
    blocking: bool = True
    ci: Interval = None
    confidence: Number = None
    note: str = ""
    # For the drop kinds: the value of the metric at which the drop equals the threshold, i.e.
    # reference · (1 − t) where higher is better (· (1 + t) where lower is better); charts draw it.
    floor: Number = None
    # How far the value is from the threshold on its passing side (negative: on the failing side).
    margin: Number = None


class ConditionResult(_Model):
    """Metrics of one model at one severity point of one condition."""

    condition: str
    corruption: str
    severity: Number = None
    level: int | None = None
    label: str = ""
    metrics: dict[str, Number]
    # How much the primary metric got worse than clean at this point (clean − value where higher is
    # better, value − clean where lower is better): the report's heat map.
    drop: Number = None
    # The primary metric's bootstrap interval at this point (the robustness curve's band).
    ci: Interval = None


class EnvelopeResult(_Model):
    """How far into one condition a blocking criterion holds for one model (``judge.envelope``).

    ``severity`` is interpolated linearly between tested points in the condition's unit; with status
    "passes at all tested" it is the harshest tested severity (the envelope is at least that), with
    "fails at lowest" None (below the tested range). ``ci`` is [mild end, severe end] at
    ``confidence``, each end with its own status in ``ci_status`` and read the same way (None below
    the tested range, the harshest tested severity when it holds there: the end is at least that).
    ``position``/``ci_position`` place them on the robustness curve (index among the condition's points).
    """

    condition: str
    corruption: str
    criterion: str
    description: str
    metric: str
    kind: Literal["at_least", "at_most", "max_drop", "max_drop_vs_baseline"]
    threshold: float
    status: Literal["interpolated", "passes at all tested", "fails at lowest"]
    severity: Number = None
    ci: list[Number] | None = None
    ci_status: list[Literal["interpolated", "passes at all tested", "fails at lowest"]] = Field(default_factory=list)
    confidence: Number = None
    unit: str = ""
    relative_to: int | None = None
    tested: list[float] = Field(default_factory=list)
    position: Number = None
    ci_position: list[Number] | None = None


class OperatingPointResult(_Model):
    """A detector's operating point: the score threshold(s) its at-the-operating-point metrics, confusion
    counts and gallery use, and how they were set (``evaluation.metrics.operating_point``).

    ``score_threshold`` is the one threshold of every class (None when classes have their own, in
    ``per_class`` by class name). ``source``: declared in the spec, chosen by the spec's ``rule``, or
    the default (rule max_f1 on the clean images; a fixed 0.5 on unlabelled images). ``clean``:
    precision, recall and F1 on the clean images where a rule chose the threshold; ``reached``: whether
    a min_precision target was met. Matching is COCO's at ``iou``.
    """

    score_threshold: Number = None
    per_class: dict[str, float] = Field(default_factory=dict)
    source: Literal["declared", "rule", "default"]
    rule: str | None = None
    precision_target: Number = None
    reached: bool | None = None
    clean: dict[str, Number] = Field(default_factory=dict)
    iou: float = 0.5
    description: str = ""


class ClassResult(_Model):
    """Clean metrics of one class (per-class AP for detection, accuracy for classification)."""

    class_id: int
    name: str
    metrics: dict[str, Number]
    # Clean primary metric minus its mean over all corrupted units (positive = degrades); the report
    # highlights the classes with the largest drop.
    drop: Number = None
    # The drop's bootstrap interval, and whether the class really degrades: the interval excludes 0
    # and the drop is at least ``judge.build.MEANINGFUL_CLASS_DROP`` of its clean value.
    drop_ci: Interval = None
    degrades: bool | None = None


class GalleryItem(_Model):
    """One failure example: an image whose prediction changed most under a condition."""

    image_id: int
    condition: str
    label: str
    score: float
    clean_png: str = ""
    corrupted_png: str = ""
    caption: str = ""


class RepeatFigure(_Model):
    """A repeatability figure with its 95 % interval from a bootstrap over ``n`` groups (videos for the flip rate)."""

    value: Number = None
    ci: Interval = None
    confidence: float = 0.95
    n: int = 0


class RepeatCapture(_Model):
    """One capture of a group that disagreed: its id, name (file, or ``video@time``) and the model's answer in words."""

    image_id: int
    name: str
    answer: str
    png: str = ""  # the capture's thumbnail, relative to the run directory


class RepeatGroup(_Model):
    """A group (or video) whose captures did not all get the same answer, as the report's gallery shows it.

    ``shown``: up to six captures, those whose answer differs from the group's most common one first
    (their thumbnails are written after the results are built).
    """

    name: str
    kind: Literal["group", "video"]
    captures: int
    agreeing_pairs: int
    pairs: int
    flips: int = 0
    transitions: int = 0
    shown: list[RepeatCapture] = Field(default_factory=list)


class RepeatabilityResult(_Model):
    """A model's repeatability on real captures, beside its synthetic stability.

    ``figures``: ``repeatability``, ``agreement`` and ``video_flip_rate`` (registry rows of scope
    repeatability); ``synthetic``: the stability metrics (flip rate, consistency) averaged over every
    corrupted point, for comparison; ``threshold``: the detection score threshold answers were taken at.
    """

    groups: int
    videos: int
    captures: int
    figures: dict[str, RepeatFigure] = Field(default_factory=dict)
    synthetic: dict[str, Number] = Field(default_factory=dict)
    threshold: str = ""
    disagreeing: list[RepeatGroup] = Field(default_factory=list)


class Significance(_Model):
    """How a paired difference reads at 95 %: a word and the tests behind it."""

    word: Literal[
        "significantly better",
        "significantly worse",
        "not clearly distinguishable at 95 %",
        "not distinguishable at 95 %",
        "not assessed",
    ]
    reason: str


class Comparison(_Model):
    """A candidate against the baseline on the same images: paired differences (model − baseline)."""

    against: str
    metric: str
    higher_is_better: bool = True
    clean_difference: Number = None
    clean_ci: Interval = None
    production_difference: Number = None
    production_ci: Interval = None
    mcnemar_p: Number = None
    wins: int | None = None
    losses: int | None = None
    clean_significance: Significance | None = None
    production_significance: Significance | None = None


class ModelResult(_Model):
    """Everything measured and judged for one candidate model."""

    name: str
    kind: str
    file_hash: str | None = None
    verdict: Verdict
    rank: int | None = None
    production_score: Number = None
    production_ci: Interval = None
    # The confidence of production_ci (the criterion row of a production_score criterion uses its own).
    production_confidence: Number = None
    clean: dict[str, Number]
    # The primary metric's bootstrap interval on clean images (the robustness curves' first band).
    clean_ci: Interval = None
    robustness: dict[str, Number] = Field(default_factory=dict)
    # Mean primary metric per corruption family (ConditionInfo.family), for the report's family bars.
    families: dict[str, Number] = Field(default_factory=dict)
    per_class: list[ClassResult] = Field(default_factory=list)
    criteria: list[CriterionResult] = Field(default_factory=list)
    conditions: list[ConditionResult] = Field(default_factory=list)
    # Operating envelope: per condition and blocking criterion, the harshest severity it still holds at.
    envelope: list[EnvelopeResult] = Field(default_factory=list)
    # Detection: the score threshold the model is judged at (precision, recall, … and the gallery).
    operating_point: OperatingPointResult | None = None
    gallery: list[GalleryItem] = Field(default_factory=list)
    comparison: Comparison | None = None
    # Repeated real captures (spec's repeatability:): figures with intervals and the groups that disagreed.
    repeatability: RepeatabilityResult | None = None
    error: str | None = None
    # Sentences saying what would flip this model's verdict (or how close the closest call is).
    change: list[str] = Field(default_factory=list)


class ConditionInfo(_Model):
    """A condition of the plan as the report describes it."""

    name: str
    corruptions: list[str]
    family: str
    frequency: float
    severities: list[str]
    unit: str = ""


class Recommendation(_Model):
    """The model to ship (None when no candidate is GO) and the one-sentence reason."""

    model: str | None
    reason: str


class SignoffEntry(_Model):
    """A sign-off line of the report: a role, and the name, date and decision once signed."""

    role: str
    name: str = ""
    date: str = ""
    decision: str = ""


class Provenance(_Model):
    """What a reviewer needs to reproduce the run."""

    spec_path: str
    spec_text: str
    spec_hash: str
    plan_hash: str
    data_hash: str
    model_hashes: dict[str, str]
    plugin_hashes: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, str]
    device: str
    seed: int
    started: str
    finished: str
    duration_s: float
    images: int
    units: int


class Results(_Model):
    """The whole of ``results.json``."""

    fieldready: int = 1
    name: str
    title: str
    task: Literal["detection", "classification"]
    spec_hash: str
    plan_hash: str
    primary_metric: str
    metric_names: dict[str, str] = Field(default_factory=dict)
    classes: dict[str, str] = Field(default_factory=dict)
    # Ground-truth instances of the test set: objects for detection, images for classification.
    instances: int | None = None
    baseline: str | None = None
    conditions: list[ConditionInfo] = Field(default_factory=list)
    models: list[ModelResult]
    recommendation: Recommendation
    signoff: list[SignoffEntry] = Field(default_factory=list)
    page_size: Literal["A4", "Letter"] = "A4"
    provenance: Provenance


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, through dicts and lists."""
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def results_json(results: Results) -> str:
    """The text of ``results.json``: strict JSON that any parser reads (no bare NaN or Infinity tokens).

    Non-finite numbers are written as null; ``allow_nan=False`` makes a missed one an error here
    rather than a file other tools cannot parse.
    """
    return json.dumps(_strict(results.model_dump(mode="json")), indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class Panel:
    """One gallery image as the judge found it: the pixels and what is to be drawn on them.

    Detection: ground truth and predicted boxes (``gt_*``, ``boxes``, ``scores``, ``labels``);
    classification: the true class, the predicted class and its probability.
    """

    path: str  # where the PNG goes, relative to the run directory
    image: np.ndarray  # HxWx3 uint8 RGB
    classes: dict[int, str]
    gt_boxes: np.ndarray | None = None
    gt_labels: np.ndarray | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None
    true_label: int | None = None
    pred_label: int | None = None
    prob: float | None = None

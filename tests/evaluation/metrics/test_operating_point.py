"""Metrics at the operating point: hand-computed counts, the bootstrap, the threshold rules against brute force, the change score."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluation.metrics.bootstrap import resample_indices
from fieldready.evaluation.metrics.confusion import detection_confusion
from fieldready.evaluation.metrics.detection import DetectionUnit, evaluate_detection
from fieldready.evaluation.metrics.operating_point import (
    answer_change,
    max_weight_assignment,
    choose_threshold,
    fixed_point,
    rates,
    sweep,
)
from fieldready.evaluation.metrics.registry import get_metric

NAMES = ("precision", "recall", "f1", "miss_rate", "false_alarms")


def _hand_case() -> tuple[list[ImageTargets], list[ImageDetections]]:
    targets = [
        ImageTargets(1, [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 90, 90]], [1, 1, 2, 1],
                     iscrowd=[False, False, False, True]),
        ImageTargets(2, [[0, 0, 20, 20]], [2]),
    ]
    detections = [
        ImageDetections(1, [[0, 0, 10, 10],      # class 1 on A: TP
                            [24, 24, 34, 34],    # class 1 near B, IoU 0.22: FP
                            [62, 62, 72, 72],    # class 1 inside the crowd region: ignored
                            [0, 0, 10, 10],      # class 1 duplicate of A: FP
                            [40, 40, 50, 50]],   # class 2 on C, score 0.3: kept only at a class-2 threshold ≤ 0.3
                        [0.9, 0.8, 0.7, 0.6, 0.3], [1, 1, 1, 1, 2]),
        ImageDetections(2, [[0, 0, 20, 20], [50, 50, 60, 60], [0, 0, 5, 5]], [0.95, 0.55, 0.2], [2, 1, 1]),
    ]
    return targets, detections


def _unit(point) -> DetectionUnit:  # noqa: ANN001
    targets, detections = _hand_case()
    return DetectionUnit(detections, category_ids=[1, 2], targets=targets, operating_point=point)


def test_hand_computed_counts_at_one_threshold() -> None:
    unit = _unit(fixed_point(0.5))
    # class 1: TP 1 (A), FP 3 (near B, duplicate, image 2), P 2 (the crowd region is not an object)
    # class 2: TP 1 (E), FP 0, P 2 (C is below the threshold, so missed)
    expected_all = {"precision": 2 / 5, "recall": 2 / 4, "f1": 4 / 9, "miss_rate": 2 / 4, "false_alarms": 3 / 2}
    expected_1 = {"precision": 1 / 4, "recall": 1 / 2, "f1": 2 / 6, "miss_rate": 1 / 2, "false_alarms": 3 / 2}
    expected_2 = {"precision": 1.0, "recall": 1 / 2, "f1": 2 / 3, "miss_rate": 1 / 2, "false_alarms": 0.0}
    for name in NAMES:
        assert unit.value(name) == pytest.approx(expected_all[name]), name
        assert unit.value(name, 1) == pytest.approx(expected_1[name]), name
        assert unit.value(name, 2) == pytest.approx(expected_2[name]), name


def test_per_class_thresholds_and_the_independent_confusion_counts_agree() -> None:
    point = fixed_point({1: 0.5, 2: 0.25})
    unit = _unit(point)
    assert unit.value("recall", 2) == pytest.approx(1.0)  # C (score 0.3) now reported
    assert unit.value("precision", 1) == pytest.approx(1 / 4)
    targets, detections = _hand_case()
    conf = detection_confusion(targets, detections, category_ids=[1, 2], score_threshold=point.threshold_of)
    for cat in (1, 2):
        c = conf.per_class[cat]
        expected = rates(c.tp, c.fp, c.tp + c.fn, 2)
        for name in NAMES:
            assert unit.value(name, cat) == pytest.approx(float(expected[name])), (cat, name)


def test_no_detections_or_no_objects_is_no_data_not_zero() -> None:
    targets = [ImageTargets(1, np.zeros((0, 4)), [])]
    unit = DetectionUnit([ImageDetections(1, np.zeros((0, 4)), [], [])], category_ids=[1], targets=targets,
                         operating_point=fixed_point(0.5))
    assert unit.value("precision") is None and unit.value("recall") is None and unit.value("f1") is None
    assert unit.value("false_alarms") == 0.0


def _random_case(seed: int, n: int = 12, ties: bool = False) -> tuple[list[ImageTargets], list[ImageDetections]]:
    rng = np.random.default_rng(seed)
    targets, detections = [], []
    for i in range(n):
        m = int(rng.integers(0, 4))
        xy = rng.uniform(0, 80, (m, 2))
        gt = np.concatenate([xy, xy + rng.uniform(8, 20, (m, 2))], axis=1)
        labels = rng.integers(1, 3, m)
        crowd = rng.random(m) < 0.1
        targets.append(ImageTargets(i + 1, gt, labels, iscrowd=crowd))
        # jittered copies of the objects (some relabelled) plus random boxes
        found = rng.random(m) < 0.8
        jit = gt[found] + rng.normal(0, 2.5, (int(found.sum()), 4))
        extra = int(rng.integers(0, 3))
        exy = rng.uniform(0, 80, (extra, 2))
        boxes = np.concatenate([jit, np.concatenate([exy, exy + 12], axis=1)])
        dl = np.concatenate([np.where(rng.random(int(found.sum())) < 0.85, labels[found], 3 - labels[found]),
                             rng.integers(1, 3, extra)])
        scores = rng.choice([0.3, 0.5, 0.7, 0.9], len(boxes)) if ties else rng.uniform(0, 1, len(boxes))
        detections.append(ImageDetections(i + 1, boxes, scores, dl))
    return targets, detections


def _brute_force(targets, detections, rule: str, precision: float | None = None) -> float:  # noqa: ANN001
    """The rule applied by re-matching at every candidate threshold (confusion.py's per-image loop)."""
    candidates = sorted({float(s) for d in detections for s in d.scores}, reverse=True)
    table = []
    for t in candidates:
        conf = detection_confusion(targets, detections, category_ids=[1, 2], score_threshold=t)
        tp = sum(c.tp for c in conf.per_class.values())
        fp = sum(c.fp for c in conf.per_class.values())
        fn = sum(c.fn for c in conf.per_class.values())
        table.append((t, 2 * tp / max(2 * tp + fp + fn, 1), tp / (tp + fp) if tp + fp else -1.0))
    if rule == "max_f1":
        best = max(f for _, f, _ in table)
        return max(t for t, f, _ in table if f == best)  # ties: the higher threshold
    ok = [t for t, _, p in table if p >= precision]
    return min(ok)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_rules_pick_what_brute_force_picks(seed: int, ties: bool) -> None:
    targets, detections = _random_case(seed, ties=ties)
    tables = evaluate_detection(targets, detections, category_ids=[1, 2]).match_tables()
    chosen = choose_threshold(tables, "max_f1")
    assert chosen.single == pytest.approx(_brute_force(targets, detections, "max_f1"))
    assert chosen.clean["f1"] == pytest.approx(DetectionUnit(detections, category_ids=[1, 2], targets=targets,
                                                            operating_point=chosen).value("f1"))
    s = sweep(tables)
    target = float(np.median(s.tp / (s.tp + s.fp)))  # a precision some thresholds reach
    chosen = choose_threshold(tables, "min_precision", precision=target)
    assert chosen.reached is True
    assert chosen.single == pytest.approx(_brute_force(targets, detections, "min_precision", target))


def test_min_precision_not_reached_is_reported() -> None:
    targets, detections = _hand_case()
    tables = evaluate_detection(targets, detections, category_ids=[1, 2]).match_tables()
    chosen = choose_threshold(tables, "min_precision", precision=1.0)
    assert chosen.reached is True and chosen.single == pytest.approx(0.9)  # the top box alone is right
    detections[1] = ImageDetections(2, [[50, 50, 60, 60]], [0.99], [1])  # now the top box is wrong
    tables = evaluate_detection(targets, detections, category_ids=[1, 2]).match_tables()
    chosen = choose_threshold(tables, "min_precision", precision=0.9)
    assert chosen.reached is False and chosen.clean["precision"] < 0.9
    with pytest.raises(DataError, match="unknown operating-point rule"):
        choose_threshold(tables, "max_recall")


def test_replicates_equal_the_metric_on_the_resampled_image_list() -> None:
    targets, detections = _random_case(7, n=10)
    point = fixed_point(0.4)
    unit = DetectionUnit(detections, category_ids=[1, 2], targets=targets, operating_point=point)
    indices = resample_indices(len(targets), resamples=5, seed=3)
    for name in NAMES:
        reps = unit.replicates(indices, name)
        reps1 = unit.replicates(indices, name, 1)
        for row, (r, r1) in enumerate(zip(reps, reps1)):
            # the resample as a real image list: an image drawn k times is k separate images
            t = [ImageTargets(j + 1, targets[i].boxes, targets[i].labels, iscrowd=targets[i].iscrowd)
                 for j, i in enumerate(indices[row])]
            d = [ImageDetections(j + 1, detections[i].boxes, detections[i].scores, detections[i].labels)
                 for j, i in enumerate(indices[row])]
            direct = DetectionUnit(d, category_ids=[1, 2], targets=t, operating_point=point)
            for got, cat in ((r, None), (r1, 1)):
                want = direct.value(name, cat)
                assert (want is None and np.isnan(got)) or got == pytest.approx(want), (name, row, cat)
    assert unit.replicates(np.arange(len(targets))[None], "recall")[0] == pytest.approx(unit.value("recall"))


def test_the_rows_are_in_the_registry_with_their_directions() -> None:
    assert get_metric("recall").higher_is_better and get_metric("recall").rate and get_metric("recall").per_class
    assert not get_metric("miss_rate").higher_is_better
    assert not get_metric("false_alarms").higher_is_better and not get_metric("false_alarms").fraction


def test_change_score_is_continuous_and_counts_only_boxes_at_the_operating_point() -> None:
    point = fixed_point(0.5)
    clean = ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40], [0, 0, 1, 1]], [0.9, 0.8, 0.1], [1, 2, 1])
    assert answer_change(clean, clean, point=point) == (0.0, 0.0)
    # a box moved by 1 px and 2 px: IoU 90/110 and 80/120; the second changed more, neither fully
    shifts = [ImageDetections(1, [[dx, 0, 10 + dx, 10], [20, 20, 40, 40]], [0.9, 0.8], [1, 2]) for dx in (1, 2)]
    (c1, s1), (c2, s2) = (answer_change(clean, s, point=point) for s in shifts)
    assert c1 == pytest.approx(3.4 - 2 * (0.9 * 90 / 110 + 0.8)) and s1 == pytest.approx(c1 / 3.4)
    assert 0 < c1 < c2 and 0 < s1 < s2 < 1
    # a lower score on the same box: the pair's weight is the smaller score
    weaker = ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40]], [0.6, 0.8], [1, 2])
    assert answer_change(clean, weaker, point=point)[0] == pytest.approx(3.1 - 2 * (0.6 + 0.8))
    # the sub-threshold box (0.1) does not count: dropping it changes nothing
    kept = ImageDetections(1, clean.boxes[:2], clean.scores[:2], clean.labels[:2])
    assert answer_change(clean, kept, point=point) == (0.0, 0.0)
    # another class on the same box agrees in nothing: everything changed, all 3.4 of score
    relabelled = ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.8], [2, 1])
    assert answer_change(clean, relabelled, point=point) == pytest.approx((3.4, 1.0))
    # losing everything is a share of 1; losing more confident boxes is a larger change
    empty = ImageDetections(1, np.zeros((0, 4)), [], [])
    assert answer_change(clean, empty, point=point) == pytest.approx((1.7, 1.0))
    assert answer_change(ImageDetections(1, clean.boxes[:1], clean.scores[:1], clean.labels[:1]), empty,
                         point=point) == pytest.approx((0.9, 1.0))
    assert answer_change(empty, empty, point=point) == (0.0, 0.0)
    # at a lower operating point the weak box counts too
    assert answer_change(clean, kept, point=fixed_point(0.05)) == pytest.approx((0.1, 0.1 / 3.5))


def test_max_weight_assignment_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        rows, cols = (int(k) for k in rng.integers(1, 6, 2))
        weight = rng.random((rows, cols)) * (rng.random((rows, cols)) < 0.6)
        if trial % 3 == 0:
            weight = np.round(weight, 1)  # ties
        r, c = max_weight_assignment(weight)
        assert len(set(r.tolist())) == len(r) == min(rows, cols) and len(set(c.tolist())) == len(c)
        if rows <= cols:
            best = max(weight[np.arange(rows), list(p)].sum() for p in itertools.permutations(range(cols), rows))
        else:
            best = max(weight[list(p), np.arange(cols)].sum() for p in itertools.permutations(range(rows), cols))
        assert weight[r, c].sum() == pytest.approx(best, abs=1e-12)

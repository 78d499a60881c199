"""Repeatability, agreement and video flip rate: hand-computed cases, detection matching, the bootstrap over groups."""

from __future__ import annotations

import numpy as np
import pytest

from fieldready.evaluation.metrics.registry import get_metric, lookup
from fieldready.evaluation.metrics.repeatability import (
    REPEAT_METRICS,
    RepeatUnit,
    box_iou,
    detections_agree,
    flip_counts,
    group_counts,
    pooled_share,
    top1_group_counts,
)
from fieldready.evaluation.metrics.stability import flip_probability


def _unit(groups: list[list[int]], videos: list[list[int]] = (), seed: int = 0) -> RepeatUnit:  # type: ignore[assignment]
    return RepeatUnit([top1_group_counts(np.array(g)) for g in groups],
                      [top1_group_counts(np.array(v), sequence=True) for v in videos], seed=seed)


def test_hand_computed_figures() -> None:
    # groups: all agree (3 pairs of 3), 1 of 3 pairs agree, 2 of 6 pairs agree
    unit = _unit([[2, 2, 2], [0, 0, 1], [0, 0, 1, 1]], videos=[[1, 1, 0, 0, 1], [3, 3]])
    assert unit.value("repeatability") == pytest.approx(1 / 3)
    assert unit.value("agreement") == pytest.approx((3 + 1 + 2) / (3 + 3 + 6))
    assert unit.value("video_flip_rate") == pytest.approx((2 + 0) / (4 + 1))


def test_counts_by_counting_equal_counts_by_comparing_pairs() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        top1 = rng.integers(0, 3, size=int(rng.integers(2, 7)))
        assert top1_group_counts(top1, sequence=True) == group_counts(list(top1), lambda a, b: a == b, sequence=True)


def test_video_flip_rate_is_imagenet_p_flip_probability_on_one_sequence() -> None:
    seq = np.array([0, 0, 1, 1, 1, 2, 0])
    flips, transitions = flip_counts(seq)
    assert flips / transitions == pytest.approx(flip_probability(seq[None, :]))
    assert (flips, transitions) == (3, 6)


def test_no_groups_or_no_videos_is_no_data() -> None:
    unit = _unit([[1, 1]])
    assert unit.value("video_flip_rate") is None
    assert np.isnan(unit.replicates(np.zeros((5, 3), dtype=np.int64), "video_flip_rate")).all()
    assert _unit([], videos=[[0, 1]]).value("repeatability") is None


def test_replicates_resample_groups_with_their_own_seeded_matrix() -> None:
    unit = _unit([[1, 1], [1, 2], [0, 0], [3, 3], [4, 5, 4]], seed=7)
    image_indices = np.zeros((400, 40), dtype=np.int64)  # the judge's matrix over labelled images: only its row count is used
    reps = unit.replicates(image_indices, "repeatability")
    assert reps.shape == (400,) and np.all((reps >= 0) & (reps <= 1))
    assert set(np.round(reps * 5).astype(int)) <= set(range(6))  # a share of 5 resampled groups
    assert np.array_equal(reps, unit.replicates(image_indices, "repeatability"))  # reproducible
    assert abs(float(reps.mean()) - unit.value("repeatability")) < 0.05
    all_agree = _unit([[1, 1], [2, 2, 2]])
    assert np.all(all_agree.replicates(image_indices, "agreement") == 1.0)


def test_pooled_share_weights_groups_by_their_pairs() -> None:
    num, den = np.array([0, 6]), np.array([1, 6])
    assert pooled_share(num, den) == pytest.approx(6 / 7)
    assert pooled_share(num, den, np.array([[0, 0], [1, 1], [0, 1]])).tolist() == pytest.approx([0.0, 1.0, 6 / 7])


def test_detections_agree_one_to_one_by_class_and_iou() -> None:
    a = (np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=float), np.array([1, 2]))
    shifted = (a[0] + 1.0, a[1])  # IoU 81/119 = 0.68 each
    assert detections_agree(a, shifted, iou=0.5)
    assert not detections_agree(a, shifted, iou=0.7)
    assert not detections_agree(a, (a[0], np.array([2, 1])))  # classes swapped between the boxes
    assert not detections_agree(a, (a[0][:1], a[1][:1]))  # one object lost
    assert detections_agree((np.zeros((0, 4)), np.zeros(0, int)), (np.zeros((0, 4)), np.zeros(0, int)))
    # two boxes of one class on one object and one elsewhere: a one-to-one match must fail
    twice = (np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float), np.array([1, 1]))
    assert not detections_agree(twice, (np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=float), np.array([1, 1])))
    assert box_iou(np.array([[0, 0, 10, 10]]), np.array([[1, 1, 11, 11]]))[0, 0] == pytest.approx(81 / 119)


def test_registry_rows_for_both_tasks() -> None:
    for task in ("detection", "classification"):
        for name in REPEAT_METRICS:
            row = lookup(task, name)
            assert row is not None and row.scope == "repeatability" and not row.needs_labels
    assert get_metric("video_flip_rate").higher_is_better is False
    assert get_metric("repeatability").higher_is_better is True

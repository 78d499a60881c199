import numpy as np
import pytest

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluation.metrics.confusion import detection_confusion
from fieldready.evaluation.metrics.failures import change_score, change_scores, classification_change_scores
from fieldready.evaluation.metrics.significance import mcnemar_exact


def test_confusion_hand_case() -> None:
    targets = [
        ImageTargets(1, [[0, 0, 10, 10], [20, 20, 40, 40], [100, 100, 110, 110], [200, 200, 300, 300]], [1, 1, 2, 1],
                     iscrowd=[False, False, False, True]),
        ImageTargets(2, np.zeros((0, 4)), []),
    ]
    detections = [
        ImageDetections(1, [[0, 0, 10, 10],       # TP class 1
                            [1, 1, 10, 10],       # duplicate → FP class 1
                            [20, 20, 40, 40],     # covers a class-1 object but says class 2 → FP 2, wrong class
                            [210, 210, 250, 250],  # inside the crowd region → ignored
                            [100, 100, 110, 110]],  # below the score threshold → not counted
                        [0.9, 0.8, 0.7, 0.6, 0.2], [1, 1, 2, 1, 2]),
        ImageDetections(2, [[0, 0, 5, 5]], [0.99], [2]),  # FP on an empty image
    ]
    conf = detection_confusion(targets, detections, category_ids=[1, 2])
    assert (conf.per_class[1].tp, conf.per_class[1].fp, conf.per_class[1].fn, conf.per_class[1].wrong_class) == (1, 1, 1, 1)
    assert (conf.per_class[2].tp, conf.per_class[2].fp, conf.per_class[2].fn, conf.per_class[2].wrong_class) == (0, 2, 1, 0)
    assert conf.pairs == {(1, 2): 1}


def test_change_score() -> None:
    clean = ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40], [0, 0, 1, 1]], [0.9, 0.8, 0.1], [1, 2, 1])
    assert change_score(clean, clean) == 0.0
    # one of two boxes kept (weight IoU 1 · 0.9), one new box: (0.9 + 0.8 + 0.9 + 0.9) − 2·0.9 score-weighted boxes
    moved = ImageDetections(1, [[0, 0, 10, 10], [60, 60, 80, 80]], [0.9, 0.9], [1, 2])
    assert change_score(clean, moved) == pytest.approx(3.5 - 1.8)
    relabelled = ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.8], [2, 1])
    assert change_score(clean, relabelled) == pytest.approx(3.4)
    empty = ImageDetections(1, np.zeros((0, 4)), [], [])
    assert change_score(empty, empty) == 0.0 and change_score(clean, empty) == pytest.approx(1.7)
    empty2 = ImageDetections(2, np.zeros((0, 4)), [], [])
    np.testing.assert_allclose(change_scores([clean, empty2], [empty2, moved][::-1]), [3.5 - 1.8, 0.0])
    with pytest.raises(DataError):
        change_scores([clean], [ImageDetections(9, np.zeros((0, 4)), [], [])])


def test_classification_change_scores() -> None:
    clean = np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    corr = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    s = classification_change_scores(clean, corr)
    assert s[0] == 0.0
    p = np.exp(2) / (1 + np.exp(2))
    assert s[1] == pytest.approx(1.0 + (2 * p - 1))  # top-1 changed + mass moved
    assert 0 < s[2] < 1  # tie → class 0 stays top-1, some mass moved


def test_mcnemar_exact() -> None:
    r = mcnemar_exact(np.array([1, 1, 1, 1, 0, 1]), np.array([0, 0, 0, 1, 0, 1]))
    assert (r.a_only, r.b_only) == (3, 0)
    assert r.p_value == pytest.approx(0.25)  # 2 · 0.5**3
    assert mcnemar_exact(np.ones(4), np.ones(4)).p_value == 1.0
    r = mcnemar_exact(np.array([1, 0, 1, 0, 1]), np.array([0, 1, 0, 1, 1]))
    assert r.p_value == 1.0  # 2 vs 2: min(1, 2·P[X ≤ 2 | n=4]) = 1

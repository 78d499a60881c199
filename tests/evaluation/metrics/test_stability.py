import numpy as np
import pytest

from fieldready.data.types import ImageDetections
from fieldready.errors import DataError
from fieldready.evaluation.metrics.stability import consistency_ap, flip_probability, flip_rate


def test_flip_rate() -> None:
    assert flip_rate(np.array([0, 1, 2, 3]), np.array([0, 1, 0, 0])) == 0.5
    with pytest.raises(DataError):
        flip_rate(np.array([0]), np.array([0, 1]))


def test_flip_probability_both_variants() -> None:
    seq = np.array([[0, 1, 1, 0], [2, 2, 2, 2], [1, 0, 0, 0]])
    # consecutive: flips 2 + 0 + 1 over 3 sequences × 3 transitions
    assert flip_probability(seq) == pytest.approx(3 / 9)
    # vs first frame: [1,1,0] + [0,0,0] + [1,1,1] = 5 of 9
    assert flip_probability(seq, compare_to_first=True) == pytest.approx(5 / 9)
    with pytest.raises(DataError):
        flip_probability(np.array([[1]]))


def test_consistency_ap() -> None:
    clean = [
        ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0.9, 0.8, 0.3], [1, 2, 1]),
        ImageDetections(2, [[0, 0, 50, 50]], [0.95], [1]),
    ]
    assert consistency_ap(clean, clean, category_ids=[1, 2]) == pytest.approx(1.0)
    # corrupted output loses the class-2 box: class 2 AP 0, class 1 AP 1
    lost = [ImageDetections(1, [[0, 0, 10, 10]], [0.9], [1]), clean[1]]
    assert consistency_ap(clean, lost, category_ids=[1, 2]) == pytest.approx(0.5)
    # the low-score clean box is not pseudo ground truth: detecting it again is a false positive
    extra = [ImageDetections(1, [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0.9, 0.8, 0.95], [1, 2, 1]), clean[1]]
    assert consistency_ap(clean, extra, category_ids=[1, 2]) < 1.0

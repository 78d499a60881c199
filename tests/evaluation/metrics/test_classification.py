import numpy as np
import pytest

from fieldready.errors import DataError, ModelError
from fieldready.evaluation.metrics.classification import evaluate_classification, expected_calibration_error, softmax


def test_hand_computed_case() -> None:
    labels = np.array([0, 1, 2, 2])
    logits = np.array(
        [
            [3.0, 1.0, 0.0],  # correct
            [2.0, 1.0, 0.0],  # wrong, true class ranked 2nd
            [0.0, 0.0, 0.0],  # tie: argmax picks class 0 → wrong; true class ranked 3rd
            [0.0, 1.0, 5.0],  # correct
        ]
    )
    ev = evaluate_classification(labels, logits)
    assert ev.stats["top1"] == 0.5
    assert ev.stats["error"] == 0.5
    assert ev.top_k == 3 and ev.stats["top5"] == 1.0
    assert ev.per_class == {0: {"accuracy": 1.0}, 1: {"accuracy": 0.0}, 2: {"accuracy": 0.5}}
    conf = softmax(logits).max(axis=1)
    correct = np.array([1, 0, 0, 1], dtype=float)
    # bins of width 1/15: compute the gap per bin by hand
    bins = np.ceil(conf * 15).astype(int) - 1
    expected = sum(abs(correct[bins == b].sum() - conf[bins == b].sum()) for b in set(bins)) / 4
    assert ev.stats["ece"] == pytest.approx(expected, abs=1e-12)


def test_top5_with_many_classes_and_missing_class() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10))
    labels = rng.integers(0, 9, size=200)  # class 9 never appears
    ev = evaluate_classification(labels, logits)
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    assert ev.stats["top5"] == pytest.approx(np.mean([l in t for l, t in zip(labels, top5)]))
    assert ev.stats["top1"] == pytest.approx(np.mean(logits.argmax(1) == labels))
    assert ev.per_class[9]["accuracy"] is None


def test_ece_perfectly_calibrated_is_zero() -> None:
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0
    assert expected_calibration_error(np.array([0.5, 0.5]), np.array([True, False])) == 0.0


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="labels must lie"):
        evaluate_classification(np.array([3]), np.zeros((1, 3)))
    with pytest.raises(DataError, match="shapes"):
        evaluate_classification(np.array([0, 1]), np.zeros((1, 3)))
    with pytest.raises(ModelError, match="NaN"):
        evaluate_classification(np.array([0]), np.array([[np.nan, 0.0]]))

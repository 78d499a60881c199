import numpy as np
import pytest

from fieldready.errors import DataError
from fieldready.evaluation.metrics.bootstrap import interval, paired_difference, paired_ratio, resample_indices
from fieldready.evaluation.metrics.classification import classification_replicates, evaluate_classification


def test_resample_indices_are_seeded_and_shaped() -> None:
    a = resample_indices(50, resamples=1000, seed=3)
    assert a.shape == (1000, 50) and a.min() >= 0 and a.max() < 50
    np.testing.assert_array_equal(a, resample_indices(50, resamples=1000, seed=3))
    assert not np.array_equal(a, resample_indices(50, resamples=1000, seed=4))
    with pytest.raises(DataError):
        resample_indices(0)


def test_interval_and_paired() -> None:
    reps = np.arange(101, dtype=float)
    assert interval(reps, confidence=0.9) == pytest.approx((5.0, 95.0))
    assert interval(np.full(10, np.nan)) is None
    d, ci = paired_difference(reps + 1.0, reps)
    assert ci == pytest.approx((1.0, 1.0))  # paired: the common variation cancels
    r, ci = paired_ratio(reps, np.zeros(101))
    assert ci is None
    with pytest.raises(DataError):
        paired_difference(np.ones(3), np.ones(4))


def test_classification_replicates_identity_and_class() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 300)
    logits = rng.normal(size=(300, 6)) + 2.0 * np.eye(6)[labels]
    ev = evaluate_classification(labels, logits)
    ident = np.arange(300)[None, :]
    for metric in ("top1", "top5", "error", "ece"):
        assert classification_replicates(labels, logits, ident, metric)[0] == pytest.approx(ev.stats[metric])
    assert classification_replicates(labels, logits, ident, "accuracy", class_id=2)[0] == pytest.approx(
        ev.per_class[2]["accuracy"]
    )
    idx = resample_indices(300, resamples=500, seed=0)
    reps = classification_replicates(labels, logits, idx, "top1")
    lo, hi = interval(reps)
    assert lo < ev.stats["top1"] < hi
    clean_top1 = logits.argmax(1)
    assert classification_replicates(labels, logits, ident, "flip_rate", reference_top1=clean_top1)[0] == 0.0


def test_bias_corrected_interval_recentres_on_the_estimate() -> None:
    from fieldready.evaluation.metrics.bootstrap import interval

    rng = np.random.default_rng(0)
    reps = 0.55 + 0.02 * rng.standard_normal(4000)  # replicates drifted above the measured 0.50
    plain = interval(reps, confidence=0.9)
    corrected = interval(reps, confidence=0.9, estimate=0.5)
    assert plain is not None and corrected is not None
    assert plain[0] > 0.5  # the plain percentile interval misses the estimate
    assert corrected[0] < plain[0] and corrected[1] < plain[1]
    # no bias: the correction changes nothing (estimate at the replicates' median)
    centred = interval(reps, confidence=0.9, estimate=float(np.median(reps)))
    assert centred == pytest.approx(plain, abs=2e-3)

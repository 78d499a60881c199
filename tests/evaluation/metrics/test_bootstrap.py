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


def test_clopper_pearson_is_exact() -> None:
    from math import comb

    from fieldready.evaluation.metrics.bootstrap import clopper_pearson

    lo, hi = clopper_pearson(0, 40)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 40), abs=1e-12)  # (1 - p)^40 = 2.5 %
    lo, hi = clopper_pearson(200, 200, confidence=0.9)
    assert hi == 1.0 and lo == pytest.approx(0.05 ** (1 / 200), abs=1e-12)
    # inside: each bound leaves exactly 2.5 % of the binomial tail beyond the observed count
    n, k = 200, 180
    lo, hi = clopper_pearson(k, n)
    upper_tail = sum(comb(n, j) * lo**j * (1 - lo) ** (n - j) for j in range(k, n + 1))
    lower_tail = sum(comb(n, j) * hi**j * (1 - hi) ** (n - j) for j in range(0, k + 1))
    assert upper_tail == pytest.approx(0.025, abs=1e-9) and lower_tail == pytest.approx(0.025, abs=1e-9)
    with pytest.raises(DataError):
        clopper_pearson(0, 0)


def test_a_rate_never_collapses_to_a_point() -> None:
    zeros = np.zeros(1000)  # 0 correct of 40: every resample says 0
    assert interval(zeros, estimate=0.0, n=40) == (0.0, 0.0)  # the bootstrap alone cannot see any spread
    lo, hi = interval(zeros, estimate=0.0, n=40, trials=40)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 40), abs=1e-9)
    lo, hi = interval(np.ones(1000), estimate=1.0, n=40, trials=40)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 40), abs=1e-9)


def test_decision_interval_corrects_bias_and_widens_with_few_images() -> None:
    from fieldready.evaluation.metrics.bootstrap import BIAS_FACTOR, widening

    rng = np.random.default_rng(1)
    noise = rng.standard_normal(4000)
    # replicates centred on the estimate: no shift, half-widths grown by 1 + c/sqrt(n)
    plain = interval(0.5 + 0.02 * noise, confidence=0.9)
    wide = interval(0.5 + 0.02 * noise, confidence=0.9, estimate=0.5, n=100)
    assert wide[0] < plain[0] < 0.5 < plain[1] < wide[1]
    assert (wide[1] - wide[0]) / (plain[1] - plain[0]) == pytest.approx(widening(100), rel=0.03)
    assert widening(100) > widening(10_000) > 1.0
    # replicates drifted 0.01 above the estimate (AP's envelope bias): the interval is centred near
    # estimate - BIAS_FACTOR * 0.01, below the estimate, not around it or above it
    lo, hi = interval(0.51 + 0.02 * noise, confidence=0.9, estimate=0.5)
    assert (lo + hi) / 2 == pytest.approx(0.5 - BIAS_FACTOR * 0.01, abs=2e-3)


def test_paired_difference_with_estimate_is_the_decision_interval() -> None:
    rng = np.random.default_rng(2)
    a = 0.6 + 0.03 * rng.standard_normal(1000)
    b = a - 0.05 + 0.01 * rng.standard_normal(1000)
    d, plain = paired_difference(a, b)
    _, calibrated = paired_difference(a, b, estimate=0.05, n=200)
    assert calibrated == interval(d, estimate=0.05, n=200)
    assert calibrated[0] < plain[0] and calibrated[1] > plain[1]

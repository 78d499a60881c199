"""Decisions at the line: how often a criterion PASSES when the true value equals its threshold.

Every possible sample of a discrete figure is enumerated with its probability (binomial for a rate,
multinomial for a paired difference of two models' top-1), resampled with the pipeline's index
matrix and judged by ``judge.criteria.judge`` on ``judge.criteria.criterion_interval`` /
``bootstrap.paired_difference`` — the exact expectation of what a simulation of many samples
estimates (``benchmarks/calibration.py``), without its noise. A one-sided 95 % decision may PASS
at most 2.5 % of the time; the old rule (Efron's BC percentile interval, PASS when ``lo >= t``) is
computed alongside to show each case is one that rule gets wrong.
"""

from __future__ import annotations

from math import comb, exp, lgamma, log
from statistics import NormalDist
from types import SimpleNamespace

import numpy as np
import pytest

from fieldready.evaluation.metrics.bootstrap import paired_difference, resample_indices
from fieldready.evaluation.metrics.classification import classification_replicates
from fieldready.spec.models import Criterion
from fieldready.judge.criteria import criterion_interval, judge

LIMIT = 0.025 + np.sqrt(0.025 * 0.975 / 1000)  # 2.5 % plus one standard error of a 1000-sample simulation


def _plan(n: int) -> SimpleNamespace:
    records = [SimpleNamespace(label=0)] * n
    return SimpleNamespace(spec=SimpleNamespace(task="classification"), dataset=SimpleNamespace(records=records, classes={0: "a"}))


def _old_lower_bound(replicates: np.ndarray, estimate: float) -> float:
    """The lower end of the previous rule's interval: Efron's BC percentile at 95 %."""
    below = (np.count_nonzero(replicates < estimate) + 0.5 * np.count_nonzero(replicates == estimate)) / replicates.size
    z0 = NormalDist().inv_cdf(float(np.clip(below, 0.5 / replicates.size, 1 - 0.5 / replicates.size)))
    return float(np.quantile(replicates, NormalDist().cdf(2 * z0 + NormalDist().inv_cdf(0.025))))


def _logits(correct: np.ndarray) -> np.ndarray:
    return np.stack([np.where(correct, 1.0, 0.0), np.where(correct, 0.0, 1.0)], axis=1)


@pytest.mark.parametrize(("n", "p"), [(200, 0.95), (100, 0.9)])
def test_top1_on_the_threshold_passes_at_most_2_5_percent(n: int, p: float) -> None:
    indices = resample_indices(n, resamples=1000, seed=0)
    criterion = Criterion.model_validate({"metric": "top1", "at_least": p})
    labels = np.zeros(n, dtype=np.int64)
    new = old = 0.0
    for k in range(n + 1):
        weight = comb(n, k) * p**k * (1 - p) ** (n - k)
        if weight < 1e-10:
            continue
        reps = classification_replicates(labels, _logits(np.arange(n) < k), indices, "top1")
        value = k / n
        new += weight * (judge(value, criterion, criterion_interval(_plan(n), criterion, reps, value)) is True)
        old += weight * (_old_lower_bound(reps, value) >= p)
    assert old > LIMIT  # the case is one the old rule fails
    assert new <= 0.025


def test_paired_difference_on_the_threshold_passes_at_most_2_5_percent() -> None:
    # two correlated models: per image, only A right w.p. 0.05, only B right w.p. 0.03; difference 0.02
    n, only_a, only_b = 100, 0.05, 0.03
    threshold = only_a - only_b
    indices = resample_indices(n, resamples=1000, seed=0)
    criterion = Criterion.model_validate({"metric": "top1", "at_least": threshold})
    new = old = 0.0
    for a in range(n + 1):
        for b in range(n + 1 - a):
            log_weight = (
                lgamma(n + 1) - lgamma(a + 1) - lgamma(b + 1) - lgamma(n - a - b + 1)
                + a * log(only_a) + b * log(only_b) + (n - a - b) * log(1 - only_a - only_b)
            )  # fmt: skip
            if log_weight < log(1e-8):
                continue
            right_a = np.arange(n) < a  # images 0..a-1: only A right; a..a+b-1: only B right
            right_b = (np.arange(n) >= a) & (np.arange(n) < a + b)
            labels = np.zeros(n, dtype=np.int64)
            rep_a = classification_replicates(labels, _logits(right_a), indices, "top1")
            rep_b = classification_replicates(labels, _logits(right_b), indices, "top1")
            value = (a - b) / n
            diff, ci = paired_difference(rep_a, rep_b, estimate=value, n=n)
            new += exp(log_weight) * (judge(value, criterion, ci) is True)
            old += exp(log_weight) * (_old_lower_bound(diff, value) >= threshold - 1e-12)
    assert old > LIMIT
    assert new <= 0.025


def test_zero_of_forty_is_not_a_point() -> None:
    n = 40
    reps = classification_replicates(np.zeros(n, dtype=np.int64), _logits(np.zeros(n, bool)), resample_indices(n), "top1")
    assert np.all(reps == 0.0)  # the bootstrap alone sees no spread at all
    for kind, threshold, expected in [("at_least", 0.05, None), ("at_least", 0.2, False), ("at_most", 0.05, None)]:
        criterion = Criterion.model_validate({"metric": "top1", kind: threshold})
        lo, hi = criterion_interval(_plan(n), criterion, reps, 0.0)
        assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-9)  # Clopper-Pearson: 0.088
        assert judge(0.0, criterion, (lo, hi)) is expected

"""McNemar's exact test and its binomial tail, against hand-computed values and exact integer sums."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fieldready.errors import DataError
from fieldready.evaluation.metrics.significance import binomial_half_cdf, mcnemar_exact


def _exact_cdf(k: int, n: int) -> float:
    """P[X ≤ k], X ~ Binomial(n, ½), as one exact integer ratio (Python rounds the quotient correctly)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (0, 1, 1 / 2),
        (0, 3, 1 / 8),
        (1, 4, 5 / 16),  # (1 + 4) / 16
        (3, 10, 176 / 1024),  # (1 + 10 + 45 + 120) / 1024
        (5, 10, 638 / 1024),  # … + 210 + 252
        (-1, 5, 0.0),
        (7, 7, 1.0),
    ],
)
def test_binomial_half_cdf_hand_values(k: int, n: int, expected: float) -> None:
    assert binomial_half_cdf(k, n) == expected


@pytest.mark.parametrize(("k", "n"), [(900, 2000), (1000, 2001), (1200, 2500), (4900, 10000), (30, 200)])
def test_binomial_half_cdf_matches_exact_sum(k: int, n: int) -> None:
    assert binomial_half_cdf(k, n) == pytest.approx(_exact_cdf(k, n), rel=1e-9)


def test_log_space_branch_is_symmetric() -> None:
    # n odd: P[X ≤ k] + P[X ≤ n-k-1] = 1 exactly in theory; both sides use the log-space sum here.
    n = 5001
    for k in (2400, 2500):
        assert binomial_half_cdf(k, n) + binomial_half_cdf(n - k - 1, n) == pytest.approx(1.0, abs=1e-9)


def test_mcnemar_hand_values() -> None:
    # 3 images only A gets right, none only B: p = 2 · P[X ≤ 0 | n = 3] = 2/8.
    r = mcnemar_exact(np.array([1, 1, 1, 1, 0, 1]), np.array([0, 0, 0, 1, 0, 1]))
    assert (r.a_only, r.b_only, r.p_value) == (3, 0, 0.25)
    # 1 vs 5 discordant: p = 2 · (1 + 6) / 64.
    a = np.array([1, 0, 0, 0, 0, 0, 1])
    b = np.array([0, 1, 1, 1, 1, 1, 1])
    assert mcnemar_exact(a, b).p_value == 14 / 64
    assert mcnemar_exact(b, a).p_value == 14 / 64  # the test is symmetric in the two models


def test_mcnemar_large_sample_uses_the_same_tail() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(20_000) < 0.80
    b = rng.random(20_000) < 0.79
    r = mcnemar_exact(a, b)
    n, k = r.a_only + r.b_only, min(r.a_only, r.b_only)
    assert n > 2000  # the log-space branch
    assert r.p_value == pytest.approx(min(1.0, 2 * _exact_cdf(k, n)), rel=1e-9)


def test_mcnemar_refuses_different_image_counts() -> None:
    with pytest.raises(DataError, match="same images"):
        mcnemar_exact(np.ones(3), np.ones(4))

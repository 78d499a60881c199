"""Exact tests for paired decisions between two models on the same images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fieldready.errors import DataError

__all__ = ["McNemarResult", "mcnemar_exact", "binomial_half_cdf"]

# Up to this many discordant images the tail is summed in exact integers (microseconds); beyond, in log space.
_EXACT_MAX_N = 2000


@dataclass(frozen=True)
class McNemarResult:
    """``a_only``: images model A gets right and B wrong; ``b_only`` the reverse; two-sided exact p."""

    a_only: int
    b_only: int
    p_value: float


def binomial_half_cdf(k: int, n: int) -> float:
    """P[X ≤ k] for X ~ Binomial(n, ½), computed with the standard library (no SciPy needed).

    Exact (integer sum divided by 2ⁿ, correctly rounded) up to n = 2000; beyond, a log-space sum of
    ``lgamma`` terms, accurate to about 1e-10 relative, with tails below 1e-308 returned as 0.

    >>> binomial_half_cdf(1, 4)
    0.3125
    """
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n <= _EXACT_MAX_N:
        total, term = 0, 1
        for i in range(k + 1):  # term = C(n, i), updated exactly
            total += term
            term = term * (n - i) // (i + 1)
        return total / (1 << n)
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)]
    top = max(log_terms)
    log_cdf = top + math.log(math.fsum(math.exp(t - top) for t in log_terms)) - n * math.log(2.0)
    return min(1.0, math.exp(log_cdf))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """McNemar's exact test on two classifiers' top-1 correctness over the same images.

    p = min(1, 2·P[X ≤ min(b, c)]) with X ~ Binomial(b + c, ½); p = 1 when the models never disagree.

    >>> mcnemar_exact(np.array([1, 1, 1, 1, 0]), np.array([0, 0, 0, 0, 0])).p_value
    0.125
    """
    a = np.asarray(correct_a, dtype=bool).ravel()
    b = np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise DataError(f"McNemar needs the two models on the same images, got {a.size} and {b.size}")
    a_only, b_only = int(np.count_nonzero(a & ~b)), int(np.count_nonzero(~a & b))
    n = a_only + b_only
    p = 1.0 if n == 0 else min(1.0, 2.0 * binomial_half_cdf(min(a_only, b_only), n))
    return McNemarResult(a_only, b_only, p)

"""Exact tests for paired decisions between two models on the same images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from fieldready.errors import DataError

__all__ = ["McNemarResult", "mcnemar_exact"]


@dataclass(frozen=True)
class McNemarResult:
    """``a_only``: images model A gets right and B wrong; ``b_only`` the reverse; two-sided exact p."""

    a_only: int
    b_only: int
    p_value: float


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
    p = 1.0 if n == 0 else float(min(1.0, 2.0 * binom.cdf(min(a_only, b_only), n, 0.5)))
    return McNemarResult(a_only, b_only, p)

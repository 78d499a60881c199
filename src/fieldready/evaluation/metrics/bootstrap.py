"""Paired bootstrap over images: one shared index matrix, calibrated intervals, paired differences.

Every model and every condition is resampled with the SAME ``indices[B, n]`` matrix, so the
replicates of two figures are paired row by row and their difference or ratio has an honest
interval (the image-to-image variation common to both cancels).

The interval a decision uses (``interval`` with the measured ``estimate``) was chosen by simulation
(``benchmarks/calibration.py``: populations with known values, 1000+ samples of 100–500 images per
figure, B = 1000, the pipeline's own code). A 95 % criterion must PASS at most 2.5 % of the time
when the true value sits exactly on its threshold, and the interval must cover the true value at
least 94 % of the time. What the simulation showed, and what the interval therefore does:

1. **Bias of AP.** AP on 200 images is biased upwards (+0.007 for AP, +0.011 for AP50, about half
   a standard deviation): the precision envelope takes a maximum over noisy precisions, a bias of
   order n^-1/2 of which the bootstrap reproduces only a share √2 − 1 (for a maximum of noisy
   means, E|Z√2| − E|Z| against E|Z|). Efron's bias-corrected (BC) percentile interval therefore
   still PASSED 4.9 % (AP) and 6.2 % (AP50) of samples at the threshold. BC removes about one
   bootstrap bias (median of the replicates minus the estimate; the median, so a ratio's few huge
   replicates cannot move it); the interval is moved down by a further 1/(√2 − 1) − 1 of them, so
   the estimate is corrected by 1/(√2 − 1) ≈ 2.4 bootstrap biases in all. For smooth figures
   (accuracies, their differences and ratios) that bias is ~1e-4 and the step is a no-op.
2. **One-sided error at small n.** Percentile, BC, BCa, basic and even studentized intervals err
   on one side 3–4 % of the time at n = 100–200 for ratios and weighted means of accuracies (rPC,
   production score, drops; 2000 simulated samples each): the bootstrap's spread shrinks exactly
   when the estimate is favourable (correlation −0.45 between the estimate and its standard error
   for rPC). This error is of order n^-1/2, so the half-widths are widened by 1 + 2.5/√n (1.18 at
   n = 200, 1.035 at n = 5000): c = 2 was the smallest c that brought every simulated figure to
   ≤ 2.5 % (worst 2.6 %), 2.5 leaves a margin (worst 2.2 %) for populations unlike the simulated.
3. **Discrete statistics.** A proportion or a paired difference of proportions sits exactly on a
   threshold like 0.900 often (9 % of samples for 180/200); ``judge.criteria.judge`` therefore needs the
   interval strictly beyond the threshold (``lo > t`` to PASS), and a rate over images is never
   narrower than its Clopper–Pearson interval (``trials``): 0 correct of 40 is [0, 0.088], not a
   point, and a near-perfect rate cannot PASS by bootstrap luck (the bootstrap of 40/40 is 1.0
   in every resample).

The simulated rates after these corrections are in the README ("Calibrated decisions").
"""

from __future__ import annotations

from math import exp, isfinite, lgamma, log, log1p, sqrt
from statistics import NormalDist

import numpy as np

from fieldready.errors import DataError

__all__ = [
    "BIAS_FACTOR",
    "check_indices",
    "resample_indices",
    "interval",
    "clopper_pearson",
    "widening",
    "paired_difference",
    "paired_ratio",
]

#: The measured value is corrected by this many bootstrap biases: AP's bias is of order n^-1/2
#: (a maximum over noisy precisions), of which the bootstrap sees a share √2 − 1.
BIAS_FACTOR = 1.0 / (sqrt(2.0) - 1.0)
#: Half-widths grow by 1 + WIDEN / √n: the bootstrap's one-sided error is of order n^-1/2.
WIDEN = 3.0


def resample_indices(n: int, *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``[resamples, n]`` image positions drawn with replacement from a seeded generator.

    Row order and content depend only on (n, resamples, seed), so a run is reproducible.
    """
    if n <= 0:
        raise DataError("cannot bootstrap an empty image set; the dataset has no images")
    if resamples <= 0:
        raise DataError(f"bootstrap resamples must be positive, got {resamples}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB007]))
    return rng.integers(0, n, size=(int(resamples), int(n)), dtype=np.int64)


def check_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """``indices`` as an int64 ``[B, m]`` matrix of positions in ``[0, n)``, or a DataError."""
    idx = np.asarray(indices)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise DataError(f"bootstrap indices must be an integer [B, n] matrix, got shape {idx.shape} dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DataError(f"bootstrap indices must lie in [0, {n - 1}] for {n} images; resample this image set")
    return idx.astype(np.int64, copy=False)


def widening(n: int | None) -> float:
    """The factor 1 + 3/√n applied to an interval's half-widths for a figure measured on n images."""
    return 1.0 + WIDEN / sqrt(n) if n else 1.0


def interval(
    replicates: np.ndarray,
    *,
    confidence: float = 0.95,
    estimate: float | None = None,
    n: int | None = None,
    trials: int | None = None,
) -> tuple[float, float] | None:
    """The calibrated interval of a figure from its bootstrap replicates; None without enough data.

    Without ``estimate``: the plain percentile interval of the replicates. With ``estimate`` (the
    value measured on all ``n`` images): Efron's BC percentile interval, moved down by the share of
    the bias the bootstrap misses and widened by ``widening(n)`` around the bias-corrected value
    (see the module docstring for the measurements behind each step). With ``trials`` (the figure
    is a rate over that many images, e.g. top-1 accuracy): never narrower than the Clopper–Pearson
    interval of ``estimate × trials`` successes, and inside [0, 1].
    A resample can lack data (e.g. no ground truth of a class): those rows are NaN and left out;
    if most are missing the interval would describe another population, so there is none.
    """
    if not 0.0 < confidence < 1.0:
        raise DataError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    r = np.asarray(replicates, dtype=np.float64).ravel()
    finite = r[np.isfinite(r)]
    if finite.size == 0 or finite.size < 0.5 * r.size:
        return None
    alpha = (1.0 - confidence) / 2.0
    levels = np.array([alpha, 1.0 - alpha])
    if estimate is None or not isfinite(estimate):
        lo, hi = np.quantile(finite, levels)
        return float(lo), float(hi)
    below = (np.count_nonzero(finite < estimate) + 0.5 * np.count_nonzero(finite == estimate)) / finite.size
    below = float(np.clip(below, 0.5 / finite.size, 1.0 - 0.5 / finite.size))
    z0 = NormalDist().inv_cdf(below)
    levels = np.array([NormalDist().cdf(2 * z0 + NormalDist().inv_cdf(q)) for q in levels])
    lo, hi = (float(v) for v in np.quantile(finite, levels))
    bias = float(np.median(finite)) - estimate
    shift = (BIAS_FACTOR - 1.0) * bias  # BC already removed about one (median) bootstrap bias
    lo, hi = lo - shift, hi - shift
    centre = estimate - BIAS_FACTOR * bias
    grow = widening(n)
    lo, hi = centre - grow * max(centre - lo, 0.0), centre + grow * max(hi - centre, 0.0)
    # the measured value stays inside (it is drawn with the interval as error bars); only ever wider
    lo, hi = min(lo, estimate), max(hi, estimate)
    if trials:
        cp_lo, cp_hi = clopper_pearson(estimate * trials, trials, confidence=confidence)
        lo, hi = max(min(lo, cp_lo), 0.0), min(max(hi, cp_hi), 1.0)
    return lo, hi


def clopper_pearson(successes: float, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a binomial proportion; each side errs at most (1 − c)/2.

    ``successes`` may be fractional (a rate averaged over severities), read as Beta parameters.

    >>> [round(v, 4) for v in clopper_pearson(0, 40)]
    [0.0, 0.0881]
    """
    if trials <= 0:
        raise DataError(f"a proportion needs at least one trial, got {trials}")
    k = min(max(float(successes), 0.0), float(trials))
    alpha = (1.0 - confidence) / 2.0
    lo = _beta_quantile(alpha, k, trials - k + 1.0) if k > 0 else 0.0
    hi = _beta_quantile(1.0 - alpha, k + 1.0, trials - k) if k < trials else 1.0
    return lo, hi


def _beta_quantile(q: float, a: float, b: float) -> float:
    """x with I_x(a, b) = q, by bisection (I is increasing in x)."""
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if _beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1_000_000):  # converges in O(√max(a, b)) steps
        steps = (
            m * (b - m) * x / ((a - 1.0 + 2 * m) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1.0 + 2 * m)),
        )
        for aa in steps:
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise DataError(f"paired replicates need the same resamples, got {x.size} and {y.size} values")
    return x, y


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95, estimate: float | None = None, n: int | None = None
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Row-wise ``a − b`` of replicates drawn with the same indices, and its interval.

    With ``estimate`` (the measured difference) and ``n`` (images) the interval is the calibrated
    one of ``interval``; without, the plain percentile interval.
    """
    x, y = _paired(a, b)
    d = x - y
    return d, interval(d, confidence=confidence, estimate=estimate, n=n)


def paired_ratio(
    a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95, estimate: float | None = None, n: int | None = None
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Row-wise ``a / b`` (NaN where b is 0) of paired replicates, and its interval (as ``paired_difference``)."""
    x, y = _paired(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(y != 0, x / y, np.nan)
    return r, interval(r, confidence=confidence, estimate=estimate, n=n)

"""Paired bootstrap over images: one shared index matrix, percentile intervals, paired differences.

Every model and every condition is resampled with the SAME ``indices[B, n]`` matrix, so the
replicates of two figures are paired row by row and their difference or ratio has an honest
interval (the image-to-image variation common to both cancels).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from fieldready.errors import DataError

__all__ = ["check_indices", "resample_indices", "interval", "paired_difference", "paired_ratio"]


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


def interval(
    replicates: np.ndarray, *, confidence: float = 0.95, estimate: float | None = None
) -> tuple[float, float] | None:
    """Percentile interval of the finite replicates; None when fewer than half of them are finite.

    With ``estimate`` (the value measured on all images) the percentiles are bias-corrected (Efron's
    BC): AP's interpolated-precision envelope takes a maximum, so resampled AP drifts upwards, and a
    plain percentile interval can end up beside the measured value instead of around it.
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
    if estimate is not None and np.isfinite(estimate):
        below = (np.count_nonzero(finite < estimate) + 0.5 * np.count_nonzero(finite == estimate)) / finite.size
        below = float(np.clip(below, 0.5 / finite.size, 1.0 - 0.5 / finite.size))
        z0 = NormalDist().inv_cdf(below)
        levels = np.array([NormalDist().cdf(2 * z0 + NormalDist().inv_cdf(q)) for q in levels])
    lo, hi = np.quantile(finite, levels)
    return float(lo), float(hi)


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise DataError(f"paired replicates need the same resamples, got {x.size} and {y.size} values")
    return x, y


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Row-wise ``a − b`` of replicates drawn with the same indices, and its percentile interval."""
    x, y = _paired(a, b)
    d = x - y
    return d, interval(d, confidence=confidence)


def paired_ratio(
    a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Row-wise ``a / b`` (NaN where b is 0) of paired replicates, and its percentile interval."""
    x, y = _paired(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(y != 0, x / y, np.nan)
    return r, interval(r, confidence=confidence)

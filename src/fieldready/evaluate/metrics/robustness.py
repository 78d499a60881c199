"""Robustness aggregates over corruptions and severities: mPC, rPC, CE/mCE, relative mCE, production score.

Inputs are plain numbers per (corruption, severity point) — a metric value already computed by
``detection`` or ``classification``. Performance P is higher-is-better (AP, accuracy); error E is
lower-is-better (top-1 error, or 1 − AP for detection). An undefined ratio (division by zero) is NaN;
convert it with ``info.json_number`` where results are written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fieldready.errors import DataError
from fieldready.evaluate.metrics.info import MetricInfo

__all__ = [
    "METRICS",
    "ALEXNET_ERRORS",
    "IMAGENET_C_CORRUPTIONS",
    "mean_performance",
    "relative_performance",
    "corruption_error",
    "relative_corruption_error",
    "mce",
    "relative_mce",
    "production_score",
    "family_summary",
]

METRICS: dict[str, MetricInfo] = {
    "mpc": MetricInfo("mean performance over corruptions and severities (mPC)", True),
    "rpc": MetricInfo("relative performance under corruption, mPC / clean performance (rPC)", True),
    "ce": MetricInfo("corruption error relative to the baseline model, Σ_s E(model) / Σ_s E(baseline)", False),
    "mce": MetricInfo("mean corruption error over corruptions (ImageNet-C mCE, spec baseline)", False),
    "relative_ce": MetricInfo("relative corruption error, errors measured above each model's clean error", False),
    "relative_mce": MetricInfo("mean relative corruption error over corruptions", False),
    "production_score": MetricInfo("metric expected under the declared production mix of conditions", True),
}

#: AlexNet's mean top-1 error per ImageNet-C corruption (Hendrycks & Dietterich 2019), in the paper's
#: order. The order is part of the data: a reordered list with these constants gives a wrong mCE.
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}
IMAGENET_C_CORRUPTIONS: tuple[str, ...] = tuple(ALEXNET_ERRORS)

Grid = Mapping[str, Sequence[float]] | np.ndarray


def _rows(values: Grid) -> list[np.ndarray]:
    rows = list(values.values()) if isinstance(values, Mapping) else list(np.atleast_2d(values))
    out = [np.asarray(r, dtype=np.float64).ravel() for r in rows]
    if not out or any(r.size == 0 for r in out):
        raise DataError("no corruption results to aggregate; every condition needs at least one severity point")
    return out


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else float("nan")


def mean_performance(values: Grid) -> float:
    """mPC: the mean over corruptions of each corruption's mean over its severity points.

    ``values`` is ``{corruption: [P at each severity]}`` or an array ``[corruptions, severities]``.
    With the same number of severities everywhere this is the grand mean of COCO-C / ImageNet-C.

    >>> mean_performance({"blur": [0.4, 0.2], "noise": [0.3, 0.1]})
    0.25
    """
    return float(np.mean([r.mean() for r in _rows(values)]))


def relative_performance(mpc: float, clean: float) -> float:
    """rPC = mPC / P_clean (NaN when P_clean is 0)."""
    return _ratio(mpc, clean)


def corruption_error(model_errors: Sequence[float], baseline_errors: Sequence[float]) -> float:
    """CE_c = Σ_s E_{s,c}(model) / Σ_s E_{s,c}(baseline), the severities paired in order."""
    m, b = np.asarray(model_errors, dtype=np.float64), np.asarray(baseline_errors, dtype=np.float64)
    if m.shape != b.shape or m.size == 0:
        raise DataError(f"model and baseline need errors at the same severities, got {m.size} and {b.size} values")
    return _ratio(m.sum(), b.sum())


def relative_corruption_error(
    model_errors: Sequence[float], baseline_errors: Sequence[float], *, model_clean: float, baseline_clean: float
) -> float:
    """Relative CE_c = Σ_s (E_{s,c} − E_clean)(model) / Σ_s (E_{s,c} − E_clean)(baseline)."""
    m = np.asarray(model_errors, dtype=np.float64) - model_clean
    b = np.asarray(baseline_errors, dtype=np.float64) - baseline_clean
    return corruption_error(m, b)


def _paired(model: Mapping[str, Sequence[float]], baseline: Mapping[str, Sequence[float]]) -> list[str]:
    missing = sorted(set(model) - set(baseline))
    if missing:
        raise DataError(f"the baseline has no results for corruption(s) {missing}; run it on the same conditions")
    if not model:
        raise DataError("no corruption results to aggregate")
    return list(model)


def mce(model: Mapping[str, Sequence[float]], baseline: Mapping[str, Sequence[float]]) -> float:
    """mCE = mean over the model's corruptions of CE_c against ``baseline`` (e.g. ``ALEXNET_ERRORS``-style).

    Each mapping is ``{corruption: [E at each severity]}``. For ImageNet-C-normalised mCE pass the
    baseline as ``{c: [ALEXNET_ERRORS[c]] for c in IMAGENET_C_CORRUPTIONS}`` and the model's errors
    averaged over the 5 levels, since the constants are AlexNet's per-corruption means.
    """
    return float(np.mean([corruption_error(model[c], baseline[c]) for c in _paired(model, baseline)]))


def relative_mce(
    model: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]],
    *,
    model_clean: float,
    baseline_clean: float,
) -> float:
    """Relative mCE: the mean of relative CE_c over the model's corruptions."""
    ces = [
        relative_corruption_error(model[c], baseline[c], model_clean=model_clean, baseline_clean=baseline_clean)
        for c in _paired(model, baseline)
    ]
    return float(np.mean(ces))


def production_score(
    clean_value: float, condition_values: Mapping[str, float], frequencies: Mapping[str, float]
) -> float:
    """Expected metric under the production mix: (1 − Σf)·clean + Σ_c f_c·value_c.

    ``value_c`` is the condition's metric already averaged over its severity points; a condition's
    frequency is the share of production images that meet it, the rest being clean.

    >>> round(production_score(0.8, {"fog": 0.4, "jpeg": 0.6}, {"fog": 0.25, "jpeg": 0.5}), 6)
    0.6
    """
    bad = {c: f for c, f in frequencies.items() if not (0.0 <= f <= 1.0)}
    if bad:
        raise DataError(f"condition frequencies must lie in [0, 1], got {bad}")
    total = float(sum(frequencies.values()))
    if total > 1.0 + 1e-9:
        raise DataError(f"condition frequencies sum to {total:.4g} > 1; they are shares of production images")
    missing = sorted(set(frequencies) - set(condition_values))
    if missing:
        raise DataError(f"no measured value for condition(s) {missing} that carry a frequency")
    # No float() casts: bootstrap replicates (arrays) go through the same formula as point values.
    mixed = sum(f * condition_values[c] for c, f in frequencies.items())
    return (1.0 - total) * clean_value + mixed


def family_summary(values: Mapping[str, float], families: Mapping[str, str]) -> dict[str, float]:
    """Mean value per corruption family (noise, blur, weather, digital, …), families in first-seen order.

    ``families`` maps corruption name → family (the corruption registry knows it); a corruption
    missing from it is summarised under ``"other"``.
    """
    groups: dict[str, list[float]] = {}
    for name, value in values.items():
        groups.setdefault(families.get(name, "other"), []).append(float(value))
    return {family: float(np.mean(v)) for family, v in groups.items()}

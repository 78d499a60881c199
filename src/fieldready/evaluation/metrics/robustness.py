"""Robustness aggregates over corruptions and severities: mPC, rPC, CE/mCE, relative mCE, production score.

The one implementation of each aggregate, used by the judge for point values and bootstrap
replicates alike: every function takes plain floats or replicate arrays (``[B]``, the same resamples
for every input) and does the same arithmetic on both, in the same order, so an interval is the
distribution of exactly the figure it brackets. Performance P is higher-is-better (AP, accuracy);
error E is lower-is-better (top-1 error, or 1 − AP for detection). An undefined ratio (a zero
denominator, or an overflow) is NaN; ``fieldready.judge.results.json_number`` turns it into "no data".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fieldready.errors import DataError
from fieldready.evaluation.metrics.registry import MetricDef, register_metric

__all__ = [
    "Value",
    "ALEXNET_ERRORS",
    "IMAGENET_C_CORRUPTIONS",
    "Profile",
    "AggregateInputs",
    "mean",
    "ratio",
    "as_errors",
    "mean_performance",
    "relative_performance",
    "corruption_error",
    "relative_corruption_error",
    "mce",
    "relative_mce",
    "production_score",
    "family_summary",
]

#: A measured figure: a float (the value on all images) or an array of its bootstrap replicates.
Value = float | np.ndarray

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

Grid = Mapping[str, Sequence[Value]] | np.ndarray


def mean(values: Sequence[Value]) -> Value:
    """The mean of floats or of replicate arrays, summed left to right (the same bits for both kinds)."""
    if len(values) == 0:
        raise DataError("nothing to average; a condition needs at least one severity point")
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total / len(values)


def ratio(num: Value, den: Value) -> Value:
    """num / den for floats or replicate arrays; a zero denominator or an overflow gives NaN, not an error."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.true_divide(num, den)
    out = np.where(np.isfinite(out), out, np.nan)
    return out if isinstance(num, np.ndarray) or isinstance(den, np.ndarray) else float(out)


def _sum(values: Sequence[Value]) -> Value:
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _rows(values: Grid) -> list[list[Value]]:
    if isinstance(values, np.ndarray):
        rows = [[float(v) for v in row] for row in np.atleast_2d(values)]
    else:
        rows = [list(r) for r in values.values()]
    if not rows or any(len(r) == 0 for r in rows):
        raise DataError("no corruption results to aggregate; every condition needs at least one severity point")
    return rows


def mean_performance(values: Grid) -> Value:
    """mPC: the mean over corruptions of each corruption's mean over its severity points.

    ``values`` is ``{corruption: [P at each severity]}`` or an array ``[corruptions, severities]``.
    With the same number of severities everywhere this is the grand mean of COCO-C / ImageNet-C.

    >>> mean_performance({"blur": [0.4, 0.2], "noise": [0.3, 0.1]})
    0.25
    """
    return mean([mean(r) for r in _rows(values)])


def relative_performance(mpc: Value, clean: Value) -> Value:
    """rPC = mPC / P_clean (NaN when P_clean is 0)."""
    return ratio(mpc, clean)


def as_errors(values: Sequence[Value], *, higher_is_better: bool) -> list[Value]:
    """Errors of performance values: E = 1 − P where higher is better, the values themselves otherwise."""
    return [(1.0 - v) if higher_is_better else v for v in values]


def corruption_error(model_errors: Sequence[Value], baseline_errors: Sequence[Value]) -> Value:
    """CE_c = Σ_s E_{s,c}(model) / Σ_s E_{s,c}(baseline), the severities paired in order."""
    m, b = list(model_errors), list(baseline_errors)
    if len(m) != len(b) or not m:
        raise DataError(f"model and baseline need errors at the same severities, got {len(m)} and {len(b)} values")
    return ratio(_sum(m), _sum(b))


def relative_corruption_error(
    model_errors: Sequence[Value], baseline_errors: Sequence[Value], *, model_clean: Value, baseline_clean: Value
) -> Value:
    """Relative CE_c = Σ_s (E_{s,c} − E_clean)(model) / Σ_s (E_{s,c} − E_clean)(baseline)."""
    m = [e - model_clean for e in model_errors]
    b = [e - baseline_clean for e in baseline_errors]
    return corruption_error(m, b)


def _paired(model: Mapping[str, Sequence[Value]], baseline: Mapping[str, Sequence[Value]]) -> list[str]:
    missing = sorted(set(model) - set(baseline))
    if missing:
        raise DataError(f"the baseline has no results for corruption(s) {missing}; run it on the same conditions")
    if not model:
        raise DataError("no corruption results to aggregate")
    return list(model)


def mce(model: Mapping[str, Sequence[Value]], baseline: Mapping[str, Sequence[Value]]) -> Value:
    """mCE = mean over the model's corruptions of CE_c against ``baseline`` (e.g. ``ALEXNET_ERRORS``-style).

    Each mapping is ``{corruption: [E at each severity]}``. For ImageNet-C-normalised mCE pass the
    baseline as ``{c: [ALEXNET_ERRORS[c]] for c in IMAGENET_C_CORRUPTIONS}`` and the model's errors
    averaged over the 5 levels, since the constants are AlexNet's per-corruption means.
    """
    return mean([corruption_error(model[c], baseline[c]) for c in _paired(model, baseline)])


def relative_mce(
    model: Mapping[str, Sequence[Value]],
    baseline: Mapping[str, Sequence[Value]],
    *,
    model_clean: Value,
    baseline_clean: Value,
) -> Value:
    """Relative mCE: the mean of relative CE_c over the model's corruptions."""
    ces = [
        relative_corruption_error(model[c], baseline[c], model_clean=model_clean, baseline_clean=baseline_clean)
        for c in _paired(model, baseline)
    ]
    return mean(ces)


def production_score(
    clean_value: Value, condition_values: Mapping[str, Value], frequencies: Mapping[str, float]
) -> Value:
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
    mixed = sum(f * condition_values[c] for c, f in frequencies.items())
    return (1.0 - total) * clean_value + mixed


def family_summary(
    values: Mapping[str, Value | Sequence[Value]], families: Mapping[str, str]
) -> dict[str, Value]:
    """Mean value per corruption family (noise, blur, weather, digital, …), families in first-seen order.

    ``values`` maps a corruption or condition to its value, or to its values at each severity point
    (every point then counts once in its family's mean); ``families`` maps the same names to their
    family (the corruption registry knows it), a name missing from it counting under ``"other"``.
    NaN ("no data") points are left out; a family with no data at all is NaN.
    """
    groups: dict[str, list[Value]] = {}
    for name, value in values.items():
        points = list(value) if isinstance(value, (list, tuple)) else [value]
        groups.setdefault(families.get(name, "other"), []).extend(points)
    out: dict[str, Value] = {}
    for family, points in groups.items():
        stacked = np.asarray(points, dtype=np.float64)
        if np.all(np.isnan(stacked), axis=0).all():
            out[family] = np.full(stacked.shape[1:], np.nan) if stacked.ndim > 1 else float("nan")
        elif stacked.ndim > 1:
            out[family] = np.nanmean(stacked, axis=0)
        else:
            out[family] = float(np.nanmean(stacked))
    return out


@dataclass(frozen=True)
class Profile:
    """One model's metric at clean and at each severity point of each condition: floats or replicates."""

    clean: Value
    conditions: Mapping[str, Sequence[Value]] = field(default_factory=dict)

    def means(self) -> dict[str, Value]:
        """Each condition's mean over its severity points."""
        return {c: mean(list(v)) for c, v in self.conditions.items()}


@dataclass(frozen=True)
class AggregateInputs:
    """What an aggregate metric is computed from (all figures of the primary metric).

    ``model`` and ``baseline`` cover the criterion's conditions (all of them, or the one it names);
    ``production`` is the model over every condition of the plan, weighed by ``frequencies``.
    """

    model: Profile
    production: Profile
    frequencies: Mapping[str, float]
    higher_is_better: bool
    baseline: Profile | None = None

    def needs_baseline(self, metric: str) -> Profile:
        if self.baseline is None:
            raise DataError(f"{metric} is normalised by the baseline; the spec needs baseline: <model name>")
        return self.baseline


def _mpc(x: AggregateInputs) -> Value:
    return mean_performance(x.model.conditions)


def _rpc(x: AggregateInputs) -> Value:
    return relative_performance(mean_performance(x.model.conditions), x.model.clean)


def _error_grid(p: Profile, higher: bool) -> dict[str, list[Value]]:
    return {c: as_errors(list(v), higher_is_better=higher) for c, v in p.conditions.items()}


def _mce(x: AggregateInputs) -> Value:
    base = x.needs_baseline("mce")
    return mce(_error_grid(x.model, x.higher_is_better), _error_grid(base, x.higher_is_better))


def _relative_mce(x: AggregateInputs) -> Value:
    base = x.needs_baseline("relative_mce")
    h = x.higher_is_better
    return relative_mce(
        _error_grid(x.model, h), _error_grid(base, h),
        model_clean=as_errors([x.model.clean], higher_is_better=h)[0],
        baseline_clean=as_errors([base.clean], higher_is_better=h)[0],
    )


def _production(x: AggregateInputs) -> Value:
    return production_score(x.production.clean, x.production.means(), x.frequencies)


def _aggregate(name: str, label: str, description: str, fn, *, higher_is_better: bool = True,  # noqa: ANN001
               fraction: bool = True, needs_baseline: bool = False, production_mix: bool = False) -> MetricDef:
    return register_metric(MetricDef(
        name=name, tasks=("detection", "classification"), scope="aggregate", higher_is_better=higher_is_better,
        label=label, description=description, unit="" if fraction else "ratio", fraction=fraction,
        needs_baseline=needs_baseline, production_mix=production_mix, aggregate=fn,
    ))


_aggregate("mpc", "mean performance under corruption", "mean performance over corruptions and severities (mPC)", _mpc)
_aggregate("rpc", "relative performance under corruption (mPC / clean)",
           "relative performance under corruption, mPC / clean performance (rPC)", _rpc, fraction=False)
_aggregate("mce", "mean corruption error normalised by the baseline",
           "mean corruption error over corruptions (ImageNet-C mCE, spec baseline)", _mce, higher_is_better=False,
           fraction=False, needs_baseline=True)
_aggregate("relative_mce", "relative mCE (E − E_clean) normalised by the baseline",
           "mean relative corruption error over corruptions", _relative_mce, higher_is_better=False, fraction=False,
           needs_baseline=True)
_aggregate("production_score", "frequency-weighted metric under the production mix",
           "metric expected under the declared production mix of conditions", _production, production_mix=True)

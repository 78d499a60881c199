"""The shift mixture on synthetic samples whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from fieldready.profile.mixture import MIN_GAIN, SampleDensity, ShiftModel, fit_shift_mixture, weighted_quantiles


def _grid() -> ShiftModel:
    s = np.round(np.r_[-np.arange(0.5, 6.01, 0.25), np.arange(0.5, 6.01, 0.25)], 3)
    return ShiftModel(s[:, None], s, np.sign(s).astype(int))


def test_recovers_the_share_and_size_of_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, (400, 1))
    production = np.r_[rng.normal(0, 1, 320), rng.normal(0, 1, 80) - 4.0][:, None]
    model = _grid().detectable(reference)
    fit = fit_shift_mixture(production, SampleDensity.fit(reference, min_bandwidth=0.05), model)
    assert fit.frequency(model, -1) == pytest.approx(0.2, abs=0.04)
    assert fit.frequency(model, +1) < 0.02
    assert fit.gain[-1] > MIN_GAIN
    on_side = model.sides == -1
    assert weighted_quantiles(model.severities[on_side], fit.weights[1:][on_side])[1] == pytest.approx(-4.0, abs=0.5)
    assert fit.membership(model, -1)[320:].mean() > 0.8


def test_a_production_like_the_reference_rarely_has_a_significant_side() -> None:
    # Two samples of one distribution differ by chance (one of these eight draws has 8 % of its
    # values past the other's 95th percentile); the significance rule must hold in most draws.
    significant = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        reference = rng.normal(0, 1, (300, 1))
        production = rng.normal(0, 1, (300, 1))
        model = _grid().detectable(reference)
        fit = fit_shift_mixture(production, SampleDensity.fit(reference, min_bandwidth=0.05), model)
        significant += max(fit.gain.values()) >= MIN_GAIN
    assert significant <= 1


def test_detectable_keeps_only_shifts_that_leave_the_reference_range() -> None:
    reference = np.linspace(-1, 1, 201)[:, None]  # 5th–95th percentile: ±0.9
    kept = _grid().detectable(reference).severities
    assert kept.size and np.all(np.abs(kept) > 0.9)
    assert 1.0 in kept and -1.0 in kept


def test_detectable_keeps_also_the_shifts_asked_for() -> None:
    reference = np.linspace(-3, 3, 201)[:, None]  # a wide reference: ±2.7 is its 5th–95th range
    strong = np.abs(_grid().severities) >= 1.5
    plain = _grid().detectable(reference).severities
    kept = _grid().detectable(reference, keep_also=strong).severities
    assert -1.5 not in plain and -1.5 in kept and 1.0 not in kept
    assert set(plain.tolist()) <= set(kept.tolist())


def test_quadrature_shifts_add_sigma_in_quadrature() -> None:
    model = ShiftModel(np.array([[2.0]]), np.array([2.0]), np.array([1]), quadrature=True)
    pushed = model.push(np.log(np.array([[1.5]])), 0)
    assert np.exp(pushed[0, 0]) == pytest.approx(2.5)  # √(1.5² + 2²)


def test_two_dimensional_shift() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(0, 0.1, (300, 2))
    shift = np.array([0.8, -1.0])
    production = np.r_[rng.normal(0, 0.1, (240, 2)), rng.normal(0, 0.1, (60, 2)) + shift]
    model = ShiftModel(np.array([shift * f for f in (0.5, 1.0, 1.5)]), np.array([1.0, 2.0, 3.0]), np.array([-1, -1, -1]))
    fit = fit_shift_mixture(production, SampleDensity.fit(reference, min_bandwidth=0.01), model)
    assert fit.frequency(model, -1) == pytest.approx(0.2, abs=0.03)
    assert fit.weights[2] > 0.15  # the middle point: the true shift


def test_weighted_quantiles() -> None:
    assert weighted_quantiles(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0])) == [1.0, 2.0, 3.0]
    assert weighted_quantiles(np.array([1.0]), np.array([0.0])) == []


def test_exceedance_pvalue_matches_simulated_clean_production() -> None:
    # Reference and production from one population: the share of draws with at least x frames beyond the
    # reference's 8th largest value must match the beta-binomial tail, whatever the distribution; beyond
    # its 95th percentile (a little higher, interpolated), the tail is conservative.
    from fieldready.profile.mixture import exceedance_pvalue

    rng = np.random.default_rng(5)
    m, n, trials = 160, 400, 4000
    counts, at_percentile = np.empty(trials, int), np.empty(trials, int)
    for t in range(trials):
        reference = rng.lognormal(0, 1, m)
        production = rng.lognormal(0, 1, n)
        counts[t] = int((production > np.sort(reference)[m - 9]).sum())  # 8 reference values beyond
        threshold = np.percentile(reference, 95)
        assert int((reference > threshold).sum()) == 8
        at_percentile[t] = int((production > threshold).sum())
    for x in (25, 30, 35, 40):
        assert exceedance_pvalue(x, n, 8, m) == pytest.approx(np.mean(counts >= x), abs=0.015)
        assert exceedance_pvalue(x, n, 8, m) >= np.mean(at_percentile >= x) - 0.01
    assert exceedance_pvalue(0, n, 8, m) == 1.0
    assert 0.0 <= exceedance_pvalue(400, n, 8, m) < 1e-12
    # the threshold's own uncertainty: far wider than a binomial count at 5 % (sd 4.4 frames)
    assert np.mean(counts >= 35) > 0.05

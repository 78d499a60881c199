"""How many production frames are shifted, and by how much: a shift mixture fitted against the reference.

Scene content spreads every measurement (a dark scene is not an underexposed frame), so a frame's
value alone rarely says whether a condition hit it. The set does: production frames are modelled as

    p(x) = w₀ · r(x) + Σⱼ wⱼ · r(x − δⱼ)

where r is the reference's density of the (transformed) measurement — a kernel density estimate —
and δⱼ a grid of shifts, each one severity of a catalogue corruption (an exposure of δ EV shifts
log₂ luminance by δ; a blur of σ px adds σ² to the squared blur; a colour cast shifts the log
chromaticity by the cast's log gains). The weights are the nonparametric maximum-likelihood mixing
distribution (EM, Laird 1978), pruned to the support points the fit needs; the weighted shifts of
one side of the grid are that condition's severity distribution. A side counts only when dropping
it costs the fit at least ``MIN_GAIN`` in log-likelihood, and only shifts that move the reference's
median out of its own 5th–95th percentile range are on the grid: smaller ones cannot be told from
scene content, and a mixture would use them to absorb the sampling differences of two finite sets.
``suggest`` takes the severities from here and counts frames for the frequency.
``exceedance_pvalue`` is the count's own significance (distribution-free), for conditions the
grid cannot follow but the count of frames beyond the reference's range plainly shows. Pure NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SampleDensity", "ShiftModel", "MixtureFit", "fit_shift_mixture", "weighted_quantiles", "exceedance_pvalue", "MIN_GAIN"]

DETECTABLE = 95.0  # a shift must move the reference's median past this percentile of it
# Log-likelihood a side (or a support point) must add to be kept. Deliberately above the χ² value of
# a known density (≈ 3): the reference density is itself estimated from a finite set.
MIN_GAIN = 6.0
KNN = 1.0  # kernel width: distance to the (KNN·√m)-th nearest reference sample
# Share of a broad Gaussian (the reference's mean, twice its spread) in the density: a production
# value just past the reference's extremes is unusual, not impossible, so no shift is needed to explain it.
BROAD = 0.02
_ITERATIONS = 400


@dataclass
class SampleDensity:
    """An adaptive Gaussian kernel density of reference samples: each sample's width is the distance to its k-th neighbour.

    Reference measurements are lumpy (many grey images share one chromaticity, the clean noise
    estimates sit on a few values), so one global bandwidth is either too wide for the lumps or too
    narrow between them; a k-nearest-neighbour width (k ≈ √m) follows the data, never below
    ``min_bandwidth`` (the measurement's own noise).
    """

    samples: np.ndarray  # [m, d]
    widths: np.ndarray  # [m]

    @classmethod
    def fit(cls, values: np.ndarray, *, min_bandwidth: float, max_samples: int = 1000) -> "SampleDensity":
        x = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if len(x) > max_samples:  # an evenly spaced subset keeps the cost bounded
            x = x[np.linspace(0, len(x) - 1, max_samples).astype(int)]
        m = len(x)
        k = min(max(2, int(math.ceil(KNN * math.sqrt(m)))), m - 1) if m > 1 else 0
        if k:
            dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
            kth = np.partition(dist, k, axis=1)[:, k]
        else:
            kth = np.zeros(m)
        return cls(x, np.maximum(kth, min_bandwidth))

    def likelihood(self, y: np.ndarray, pushed: np.ndarray) -> np.ndarray:
        """Density at ``y`` [n, d] of the reference samples moved to ``pushed`` [m, d] (same widths).

        A ``BROAD`` share of one wide Gaussian over the moved samples keeps the tails from
        vanishing between and beyond finitely many samples.
        """
        d = y.shape[1]
        inv = -0.5 / self.widths**2
        norm = (2 * math.pi * self.widths**2) ** (-d / 2) / len(pushed)
        out = np.empty(len(y))
        chunk = max(1, 2_000_000 // max(len(pushed), 1))
        for i in range(0, len(y), chunk):
            block = y[i : i + chunk]
            sq = (block[:, None, 0] - pushed[None, :, 0]) ** 2
            for k in range(1, d):
                sq += (block[:, None, k] - pushed[None, :, k]) ** 2
            sq *= inv
            out[i : i + chunk] = np.exp(sq, out=sq) @ norm
        centre = pushed.mean(axis=0)
        spread = 2.0 * np.maximum(pushed.std(axis=0), self.widths.max())
        broad = np.exp(-0.5 * (((y - centre) / spread) ** 2).sum(-1)) / np.prod(np.sqrt(2 * math.pi) * spread)
        return (1.0 - BROAD) * out + BROAD * broad


@dataclass(frozen=True)
class ShiftModel:
    """The grid of corruptions: how each moves a reference value, its severity and its side (+1 / −1).

    ``shifts`` [J, d] are added to reference values, unless ``quadrature``: then values are log σ
    and a shift s makes σ → √(σ² + s²) (blur and noise add that way), with ``shifts`` holding s.
    """

    shifts: np.ndarray  # [J, d]
    severities: np.ndarray  # [J] in the catalogue corruption's unit
    sides: np.ndarray  # [J] ints
    quadrature: bool = False

    def detectable(self, reference: np.ndarray, *, keep_also: np.ndarray | None = None) -> "ShiftModel":
        """The grid points that move the reference's median out of its own 5th–95th percentile range.

        A smaller shift is indistinguishable from scene content: a mixture would use it to absorb the
        sampling differences between two finite sets (a few % of "conditions" in clean frames). In 2-D
        the range is taken along the shift's direction (the reference projected onto it).
        ``keep_also`` (bool per grid point) keeps severities strong enough to matter even when the
        reference's range is wider than them (very different scenes).
        """
        ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
        median = np.median(ref, axis=0)
        keep = np.zeros(len(self.severities), dtype=bool) if keep_also is None else np.asarray(keep_also, dtype=bool).copy()
        for j in range(len(self.severities)):
            moved = self.push(median[None, :], j)[0]
            if keep[j]:
                continue
            if ref.shape[1] == 1:
                lo, hi = np.percentile(ref[:, 0], [100 - DETECTABLE, DETECTABLE])
                keep[j] = moved[0] > hi if self.sides[j] > 0 else moved[0] < lo
            else:
                step = moved - median
                length = float(np.sqrt((step**2).sum()))
                if length > 0:
                    along = (ref - median) @ (step / length)
                    keep[j] = length > float(np.percentile(along, DETECTABLE))
        return ShiftModel(self.shifts[keep], self.severities[keep], self.sides[keep], self.quadrature)

    def push(self, x: np.ndarray, j: int) -> np.ndarray:
        """Reference values ``x`` [m, d] under grid point ``j``."""
        if self.quadrature:
            return 0.5 * np.log(np.exp(2.0 * x) + self.shifts[j] ** 2)
        return x + self.shifts[j]


@dataclass
class MixtureFit:
    """Mixing weights (index 0: unshifted), per-frame posteriors, and each side's significance."""

    weights: np.ndarray  # [J + 1]
    posterior: np.ndarray  # [n, J + 1]
    loglik: float
    gain: dict[int, float]  # side → log-likelihood lost when the side is dropped

    def frequency(self, model: ShiftModel, side: int) -> float:
        return float(self.weights[1:][model.sides == side].sum())

    def membership(self, model: ShiftModel, side: int) -> np.ndarray:
        """Per frame, the posterior probability that it was shifted to ``side``."""
        return self.posterior[:, 1:][:, model.sides == side].sum(axis=1)


def _em(likelihood: np.ndarray, active: np.ndarray, iterations: int) -> tuple[np.ndarray, float]:
    """Mixing weights maximising Σᵢ log Σⱼ wⱼ Lᵢⱼ over the ``active`` components (EM), and the log-likelihood."""
    cols = np.flatnonzero(active)
    lik = likelihood[:, cols]
    w = np.ones(len(cols))
    if cols[0] == 0:
        w[0] = max(len(cols) - 1, 1)  # start half unshifted, half spread over the shifts
    w /= w.sum()
    previous = -np.inf
    for _ in range(iterations):
        mix = lik @ w
        loglik = float(np.log(mix).sum())
        if loglik - previous < 1e-7 * max(1.0, abs(loglik)):
            break
        previous = loglik
        w = w * ((1.0 / mix) @ lik) / len(mix)
        w /= w.sum()
    full = np.zeros(likelihood.shape[1])
    full[cols] = w
    return full, float(np.log(lik @ w).sum())


def fit_shift_mixture(
    production: np.ndarray, density: SampleDensity, model: ShiftModel, *, iterations: int = _ITERATIONS
) -> MixtureFit:
    """Fit the mixing weights of production values ``[n, d]`` over the unshifted reference and the grid."""
    x = np.asarray(production, dtype=np.float64).reshape(len(production), -1)
    columns = [density.likelihood(x, density.samples)]
    columns += [density.likelihood(x, model.push(density.samples, j)) for j in range(len(model.severities))]
    likelihood = np.maximum(np.stack(columns, axis=1), 1e-300)  # [n, J + 1]
    active = np.ones(likelihood.shape[1], dtype=bool)
    weights, loglik = _em(likelihood, active, iterations)
    # The NPMLE's support is sparse: keep its points only, then drop each one the fit does not need,
    # mildest first (where sampling noise between the two sets is absorbed), so that noise does not
    # stay as a mild "condition".
    size = np.r_[0.0, np.sqrt((model.shifts.reshape(len(model.shifts), -1) ** 2).sum(axis=1))]
    support = [j for j in np.argsort(size, kind="stable") if j > 0 and weights[j] > 1e-4]
    active = np.zeros(likelihood.shape[1], dtype=bool)
    active[0] = True
    active[support] = True
    weights, loglik = _em(likelihood, active, iterations)
    best = loglik
    for j in support:  # the pruned fit stays within MIN_GAIN of the full one, in total
        trial = active.copy()
        trial[j] = False
        w, ll = _em(likelihood, trial, iterations)
        if best - ll < MIN_GAIN:
            active, weights, loglik = trial, w, ll
    gain = {}
    for side in sorted(set(model.sides.tolist())):
        if not (model.sides == side).any():
            continue
        without = active.copy()
        without[1:][model.sides == side] = False
        gain[side] = loglik - _em(likelihood, without, iterations)[1]
    posterior = likelihood * weights
    posterior /= np.maximum(posterior.sum(axis=1, keepdims=True), 1e-300)
    return MixtureFit(weights, posterior, loglik, gain)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...] = (0.1, 0.5, 0.9)) -> list[float]:
    """Quantiles of a discrete distribution (values with weights), each the first value whose cumulative weight reaches q."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    total = w.sum()
    if total <= 0:
        return []
    cum = np.cumsum(w) / total
    return [float(v[min(int(np.searchsorted(cum, q)), len(v) - 1)]) for q in qs]


def exceedance_pvalue(exceed: int, n: int, reference_beyond: int, m: int) -> float:
    """P(at least ``exceed`` of ``n`` production values lie beyond a threshold that ``reference_beyond`` of ``m`` reference values pass).

    The chance that clean production, drawn from the reference's population, shows that many frames
    beyond its range — exact and distribution-free, whatever the scenes: the population's share
    beyond the reference's (m − r)-th order statistic is Beta(r + 1, m − r), so the count is
    beta-binomial (the exceedance statistic). It accounts for both sets being finite, which a
    binomial test against the reference's 5 % would not: with 160 reference images the threshold
    itself leaves 3–9 % of the population beyond it.

    >>> round(exceedance_pvalue(20, 400, 8, 160), 2)  # 5 % beyond, as expected
    0.6
    >>> exceedance_pvalue(60, 400, 8, 160) < 1e-3  # 15 % beyond
    True
    """
    a, b = reference_beyond + 1, m - reference_beyond
    if exceed <= 0 or n <= 0:
        return 1.0
    if b <= 0 or exceed > n:
        return 1.0 if b <= 0 else 0.0
    x = np.arange(exceed, n + 1, dtype=np.float64)
    lgamma = np.vectorize(math.lgamma)
    log_pmf = (
        math.lgamma(n + 1) - lgamma(x + 1) - lgamma(n - x + 1)
        + lgamma(x + a) + lgamma(n - x + b) - math.lgamma(n + a + b)
        - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )  # fmt: skip
    return float(min(1.0, np.exp(log_pmf).sum()))

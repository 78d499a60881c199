"""Production versus reference: per-condition distributions, a suggested ``conditions:`` block, a side-by-side.

Each measured quantity is compared with the reference set (the spec's labelled images, or a folder).
Two numbers come out per condition:

* the share of frames *beyond the reference's normal range* — past its 95th percentile (blurrier,
  noisier, brighter …) or below its 5th (darker, flatter, warmer …) — next to the reference's own
  share there (≈ 5 %): what the side-by-side sentences say;
* the *severities* suggested for the spec, from a shift mixture (``mixture.py``): production =
  reference-like frames plus frames moved by the corruption at some severity, fitted by maximum
  likelihood, each severity in the catalogue's unit (blur and noise σ added in quadrature, exposure
  EV, contrast factor, colour temperature in K);
* the *frequency*: the share beyond in excess of the reference's own, ``(p − q) / (π − q)``, where
  π is the share of frames with the condition that land beyond — from the fitted severities, so a
  condition partly hidden in the scenes' spread is not under-counted (``_mixture_sides``) — and 0
  when the mixture finds no significant shifted side — unless the count itself is significant: the
  exceedance test (``mixture.exceedance_pvalue``) says clean frames would show that many beyond less
  than once in a thousand draws; the frequency is then the excess share and the severities come from
  the frames beyond (a condition the mixture's grid cannot follow). Where the fit rests on exposure or contrast
  severities inside the reference's range (very different scenes, ``_STRONG``), the count cannot
  see the condition and the mixture's weight on the side is the frequency. JPEG quality is read from the files, so its
  frequency is the share of frames below the reference's 5th percentile (lossless counting as 100)
  by more than 5.
  Haze has no catalogue unit to map to (fog is in ImageNet-C levels): it is reported, and suggested
  from its share beyond, in excess of the reference's own, at levels 1, 3 and 5.

Frames compressed below the reference's range are smoothed by the compression, which the
catalogue's jpeg_compression reproduces: they are left out of the blur and noise fits. Everything
here is plain data: numbers in, dataclasses and dicts out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fieldready.corruptions import get
from fieldready.profile import estimators as est
from fieldready.profile.measure import Measurement
from fieldready.profile.mixture import MIN_GAIN, SampleDensity, ShiftModel, exceedance_pvalue, fit_shift_mixture, weighted_quantiles

__all__ = [
    "QUANTITIES",
    "Quantity",
    "Side",
    "SideProfile",
    "QuantityProfile",
    "Comparison",
    "Suggestion",
    "profile_quantities",
    "suggest",
    "conditions_yaml",
    "flow",
]

UPPER, LOWER = 95.0, 5.0  # the reference's normal range, in percentiles
_MIN_FREQUENCY = 0.01  # a measured condition below this share is not suggested
_JPEG_TOLERANCE = 5.0  # quality steps below the reference's 5th percentile before a frame counts as compressed
_MIN_POWER = 0.75  # (π − q) is never taken below this: the count beyond is raised by at most a third
# A side the mixture does not find still counts when clean production would show as many frames beyond
# the reference's range less often than this (the exceedance test: exact for any scenes, both sets finite).
# Over the eight measured sides, a clean production gets a condition from the count about 1 time in 125.
COUNT_ALPHA = 1e-3
# Severities strong enough to be a condition whatever the scenes (catalogue-mild and beyond): kept on
# the grid even when the reference's range is wider than them. How bright and how contrasted a scene is
# varies over very different scenes as much as these conditions do: a 0.4× contrast then lands beyond
# the reference's range on about 15 % of its frames, which no count of frames beyond can see; the
# mixture, which uses where every frame lies, can (its weight on the side is then the frequency).
_STRONG = {
    "exposure": lambda s: np.abs(s) >= 1.5,  # EV
    "contrast": lambda s: (s <= 0.6) | (s >= 1.6),  # factor
}


@dataclass(frozen=True)
class Side:
    """One direction of a quantity that is a condition: e.g. exposure below the reference's range is "underexposed"."""

    name: str  # the suggested condition's name
    direction: int  # +1: larger values meet it, −1: smaller values
    comparative: str  # "darker"
    superlative: str  # "darkest"


@dataclass(frozen=True)
class Quantity:
    """A measured quantity, the catalogue corruption its severity is expressed in, and its sides."""

    key: str
    label: str
    unit: str
    corruption: str | None
    sides: tuple[Side, ...]
    decimals: int  # severity rounding in the suggested block


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("blur", "blur", "σ px", "gaussian_blur", (Side("gaussian_blur", +1, "blurrier", "blurriest"),), 1),
    Quantity("noise", "sensor noise", "σ on [0, 1]", "gaussian_noise", (Side("gaussian_noise", +1, "noisier", "noisiest"),), 3),
    Quantity("jpeg", "JPEG quality", "quality", "jpeg_compression", (Side("jpeg_compression", -1, "more compressed", "most compressed"),), 0),
    Quantity(
        "exposure", "exposure", "EV", "exposure",
        (Side("underexposed", -1, "darker", "darkest"), Side("overexposed", +1, "brighter", "brightest")), 1,
    ),  # fmt: skip
    Quantity(
        "contrast", "contrast", "× contrast", "contrast",
        (Side("low_contrast", -1, "flatter", "flattest"), Side("high_contrast", +1, "more contrasted", "most contrasted")), 2,
    ),  # fmt: skip
    Quantity(
        "colour", "colour cast", "K", "color_temperature",
        (Side("warm_cast", -1, "warmer", "warmest"), Side("cool_cast", +1, "cooler", "coolest")), -2,
    ),  # fmt: skip
    Quantity("haze", "haze (dark channel)", "dark channel", "fog", (Side("haze", +1, "hazier", "haziest"),), 0),
)
_BY_KEY = {q.key: q for q in QUANTITIES}

# Which measured quantity and side a declared corruption shows up in; ``sign`` maps its severity to a side.
_DECLARED: dict[str, tuple[str, object]] = {
    **{n: ("blur", +1) for n in ("gaussian_blur", "defocus_blur", "motion_blur", "glass_blur", "zoom_blur", "pixelate")},
    **{n: ("noise", +1) for n in ("gaussian_noise", "shot_noise", "speckle_noise", "impulse_noise")},
    "jpeg_compression": ("jpeg", -1),
    "exposure": ("exposure", lambda s: -1 if s < 0 else +1),
    "brightness": ("exposure", lambda s: -1 if s < 0 else +1),
    "gamma": ("exposure", lambda s: -1 if s > 1 else +1),
    "contrast": ("contrast", lambda s: -1 if s < 1 else +1),
    "color_temperature": ("colour", lambda s: -1 if s < 6500 else +1),
    "fog": ("haze", +1),
}


@dataclass
class SideProfile:
    """One side of a quantity measured on production against the reference."""

    side: Side
    threshold: float  # the reference's 95th (or 5th) percentile
    share: float  # production frames beyond it
    reference_share: float  # reference images beyond it
    frequency: float  # suggested: the mixture's weight on this side (or, by the tail, the excess share)
    beyond: np.ndarray  # bool per production frame: beyond the threshold
    membership: np.ndarray  # per production frame: probability that it has the condition
    severity: list[float]  # suggested severities, mild to severe (10th/50th/90th percentiles), in the corruption's unit
    method: str = "mixture"  # or "tail"
    gain: float = math.nan  # log-likelihood the side adds to the mixture
    power: float = math.nan  # π: share of frames with the fitted condition that land beyond the threshold
    weight: float = math.nan  # the mixture's weight on this side
    hidden_weight: float = math.nan  # of which on severities kept only for their strength (inside the reference's range)

    @property
    def flagged(self) -> np.ndarray:
        return self.membership > 0.5

    @property
    def count(self) -> int:
        return int(self.flagged.sum())


@dataclass
class QuantityProfile:
    """A quantity's per-frame values on production and reference, and its sides."""

    quantity: Quantity
    production: np.ndarray  # the value compared with the reference's range (NaN: not measurable on that frame)
    reference: np.ndarray
    severity: np.ndarray  # production values in the corruption's unit (NaN where not defined)
    sides: list[SideProfile]
    typical: float  # the reference's median raw measurement the values are relative to
    note: str = ""

    @property
    def measured(self) -> int:
        return int(np.isfinite(self.production).sum())


@dataclass
class Comparison:
    """A declared condition beside what the frames show."""

    name: str
    declared_frequency: float
    declared: str  # the declared corruption(s) and severities, as text
    measured: bool
    share: float | None = None  # frames beyond in every measured component (joint for a composition)
    reference_share: float | None = None
    frequency: float | None = None  # suggested frequency
    severity: list[float] = field(default_factory=list)  # measured severities (single-corruption conditions)
    unit: str = ""
    sentence: str = ""


@dataclass
class Suggestion:
    """The suggested conditions (spec-ready dicts with a comment each) and, with a spec, the comparison."""

    conditions: list[dict]
    comments: list[str]
    comparisons: list[Comparison]
    notes: list[str]


# ------------------------------------------------------------------------------------------ measuring


def _median(values: Sequence[float | None]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _raw(key: str, m: Measurement, typical: dict[str, float]) -> float:
    """The value of quantity ``key`` on one frame, relative to the reference where it must be."""
    if key == "blur":
        return math.nan if m.blur is None else m.blur
    if key == "noise":
        return m.noise
    if key == "jpeg":
        if m.jpeg_quality is not None:
            return m.jpeg_quality
        return 100.0 if m.kind == "lossless" else math.nan
    if key == "exposure":
        return math.log2(max(m.luminance, 1e-6) / max(typical["luminance"], 1e-6))
    if key == "contrast":
        return m.contrast / max(typical["contrast"], 1e-6)
    if key == "colour":
        return est.kelvin_shift((m.chroma_r - typical["chroma_r"], m.chroma_b - typical["chroma_b"]))
    if key == "haze":
        return m.haze
    raise KeyError(key)


def _severity(key: str, raw: np.ndarray, typical: dict[str, float]) -> np.ndarray:
    """Raw values in the catalogue corruption's unit: added blur/noise in quadrature; the others as they are."""
    if key in ("blur", "noise"):
        base = typical[key] if math.isfinite(typical[key]) else 0.0
        return np.sqrt(np.maximum(raw**2 - base**2, 0.0))
    if key == "haze":
        return np.full(raw.shape, math.nan)  # fog's unit is the ImageNet-C level: no estimator maps to it
    return raw.copy()


def _tail(side: Side, prod: np.ndarray, ref: np.ndarray, key: str, exclude: np.ndarray | None) -> tuple[float, float, float, np.ndarray, float]:
    """Threshold, production share beyond, reference share beyond, the beyond mask, and the share of frames counted."""
    ref_ok = ref[np.isfinite(ref)]
    measurable = np.isfinite(prod)
    ok = measurable & ~exclude if exclude is not None else measurable
    if ref_ok.size == 0 or not ok.any():
        return math.nan, 0.0, 0.0, np.zeros(prod.shape, bool), 0.0
    if side.direction > 0:
        threshold = float(np.percentile(ref_ok, UPPER))
        q = float((ref_ok > threshold).mean())
        beyond = ok & (np.where(ok, prod, -np.inf) > threshold)
    else:
        threshold = float(np.percentile(ref_ok, LOWER)) - (_JPEG_TOLERANCE if key == "jpeg" else 0.0)
        q = float((ref_ok < threshold).mean())
        beyond = ok & (np.where(ok, prod, np.inf) < threshold)
    return threshold, float(beyond.sum() / measurable.sum()), q, beyond, float(ok.sum() / measurable.sum())


def _tail_severities(side: Side, values: np.ndarray, q: float, f: float, n: int) -> list[float]:
    """Severities (10th/50th/90th percentiles, mild to severe) of the frames beyond, the mildest
    ``q·(1 − f)·n`` of them — where the reference-like frames beyond fall — set aside."""
    values = values[np.isfinite(values)]
    expected_clean = int(round(q * (1.0 - f) * n))
    order = np.sort(values) if side.direction > 0 else np.sort(values)[::-1]
    kept = order[min(expected_clean, max(len(order) - 1, 0)) :] if len(order) else order
    quantiles = [float(v) for v in np.percentile(kept, [10, 50, 90])] if len(kept) else []
    if side.direction < 0:
        quantiles.reverse()
    return quantiles


def _tail_side(side: Side, prod: np.ndarray, ref: np.ndarray, severity: np.ndarray, key: str) -> SideProfile:
    """A side judged by its tail alone: frequency = the excess share beyond, severities from those frames.

    A JPEG quality read from the file is exact, so every frame below the reference's range is
    compressed. A haze estimate varies with the scene: its excess counts only when the exceedance
    test finds it significant, else two clean sets would differ by a few "hazy" percent.
    """
    threshold, p, q, beyond, _ = _tail(side, prod, ref, key, None)
    exact = key == "jpeg"
    f, quantiles = _count_excess(side, threshold, p, q, beyond, prod, ref, severity, exact=exact)
    membership = beyond.astype(np.float64) if exact else _beyond_membership(beyond, f, p)
    return SideProfile(side, threshold, p, q, f, beyond, membership, quantiles, "tail")


def _count_excess(
    side: Side, threshold: float, p: float, q: float, beyond: np.ndarray, prod: np.ndarray, ref: np.ndarray,
    values: np.ndarray, *, exact: bool = False,
) -> tuple[float, list[float]]:
    """The excess share beyond, ``(p − q) / (1 − q)``, and the severities of the frames beyond; unless
    ``exact``, the excess is 0 when the exceedance test does not find it significant."""
    f = max(0.0, (p - q) / (1.0 - q)) if q < 1.0 else 0.0
    if not exact and f > 0 and not _count_significant(beyond, prod, ref, q, threshold):
        f = 0.0
    return f, _tail_severities(side, values[beyond], q, f, int(np.isfinite(prod).sum()))


def _beyond_membership(beyond: np.ndarray, f: float, share: float) -> np.ndarray:
    """Per frame, the probability that it has the condition when only the count says so: f / share for a frame beyond."""
    return beyond * min(1.0, f / share) if share > 0 else np.zeros(beyond.shape)


# The shift grid of each quantity with a mixture: the shift in the fitted space, its severity, its side.
def _grid(key: str) -> ShiftModel:
    if key == "blur":
        s = np.round(np.arange(0.5, 8.0001, 0.1), 3)
        return ShiftModel(s[:, None], s, np.ones(len(s), int), quadrature=True)
    if key == "noise":
        s = np.round(np.arange(0.01, 0.30001, 0.005), 4)
        return ShiftModel(s[:, None], s, np.ones(len(s), int), quadrature=True)
    if key == "exposure":
        s = np.round(np.r_[-np.arange(0.5, 5.0001, 0.1), np.arange(0.5, 5.0001, 0.1)], 3)
        return ShiftModel(s[:, None], s, np.sign(s).astype(int))
    if key == "contrast":
        s = np.round(np.r_[np.arange(0.05, 0.8001, 0.025), np.arange(1.25, 3.0001, 0.05)], 4)
        return ShiftModel(np.log(s)[:, None], s, np.where(s < 1, -1, 1))
    if key == "colour":
        s = np.r_[np.arange(1500.0, 5500.1, 100.0), np.arange(7800.0, 20000.1, 200.0)]
        return ShiftModel(np.array([est.log_gains(k) for k in s]), s, np.where(s < 6500, -1, 1))
    raise KeyError(key)


# Smallest kernel bandwidth in each fitted space: below it, differences are measurement noise.
_MIN_BANDWIDTH = {"blur": 0.03, "noise": 0.05, "exposure": 0.03, "contrast": 0.03, "colour": 0.005}


def _fit_space(key: str, m: Measurement) -> tuple[float, ...]:
    """A frame's coordinates in the space where the condition is a shift (NaN when not measurable)."""
    if key == "blur":
        return (math.nan if m.blur is None or m.blur <= 0 else math.log(m.blur),)
    if key == "noise":
        return (math.log(max(m.noise, 1e-4)),)
    if key == "exposure":
        return (math.log2(max(m.luminance, 1e-6)),)
    if key == "contrast":
        return (math.log(max(m.contrast, 1e-6)),)
    if key == "colour":
        return (m.chroma_r, m.chroma_b)
    raise KeyError(key)


def _raw_of_fit(key: str, y: np.ndarray, typical: dict[str, float]) -> np.ndarray:
    """Values of the fitted space ``y`` [m, d] back in the quantity's compared unit (as ``_raw`` gives)."""
    if key in ("blur", "noise"):
        return np.exp(y[:, 0])
    if key == "exposure":
        return y[:, 0] - math.log2(max(typical["luminance"], 1e-6))
    if key == "contrast":
        return np.exp(y[:, 0]) / max(typical["contrast"], 1e-6)
    if key == "colour":
        centre = np.array([typical["chroma_r"], typical["chroma_b"]])
        return np.array([est.kelvin_shift(tuple(v - centre)) for v in y])
    raise KeyError(key)


def _count_significant(beyond: np.ndarray, prod: np.ndarray, ref: np.ndarray, q: float, threshold: float) -> bool:
    """Whether clean production would show this many frames beyond the threshold less often than ``COUNT_ALPHA``."""
    m = int(np.isfinite(ref).sum())
    if not math.isfinite(threshold) or m < 2:
        return False
    n = int(np.isfinite(prod).sum())  # every measured frame is a draw; one left out (a cast, a JPEG) is not beyond
    return exceedance_pvalue(int(beyond.sum()), n, int(round(q * m)), m) < COUNT_ALPHA


def _beyond(values: np.ndarray, threshold: float, direction: int) -> np.ndarray:
    return values > threshold if direction > 0 else values < threshold


def _mixture_sides(
    quantity: Quantity,
    production: Sequence[Measurement],
    reference: Sequence[Measurement],
    prod: np.ndarray,
    ref: np.ndarray,
    exclude: np.ndarray | None,
    typical: dict[str, float],
    values: np.ndarray,
) -> list[SideProfile]:
    """The sides of a quantity: frequency from the share beyond the reference's range, severities from the mixture.

    The share beyond, p, mixes reference-like frames (a share q of which lie beyond anyway) and
    frames with the condition, of which only a share π lands beyond when the condition is mild
    next to the scenes' spread: f = (p − q) / (π − q). π comes from the severities the mixture
    fitted (the reference pushed through them). With no significant mixture side, the frequency is 0.
    Counting frames keeps the frequency as robust as a tail share; the mixture, whose weights
    alone would also absorb the sampling differences between two finite sets, only supplies π
    and the severity distribution — except when the fit rests on severities kept only for their
    strength (``_STRONG``: exposure and contrast over very different scenes): there the count
    cannot see the condition and the mixture's weight on the side is the frequency. A side the
    mixture does not find still counts when its excess beyond is significant by the exceedance test.
    """
    key = quantity.key
    x = np.array([_fit_space(key, m) for m in production], dtype=np.float64)
    r = np.array([_fit_space(key, m) for m in reference], dtype=np.float64)
    r = r[np.all(np.isfinite(r), axis=1)]
    usable = np.all(np.isfinite(x), axis=1)
    if exclude is not None:
        usable &= ~exclude
    tails = {s.direction: _tail(s, prod, ref, key, exclude) for s in quantity.sides}
    strong = _STRONG.get(key)
    grid = _grid(key)
    model = grid.detectable(r, keep_also=strong(grid.severities) if strong else None) if len(r) >= 2 else None
    # Grid points kept only for their strength (inside the reference's range): a fit that rests on them
    # found a condition hidden in the scenes' spread.
    hidden = ~np.isin(model.severities, grid.detectable(r).severities) if model is not None else np.zeros(0, bool)
    fit = None
    if model is not None and len(model.severities) and usable.any():
        fit = fit_shift_mixture(x[usable], SampleDensity.fit(r, min_bandwidth=_MIN_BANDWIDTH[key]), model)
    sides = []
    for s in quantity.sides:
        threshold, share, q, beyond, part = tails[s.direction]
        p = share / part if part > 0 else 0.0  # among the frames this quantity counts
        gain = fit.gain.get(s.direction, 0.0) if fit is not None else math.nan
        severity: list[float] = []
        power = 1.0
        membership = np.zeros(len(x))
        if fit is not None and model is not None and gain >= MIN_GAIN and math.isfinite(threshold):
            on_side = np.flatnonzero(model.sides == s.direction)
            weights = fit.weights[1:][on_side]
            support = on_side[weights > 1e-4]
            severity = weighted_quantiles(model.severities[on_side], weights)
            if s.direction < 0:
                severity.reverse()  # mild (near 1, 6500 K, 0 EV) to severe
            pushed = [_beyond(_raw_of_fit(key, model.push(r, j), typical), threshold, s.direction).mean() for j in support]
            power = float(np.average(pushed, weights=fit.weights[1:][support])) if len(support) else 1.0
            membership[usable] = fit.membership(model, s.direction)
        side_weight = fit.frequency(model, s.direction) if fit is not None and model is not None else 0.0
        hidden_weight = float(fit.weights[1:][(model.sides == s.direction) & hidden].sum()) if fit is not None and model is not None else 0.0
        method = "mixture"
        if fit is not None and gain >= MIN_GAIN and hidden_weight > 0.5 * side_weight:
            f = side_weight  # the condition stays mostly inside the reference's range, where no count sees it: its weight
        elif fit is not None and gain >= MIN_GAIN:
            f = max(0.0, (p - q) / max(power - q, _MIN_POWER)) if p > q else 0.0
        else:
            # The count may still plainly show the condition where the grid cannot follow it (a shift the
            # 2-D grid leaves out, severities between its points): the excess share, severities from the
            # frames beyond. Otherwise 0: an excess beyond is the sampling noise of two sets.
            f, tail_severity = _count_excess(s, threshold, p, q, beyond, prod, ref, values)
            if f > 0:
                severity, method = tail_severity, "tail"
        f = min(f, 1.0) * part
        if not membership.any():
            membership = _beyond_membership(beyond, f, share)
        sides.append(SideProfile(s, threshold, share, q, f, beyond, membership, severity, method, gain, power, side_weight, hidden_weight))
    return sides


def profile_quantities(production: Sequence[Measurement], reference: Sequence[Measurement]) -> dict[str, QuantityProfile]:
    """Every quantity on production and reference frames, with each side's shares, frequency and severities."""
    typical = {
        "blur": _median([m.blur for m in reference]),
        "noise": _median([m.noise for m in reference]),
        "luminance": _median([m.luminance for m in reference]),
        "contrast": _median([m.contrast for m in reference]),
        "chroma_r": _median([m.chroma_r for m in reference]),
        "chroma_b": _median([m.chroma_b for m in reference]),
        "haze": _median([m.haze for m in reference]),
    }
    out: dict[str, QuantityProfile] = {}
    compressed: np.ndarray | None = None
    cast: np.ndarray | None = None
    # JPEG first: it explains blur and noise away; the colour cast next: the catalogue's cast also dims
    # the frame (0.7–1.1 EV of luminance at 2500–3500 K), which it reproduces, so it is not underexposure.
    for q in sorted(QUANTITIES, key=lambda q: {"jpeg": 0, "colour": 1}.get(q.key, 2)):
        prod = np.array([_raw(q.key, m, typical) for m in production], dtype=np.float64)
        ref = np.array([_raw(q.key, m, typical) for m in reference], dtype=np.float64)
        severity = _severity(q.key, prod, typical)
        exclude = compressed if q.key in ("blur", "noise") and compressed is not None and compressed.any() else None
        if q.key == "exposure" and cast is not None and cast.any():
            exclude = cast
        if q.key in ("jpeg", "haze"):
            sides = [_tail_side(s, prod, ref, severity, q.key) for s in q.sides]
        else:
            sides = _mixture_sides(q, production, reference, prod, ref, exclude, typical, severity)
        if q.key == "jpeg":
            compressed = sides[0].flagged
        if q.key == "colour":
            cast = np.logical_or.reduce([sp.flagged for sp in sides])
        typical_raw = {"exposure": typical["luminance"], "jpeg": _median(ref.tolist()), "colour": 6500.0}.get(q.key, typical.get(q.key, math.nan))
        notes = []
        if q.key == "blur" and np.isnan(prod).any():
            notes.append(f"{int(np.isnan(prod).sum())} frames have too few edges to measure blur")
        if q.key == "jpeg" and np.isnan(prod).all():
            notes.append("no frame is a JPEG or lossless image file (video frames carry no quantisation tables)")
        if exclude is not None and q.key == "exposure":
            notes.append(f"{int(exclude.sum())} frames with a colour cast count as color_temperature, not {q.key}")
        elif exclude is not None:
            notes.append(f"{int(exclude.sum())} frames compressed below the reference count as jpeg_compression, not {q.key}")
        out[q.key] = QuantityProfile(q, prod, ref, severity, sides, typical_raw, "; ".join(notes))
    return {q.key: out[q.key] for q in QUANTITIES}


# ----------------------------------------------------------------------------------------- suggesting


def _round(value: float, decimals: int) -> float | int:
    if decimals <= 0:
        return int(round(value, decimals))
    return float(round(value, decimals))


def _severity_spec(corruption: str, values: list[float], decimals: int) -> dict:
    """``{values: [...]}`` from mild to severe, rounded, deduplicated and inside the corruption's valid range."""
    lo, hi = sorted(get(corruption).valid_range)
    out: list[float | int] = []
    for v in values:
        r = _round(min(max(v, lo), hi), decimals)
        if decimals > 0 and r == 0 and v > 0:
            r = float(10.0**-decimals)  # a positive severity never rounds to the identity
        if r not in out:
            out.append(r)
    return {"values": out}


def _frequency(f: float) -> float:
    return float(round(f, 2))


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _beyond_phrase(sp: SideProfile) -> str:
    s = sp.side
    if s.name == "jpeg_compression":
        return f"compressed below JPEG quality {sp.threshold:g}"
    return f"{s.comparative} than the {s.superlative} {100 - UPPER:g} % of the reference"


def _range_text(values: list[float], quantity: Quantity) -> str:
    """``σ 1.2–2.6 px``, ``quality 30``, ``−2.3 to −0.8 EV``: the severities found, one value when they agree."""
    if not values:
        return ""
    d = max(quantity.decimals, 0)
    formats = {"blur": ("σ ", f".{d}f", " px"), "noise": ("σ ", f".{d}f", ""), "jpeg": ("quality ", ".0f", ""),
               "colour": ("", ".0f", " K"), "contrast": ("contrast × ", ".2f", "")}
    prefix, fmt, suffix = formats.get(quantity.key, ("", f"+.{d}f", f" {quantity.unit}"))
    lo, hi = (format(v, fmt) for v in (min(values[0], values[-1]), max(values[0], values[-1])))
    if lo == hi:
        return f"{prefix}{lo}{suffix}"
    joint = " to " if quantity.key == "exposure" else "–"
    return f"{prefix}{lo}{joint}{hi}{suffix}"


def _min_frequency(sp: SideProfile, n: int) -> float:
    """The smallest frequency worth suggesting: 1 %, or, for a side counted by its tail alone against a
    reference that has a share q there, two standard errors of that count (its sampling noise)."""
    if sp.method != "tail" or sp.reference_share <= 0 or n == 0:
        return _MIN_FREQUENCY
    return max(_MIN_FREQUENCY, 2.0 * math.sqrt(sp.reference_share * (1 - sp.reference_share) / n))


def _measured_condition(qp: QuantityProfile, sp: SideProfile) -> tuple[dict, str]:
    """A suggested condition for one side of a measured quantity, and its comment."""
    q = qp.quantity
    cond: dict = {}
    if sp.side.name != q.corruption:
        cond["name"] = sp.side.name
    cond["corruption"] = q.corruption
    if q.key == "haze":
        cond["severity"] = {"levels": [1, 3, 5]}
        comment = f"{_pct(sp.share)} of frames {_beyond_phrase(sp)} (reference {_pct(sp.reference_share)}); fog severity is not measured: check the levels with `fieldready corruptions --preview`"
    else:
        cond["severity"] = _severity_spec(q.corruption, sp.severity, q.decimals)  # type: ignore[arg-type]
        comment = f"{_pct(sp.share)} of frames {_beyond_phrase(sp)} (reference {_pct(sp.reference_share)}); {_range_text(sp.severity, q)}"
    cond["frequency"] = _frequency(sp.frequency)
    return cond, comment


def _declared_values(condition: dict) -> list[float]:
    """The severities a single-corruption condition declares, in its unit (levels looked up in the catalogue)."""
    sev = condition.get("severity")
    if isinstance(sev, (int, float)):
        return [float(sev)]
    if not isinstance(sev, dict):
        return []
    if sev.get("values"):
        return [float(v) for v in sev["values"]]
    if sev.get("levels"):
        try:
            return [get(condition["corruption"]).level(int(lv)) for lv in sev["levels"]]
        except Exception:  # noqa: BLE001 - an unknown corruption was refused by load_spec already
            return []
    return [float(v) for v in (sev.get("min"), sev.get("max")) if v is not None]


def _sides_of(corruption: str, severities: list[float]) -> list[tuple[str, int]]:
    """(quantity key, direction) pairs a declared corruption at these severities shows up as."""
    entry = _DECLARED.get(corruption)
    if entry is None:
        return []
    key, sign = entry
    if callable(sign):
        dirs = sorted({sign(s) for s in severities}) or [-1]
    else:
        dirs = [int(sign)]  # type: ignore[arg-type]
    return [(key, d) for d in dirs]


def _side(profiles: dict[str, QuantityProfile], key: str, direction: int) -> tuple[QuantityProfile, SideProfile]:
    qp = profiles[key]
    return qp, next(s for s in qp.sides if s.side.direction == direction)


def _declared_text(condition: dict) -> str:
    if condition.get("compose"):
        return " + ".join(f"{s['corruption']} {s.get('severity', s.get('level'))}" for s in condition["compose"])
    if condition.get("preset"):
        return f"preset {condition['preset']}"
    vals = _declared_values(condition)
    return f"{condition.get('corruption')} " + ", ".join(f"{v:g}" for v in vals)


def _condition_name(condition: dict) -> str:
    return condition.get("name") or condition.get("corruption") or condition.get("preset") or "?"


def _step_values(step: dict) -> list[float]:
    if step.get("severity") is not None:
        return [float(step["severity"])]
    return _declared_values({"corruption": step["corruption"], "severity": {"levels": [step["level"]]}}) if step.get("level") else []


def _compare(condition: dict, profiles: dict[str, QuantityProfile]) -> tuple[Comparison, list[tuple[str, int]]]:
    """One declared condition beside the measurements, and the (quantity, side) pairs it accounts for."""
    name = _condition_name(condition)
    declared_f = float(condition.get("frequency", 0.0))
    text = _declared_text(condition)
    head = f"declared {_pct(declared_f)} {name}"
    if condition.get("preset"):
        return Comparison(name, declared_f, text, False, sentence=f"{head}: a preset, not measured; kept as declared"), []
    if condition.get("compose"):
        pairs = [p for step in condition["compose"] for p in _sides_of(step["corruption"], _step_values(step))]
        steps_ok = all(_sides_of(s["corruption"], _step_values(s)) for s in condition["compose"])
        if not pairs or not steps_ok:
            return Comparison(name, declared_f, text, False, sentence=f"{head}: some of its corruptions cannot be measured on frames; kept as declared"), []
        parts, joint, joint_ref, member = [], None, None, None
        for key, d in pairs:
            qp, sp = _side(profiles, key, d)
            parts.append(f"{_pct(sp.share)} of the frames are {_beyond_phrase(sp)}")
            joint = sp.beyond if joint is None else joint & sp.beyond
            member = sp.membership if member is None else member * sp.membership
            ref_flag = _ref_flags(qp, sp)
            joint_ref = ref_flag if joint_ref is None else joint_ref & ref_flag
        p = float(joint.mean()) if joint is not None and joint.size else 0.0
        q = float(joint_ref.mean()) if joint_ref is not None and joint_ref.size else 0.0
        # every part must have hit the frame: the product of the parts' probabilities, frame by frame
        f = float(member.mean()) if member is not None and member.size else 0.0
        both = " and ".join(_side(profiles, k, d)[1].side.comparative for k, d in pairs)
        sentence = f"{head}; " + "; ".join(parts) + f"; {_pct(p)} are {'all' if len(pairs) > 2 else 'both'} {both} (reference {_pct(q)}): suggested {_pct(f)}"
        return Comparison(name, declared_f, text, True, p, q, _frequency(f), [], "", sentence), pairs
    vals = _declared_values(condition)
    pairs = _sides_of(condition["corruption"], vals)
    if not pairs:
        return Comparison(name, declared_f, text, False, sentence=f"{head}: {condition['corruption']} cannot be measured on frames; kept as declared"), []
    parts, total_f, total_p, total_q, sev, unit = [], 0.0, 0.0, 0.0, [], ""
    for key, d in pairs:
        qp, sp = _side(profiles, key, d)
        parts.append(f"{_pct(sp.share)} of the frames are {_beyond_phrase(sp)} (reference {_pct(sp.reference_share)})")
        total_f += sp.frequency
        total_p += sp.share
        total_q += sp.reference_share
        if len(pairs) == 1 and qp.quantity.corruption == condition["corruption"]:
            sev, unit = sp.severity, qp.quantity.unit
        rng = _range_text(sp.severity, qp.quantity)
        if rng and sp.frequency >= _MIN_FREQUENCY:
            parts[-1] += f", {rng}"
    sentence = f"{head} ({text}); " + "; ".join(parts) + f": suggested {_pct(total_f)}"
    return Comparison(name, declared_f, text, True, total_p, total_q, _frequency(total_f), sev, unit, sentence), pairs


def _ref_flags(qp: QuantityProfile, sp: SideProfile) -> np.ndarray:
    ref = qp.reference
    ok = np.isfinite(ref)
    if not math.isfinite(sp.threshold):
        return np.zeros(ref.shape, bool)
    return ok & ((np.where(ok, ref, -np.inf) > sp.threshold) if sp.side.direction > 0 else (np.where(ok, ref, np.inf) < sp.threshold))


def suggest(profiles: dict[str, QuantityProfile], *, declared: Sequence[dict] | None = None) -> Suggestion:
    """The suggested ``conditions:`` entries and, given a spec's declared conditions (as dicts), the side by side.

    Without a spec: one condition per measured side whose frequency is at least 1 %. With one: every
    declared condition in its order — measured ones with the measured frequency (and, when declared
    in the unit measured, the measured severities), the others kept as declared — then the measured
    sides the spec does not declare. A declared composition takes the joint share of its components,
    which is then taken off each component's own condition, so no frame counts twice.
    """
    conditions: list[dict] = []
    comments: list[str] = []
    comparisons: list[Comparison] = []
    notes: list[str] = []
    covered: set[tuple[str, int]] = set()
    measured_idx: list[int] = []
    compose_f: dict[tuple[str, int], float] = {}
    single_idx: dict[tuple[str, int], int] = {}
    for condition in declared or []:
        comp, pairs = _compare(condition, profiles)
        comparisons.append(comp)
        if not condition.get("compose"):  # a composition's parts still stand as conditions of their own
            covered.update(pairs)
        new = dict(condition)
        if not comp.measured:
            conditions.append(new)
            comments.append("kept as declared: not measurable from frames")
            continue
        new["frequency"] = comp.frequency
        if condition.get("compose"):
            for pair in pairs:
                compose_f[pair] = compose_f.get(pair, 0.0) + float(comp.frequency or 0.0)
            comments.append(f"measured: {_pct(comp.share or 0)} of frames meet all its parts (reference {_pct(comp.reference_share or 0)})")
        else:
            if len(pairs) == 1:
                single_idx.setdefault(pairs[0], len(conditions))
                qp, sp = _side(profiles, *pairs[0])
                if (
                    qp.quantity.corruption == condition.get("corruption")
                    and sp.severity
                    and sp.frequency >= _MIN_FREQUENCY
                    and qp.quantity.key != "haze"
                ):
                    new["severity"] = _severity_spec(condition["corruption"], sp.severity, qp.quantity.decimals)
            found = comp.sentence.split("; ", 1)[-1]
            if (comp.frequency or 0.0) < _MIN_FREQUENCY:
                found += "; no more frames beyond than the reference itself has: keep it as a stress test, or remove it"
            comments.append(found)
        measured_idx.append(len(conditions))
        conditions.append(new)
    used_names = {_condition_name(c) for c in conditions}
    for qp in profiles.values():
        for sp in qp.sides:
            pair = (qp.quantity.key, sp.side.direction)
            if pair in covered or sp.frequency < _min_frequency(sp, len(qp.production)) or qp.quantity.corruption is None:
                continue
            cond, comment = _measured_condition(qp, sp)
            if _condition_name(cond) in used_names:
                cond["name"] = f"measured_{sp.side.name}"
            used_names.add(_condition_name(cond))
            single_idx.setdefault(pair, len(conditions))
            measured_idx.append(len(conditions))
            conditions.append(cond)
            comments.append(comment)
    for pair, f in compose_f.items():  # frames of a composition are not counted again in its parts
        i = single_idx.get(pair)
        if i is not None and f > 0:
            conditions[i]["frequency"] = _frequency(max(0.0, conditions[i]["frequency"] - f))
    total = sum(float(c.get("frequency", 0.0)) for c in conditions)
    if total > 1.0:
        fixed = total - sum(float(conditions[i]["frequency"]) for i in measured_idx)
        room = max(0.0, 1.0 - fixed)
        scale = room / max(total - fixed, 1e-12)
        for i in measured_idx:
            conditions[i]["frequency"] = math.floor(conditions[i]["frequency"] * scale * 100) / 100
        notes.append(f"the measured frequencies summed with the kept ones to {total:.2f} > 1; the measured ones were scaled by {scale:.2f}")
    return Suggestion(conditions, comments, comparisons, notes)


# ------------------------------------------------------------------------------------------- writing

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def flow(value: object) -> str:
    """A value as one line of flow-style YAML, as the example specs write conditions."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def conditions_yaml(suggestion: Suggestion, *, header: Sequence[str] = ()) -> str:
    """The suggested block as YAML text: a commented header, then ``conditions:`` with one flow mapping a line."""
    lines = [f"# {h}" for h in header] + [f"# note: {n}" for n in suggestion.notes]
    lines.append("conditions:")
    if not suggestion.conditions:
        lines[-1] = "conditions: []  # no frame lies beyond the reference's normal range"
    for cond, comment in zip(suggestion.conditions, suggestion.comments):
        lines.append(f"  - {flow(cond)}")
        lines.append(f"    # {comment}")
    return "\n".join(lines) + "\n"

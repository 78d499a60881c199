"""Matplotlib charts of the report as inline SVG strings, byte-identical for the same input.

Each function takes plain display data prepared by ``context.py`` (never ``Results``) and returns
an ``<svg>`` element without XML prolog, ready to be inlined in HTML and read by WeasyPrint.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

__all__ = [
    "MODEL_COLORS",
    "MODEL_MARKERS",
    "MODEL_DASHES",
    "Series",
    "ThresholdLine",
    "EnvelopeMark",
    "ChartCache",
    "severity_curve_svg",
    "heatmap_svg",
    "family_bars_svg",
    "scatter_svg",
]

# Okabe-Ito: distinguishable with colour-vision deficiency; markers and dashes keep lines apart in grayscale.
MODEL_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
MODEL_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
MODEL_DASHES = ["-", "--", "-.", ":", "-", "--", "-.", ":"]

_RC = {
    "svg.fonttype": "none",  # real <text>: smaller files, selectable and searchable in the PDF
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.image_inline": True,
    "text.parse_math": False,  # model and class names are text: a `$` must never start mathtext
}
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def _mpl() -> tuple[Any, Any]:
    """matplotlib and pyplot, imported on the first chart drawn: a report whose charts are all cached
    (``fieldready report DIR``) never pays the two seconds of importing them."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and the SVG backend is used explicitly below
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 - the locators, used as matplotlib.ticker
    import matplotlib.transforms  # noqa: F401

    return matplotlib, plt


@dataclass(frozen=True)
class Series:
    """One model's line: y values at x positions 0..n (position 0 is clean), with optional interval ends."""

    name: str
    values: Sequence[float | None]
    style: int
    low: Sequence[float | None] | None = None  # the interval band (robustness curves), per x
    high: Sequence[float | None] | None = None


class ChartCache:
    """SVGs on disk keyed by everything that draws them: the chart function, its inputs, this module's code.

    ``fieldready report DIR`` re-renders a run whose charts did not change; matplotlib is the slow
    part of building the page, so an unchanged chart is read back instead of drawn. ``folder`` None
    draws every time. Entries are written atomically; a stale entry is never read (its key differs).
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.hits = 0
        self.misses = 0
        self._salt = hashlib.sha256(Path(__file__).read_bytes() + version("matplotlib").encode()).hexdigest()

    def svg(self, fn: Callable[..., str], *args: object, **kwargs: object) -> str:
        """``fn(*args, **kwargs)``, from the cache when the same call was drawn before."""
        if self.folder is None:
            self.misses += 1
            return fn(*args, **kwargs)
        key = hashlib.sha256(f"{self._salt}|{fn.__name__}|{args!r}|{sorted(kwargs.items())!r}".encode()).hexdigest()
        path = self.folder / f"{key[:32]}.svg"
        try:
            text = path.read_text(encoding="utf-8")
            self.hits += 1
            return text
        except OSError:
            pass
        self.misses += 1
        text = fn(*args, **kwargs)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only run directory still renders; it just draws again next time
        return text


@dataclass(frozen=True)
class ThresholdLine:
    """A horizontal criterion line; ``style`` is the model's index when the line is per model."""

    y: float
    label: str
    style: int | None = None


@dataclass(frozen=True)
class EnvelopeMark:
    """A model's operating-envelope mark: a vertical tick at x (a fractional position on the curve's
    axis, 1 = first severity) and its interval as a bar along the bottom (None ends are not drawn)."""

    x: float
    label: str
    style: int
    low: float | None = None
    high: float | None = None


_REFERENCE = re.compile(r'href="#([^"]+)"|url\(#([^)]+)\)')  # xlink:href="#id", clip-path="url(#id)"


def _to_svg(fig: plt.Figure, key: str) -> str:
    """Serialise deterministically: fixed hash salt per chart (unique ids on one page), no date."""
    matplotlib, plt = _mpl()
    buf = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": f"fieldready-{key}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "fieldready"}, bbox_inches="tight")
    plt.close(fig)
    svg = _PROLOG.sub("", buf.getvalue(), count=1)
    # matplotlib names every group (figure_1, patch_1, …) the same in each chart; several charts on one
    # page would repeat those ids. Only ids the SVG refers to (salted markers, clip paths) are kept.
    referenced = {a or b for a, b in _REFERENCE.findall(svg)}
    svg = re.sub(r' id="([^"]*)"', lambda m: m.group(0) if m.group(1) in referenced else "", svg)
    # Charts scale with the column; the viewBox keeps the aspect ratio.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', svg, count=1)


def _tick_labels(labels: Sequence[str], width: int = 14) -> tuple[list[str], int]:
    """Tick labels that fit: long ones (a composed condition's recipe) wrap over lines, never run off the chart.

    Returns the labels and the rotation: 30° only for several medium-length labels that would collide.
    """
    out = ["\n".join(textwrap.wrap(s, width, break_on_hyphens=False)) or s for s in labels]
    longest = max((len(s) for s in labels), default=0)
    return out, (30 if 6 < longest <= width and len(labels) > 3 else 0)


def honest_ylim(values: Sequence[float | None], yrange: tuple[float, float] | None, *,
                min_share: float = 0.25) -> tuple[float, float]:
    """A y range that shows the data without blowing up small differences.

    The span is at least ``min_share`` of the metric's range (``yrange``, e.g. (0, 1) for a fraction;
    else of the data's magnitude), so a difference of one image's worth never fills the chart; the
    limits never leave ``yrange``. The intervals are drawn as bands, so what remains visible as a
    gap is a gap the intervals do not cover.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return yrange or (0.0, 1.0)
    lo, hi = min(finite), max(finite)
    scale = (yrange[1] - yrange[0]) if yrange else max(abs(lo), abs(hi), 1e-9)
    span = max(hi - lo, min_share * scale)
    pad = 0.08 * span
    mid = (lo + hi) / 2
    lo, hi = min(lo - pad, mid - span / 2 - pad), max(hi + pad, mid + span / 2 + pad)
    if yrange:
        if lo < yrange[0]:
            lo, hi = yrange[0], min(yrange[1], hi + (yrange[0] - lo))
        if hi > yrange[1]:
            lo, hi = max(yrange[0], lo - (hi - yrange[1])), yrange[1]
    return lo, hi


def _nan(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def severity_curve_svg(
    key: str,
    title: str,
    xlabels: Sequence[str],
    series: Sequence[Series],
    *,
    ylabel: str,
    thresholds: Sequence[ThresholdLine] = (),
    marks: Sequence[EnvelopeMark] = (),
    yrange: tuple[float, float] | None = None,
) -> str:
    """Metric vs severity for one condition, one line per model, criterion thresholds dotted,
    envelope marks (where a criterion stops holding, per model) as vertical ticks with interval bars."""
    matplotlib, plt = _mpl()
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        x = np.arange(len(xlabels))
        for s in series:
            ax.plot(
                x,
                _nan(s.values),
                color=MODEL_COLORS[s.style % len(MODEL_COLORS)],
                marker=MODEL_MARKERS[s.style % len(MODEL_MARKERS)],
                linestyle=MODEL_DASHES[s.style % len(MODEL_DASHES)],
                markersize=4,
                linewidth=1.4,
                label=s.name,
            )
            if s.low is not None and s.high is not None:
                ax.fill_between(x, _nan(s.low), _nan(s.high), color=MODEL_COLORS[s.style % len(MODEL_COLORS)],
                                alpha=0.13, linewidth=0)
        for t in thresholds:
            color = "#444444" if t.style is None else MODEL_COLORS[t.style % len(MODEL_COLORS)]
            ax.axhline(t.y, color=color, linestyle=(0, (1, 2)), linewidth=1.1, label=t.label)
        for k, mk in enumerate(marks):
            color = MODEL_COLORS[mk.style % len(MODEL_COLORS)]
            ax.axvline(mk.x, ymax=0.92, color=color, linestyle=(0, (4, 2)), linewidth=1.0,
                       label="envelope (per model)" if k == 0 else None)
            ax.text(mk.x, 0.93 + 0.05 * (k % 2), mk.label, color=color, fontsize=5.5, ha="center",
                    transform=ax.get_xaxis_transform())
            if mk.low is not None and mk.high is not None:
                y = 0.03 + 0.035 * k  # stacked bars near the axis, one per mark
                ax.plot([mk.low, mk.high], [y, y], color=color, linewidth=2.2, alpha=0.6,
                        solid_capstyle="butt", transform=ax.get_xaxis_transform())
        ticks, rotation = _tick_labels(xlabels)
        ax.set_xticks(x, ticks, rotation=rotation, ha="right" if rotation else "center")
        ax.set_title(title)
        ax.set_xlabel("severity")
        ax.set_ylabel(ylabel)
        ax.set_ylim(*honest_ylim([v for s in series for v in (*s.values, *(s.low or ()), *(s.high or ()))]
                                 + [t.y for t in thresholds], yrange))
        ax.grid(axis="y", linewidth=0.4, alpha=0.5)
        # Below the axes: a legend inside would hide the lines it explains.
        extra = max((t.count("\n") for t in ticks), default=0)  # wrapped tick labels push the legend down
        ax.legend(fontsize=6.5, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3 - 0.08 * extra), ncols=3)
        return _to_svg(fig, key)


def heatmap_svg(
    key: str,
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    cbar_label: str,
    vmax: float,
) -> str:
    """Corruption × severity grid of the drop vs clean, numbers in the cells.

    Diverging colours centred on 0: red = worse than clean (a drop), blue = better (an improvement),
    white = unchanged; ``vmax`` is the largest |drop| shown, so the scale is the same for every model.
    Untested cells are hatched grey, never white (white means "no change").
    """
    matplotlib, plt = _mpl()
    data = np.array([_nan(r) for r in values], dtype=float) if rows else np.zeros((0, 0))
    vmax = max(vmax, 1e-9)
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.2, 0.6 + 0.32 * max(len(rows), 1)))
        masked = np.ma.masked_invalid(data)
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#e6e6e6")
        im = ax.imshow(masked, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(data):
            if not math.isnan(v):
                ax.text(j, i, f"{v:+.2f}" if abs(v) >= 0.005 else "0.00", ha="center", va="center", fontsize=7.5,
                        color="white" if abs(v) > 0.6 * vmax else "black")
        ax.set_xticks(range(len(cols)), list(cols))
        ax.set_xlabel("severity step (as listed under Conditions tested)", fontsize=7)
        ax.set_yticks(range(len(rows)), list(rows))
        ax.set_title(title)
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02).set_label(cbar_label, fontsize=7)
        return _to_svg(fig, key)


def family_bars_svg(
    key: str,
    families: Sequence[str],
    series: Sequence[Series],
    *,
    ylabel: str,
    yrange: tuple[float, float] | None = None,
) -> str:
    """Grouped bars: mean metric per corruption family, one bar per model (in the legend's order).

    Bars start at the metric's floor (0), so their heights compare; no hatching (it multiplied the
    SVG's size tenfold and the PDF's drawing time), the colours are colour-blind safe and outlined.
    """
    matplotlib, plt = _mpl()
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        x = np.arange(len(families))
        width = 0.8 / max(len(series), 1)
        for k, s in enumerate(series):
            ax.bar(
                x + (k - (len(series) - 1) / 2) * width,
                np.nan_to_num(_nan(s.values)),
                width,
                color=MODEL_COLORS[s.style % len(MODEL_COLORS)],
                edgecolor="black",
                linewidth=0.5,
                label=s.name,
            )
        ticks, rotation = _tick_labels(families, width=10)
        ax.set_xticks(x, ticks, rotation=rotation, ha="right" if rotation else "center")
        ax.set_ylabel(ylabel)
        if yrange:
            ax.set_ylim(yrange[0], yrange[1])
        ax.grid(axis="y", linewidth=0.4, alpha=0.5)
        ax.legend(fontsize=6.5, frameon=False, ncols=min(len(series), 3), loc="upper center",
                  bbox_to_anchor=(0.5, -0.3 if rotation else -0.15))
        return _to_svg(fig, key)


def scatter_svg(
    key: str,
    points: Sequence[tuple[str, float, float, int, tuple[float, float] | None]],
    *,
    xlabel: str,
    ylabel: str,
    yrange: tuple[float, float] | None = None,
) -> str:
    """Clean metric vs production score: one labelled point per model, CI as a vertical bar.

    Both axes share one range, inside the metric's ``yrange`` (a fraction never runs past 1). Labels
    are placed one by one at the first of a few offsets where they overlap no label and no marker
    placed before (``_place_labels``), so close models stay readable.
    """
    matplotlib, plt = _mpl()
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
        for name, x, y, style, ci in points:
            color = MODEL_COLORS[style % len(MODEL_COLORS)]
            if ci is not None:
                ax.errorbar([x], [y], yerr=[[y - ci[0]], [ci[1] - y]], color=color, capsize=3, linewidth=1)
            ax.plot([x], [y], marker=MODEL_MARKERS[style % len(MODEL_MARKERS)], color=color,
                    markersize=7, linestyle="none", markeredgecolor="black", markeredgewidth=0.5)
        if points:
            ends = [v for p in points for v in (p[1], p[2], *(p[4] or ()))]
            lo, hi = honest_ylim(ends, yrange, min_share=0.1)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.plot([lo, hi], [lo, hi], color="#999999", linewidth=0.6, linestyle="--", label="production = clean")
            # upper left: above the diagonal, where a model would have to score better in the field than clean
            ax.legend(fontsize=6.5, frameon=False, loc="upper left")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))  # no crowded, overlapping tick labels
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(linewidth=0.4, alpha=0.5)
        _place_labels(fig, ax, [(p[0], p[1], p[2]) for p in points])
        return _to_svg(fig, key)


# Offsets (points) tried in turn for a scatter label: right, left, above, below, then further out.
_LABEL_OFFSETS = [(7, 3, "left"), (-7, 3, "right"), (7, -10, "left"), (-7, -10, "right"), (0, 9, "center"),
                  (0, -15, "center"), (7, 14, "left"), (-7, 14, "right"), (7, -21, "left"), (-7, -21, "right"),
                  (0, 20, "center"), (0, -26, "center")]


def _place_labels(fig: plt.Figure, ax: plt.Axes, points: Sequence[tuple[str, float, float]]) -> None:
    """Annotate each point with its name where it overlaps no earlier label or marker and stays in the axes."""
    matplotlib, plt = _mpl()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    marks = [ax.transData.transform((x, y)) for _, x, y in points]
    r = 5.0 * fig.dpi / 72  # the marker's radius in pixels
    taken = [matplotlib.transforms.Bbox.from_extents(mx - r, my - r, mx + r, my + r) for mx, my in marks]
    for name, x, y in points:
        text = None
        for dx, dy, ha in _LABEL_OFFSETS:
            if text is not None:
                text.remove()
            text = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7, ha=ha)
            box = text.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(t) for t in taken):
                break
        if text is not None:
            taken.append(text.get_window_extent(renderer))

"""Matplotlib charts of the report as inline SVG strings, byte-identical for the same input.

Each function takes plain display data prepared by ``context.py`` (never ``Results``) and returns
an ``<svg>`` element without XML prolog, ready to be inlined in HTML and read by WeasyPrint.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display here, and the SVG backend is used explicitly below
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "MODEL_COLORS",
    "MODEL_MARKERS",
    "MODEL_DASHES",
    "Series",
    "ThresholdLine",
    "EnvelopeMark",
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


@dataclass(frozen=True)
class Series:
    """One model's line: y values at x positions 0..n (position 0 is clean)."""

    name: str
    values: Sequence[float | None]
    style: int


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
) -> str:
    """Metric vs severity for one condition, one line per model, criterion thresholds dotted,
    envelope marks (where a criterion stops holding, per model) as vertical ticks with interval bars."""
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
    """Corruption × severity grid of the drop vs clean (darker = larger drop), numbers in the cells."""
    data = np.array([_nan(r) for r in values], dtype=float) if rows else np.zeros((0, 0))
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.2, 0.6 + 0.32 * max(len(rows), 1)))
        masked = np.ma.masked_invalid(data)
        cmap = matplotlib.colormaps["Greys"].with_extremes(bad="#ffffff")
        im = ax.imshow(masked, cmap=cmap, vmin=0.0, vmax=max(vmax, 1e-9), aspect="auto")
        for (i, j), v in np.ndenumerate(data):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7.5,
                        color="white" if v > 0.55 * vmax else "black")
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
) -> str:
    """Grouped bars: mean metric per corruption family, one hatched bar per model."""
    hatches = ["", "///", "...", "xxx", "\\\\\\", "ooo", "---", "+++"]
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
                hatch=hatches[s.style % len(hatches)],
                edgecolor="black",
                linewidth=0.5,
                label=s.name,
            )
        ticks, rotation = _tick_labels(families, width=10)
        ax.set_xticks(x, ticks, rotation=rotation, ha="right" if rotation else "center")
        ax.set_ylabel(ylabel)
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
) -> str:
    """Clean metric vs production score: one labelled point per model, CI as a vertical bar."""
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
        for name, x, y, style, ci in points:
            color = MODEL_COLORS[style % len(MODEL_COLORS)]
            if ci is not None:
                ax.errorbar([x], [y], yerr=[[y - ci[0]], [ci[1] - y]], color=color, capsize=3, linewidth=1)
            ax.plot([x], [y], marker=MODEL_MARKERS[style % len(MODEL_MARKERS)], color=color,
                    markersize=7, linestyle="none", markeredgecolor="black", markeredgewidth=0.5)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
        if points:
            lo = min(min(p[1], p[2]) for p in points)
            hi = max(max(p[1], p[2]) for p in points)
            pad = max(0.05 * (hi - lo), 0.02)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#999999", linewidth=0.6,
                    linestyle="--", label="production = clean")
            ax.legend(fontsize=6.5, frameon=False, loc="lower right")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))  # no crowded, overlapping tick labels
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(linewidth=0.4, alpha=0.5)
        return _to_svg(fig, key)

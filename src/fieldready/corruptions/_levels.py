"""Map one severity float onto a multi-parameter ImageNet-C level table by piecewise-linear interpolation."""

from __future__ import annotations

from collections.abc import Sequence


def interp(x: float, xs: Sequence[float], ys: Sequence[float], *, extrapolate: bool = False) -> float:
    """Piecewise-linear ``y(x)`` through the points ``(xs, ys)``; ``xs`` strictly monotone (either direction).

    Outside the table the end value is held, or the end segment is extended when ``extrapolate``.

    >>> interp(4.0, [3, 5, 8], [10, 15, 15])
    12.5
    """
    pts = sorted(zip(xs, ys))
    px = [p[0] for p in pts]
    py = [p[1] for p in pts]
    if x <= px[0] or x >= px[-1]:
        i = 0 if x <= px[0] else len(px) - 2
        if not extrapolate:
            return float(py[0] if x <= px[0] else py[-1])
    else:
        i = next(k for k in range(len(px) - 1) if px[k] <= x <= px[k + 1])
    x0, x1, y0, y1 = px[i], px[i + 1], py[i], py[i + 1]
    return float(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def level_params(level: float, table: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """Parameters at a continuous ImageNet-C ``level`` in [1, 5], interpolated between table rows.

    Used where the reference varies several parameters non-monotonically (fog, frost, snow, spatter),
    so no single physical parameter orders the levels.
    """
    lo = min(max(int(level), 1), 4)
    t = min(max(level - lo, 0.0), 1.0) if level < 5 else 1.0
    a, b = table[lo - 1], table[lo]
    return tuple(float(u + (v - u) * t) for u, v in zip(a, b))

"""Black-body colour by temperature, without torch: the colour-temperature corruption and profiling share it."""

from __future__ import annotations

import math

__all__ = ["kelvin_to_rgb"]


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Approximate sRGB colour of a black body at ``kelvin`` (Tanner Helland's fit of Mitchell Charity's table), in [0, 1]."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * math.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    if t >= 66:
        b = 255.0
    elif t <= 19:
        b = 0.0
    else:
        b = 138.5177312231 * math.log(t - 10) - 305.0447927307
    return tuple(min(max(c, 0.0), 255.0) / 255.0 for c in (r, g, b))  # type: ignore[return-value]

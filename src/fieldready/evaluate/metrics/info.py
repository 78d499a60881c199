"""Metric metadata shared by all metric modules: what a metric means and which direction is better."""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["MetricInfo", "json_number"]


class MetricInfo(NamedTuple):
    """Description and direction of one metric; verdicts need the direction to read a threshold."""

    description: str
    higher_is_better: bool


def json_number(value: float | None) -> float | None:
    """A metric value as results.json stores it: NaN, ±inf and None all become None ("no data")."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None

"""Sample-size check at compile time: warn when a criterion cannot be decided with the data at hand.

A rough, conservative rule: a metric measured on n independent units (images, or instances of a
class) has a standard error of at most 0.5/√n (a proportion at p = 0.5), so a margin m is
resolvable at confidence c when n ≥ (z_c · 0.5 / m)². Drop thresholds are relative: a drop of t
on a metric near 0.5 is an absolute margin of t/2. Per-class criteria count the class's instances.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from fieldready.data.dataset import Dataset
from fieldready.spec.models import Criterion, Spec

__all__ = ["needed", "sample_size_warnings"]

PER_CLASS_MARGIN = 0.10  # the resolution a per-class floor is expected to need


def needed(margin: float, confidence: float) -> int:
    """Units needed to resolve ``margin`` at two-sided ``confidence`` (worst-case proportion).

    >>> needed(0.05, 0.95)
    385
    """
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return math.ceil((z * 0.5 / margin) ** 2)


def _class_counts(dataset: Dataset) -> dict[str, int]:
    counts = {name: 0 for name in dataset.classes.values()}
    if dataset.targets:
        for t in dataset.targets.values():
            for label in t.labels.tolist():
                counts[dataset.classes[label]] = counts.get(dataset.classes[label], 0) + 1
    else:
        for r in dataset.records:
            if r.label is not None:
                counts[dataset.classes[r.label]] += 1
    return counts


def _margin(criterion: Criterion) -> float | None:
    if criterion.kind in ("max_drop", "max_drop_vs_baseline"):
        return abs(criterion.threshold) / 2 or None
    return None


def sample_size_warnings(spec: Spec, dataset: Dataset) -> list[str]:
    """One warning per criterion that the dataset is too small to decide, with the size it would need."""
    n = len(dataset.records)
    counts = _class_counts(dataset)
    out = []
    for i, crit in enumerate(spec.criteria):
        cid = crit.id or f"c{i + 1}"
        if crit.class_ is not None:
            have = counts.get(crit.class_, 0)
            need = needed(PER_CLASS_MARGIN, crit.confidence)
            if have < need:
                out.append(
                    f"criteria[{i}] ({cid}): class {crit.class_!r} has {have} instances; resolving ±{PER_CLASS_MARGIN} "
                    f"at {crit.confidence:.0%} confidence needs about {need}; expect INCONCLUSIVE near the threshold"
                )
            continue
        margin = _margin(crit)
        if margin is not None and n < needed(margin, crit.confidence):
            out.append(
                f"criteria[{i}] ({cid}): a {crit.kind} of {crit.threshold:g} (≈{margin:.3g} absolute) cannot be resolved "
                f"with {n} images at {crit.confidence:.0%} confidence; it needs about {needed(margin, crit.confidence)} images"
            )
    return out

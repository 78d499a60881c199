"""Operating envelope: how far into each condition a blocking criterion still holds, with its interval.

For every condition tested at three or more severities on one side of its identity, and every
blocking criterion that can be read per severity, the criterion is judged at each tested severity
alone (the same value and the same calibrated interval ``judge.criteria`` decides with) and the
curve is interpolated linearly, in the corruption's physical unit, between tested points:

- the **envelope** is where the measured curve first crosses the threshold, walking from the mildest
  tested severity to the harshest (a curve that recovers at a harsher severity does not extend it:
  the envelope is the range over which the criterion holds without a gap);
- its **interval** inverts the per-severity decisions: the mild end is where the interpolated
  interval bound on the passing side first reaches the threshold (up to there the criterion PASSES
  at every severity, as judged), the severe end where the bound on the failing side crosses it
  (beyond there it FAILS). The true crossing lies below the mild end only if a PASS there was wrong,
  above the severe end only if a FAIL was wrong, each at most (1 − confidence)/2 by the calibration
  of ``evaluation.metrics.bootstrap.interval``. The percentile interval of the replicates' crossings
  was not used: it would drop AP's bias correction and the small-n widening that calibration needs,
  and at a tested severity it could disagree with the criterion's own verdict there.

When the criterion holds at every tested severity the envelope is "at least the harshest tested";
when it fails already at the mildest, "below the tested range": no number is invented beyond the
tested points. Criteria read per severity: ``at_least``/``at_most`` on a per-unit metric scoped to
the condition, to ``all`` or to ``clean`` (a floor on the metric holds or not at any severity);
``max_drop`` (vs the model's clean value) and ``max_drop_vs_baseline`` (vs the baseline at the same
severity) scoped to the condition or to ``all``. Aggregates (rPC, mCE, production score) have no
per-severity value and a drop on clean images has no severity, so they have no envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fieldready import corruptions
from fieldready.evaluation.metrics.registry import lookup
from fieldready.judge.criteria import Lookup, criterion_id, criterion_interval, criterion_value, describe
from fieldready.judge.results import EnvelopeResult, json_number
from fieldready.plan import ConditionEntry, Point, TestPlan
from fieldready.spec.models import Criterion, SeverityScope

__all__ = ["Status", "Crossing", "MIN_SEVERITIES", "crossing", "severity_axes", "envelope", "model_envelopes"]

Status = Literal["interpolated", "passes at all tested", "fails at lowest"]
#: Fewer tested severities than this cannot show where a curve turns, so they get no envelope.
MIN_SEVERITIES = 3


@dataclass(frozen=True)
class Crossing:
    """Where a curve leaves the passing side, as a fractional index along the tested severities.

    ``index`` is 1.4 for 40 % of the way from the second tested severity to the third; the last
    index when the curve passes everywhere; None when it fails already at the first.
    """

    status: Status
    index: float | None


def crossing(values: Sequence[float], threshold: float, *, higher_is_better: bool, strict: bool = False) -> Crossing | None:
    """The first crossing of ``threshold`` by the piecewise-linear curve through ``values`` (mild → severe).

    A value passes when it is on the good side of the threshold (``>=`` where higher is better, or
    ``>`` with ``strict``, as an interval bound must be to PASS). None when a value the answer
    depends on is missing (NaN): the crossing cannot be placed.

    >>> crossing([0.6, 0.5, 0.4], 0.45, higher_is_better=True)
    Crossing(status='interpolated', index=1.5)
    """
    v = np.asarray(values, dtype=np.float64)
    sign = 1.0 if higher_is_better else -1.0
    for j, x in enumerate(v):
        if not np.isfinite(x):
            return None
        margin = sign * (x - threshold)
        if margin > 0 or (margin == 0 and not strict):
            continue
        if j == 0:
            return Crossing("fails at lowest", None)
        before = sign * (v[j - 1] - threshold)  # ≥ 0: the previous point passed
        w = before / (before - margin) if before - margin > 0 else 0.0
        return Crossing("interpolated", j - 1 + float(w))
    return Crossing("passes at all tested", float(len(v) - 1))


def severity_axes(condition: ConditionEntry) -> list[list[Point]]:
    """The condition's points as severity axes, mild → severe: one per side of the corruption's identity.

    The harsher direction is away from the identity value (blur σ 0), else the direction the
    ImageNet-C level table runs (JPEG quality 25 → 7). A two-sided condition (brightness −0.3 …
    +0.3) gives one axis per side; an axis with fewer than ``MIN_SEVERITIES`` points is dropped,
    and so is a corruption whose harsher direction is not known.
    """
    if len(condition.corruptions) != 1:
        return []
    points = [p for p in condition.points if p.severity is not None]
    info = corruptions.get(condition.corruptions[0])
    if info.identity is not None:
        ident = info.identity
        sides = [[p for p in points if p.severity > ident], [p for p in points if p.severity < ident]]  # type: ignore[operator]
        axes = [sorted(side, key=lambda p: abs(p.severity - ident)) for side in sides]  # type: ignore[operator]
    else:
        steps = np.diff(info.levels)
        if np.all(steps > 0):
            axes = [sorted(points, key=lambda p: p.severity)]  # type: ignore[arg-type,return-value]
        elif np.all(steps < 0):
            axes = [sorted(points, key=lambda p: -p.severity)]  # type: ignore[operator]
        else:
            axes = []
    return [axis for axis in axes if len(axis) >= MIN_SEVERITIES]


def _at(index: float | None, xs: Sequence[float]) -> float | None:
    return None if index is None else float(np.interp(index, np.arange(len(xs)), xs))


def envelope(
    severities: Sequence[float],
    values: Sequence[float],
    intervals: Sequence[tuple[float, float] | None] | None,
    threshold: float,
    *,
    higher_is_better: bool,
    positions: Sequence[float] | None = None,
) -> dict | None:
    """The envelope of one criterion along one severity axis: severity, interval ends, statuses, positions.

    ``severities`` (physical, mild → severe), the criterion's value and interval at each; the
    interval ends are the crossings of the interpolated bounds (see the module docstring), each
    with its own status. ``positions`` maps each tested point to a chart position (default its
    index). None when the curve cannot be placed (a missing value).
    """
    pos = list(positions) if positions is not None else list(range(len(severities)))
    found = crossing(values, threshold, higher_is_better=higher_is_better)
    if found is None:
        return None
    out: dict = {
        "status": found.status,
        "severity": _at(found.index, severities),
        "position": _at(found.index, pos),
        "ci": None,
        "ci_status": [],
        "ci_position": None,
    }
    if intervals is None or any(ci is None for ci in intervals):
        return out
    lo = [ci[0] for ci in intervals]  # type: ignore[index]
    hi = [ci[1] for ci in intervals]  # type: ignore[index]
    good, bad = (lo, hi) if higher_is_better else (hi, lo)
    mild = crossing(good, threshold, higher_is_better=higher_is_better, strict=True)
    severe = crossing(bad, threshold, higher_is_better=higher_is_better, strict=False)
    if mild is None or severe is None:
        return out
    out["ci"] = [_at(mild.index, severities), _at(severe.index, severities)]
    out["ci_status"] = [mild.status, severe.status]
    out["ci_position"] = [_at(mild.index, pos), _at(severe.index, pos)]
    return out


def _applies(plan: TestPlan, criterion: Criterion, condition: ConditionEntry, model: str) -> bool:
    """Whether the criterion has a value at one severity of this condition (see the module docstring)."""
    row = lookup(plan.spec.task, criterion.metric)
    if criterion.severity != "blocking" or row is None or row.scope == "aggregate":
        return False
    if criterion.on not in (condition.name, "all", "clean"):
        return False
    if criterion.kind == "max_drop_vs_baseline":
        base = plan.spec.baseline
        return base is not None and base != model and criterion.on != "clean"
    if criterion.kind == "max_drop":
        return criterion.on != "clean"
    return True


def _unit(condition: ConditionEntry, point: Point) -> str:
    info = corruptions.get(condition.corruptions[0])
    if point.relative_to and info.spatial:
        return f"{condition.unit}, at {point.relative_to} px short side"
    return condition.unit


def model_envelopes(plan: TestPlan, model: str, point_get: Lookup, rep_get: Lookup | None) -> list[EnvelopeResult]:
    """Every envelope of ``model``: each eligible condition axis × each blocking criterion read per severity."""
    out = []
    for condition in plan.conditions:
        order = {p.key: i for i, p in enumerate(condition.points)}
        for axis in severity_axes(condition):
            for i, criterion in enumerate(plan.spec.criteria):
                if not _applies(plan, criterion, condition, model):
                    continue
                # described as read here ("map on gaussian_blur ≥ 0.55"): a user's description names the original scope
                here = criterion.model_copy(update={"on": condition.name, "severities": None, "description": None})
                values, intervals = [], []
                for p in axis:
                    alone = here.model_copy(update={"severities": SeverityScope(min=p.severity, max=p.severity)})
                    value = json_number(criterion_value(plan, alone, model, point_get))  # type: ignore[arg-type]
                    values.append(float("nan") if value is None else value)
                    ci = None
                    if rep_get is not None and value is not None:
                        reps = np.asarray(criterion_value(plan, alone, model, rep_get), dtype=np.float64)
                        ci = criterion_interval(plan, alone, reps, value)
                    intervals.append(ci)
                higher = criterion.kind == "at_least"  # at_most and both drops: smaller is better
                found = envelope(
                    [float(p.severity) for p in axis],  # type: ignore[arg-type]
                    values,
                    intervals if rep_get is not None else None,
                    criterion.threshold,
                    higher_is_better=higher,
                    positions=[order[p.key] for p in axis],
                )
                if found is None:
                    continue
                out.append(
                    EnvelopeResult(
                        condition=condition.name,
                        corruption=condition.corruptions[0],
                        criterion=criterion_id(i, criterion),
                        description=describe(here, plan.spec.task),
                        metric=criterion.metric,
                        kind=criterion.kind,  # type: ignore[arg-type]
                        threshold=criterion.threshold,
                        confidence=criterion.confidence if found["ci"] is not None else None,
                        unit=_unit(condition, axis[0]),
                        relative_to=axis[0].relative_to,
                        tested=[float(p.severity) for p in axis],  # type: ignore[arg-type]
                        **found,
                    )
                )
    return out

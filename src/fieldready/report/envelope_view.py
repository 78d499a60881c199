"""The operating envelope as the report shows it: a table per model and marks on the robustness curves.

Only formats what the judge wrote (``ModelResult.envelope``, see ``judge.envelope``): the severity,
its interval ends and their statuses. An end beyond the tested range is written as a bound on the
tested range ("≥ 2", "< 0.5"), never as a number the run did not measure.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldready.judge.readings import fmt, fmt_confidence
from fieldready.judge.results import EnvelopeResult, Results
from fieldready.report import charts

__all__ = ["EnvelopeRow", "EnvelopeTable", "envelope_tables", "envelope_marks", "holds_text"]


@dataclass(frozen=True)
class EnvelopeRow:
    condition: str
    criterion: str
    requirement: str
    holds: str
    interval: str
    status: str
    unit: str
    sentence: str


@dataclass(frozen=True)
class EnvelopeTable:
    model: str
    rows: list[EnvelopeRow]


def _harsher(e: EnvelopeResult) -> str:
    """The comparison sign pointing to harsher severities on this axis ('>' unless the scale runs down, e.g. JPEG quality)."""
    return "<" if len(e.tested) > 1 and e.tested[-1] < e.tested[0] else ">"


def _milder(e: EnvelopeResult) -> str:
    return "<" if _harsher(e) == ">" else ">"


def _end(e: EnvelopeResult, value: float | None, status: str) -> str:
    if status == "fails at lowest" or value is None:
        return f"{_milder(e)} {fmt(e.tested[0])}" if e.tested else "below the tested range"
    if status == "passes at all tested":
        return f"{_harsher(e)}= {fmt(value)}".replace("<=", "≤").replace(">=", "≥")
    return fmt(value)


def holds_text(e: EnvelopeResult) -> str:
    """The envelope itself: '1.62' (interpolated), '≥ 2 (harshest tested)', '< 0.5 (fails at the mildest tested)'."""
    if e.status == "interpolated":
        return f"{fmt(e.severity)} (interpolated)"
    if e.status == "passes at all tested":
        return f"{_end(e, e.severity, e.status)} (holds at every tested severity)"
    return f"{_end(e, None, e.status)} (fails at the mildest tested)"


def _interval(e: EnvelopeResult) -> str:
    if not e.ci or len(e.ci) != 2 or len(e.ci_status) != 2:
        return ""
    ends = list(zip(e.ci, e.ci_status))
    # numeric order like every other interval: on a scale that runs down the severe end is the smaller
    if _harsher(e) == "<":
        ends.reverse()
    label = fmt_confidence(e.confidence)
    if e.ci_status[0] == e.ci_status[1] != "interpolated":  # both ends beyond the same side of the tested range
        return f"whole interval {_end(e, *ends[0])}" + (f" ({label})" if label else "")
    return f"[{_end(e, *ends[0])}, {_end(e, *ends[1])}]" + (f" {label}" if label else "")


def _unit(e: EnvelopeResult) -> str:
    return f" ({e.unit})" if e.unit else ""


def _sentence(model: str, e: EnvelopeResult) -> str:
    interval = _interval(e)
    tail = f", interval {interval}" if interval else ""
    if e.status == "interpolated":
        return (f"{model} meets {e.description} up to {e.corruption} {fmt(e.severity)}{_unit(e)}, "
                f"interpolated between tested severities{tail}.")
    if e.status == "passes at all tested":
        return (f"{model} meets {e.description} at every tested {e.corruption} severity, up to the harshest "
                f"tested {fmt(e.severity)}{_unit(e)}; the envelope may extend further{tail}.")
    first = fmt(e.tested[0]) if e.tested else "?"
    return (f"{model} does not meet {e.description} even at the mildest tested {e.corruption} severity "
            f"{first}{_unit(e)}: its envelope lies below the tested range{tail}.")


def envelope_tables(r: Results) -> list[EnvelopeTable]:
    """One table per model with envelopes, rows in the judge's order (condition, then criterion)."""
    out = []
    for m in r.models:
        rows = [EnvelopeRow(e.condition, e.criterion, e.description, holds_text(e), _interval(e), e.status,
                            e.unit, _sentence(m.name, e)) for e in m.envelope]
        if rows:
            out.append(EnvelopeTable(m.name, rows))
    return out


def envelope_marks(r: Results, condition: str) -> list[charts.EnvelopeMark]:
    """Marks for the condition's robustness curve: each model's interpolated envelopes (x = 1 + position,
    position 0 being the first severity; the curve's x = 0 is clean)."""
    marks = []
    for i, m in enumerate(r.models):
        for e in m.envelope:
            if e.condition != condition or e.status != "interpolated" or e.position is None:
                continue
            lo = hi = None
            if e.ci_position and len(e.ci_position) == 2 and None not in e.ci_position:
                lo, hi = sorted(1.0 + p for p in e.ci_position)  # type: ignore[operator]
            marks.append(charts.EnvelopeMark(1.0 + e.position, e.criterion, i, lo, hi))
    return marks

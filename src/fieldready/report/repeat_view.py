"""What the report's "Repeatability on real captures" section shows, built from ``Results`` alone.

A table per model of the repeatability figures with their intervals beside the synthetic stability
figures (the same kind of question asked with simulated perturbations), and the gallery of the groups
and videos whose captures did not all get the same answer, each capture with its answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fieldready.errors import ReportError
from fieldready.judge.readings import fmt, fmt_ci
from fieldready.judge.results import RepeatGroup, Results
from fieldready.report.gallery import png_data_uri

__all__ = ["RepeatCaptureView", "RepeatGroupView", "RepeatabilityView", "repeatability_view"]

_FIGURES = ("repeatability", "agreement", "video_flip_rate")
_SYNTHETIC = {"flip_rate": "synthetic flip rate (mean over conditions)",
              "consistency": "synthetic consistency (mean over conditions)"}


@dataclass(frozen=True)
class RepeatCaptureView:
    name: str
    answer: str
    uri: str
    problem: str


@dataclass(frozen=True)
class RepeatGroupView:
    model: str
    name: str
    kind: str
    summary: str
    captures: list[RepeatCaptureView]


@dataclass(frozen=True)
class RepeatabilityView:
    headers: list[str]
    rows: list[list[str]]
    note: str
    groups: list[RepeatGroupView]


def _summary(g: RepeatGroup) -> str:
    if g.kind == "video":
        times = "once" if g.flips == 1 else f"{g.flips} times"
        return f"video, {g.captures} frames: the answer changes {times} in {g.transitions} consecutive pairs"
    return f"{g.captures} captures: {g.agreeing_pairs} of {g.pairs} pairs agree"


def _count(n: int, noun: str) -> str:
    return "" if not n else f"{n} {noun}" + ("" if n == 1 else "s")


def _uri(run_dir: Path, rel: str) -> tuple[str, str]:
    try:
        return png_data_uri(run_dir / rel, max_side=256), ""
    except ReportError as exc:
        return "", str(exc)


def repeatability_view(r: Results, run_dir: Path) -> RepeatabilityView | None:
    """The section's table and gallery; None when no model has repeatability results."""
    models = [m for m in r.models if m.repeatability is not None]
    if not models:
        return None
    first = models[0].repeatability
    assert first is not None  # noqa: S101 - filtered above
    figures = [f for f in _FIGURES if any(m.repeatability.figures.get(f) and m.repeatability.figures[f].value is not None  # type: ignore[union-attr]
                                          for m in models)]
    synthetic = [k for k in _SYNTHETIC if any(k in m.repeatability.synthetic for m in models)]  # type: ignore[union-attr]
    headers = ["model", "answer compared"] + [r.metric_names.get(f, f) for f in figures] + [_SYNTHETIC[k] for k in synthetic]
    rows = []
    groups: list[RepeatGroupView] = []
    for m in models:
        rep = m.repeatability
        assert rep is not None  # noqa: S101
        cells = [m.name, rep.threshold]
        for f in figures:
            fig = rep.figures.get(f)
            cells.append(f"{fmt(fig.value)} {fmt_ci(fig.ci, fig.confidence)}".strip() if fig else "—")
        cells += [fmt(rep.synthetic.get(k)) for k in synthetic]
        rows.append(cells)
        for g in rep.disagreeing:
            views = []
            for c in g.shown:
                uri, problem = _uri(run_dir, c.png) if c.png else ("", "")
                views.append(RepeatCaptureView(c.name, c.answer, uri, problem))
            groups.append(RepeatGroupView(m.name, g.name, g.kind, _summary(g), views))
    parts = [_count(first.groups, "group"), _count(first.videos, "video")]
    note = (f"{' and '.join(p for p in parts if p)} ({first.captures} captures). Intervals: 95 %, bootstrap over "
            "groups (videos for the flip rate). ")
    note += ("The synthetic columns ask the same question with simulated perturbations (see the robustness profile)."
             if synthetic else "No synthetic stability figure was measured to set beside them (detection "
             "consistency is measured when a criterion names it).")
    return RepeatabilityView(headers, rows, note, groups)

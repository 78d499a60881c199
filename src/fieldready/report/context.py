"""Turn ``Results`` into exactly what the report page shows: formatted strings, rows and inline SVG.

Nothing here measures, judges or derives: every number, floor, margin, significance word and
"what would change" sentence comes from ``results.json`` as the judge wrote it; this module only
formats them (with the judge's number formats, so tables and sentences agree).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from fieldready.errors import ReportError
from fieldready.evaluation.metrics.registry import get_metric
from fieldready.judge.build import MEANINGFUL_CLASS_DROP
from fieldready.judge.readings import STATUS_WORD, fmt, fmt_confidence, fmt_p, threshold_text
from fieldready.judge.readings import fmt_ci as _fmt_ci
from fieldready.judge.results import ConditionResult, CriterionResult, ModelResult, Results, Significance
from fieldready.report import charts
from fieldready.report.envelope_view import EnvelopeTable, envelope_marks, envelope_tables
from fieldready.report.gallery import png_data_uri
from fieldready.report.repeat_view import RepeatabilityView, repeatability_view

__all__ = [
    "SECTIONS",
    "ReportContext",
    "build_context",
    "fmt",
    "slug",
    "unique_slugs",
]

SECTIONS: list[tuple[str, str]] = [
    ("summary", "Executive summary"),
    ("verdicts", "Verdict details"),
    ("criteria", "Acceptance criteria"),
    ("robustness", "Robustness profile"),
    ("envelope", "Operating envelope"),
    ("repeatability", "Repeatability on real captures"),
    ("clean", "Clean metrics"),
    ("gallery", "Failure gallery"),
    ("provenance", "Test plan & provenance"),
    ("signoff", "Sign-off"),
]

_VERDICT_STYLE = {
    "GO": ("go", "✔"),
    "NO-GO": ("nogo", "✘"),
    "INCONCLUSIVE": ("inconclusive", "?"),
}
_STATUS = {  # the judge's word, its CSS class, its icon
    True: (STATUS_WORD[True], "pass", "✔"),
    False: (STATUS_WORD[False], "fail", "✘"),
    None: (STATUS_WORD[None], "inconclusive", "?"),
}


def _fmt_signed(value: float | None) -> str:
    """A difference with its sign ('+0.028', '−0.164'); '—' when missing."""
    text = fmt(value)
    if text == "—" or value is None:
        return text
    if text.lstrip("-").strip("0.") == "":  # rounds to zero: no sign
        return text.lstrip("-")
    return ("+" + text) if value > 0 else "−" + text.lstrip("-")


def _fmt_signed_ci(ci: list[float] | None) -> str:
    return f"[{_fmt_signed(ci[0])}, {_fmt_signed(ci[1])}]" if ci and len(ci) == 2 else ""


def _fmt_count(value: float | None) -> str:
    """Counts are whole numbers even when results.json stores them as floats."""
    if value is None or value != value:
        return "—"
    return str(int(round(value)))


def slug(text: str) -> str:
    """URL-safe fragment of ``text``: ASCII letters/digits joined by single hyphens ('' if none survive).

    Accents fold to their base letter (é → e); anything else (spaces, '<', '/', '#', non-Latin script)
    becomes a separator, so a slug never contains '--' and never needs escaping in an id or a URL.
    """
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")


def unique_slugs(texts: list[str]) -> list[str]:
    """One slug per text, in order, all distinct: a repeat gets '-2', '-3', …; an empty slug its 1-based position.

    Deterministic for the same list, so anchors are stable across renders of the same results.
    """
    seen: set[str] = set()
    out = []
    for i, text in enumerate(texts, start=1):
        base = slug(text) or str(i)
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            candidate = f"{base}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


@dataclass(frozen=True)
class Anchors:
    """Element ids for models (verdict cards), criteria (rows of the criteria table) and their cells.

    ``model-<slug>``, ``criterion-<slug>`` and ``result-<criterion slug>--<model slug>``: slugs have no
    '--', so a cell id cannot equal another cell's, and the prefixes keep them apart from section ids.
    """

    models: list[str]  # slug per model, in results order
    criteria: dict[str, str]  # criterion id -> slug

    @classmethod
    def of(cls, r: Results) -> "Anchors":
        ids = list(dict.fromkeys(c.id for m in r.models for c in m.criteria))
        return cls(unique_slugs([m.name for m in r.models]), dict(zip(ids, unique_slugs(ids))))

    def model(self, index: int) -> str:
        return f"model-{self.models[index]}"

    def criterion(self, cid: str) -> str:
        return f"criterion-{self.criteria[cid]}"

    def cell(self, cid: str, index: int) -> str:
        return f"result-{self.criteria[cid]}--{self.models[index]}"


_threshold_text = threshold_text


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


# ----------------------------------------------------------------------------- view models


@dataclass(frozen=True)
class VerdictView:
    word: str
    css: str
    icon: str


@dataclass(frozen=True)
class CriterionCell:
    value: str
    ci: str
    status: str
    css: str
    icon: str
    anchor: str


@dataclass(frozen=True)
class CriterionRow:
    id: str
    anchor: str
    description: str
    metric: str
    scope: str
    threshold: str
    blocking: bool
    cells: list[CriterionCell | None]


@dataclass(frozen=True)
class Issue:
    id: str
    plain: str  # the criterion in plain words (page 1); ``description`` is its technical reading
    description: str
    value: str
    threshold: str
    ci: str
    status: str
    css: str
    blocking: bool
    anchor: str  # the criterion's row in the criteria table


@dataclass(frozen=True)
class ModelSummary:
    name: str
    anchor: str  # the model's verdict card
    kind: str
    style: int
    verdict: VerdictView
    rank: str
    production: str
    production_ci: str
    clean_primary: str
    issues: list[Issue]
    change: list[list[tuple[str, str]]]  # each sentence as (text, anchor) pieces: criterion ids link to their rows
    error: str | None
    recommended: bool
    operating_point: str = ""  # detection: the score threshold it is judged at, and how it was set

    @property
    def blocking_issues(self) -> list[Issue]:
        """Blocking criteria that failed or are undecided: what the page-1 verdict table lists."""
        return [i for i in self.issues if i.blocking]

    @property
    def warnings(self) -> int:
        return sum(not i.blocking for i in self.issues)


@dataclass(frozen=True)
class TableView:
    headers: list[str]
    rows: list[list[str]]
    highlight: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class ComparisonRow:
    model: str
    clean: str
    clean_ci: str
    production: str
    production_ci: str
    mcnemar_p: str
    wins_losses: str
    reading: str


@dataclass(frozen=True)
class ComparisonView:
    """Paired differences (candidate − baseline) on the same images, one row per candidate."""

    against: str
    metric: str
    rows: list[ComparisonRow]
    mcnemar: bool
    higher_is_better: bool


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    svg: str


@dataclass(frozen=True)
class GalleryView:
    model: str
    condition: str
    label: str
    score: str
    caption: str
    clean_uri: str
    corrupted_uri: str
    problems: list[str]


@dataclass(frozen=True)
class SignoffRow:
    role: str
    name: str
    date: str
    decision: str


@dataclass(frozen=True)
class RunFacts:
    """Page 1's facts about the run: when, on what data, how sure, on which device."""

    date: str
    images: str
    classes: str
    instances: str
    confidence: str
    device: str
    duration: str


@dataclass(frozen=True)
class ReportContext:
    """Everything the template shows; the template adds only markup."""

    title: str
    name: str
    task: str
    spec_hash: str
    plan_hash: str
    primary_metric: str
    primary_key: str
    facts: RunFacts
    meaningful_drop: str  # the share of its clean value a class must lose to be highlighted (judge.build)
    sections: list[tuple[str, str]]
    recommendation_model: str | None
    recommendation_reason: str
    models: list[ModelSummary]
    criteria: list[CriterionRow]
    model_names: list[str]
    model_anchors: list[str]
    comparison: TableView
    baseline_comparison: ComparisonView | None
    conditions: TableView
    curves: list[Chart]
    heatmaps: list[Chart]
    families: Chart | None
    scatter: Chart | None
    per_class: list[tuple[str, TableView]]
    per_class_counts: bool
    gallery: list[GalleryView]
    envelope: list[EnvelopeTable]
    repeatability: RepeatabilityView | None
    provenance: list[tuple[str, str]]
    model_hashes: list[tuple[str, str]]
    versions: list[tuple[str, str]]
    spec_text: str
    spec_path: str
    signoff: list[SignoffRow]

    def number(self, section_id: str) -> int:
        """The section's number (1-based) in ``sections``, for headings."""
        return next(i for i, (sid, _) in enumerate(self.sections, start=1) if sid == section_id)

    @property
    def ranked_models(self) -> list[ModelSummary]:
        """Models for the decision table: by rank (unranked last), ties in spec order."""
        return sorted(self.models, key=lambda m: (not m.rank.isdigit(), int(m.rank) if m.rank.isdigit() else 0))


# ----------------------------------------------------------------------------- summary


def _is_drop(c: CriterionResult) -> bool:
    return c.kind in ("max_drop", "max_drop_vs_baseline")


def _value_text(c: CriterionResult) -> str:
    """A criterion's value in its threshold's format: drops as percentages ('5.7 %'), the rest as numbers."""
    if _is_drop(c):
        return "—" if c.value is None else f"{c.value * 100:.1f} %"
    return fmt(c.value)


def _ci_text(c: CriterionResult) -> str:
    if _is_drop(c) and c.ci and len(c.ci) == 2:
        label = fmt_confidence(c.confidence)
        return f"[{c.ci[0] * 100:.1f} %, {c.ci[1] * 100:.1f} %]" + (f" {label}" if label else "")
    return _fmt_ci(c.ci, c.confidence)


#: Page 1's words for common metrics (a safety officer's reading); others use the registry's label.
PLAIN_METRIC = {
    "map": "detection accuracy", "ap": "detection accuracy", "ap50": "detection accuracy (loose overlap)",
    "top1": "accuracy", "accuracy": "accuracy", "rpc": "share of the clean score kept",
    "mpc": "average score under the conditions", "production_score": "expected score in the field",
    "mce": "error under corruption relative to the baseline",
}


def _scope_words(c: CriterionResult) -> str:
    scope, _, cls = c.scope.partition(" / class ")
    words = {"clean": "on clean images", "all conditions": "across all tested conditions", "all": "across all tested conditions",
             "production mix": "", "repeated captures": "on repeated real captures"}.get(scope, f"under {scope}")
    return (words + (f", class {cls}" if cls else "")).strip(", ")


def plain_words(c: CriterionResult, label: str) -> str:
    """A criterion as a safety officer reads it: what is measured, where, and the bar it must clear.

    >>> from fieldready.judge.results import CriterionResult as C
    >>> plain_words(C(id="c2", description="", metric="map", scope="gaussian_blur", kind="max_drop",
    ...               threshold=0.1, value=0.05, passed=True), "COCO AP")
    'detection accuracy under gaussian_blur falls by at most 10 % from clean'
    """
    t = _threshold_text(c)
    what = " ".join(w for w in (PLAIN_METRIC.get(c.metric, label), _scope_words(c)) if w)
    if c.kind == "max_drop":
        return f"{what} falls by at most {t.removeprefix('drop ≤ ')} from clean"
    if c.kind == "max_drop_vs_baseline":
        return f"{what} is at most {t.removeprefix('≤ ')}"
    return f"{what} {'at least' if c.kind == 'at_least' else 'at most'} {t[2:]}"


def _is_baseline_self(r: Results, m: ModelResult, c: CriterionResult) -> bool:
    """The baseline's own comparison with itself: shown as "baseline", never judged or listed."""
    return not c.applies


def _issue(r: Results, c: CriterionResult, anchors: Anchors) -> Issue:
    status, css, _ = _STATUS[c.passed]
    label = _metric_name(r, c.metric)
    return Issue(c.id, plain_words(c, label), c.description, _value_text(c), _threshold_text(c), _ci_text(c), status,
                 css, c.blocking, anchors.criterion(c.id))


# An id where the judge's sentences name a criterion: before "(description…)", a status word or "is settled"
# (a bare word elsewhere — an id "production" in "production score" — is not a reference).
_CRITERION_ID = re.compile(r"(?<![\w-])([A-Za-z][\w-]*)(?= \(| (?:fail|pass|inconclusive)\b| is settled)")


def _linked(sentence: str, anchors: Anchors) -> list[tuple[str, str]]:
    """A sentence cut into (text, anchor) pieces: each known criterion id links to its row ('' = plain text)."""
    pieces: list[tuple[str, str]] = []
    last = 0
    for match in _CRITERION_ID.finditer(sentence):
        if match.group(1) in anchors.criteria:
            pieces += [(sentence[last:match.start()], ""), (match.group(1), anchors.criterion(match.group(1)))]
            last = match.end()
    pieces.append((sentence[last:], ""))
    return [p for p in pieces if p[0]]


def _summaries(r: Results, anchors: Anchors) -> list[ModelSummary]:
    out = []
    for i, m in enumerate(r.models):
        css, icon = _VERDICT_STYLE[m.verdict]
        issues = [_issue(r, c, anchors) for c in m.criteria if c.passed is not True and not _is_baseline_self(r, m, c)]
        out.append(ModelSummary(
            name=m.name, anchor=anchors.model(i), kind=m.kind, style=i, verdict=VerdictView(m.verdict, css, icon),
            rank="—" if m.rank is None else str(m.rank),
            production=fmt(m.production_score), production_ci=_fmt_ci(m.production_ci, m.production_confidence),
            clean_primary=fmt(m.clean.get(r.primary_metric)), issues=issues,
            change=[_linked(line, anchors) for line in m.change], error=m.error,
            recommended=r.recommendation.model == m.name,
            operating_point=m.operating_point.description if m.operating_point is not None else "",
        ))
    return out


# ----------------------------------------------------------------------------- tables


def _criterion_ci(c: CriterionResult, m: ModelResult) -> str:
    """A criterion's interval with its confidence; for the production score at another confidence than the
    summary's, why the two intervals of the same figure differ."""
    text = _fmt_ci(c.ci, c.confidence)
    if (text and c.metric == "production_score" and c.confidence is not None and m.production_ci
            and m.production_confidence is not None and abs(c.confidence - m.production_confidence) > 1e-9):
        text += (f" (at the criterion's confidence; the summary shows the production score's "
                 f"{_fmt_ci(m.production_ci, m.production_confidence)})")
    return text


def _criteria_rows(r: Results, anchors: Anchors) -> list[CriterionRow]:
    order: dict[str, CriterionResult] = {}
    for m in r.models:
        for c in m.criteria:
            order.setdefault(c.id, c)
    rows = []
    for cid, first in order.items():
        cells: list[CriterionCell | None] = []
        for i, m in enumerate(r.models):
            c = next((c for c in m.criteria if c.id == cid), None)
            if c is None:
                cells.append(None)
                continue
            if _is_baseline_self(r, m, c):  # compared with itself: nothing to judge
                cells.append(CriterionCell("", "", "baseline", "baseline", "", anchors.cell(cid, i)))
                continue
            status, css, icon = _STATUS[c.passed]
            ci = _ci_text(c) if _is_drop(c) else _criterion_ci(c, m)
            cells.append(CriterionCell(_value_text(c), ci, status, css, icon, anchors.cell(cid, i)))
        rows.append(CriterionRow(cid, anchors.criterion(cid), first.description, first.metric, first.scope, _threshold_text(first),
                                 first.blocking, cells))
    return rows


def _metric_name(r: Results, key: str) -> str:
    """A metric's display name: the run's own label, else the metric registry's; the key only for an unknown metric."""
    if key in r.metric_names:
        return r.metric_names[key]
    try:
        return get_metric(key).label
    except KeyError:
        return key


def _metric_range(key: str) -> tuple[float, float] | None:
    """(0, 1) for a metric the registry knows to be a fraction: charts keep their axes inside it."""
    try:
        row = get_metric(key)
    except KeyError:
        return None
    return (0.0, 1.0) if getattr(row, "fraction", False) else None


def _keys(dicts: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        for k in d:
            seen.setdefault(k, None)
    return list(seen)


def _comparison(r: Results) -> TableView:
    rows = [
        ["Verdict"] + [m.verdict for m in r.models],
        ["Rank"] + ["—" if m.rank is None else str(m.rank) for m in r.models],
        ["Production score"] + [f"{fmt(m.production_score)} {_fmt_ci(m.production_ci, m.production_confidence)}".strip()
                                for m in r.models],
    ]
    for k in _keys([m.clean for m in r.models]):
        rows.append([f"Clean {_metric_name(r, k)}"] + [fmt(m.clean.get(k)) for m in r.models])
    for k in _keys([m.robustness for m in r.models]):
        rows.append([_metric_name(r, k)] + [fmt(m.robustness.get(k)) for m in r.models])
    for k in _keys([m.families for m in r.models]):
        rows.append([f"{_metric_name(r, r.primary_metric)} · {k}"] + [fmt(m.families.get(k)) for m in r.models])
    rows.append(["Criteria passed"] + [
        f"{sum(c.passed is True for c in m.criteria if c.applies)} / {sum(c.applies for c in m.criteria)}" for m in r.models])
    return TableView(["", *[m.name for m in r.models]], rows)


def _reading(s: Significance | None) -> tuple[str, str]:
    return (s.word, s.reason) if s is not None else ("not assessed", "no interval or test in the results")


def _versus(word: str, against: str) -> str:
    if word.startswith("significantly"):
        return f"{word} than {against}"
    if word == "not assessed":
        return f"not assessed against {against}"
    return word.replace(" at 95 %", f" from {against} at 95 %")


def _baseline_comparison(r: Results) -> ComparisonView | None:
    compared = [m for m in r.models if m.comparison is not None]
    if not compared:
        return None
    first = compared[0].comparison
    assert first is not None
    metric = first.metric
    higher = first.higher_is_better
    mname = _metric_name(r, metric)
    mcnemar = any(m.comparison.mcnemar_p is not None or m.comparison.wins is not None for m in compared)  # type: ignore[union-attr]
    rows = []
    for m in compared:
        c = m.comparison
        assert c is not None
        clean_word, clean_why = _reading(c.clean_significance)
        prod_word, prod_why = _reading(c.production_significance)
        reading = (f"Clean {mname}: {_versus(clean_word, c.against)} ({clean_why}); "
                   f"production score: {_versus(prod_word, c.against)} ({prod_why}).")
        wl = "—" if c.wins is None and c.losses is None else f"{_fmt_count(c.wins)} / {_fmt_count(c.losses)}"
        rows.append(ComparisonRow(m.name, _fmt_signed(c.clean_difference), _fmt_signed_ci(c.clean_ci),
                                  _fmt_signed(c.production_difference), _fmt_signed_ci(c.production_ci),
                                  fmt_p(c.mcnemar_p), wl, reading))
    return ComparisonView(first.against, mname, rows, mcnemar, higher)


def _conditions_table(r: Results) -> TableView:
    rows = [[c.name, ", ".join(c.corruptions), c.family, f"{c.frequency * 100:.0f} %",
             ", ".join(c.severities) + (f" ({c.unit})" if c.unit else "")] for c in r.conditions]
    return TableView(["Condition", "Corruptions", "Family", "Frequency", "Severities"], rows)


# Detection-aware confusion counts at IoU 0.5 and each model's operating point (metrics.confusion): whole numbers, own headers.
COUNT_HEADERS = {"tp": "TP", "fp": "FP", "fn": "missed", "wrong_class": "wrong class"}


def _per_class(r: Results) -> list[tuple[str, TableView]]:
    """Per model, the clean per-class table; a row is highlighted only where the judge found the class
    really degrades (its drop's interval excludes 0 and the drop is meaningful: ``ClassResult.degrades``)."""
    out = []
    for m in r.models:
        if not m.per_class:
            continue
        keys = _keys([c.metrics for c in m.per_class])
        # Scores first, then the counts in a fixed reading order.
        keys = [k for k in keys if k not in COUNT_HEADERS] + [k for k in COUNT_HEADERS if k in keys]
        rows, hl = [], []
        for c in m.per_class:
            cells = [_fmt_count(c.metrics.get(k)) if k in COUNT_HEADERS else fmt(c.metrics.get(k)) for k in keys]
            rows.append([c.name, *cells, fmt(c.drop)])
            hl.append(c.degrades is True)
        headers = [COUNT_HEADERS.get(k) or _metric_name(r, k) for k in keys]
        out.append((m.name, TableView(["Class", *headers, "Drop under corruption"], rows, hl)))
    return out


def _has_counts(r: Results) -> bool:
    return any(k in COUNT_HEADERS for m in r.models for c in m.per_class for k in c.metrics)


# ----------------------------------------------------------------------------- charts


def _point_label(c: ConditionResult) -> str:
    if c.label:
        return c.label
    if c.severity is not None:
        return f"{c.severity:g}"
    return f"L{c.level}" if c.level is not None else "?"


def _condition_names(r: Results) -> list[str]:
    names = [c.name for c in r.conditions]
    for m in r.models:
        for c in m.conditions:
            if c.condition not in names:
                names.append(c.condition)
    return names


def _points(r: Results, cond: str) -> list[str]:
    """Severity labels of a condition in plan order (ConditionInfo first, then as measured)."""
    info = next((c for c in r.conditions if c.name == cond), None)
    labels = list(info.severities) if info else []
    for m in r.models:
        for c in m.conditions:
            if c.condition == cond and _point_label(c) not in labels:
                labels.append(_point_label(c))
    return labels


def _values(m: ModelResult, cond: str, labels: list[str], metric: str) -> list[float | None]:
    got = {_point_label(c): c.metrics.get(metric) for c in m.conditions if c.condition == cond}
    return [got.get(lab) for lab in labels]


def _thresholds(r: Results, cond: str) -> list[charts.ThresholdLine]:
    """Criterion lines for the plotted metric on this condition (absolute once, drop floors per model)."""
    lines: list[charts.ThresholdLine] = []
    seen: set[str] = set()
    for i, m in enumerate(r.models):
        for c in m.criteria:
            if c.scope != cond or c.metric != r.primary_metric:
                continue
            if c.kind in ("at_least", "at_most") and c.id not in seen:
                seen.add(c.id)
                lines.append(charts.ThresholdLine(c.threshold, f"{c.id} {_threshold_text(c)}"))
            elif c.kind == "max_drop" and c.floor is not None:
                lines.append(charts.ThresholdLine(c.floor, f"{c.id} floor {m.name}", style=i))
    for m in r.models:  # a floor read at each severity (the operating envelope, e.g. a clean floor): where its marks are
        for e in m.envelope:
            if (e.condition == cond and e.metric == r.primary_metric and e.kind in ("at_least", "at_most")
                    and e.criterion not in seen):
                seen.add(e.criterion)
                lines.append(charts.ThresholdLine(e.threshold, f"{e.criterion} {'≥' if e.kind == 'at_least' else '≤'} {fmt(e.threshold)}"))
    return lines


def _band(m: ModelResult, cond: str, labels: list[str]) -> tuple[list[float | None], list[float | None]]:
    """The interval ends of a model's curve: clean first, then each severity (None where not measured)."""
    got = {_point_label(c): c.ci for c in m.conditions if c.condition == cond}
    cis = [m.clean_ci, *[got.get(lab) for lab in labels]]
    return [ci[0] if ci else None for ci in cis], [ci[1] if ci else None for ci in cis]


def _charts(r: Results, cache: charts.ChartCache) -> tuple[list[Chart], list[Chart], Chart | None, Chart | None]:
    pm, ylabel = r.primary_metric, _metric_name(r, r.primary_metric)
    yrange = _metric_range(pm)
    curves, heat_rows = [], []
    for k, cond in enumerate(_condition_names(r)):
        labels = _points(r, cond)
        series = [charts.Series(m.name, [m.clean.get(pm), *_values(m, cond, labels, pm)], i, *_band(m, cond, labels))
                  for i, m in enumerate(r.models)]
        svg = cache.svg(charts.severity_curve_svg, f"curve{k}", cond, ["clean", *labels], series, ylabel=ylabel,
                        thresholds=_thresholds(r, cond), marks=envelope_marks(r, cond), yrange=yrange)
        curves.append(Chart(f"curve-{k}", cond, svg))
        heat_rows.append((cond, labels))
    heatmaps = []
    width = max((len(labels) for _, labels in heat_rows), default=0)
    grids = []
    for m in r.models:
        grid = []
        for cond, labels in heat_rows:
            drops = {_point_label(c): c.drop for c in m.conditions if c.condition == cond}
            row = [drops.get(lab) for lab in labels]
            grid.append(row + [None] * (width - len(row)))
        grids.append(grid)
    vmax = max((abs(v) for g in grids for row in g for v in row if v is not None), default=0.0)
    for i, (m, grid) in enumerate(zip(r.models, grids)):
        if heat_rows:
            svg = cache.svg(charts.heatmap_svg, f"heat{i}", f"{m.name}: drop of {ylabel} vs clean",
                            [c for c, _ in heat_rows], [f"s{j + 1}" for j in range(width)], grid,
                            cbar_label="drop vs clean (red worse, blue better)", vmax=vmax)
            heatmaps.append(Chart(f"heat-{i}", m.name, svg))
    families_order = []
    for c in r.conditions:
        if c.family not in families_order:
            families_order.append(c.family)
    for f in _keys([m.families for m in r.models]):
        if f not in families_order:
            families_order.append(f)
    fam = None
    if any(m.families for m in r.models) and families_order:
        series = [charts.Series(m.name, [m.families.get(f) for f in families_order], i) for i, m in enumerate(r.models)]
        fam = Chart("families", "Per family", cache.svg(charts.family_bars_svg, "families", families_order, series,
                                                        ylabel=ylabel, yrange=yrange))
    pts = [(m.name, m.clean[pm], m.production_score, i, tuple(m.production_ci) if m.production_ci else None)
           for i, m in enumerate(r.models) if m.clean.get(pm) is not None and m.production_score is not None]
    scatter = None
    if pts:
        scatter = Chart("scatter", "Clean vs production", cache.svg(
            charts.scatter_svg, "scatter", pts, xlabel=f"clean {ylabel}", ylabel="production score", yrange=yrange))
    return curves, heatmaps, fam, scatter


# ----------------------------------------------------------------------------- gallery, provenance


def _gallery(r: Results, run_dir: Path) -> list[GalleryView]:
    out = []
    for m in r.models:
        for g in m.gallery:
            uris, problems = [], []
            for rel in (g.clean_png, g.corrupted_png):
                if not rel:
                    uris.append("")
                    continue
                try:
                    uris.append(png_data_uri(run_dir / rel))
                except ReportError as exc:
                    uris.append("")
                    problems.append(str(exc))
            out.append(GalleryView(m.name, g.condition, g.label, fmt(g.score), g.caption, uris[0], uris[1], problems))
    return out


def _provenance(r: Results) -> list[tuple[str, str]]:
    p = r.provenance
    return [
        ("Spec file", p.spec_path),
        ("Spec hash", p.spec_hash),
        ("Plan hash", p.plan_hash),
        ("Data hash", p.data_hash),
        ("Device", p.device),
        ("Seed", str(p.seed)),
        ("Started", p.started),
        ("Finished", p.finished),
        ("Duration", _duration(p.duration_s)),
        ("Images", str(p.images)),
        ("Evaluation units", str(p.units)),
        ("Baseline", r.baseline or "—"),
    ]


def in_rank_order(r: Results) -> Results:
    """``r`` with its models in the ranking's order (unranked last, ties in spec order): one order on every page."""
    order = sorted(range(len(r.models)), key=lambda i: (r.models[i].rank is None, r.models[i].rank or 0, i))
    return r.model_copy(update={"models": [r.models[i] for i in order]})


def _facts(r: Results) -> RunFacts:
    p = r.provenance
    levels = sorted({c.confidence for m in r.models for c in m.criteria if c.confidence is not None}
                    | {m.production_confidence for m in r.models if m.production_confidence is not None})
    confidence = " / ".join(fmt_confidence(c) for c in levels) or "—"
    return RunFacts(
        date=(p.finished or p.started)[:16].replace("T", " ") + (" UTC" if (p.finished or p.started).endswith(("+00:00", "Z")) else ""),
        images=str(p.images), classes=str(len(r.classes)) if r.classes else "—",
        instances="—" if r.instances is None else str(r.instances), confidence=confidence, device=p.device,
        duration=_duration(p.duration_s),
    )


def build_context(r: Results, *, run_dir: Path, chart_cache: charts.ChartCache | None = None) -> ReportContext:
    """Build the page's content from ``Results``; ``run_dir`` resolves the gallery's PNG paths.

    Models appear in rank order everywhere (``in_rank_order``); ``chart_cache`` reuses SVGs drawn
    for the same inputs before (``fieldready report DIR``).
    """
    r = in_rank_order(r)
    curves, heatmaps, fam, scatter = _charts(r, chart_cache or charts.ChartCache(None))
    anchors = Anchors.of(r)
    signoff = [SignoffRow(s.role, s.name, s.date, s.decision) for s in r.signoff]
    repeat = repeatability_view(r, run_dir)
    return ReportContext(
        title=r.title, name=r.name, task=r.task,
        spec_hash=r.spec_hash, plan_hash=r.plan_hash, primary_metric=_metric_name(r, r.primary_metric),
        primary_key=r.primary_metric, facts=_facts(r), meaningful_drop=f"{MEANINGFUL_CLASS_DROP * 100:g} %",
        sections=SECTIONS,
        recommendation_model=r.recommendation.model, recommendation_reason=r.recommendation.reason,
        models=_summaries(r, anchors), criteria=_criteria_rows(r, anchors), model_names=[m.name for m in r.models],
        model_anchors=[anchors.model(i) for i in range(len(r.models))],
        comparison=_comparison(r), baseline_comparison=_baseline_comparison(r), conditions=_conditions_table(r),
        curves=curves, heatmaps=heatmaps, families=fam, scatter=scatter,
        per_class=_per_class(r), per_class_counts=_has_counts(r), gallery=_gallery(r, run_dir), envelope=envelope_tables(r),
        provenance=_provenance(r), repeatability=repeat, model_hashes=sorted(r.provenance.model_hashes.items()),
        versions=sorted(r.provenance.versions.items()),
        spec_text=r.provenance.spec_text, spec_path=r.provenance.spec_path, signoff=signoff,
    )

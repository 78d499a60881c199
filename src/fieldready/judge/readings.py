"""Readings: the figures and sentences the report shows beside the numbers, derived once by the judge.

From judged ``Results`` alone: each criterion's margin to its threshold, what would change each
model's verdict, how the paired differences with the baseline read (significant or not, which way),
and how much the primary metric got worse than clean at each point (the heat map). The report only
formats what this writes; the number formats it uses for sentences are the report's too.
"""

from __future__ import annotations

from fieldready.evaluation.metrics.registry import get_metric
from fieldready.judge.criteria import margin, threshold_words
from fieldready.judge.results import Comparison, CriterionResult, ModelResult, Results, Significance, json_number

__all__ = [
    "STATUS_WORD",
    "fmt",
    "fmt_ci",
    "fmt_confidence",
    "fmt_p",
    "threshold_text",
    "significance",
    "what_would_change",
    "read",
]

STATUS_WORD = {True: "PASS", False: "FAIL", None: "INCONCLUSIVE"}


def fmt(value: float | None, digits: int = 3) -> str:
    """Format a number for a table or a sentence: '—' for missing, fewer decimals for large magnitudes."""
    if value is None or value != value:  # NaN check without importing math
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def fmt_confidence(confidence: float | None) -> str:
    """A confidence level as the report labels intervals with it: '95 %', '90 %', '99.5 %'; '' when unknown."""
    if confidence is None or confidence != confidence:
        return ""
    return f"{round(confidence * 100, 2):g} %"


def fmt_ci(ci: list[float] | None, confidence: float | None = None) -> str:
    """An interval as '[lo, hi] 95 %' (its confidence level after it; '[lo, hi]' when the level is not
    known); '' when there is none. Every interval the report shows goes through here, so none is unlabelled."""
    if not ci or len(ci) != 2:
        return ""
    label = fmt_confidence(confidence)
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" + (f" {label}" if label else "")


def fmt_p(p: float | None) -> str:
    """A p-value: '< 0.001' below a thousandth, three decimals otherwise, '—' when missing."""
    if p is None or p != p:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def threshold_text(c: CriterionResult) -> str:
    """A criterion's threshold in words: '≥ 0.450', 'drop ≤ 10 %', … (``criteria.threshold_words``)."""
    return threshold_words(c.kind, c.threshold)


def _higher_is_better(metric: str) -> bool:
    """The metric's direction from the registry (an unknown metric, e.g. a removed plugin's, reads higher-is-better)."""
    try:
        return get_metric(metric).higher_is_better
    except KeyError:
        return True


def significance(diff: float | None, ci: list[float] | None, p: float | None, higher: bool) -> tuple[str, str]:
    """(word, reason) read from a difference's CI and/or McNemar's p at 95 %.

    Significant means every available test says so: the CI excludes 0 and/or p < 0.05. When the two
    disagree the difference is called not clearly distinguishable, with both facts in the reason.
    """
    tests: list[tuple[bool, str]] = []
    if ci and len(ci) == 2:
        excl = ci[0] > 0 or ci[1] < 0
        tests.append((excl, "95 % CI excludes 0" if excl else "95 % CI includes 0"))
    if p is not None and p == p:
        tests.append((p < 0.05, "McNemar p < 0.001" if p < 0.001 else f"McNemar p = {fmt_p(p)}"))
    if diff is None or not tests:
        return "not assessed", "no interval or test in the results"
    reason = ", ".join(t for _, t in tests)
    if all(sig for sig, _ in tests):
        better = (diff > 0) == higher
        return ("significantly better" if better else "significantly worse"), reason
    if any(sig for sig, _ in tests):
        return "not clearly distinguishable at 95 %", reason + " (the tests disagree)"
    return "not distinguishable at 95 %", reason


def what_would_change(m: ModelResult) -> list[str]:
    """Sentences, derived from the criteria results, saying what would flip this model's verdict."""
    if m.error:
        return [f"{m.name} did not complete ({m.error}); fixing the run is needed before any verdict."]
    blocking = [c for c in m.criteria if c.blocking and c.applies]
    failed = [c for c in blocking if c.passed is False]
    open_ = [c for c in blocking if c.passed is None]
    out: list[str] = []
    if failed:
        head = ", ".join(
            f"{c.id} ({c.description}: {fmt(c.value)} vs {threshold_text(c)}{'; ' + c.note if c.note else ''})"
            for c in failed
        )
        if len(failed) == 1:
            after = "GO" if not open_ else "INCONCLUSIVE until " + ", ".join(c.id for c in open_) + " is settled"
            out.append(f"{m.name} fails only on {head}; meeting that criterion would make it {after}.")
        else:
            out.append(f"{m.name} fails {len(failed)} blocking criteria: {head}; all of them must pass for GO.")
    elif open_:
        for c in open_:
            ci = f"its confidence interval {fmt_ci(c.ci, c.confidence)}" if c.ci else "its uncertainty"
            out.append(
                f"{m.name} is undecided on {c.id} ({c.description}): {ci} straddles the threshold "
                f"{threshold_text(c)} (measured {fmt(c.value)}). More test images narrow the interval: "
                f"entirely on the passing side makes it GO, on the failing side NO-GO."
                + (f" Per severity it {c.note}." if c.note else "")
            )
    else:
        margins = [(c.margin, c) for c in blocking if c.margin is not None]
        if margins:
            mg, c = min(margins, key=lambda t: t[0])
            out.append(
                f"{m.name} passes every blocking criterion; the closest call is {c.id} ({c.description}): "
                f"{fmt(c.value)} vs {threshold_text(c)}, a margin of {fmt(mg)}. A change of that size would make it NO-GO."
            )
        else:
            out.append(f"{m.name} has no blocking criteria with measured values.")
    warn = [c for c in m.criteria if not c.blocking and c.applies and c.passed is not True]
    if warn:
        out.append("Warnings (non-blocking, do not change the verdict): " + ", ".join(
            f"{c.id} {STATUS_WORD[c.passed].lower()}" for c in warn) + ".")
    return out


def _read_comparison(c: Comparison) -> Comparison:
    higher = _higher_is_better(c.metric)
    clean = significance(c.clean_difference, c.clean_ci, c.mcnemar_p, higher)
    # The production score is the primary metric under the production mix: same direction.
    production = significance(c.production_difference, c.production_ci, None, higher)
    return c.model_copy(update={
        "higher_is_better": higher,
        "clean_significance": Significance(word=clean[0], reason=clean[1]),  # type: ignore[arg-type]
        "production_significance": Significance(word=production[0], reason=production[1]),  # type: ignore[arg-type]
    })


def _read_model(r: Results, m: ModelResult) -> ModelResult:
    criteria = [c.model_copy(update={"margin": json_number(margin(c.kind, c.value, c.threshold))}) for c in m.criteria]
    higher = _higher_is_better(r.primary_metric)
    clean = m.clean.get(r.primary_metric)
    conditions = []
    for c in m.conditions:
        v = c.metrics.get(r.primary_metric)
        drop = None if v is None or clean is None else (clean - v if higher else v - clean)
        conditions.append(c.model_copy(update={"drop": json_number(drop)}))
    read = m.model_copy(update={
        "criteria": criteria,
        "conditions": conditions,
        "comparison": _read_comparison(m.comparison) if m.comparison is not None else None,
    })
    return read.model_copy(update={"change": what_would_change(read)})


def read(results: Results) -> Results:
    """``results`` with every reading filled in (margins, what would change, significance, heat-map drops)."""
    return results.model_copy(update={"models": [_read_model(results, m) for m in results.models]})

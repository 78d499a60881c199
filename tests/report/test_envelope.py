"""The operating envelope in the report (table per model, marks on the curves) and confidence labels on every interval."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from fieldready.judge.results import EnvelopeResult, Results
from fieldready.report.charts import EnvelopeMark, Series, severity_curve_svg
from fieldready.report.context import build_context
from fieldready.report.envelope_view import envelope_marks, envelope_tables, holds_text
from fieldready.report.render import make_environment, render_html

_BLUR = [0.5, 1.125, 1.75, 2.375, 3.0]  # the fixture's gaussian_blur severities, σ px


def _envelopes() -> dict[str, list[EnvelopeResult]]:
    common = dict(condition="gaussian_blur", corruption="gaussian_blur", metric="map", kind="at_least", threshold=0.45,
                  unit="σ in pixels", tested=_BLUR, confidence=0.95)
    return {
        "model-a": [EnvelopeResult(criterion="clean-map", description="map on gaussian_blur ≥ 0.45", status="passes at all tested",
                                   severity=3.0, ci=[2.6, 3.0], ci_status=["interpolated", "passes at all tested"],
                                   position=4.0, ci_position=[3.36, 4.0], **common)],
        "model-b": [EnvelopeResult(criterion="clean-map", description="map on gaussian_blur ≥ 0.45", status="interpolated",
                                   severity=1.6, ci=[1.3, 1.9], ci_status=["interpolated", "interpolated"],
                                   position=1.76, ci_position=[1.28, 2.24], **common)],
        "model-c": [EnvelopeResult(criterion="clean-map", description="map on gaussian_blur ≥ 0.45", status="fails at lowest",
                                   severity=None, ci=[None, 0.9], ci_status=["fails at lowest", "interpolated"],
                                   position=None, ci_position=[None, 0.64], **common)],
    }


def _with_envelope(results: Results, production_confidence: float = 0.95) -> Results:
    env = _envelopes()
    return results.model_copy(update={"models": [
        m.model_copy(update={"envelope": env.get(m.name, []),
                             "production_confidence": production_confidence if m.production_ci else None})
        for m in results.models]})


def _html(results: Results, run_dir: Path) -> str:
    return render_html(make_environment(None), build_context(results, run_dir=run_dir), pdf=False)


def test_envelope_table_per_model_reads_the_judges_numbers(tmp_path: Path, detection_results: Results) -> None:
    results = _with_envelope(detection_results)
    tables = {t.model: t for t in envelope_tables(results)}
    assert set(tables) == {"model-a", "model-b", "model-c"}
    b = tables["model-b"].rows[0]
    assert b.holds == "1.600 (interpolated)" and b.interval == "[1.300, 1.900] 95 %"
    assert b.sentence.startswith("model-b meets map on gaussian_blur ≥ 0.45 up to gaussian_blur 1.600 (σ in pixels)")
    a = tables["model-a"].rows[0]
    assert a.holds.startswith("≥ 3.000") and a.interval == "[2.600, ≥ 3.000] 95 %"
    c = tables["model-c"].rows[0]
    # below the tested range: a bound on it, never an invented number
    assert c.holds.startswith("< 0.500") and c.interval == "[< 0.500, 0.900] 95 %"
    html = _html(results, tmp_path)
    section = html[html.index('<section id="envelope">'):]
    section = section[:section.index("</section>")]
    for model in ("model-a", "model-b", "model-c"):
        assert f">{model}</h3>" in section
    assert "1.600 (interpolated)" in section and "[1.300, 1.900] 95 %" in section
    assert 'href="#envelope"' in html  # listed in the contents


def test_an_interval_wholly_beyond_the_tested_range_is_one_bound() -> None:
    e = _envelopes()["model-a"][0].model_copy(update={"ci": [3.0, 3.0], "ci_status": ["passes at all tested"] * 2})
    row = envelope_tables(Results.model_construct(models=[SimpleNamespace(name="m", envelope=[e])]))[0].rows[0]
    assert row.interval == "whole interval ≥ 3.000 (95 %)"


def test_descending_scales_write_bounds_the_right_way_round() -> None:
    jpeg = EnvelopeResult(condition="jpeg", corruption="jpeg_compression", criterion="c1", description="map ≥ 0.5",
                          metric="map", kind="at_least", threshold=0.5, status="passes at all tested", severity=15.0,
                          tested=[50.0, 30.0, 15.0])
    assert holds_text(jpeg).startswith("≤ 15.0")  # harsher is lower quality
    first = jpeg.model_copy(update={"status": "fails at lowest", "severity": None})
    assert holds_text(first).startswith("> 50.0")


def test_curve_marks_sit_at_the_envelope(tmp_path: Path, detection_results: Results) -> None:
    results = _with_envelope(detection_results)
    marks = envelope_marks(results, "gaussian_blur")
    # only the interpolated envelope is a mark; the curve's x = 0 is clean, so severity k sits at k + 1
    assert len(marks) == 1
    mark = marks[0]
    assert (mark.label, mark.style) == ("clean-map", 1)
    assert [mark.x, mark.low, mark.high] == pytest.approx([2.76, 2.28, 3.24])
    assert envelope_marks(results, "jpeg") == []
    html = _html(results, tmp_path)
    blur_chart = html[html.index('id="curve-0"'):]
    blur_chart = blur_chart[:blur_chart.index("</figure>")]
    assert "envelope (per model)" in blur_chart and "clean-map" in blur_chart
    assert "clean-map ≥ 0.450" in blur_chart  # the clean floor the marks refer to is drawn on the curve
    other = html[html.index('id="curve-1"'):]
    assert "envelope (per model)" not in other[:other.index("</figure>")]


def test_a_mark_changes_the_chart() -> None:
    series = [Series("m", [0.6, 0.5, 0.4, 0.3], 0)]
    plain = severity_curve_svg("k", "t", ["clean", "1", "2", "3"], series, ylabel="mAP")
    marked = severity_curve_svg("k", "t", ["clean", "1", "2", "3"], series, ylabel="mAP",
                                marks=[EnvelopeMark(2.5, "c1", 0, 2.0, 3.0)])
    assert plain != marked and "c1" in marked and "c1" not in plain


class _Intervals(HTMLParser):
    """Every '[a, b]' in the page's text outside <pre>/<code>, with its cell's column header when in a table."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (text after the interval's start, column header or "")
        self._skip = 0
        self._headers: list[list[str]] = []
        self._col: list[int] = []
        self._in_head: list[bool] = []
        self._cell: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("pre", "code", "svg", "style"):
            self._skip += 1
        elif tag == "table":
            self._headers.append([])
            self._col.append(-1)
            self._in_head.append(False)
        elif tag == "thead" and self._in_head:
            self._in_head[-1] = True
        elif tag == "tr" and self._col:
            self._col[-1] = -1
        elif tag in ("td", "th") and self._col:
            self._col[-1] += 1
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code", "svg", "style"):
            self._skip -= 1
        elif tag == "table" and self._headers:
            self._headers.pop(), self._col.pop(), self._in_head.pop()
        elif tag == "thead" and self._in_head:
            self._in_head[-1] = False
        elif tag in ("td", "th") and self._cell is not None and self._col:
            text = "".join(self._cell)
            if self._in_head[-1]:
                self._headers[-1].append(text)
            else:
                heads = self._headers[-1]
                col = self._col[-1]
                self._collect(text, heads[col] if col < len(heads) else "")
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        else:
            self._text.append(data)

    def _collect(self, text: str, header: str) -> None:
        for m in _INTERVAL.finditer(text):
            self.found.append((text[m.start():m.end() + 12], header))

    def close(self) -> None:
        super().close()
        self._collect(" ".join(self._text), "")


_NUM = r"[<>≥≤]?\s*[-+−]?\d+(?:\.\d+)?"
# a measured interval has decimals ("[0.410, 0.470]"); a unit's "[0, 1]" range does not, and is no interval
_INTERVAL = re.compile(rf"\[(?=[^\]]*\.)\s*{_NUM}\s*,\s*{_NUM}\s*\]")
_LABEL = re.compile(rf"\[\s*{_NUM}\s*,\s*{_NUM}\s*\]\s*\d+(?:\.\d+)?\s*%")


def _unlabelled(html: str) -> list[tuple[str, str]]:
    parser = _Intervals()
    parser.feed(html)
    parser.close()
    assert parser.found, "the page shows no interval at all"
    return [(t, h) for t, h in parser.found if not _LABEL.match(t) and "%" not in h]


def test_every_interval_states_its_confidence(tmp_path: Path, detection_results: Results, classification_results: Results) -> None:
    for results in (_with_envelope(detection_results), classification_results):
        assert _unlabelled(_html(results, tmp_path)) == []


def test_an_unlabelled_interval_would_be_found(tmp_path: Path, detection_results: Results) -> None:
    """The check above can fail: an interval without its confidence (an old results.json) is reported."""
    results = detection_results.model_copy(update={"models": [
        m.model_copy(update={"production_confidence": None}) for m in detection_results.models]})
    assert _unlabelled(_html(results, tmp_path))


def test_production_score_at_two_confidences_says_why(tmp_path: Path, detection_results: Results) -> None:
    results = _with_envelope(detection_results)
    models = []
    for m in results.models:
        criteria = [c.model_copy(update={"confidence": 0.90, "ci": [c.ci[0] + 0.01, c.ci[1] - 0.01]})
                    if c.metric == "production_score" else c for c in m.criteria]
        models.append(m.model_copy(update={"criteria": criteria}))
    html = _html(results.model_copy(update={"models": models}), tmp_path)
    row = html[html.index('id="criterion-production"'):]
    row = unescape(row[:row.index("</tr>")])
    assert "[0.450, 0.490] 90 %" in row
    assert "at the criterion's confidence; the summary shows the production score's [0.440, 0.500] 95 %" in row
    summary = html[html.index('<section id="summary">'):html.index('id="contents"')]
    assert "[0.440, 0.500] 95 %" in summary
    # at the same confidence the two intervals are the same, and nothing needs explaining
    assert "the summary shows" not in _html(results, tmp_path)

"""`fieldready report DIR` re-renders fast: charts cached by their inputs, the PDF by its printable HTML."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldready.report import charts, render
from fieldready.report.render import CACHE_DIR, render_report
from tests.report.conftest import make_detection_results


def test_chart_cache_reuses_only_identical_calls(tmp_path: Path) -> None:
    cache = charts.ChartCache(tmp_path / "c")
    series = [charts.Series("m", [0.5, 0.4], 0, [0.45, 0.35], [0.55, 0.45])]
    first = cache.svg(charts.severity_curve_svg, "k", "t", ["clean", "1"], series, ylabel="y")
    again = cache.svg(charts.severity_curve_svg, "k", "t", ["clean", "1"], series, ylabel="y")
    other = cache.svg(charts.severity_curve_svg, "k", "t", ["clean", "1"], series, ylabel="another")
    assert first == again and other != first
    assert (cache.hits, cache.misses) == (1, 2)
    assert charts.ChartCache(None).svg(charts.severity_curve_svg, "k", "t", ["clean", "1"], series, ylabel="y") == first


def test_second_rendering_lays_out_no_pdf_and_draws_no_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = make_detection_results(tmp_path)
    render_report(results, tmp_path)
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert list((tmp_path / CACHE_DIR / "charts").glob("*.svg"))

    def no_layout(html: str, base_url: Path) -> bytes:
        raise AssertionError("the PDF was laid out again for the same HTML")

    monkeypatch.setattr(render, "_pdf_bytes", no_layout)
    for name in ("severity_curve_svg", "heatmap_svg", "family_bars_svg", "scatter_svg"):
        def no_drawing(*args: object, **kwargs: object) -> str:
            raise AssertionError("a chart was drawn again for the same inputs")

        no_drawing.__name__ = name  # the cache keys on the function's name (and this module's code), not its identity
        monkeypatch.setattr(charts, name, no_drawing)
    render_report(results, tmp_path)
    assert (tmp_path / "report.pdf").read_bytes() == pdf

"""Charts draw names as plain text: a class or model name with `$` never becomes (broken) mathtext."""

from __future__ import annotations

from fieldready.report.charts import Series, severity_curve_svg


def test_dollar_signs_in_names_are_drawn_literally() -> None:
    svg = severity_curve_svg(
        "dollar", "price $tag", ["1", "2"], [Series(name="cost $x_1$", values=[0.5, 0.4], style=0)], ylabel="a$b"
    )
    assert "cost $x_1$" in svg
    assert "price $tag" in svg

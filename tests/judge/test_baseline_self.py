"""The baseline is not judged against itself: its own drop vs the baseline and its mCE take no part in its verdict."""

from __future__ import annotations

from pathlib import Path

from fieldready.judge.criteria import model_verdict
from fieldready.pipeline import run
from tests._project import make_detection_project


def test_baseline_relative_criteria_do_not_judge_the_baseline(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=4)
    text = spec.read_text().replace(
        "  - {metric: rpc, at_least: 0.5}\n",
        "  - {metric: rpc, at_least: 0.5}\n"
        "  - {id: vs-base, metric: map, on: all, max_drop_vs_baseline: 0.0}\n"
        "  - {id: mce-cap, metric: mce, at_most: 0.9}\n",
    )
    spec.write_text(text)
    outcome = run(spec, tmp_path / "run", progress=False)
    by_model = {m.name: {c.id: c for c in m.criteria} for m in outcome.results.models}
    for cid in ("vs-base", "mce-cap"):
        base = by_model["model-a"][cid]  # the baseline: mCE 1 and drop 0 by definition
        assert base.applies is False and base.passed is None and base.note == ""
        other = by_model["model-b"][cid]
        assert other.applies is True and other.value is not None
    assert by_model["model-a"]["mce-cap"].value is not None and abs(by_model["model-a"]["mce-cap"].value - 1.0) < 1e-12
    # the baseline's verdict is the one its applicable criteria give; mCE 1 > 0.9 would have failed it
    base = next(m for m in outcome.results.models if m.name == "model-a")
    assert base.verdict == model_verdict([c for c in base.criteria if c.applies])
    assert model_verdict([c.model_copy(update={"applies": True, "passed": False}) if c.id == "mce-cap" else c
                          for c in base.criteria]) == "NO-GO"
    html = (tmp_path / "run" / "report.html").read_text()
    assert "baseline" in html

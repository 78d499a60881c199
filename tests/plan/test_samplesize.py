"""Sample-size warnings: a criterion the data cannot decide is flagged with the size it needs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.plan.samplesize import needed
from tests._project import make_detection_project


def test_needed_matches_the_normal_approximation() -> None:
    # z_0.975 = 1.95996…: (1.96 * 0.5 / 0.05)^2 = 384.1 → 385; halving the margin quadruples n
    assert needed(0.05, 0.95) == 385
    assert needed(0.025, 0.95) == 1537


def test_validate_warns_for_small_margin_and_rare_class(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=10)
    spec.write_text(spec.read_text().replace("{metric: rpc, at_least: 0.5}", "{metric: map, on: clean, max_drop_vs_baseline: 0.02}"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert "criteria[2] (c3): a max_drop_vs_baseline of 0.02" in result.output
    assert "needs about 9604 images" in result.output
    assert "class 'square' has 10 instances" in result.output

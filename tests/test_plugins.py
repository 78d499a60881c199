"""A user's own corruption, registered from a module the spec names, runs like a built-in one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready import corruptions
from fieldready.cli import cli
from tests._project import make_detection_project

PLUGIN = '''\
import torch
from fieldready.corruptions import register


@register("lens_dirt", family="field", unit="opacity of a grey smudge", valid_range=(0.0, 1.0),
          levels=(0.1, 0.2, 0.3, 0.4, 0.5), identity=0.0)
def lens_dirt(images, severity, rng, *, spatial_scale=1.0):
    """A grey smudge at a random place per image."""
    n, _, h, w = images.shape
    cy, cx = rng.uniform(1)[:, 0] * h, rng.uniform(1)[:, 0] * w
    ys = torch.arange(h, device=images.device).view(1, h, 1)
    xs = torch.arange(w, device=images.device).view(1, 1, w)
    d2 = (ys - cy.view(n, 1, 1)) ** 2 + (xs - cx.view(n, 1, 1)) ** 2
    mask = torch.exp(-d2 / (2 * (0.15 * min(h, w)) ** 2))[:, None] * severity
    return images * (1 - mask) + 0.5 * mask
'''


@pytest.fixture
def cleanup():
    yield
    if "lens_dirt" in corruptions.names():
        corruptions.unregister("lens_dirt")
    sys.modules.pop("mycorruptions", None)


def test_plugin_corruption_is_validated_planned_run_and_reported(tmp_path: Path, cleanup: None) -> None:
    spec = make_detection_project(tmp_path, n_images=4)
    (tmp_path / "mycorruptions.py").write_text(PLUGIN)
    text = spec.read_text().replace("baseline: model-a\n", "baseline: model-a\nplugins: [mycorruptions]\n")
    text = text.replace("conditions:\n", "conditions:\n  - {corruption: lens_dirt, severity: {levels: [2, 5]}, frequency: 0.1}\n")
    spec.write_text(text)
    assert CliRunner().invoke(cli, ["validate", str(spec)]).exit_code == 0
    plan = CliRunner().invoke(cli, ["plan", str(spec)])
    assert "lens_dirt" in plan.output
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    points = [c for c in results["models"][0]["conditions"] if c["condition"] == "lens_dirt"]
    assert [p["severity"] for p in points] == [0.2, 0.5]
    assert "lens_dirt" in (tmp_path / "run" / "report.html").read_text()


def test_plugin_severity_out_of_range_is_located(tmp_path: Path, cleanup: None) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    (tmp_path / "mycorruptions.py").write_text(PLUGIN)
    text = spec.read_text().replace("baseline: model-a\n", "baseline: model-a\nplugins: [mycorruptions]\n")
    text = text.replace("conditions:\n", "conditions:\n  - {corruption: lens_dirt, severity: {values: [2.0]}}\n")
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "conditions[0].severity" in result.output and "[0.0, 1.0]" in result.output


def test_broken_plugin_module_is_reported(tmp_path: Path, cleanup: None) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    (tmp_path / "mycorruptions.py").write_text("raise ImportError('needs scipy')\n")
    spec.write_text(spec.read_text().replace("baseline: model-a\n", "baseline: model-a\nplugins: [mycorruptions]\n"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "plugins[0]: cannot import plugin module 'mycorruptions'" in result.output

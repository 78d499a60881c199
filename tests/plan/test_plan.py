"""The plan: countable units, stable per-image seeds, and a plan hash that ignores formatting."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.plan import CLEAN, compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project

REFORMATTED = """\
# the same spec, written differently
fieldready: 1
name: tiny-detector
task: detection
dataset:
  annotations: val.json
  format: coco
  images: ./images
models:
  - name: model-a
    kind: torchscript
    path: models/a.pt
  - {kind: torchscript, name: model-b, path: models/../models/b.pt}
baseline: model-a
conditions:
  - corruption: gaussian_noise
    frequency: 0.30
    severity:
      levels: [1, 3]
  - {corruption: translate, severity: {values: [2.0, 6.0]}, frequency: 0.1}
  - name: night
    frequency: 0.1
    compose:
      - {corruption: brightness, severity: -0.30}
      - {corruption: gaussian_noise, severity: 0.05}
criteria:
  - {metric: map, on: clean, at_least: 0.3}
  - {metric: map, on: gaussian_noise, max_drop: 0.5}
  - {metric: rpc, at_least: 0.5}
  - {metric: production_score, at_least: 0.2}
  - {metric: ap, class: square, on: night, at_least: 0.1, severity: warning}
report: {title: Tiny detector, signoff: [{role: ML lead}]}
run: {device: cpu, seed: 0, batch_size: 5, bootstrap: 200}
"""


def _plan_json(spec: Path) -> dict:
    result = CliRunner().invoke(cli, ["plan", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_plan_counts_units_and_points(tmp_path: Path) -> None:
    plan = compile_plan(load_spec(make_detection_project(tmp_path, n_images=6)))
    # clean + 2 noise levels + 2 shifts + 1 composition
    assert [p.key for p in plan.points][0] == CLEAN
    assert len(plan.points) == 6
    assert len(plan.units) == 2 * 6
    assert plan.point(plan.points[1].key).steps[0].severity == 0.08  # gaussian_noise level 1
    summary = plan.summary()
    assert summary["cost"]["forward_passes"] == 6 * 6 * 2
    assert summary["images"] == 6


def test_plan_hash_is_stable_and_ignores_formatting(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=6)
    first, second = _plan_json(spec), _plan_json(spec)
    assert first["plan_hash"] == second["plan_hash"]
    other = tmp_path / "reformatted.yaml"
    other.write_text(REFORMATTED)
    assert _plan_json(other)["plan_hash"] == first["plan_hash"]


def test_plan_hash_changes_with_meaning(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=6)
    before = _plan_json(spec)["plan_hash"]
    spec.write_text(spec.read_text().replace("seed: 0,", "seed: 1,"))
    assert _plan_json(spec)["plan_hash"] != before
    spec.write_text(spec.read_text().replace("seed: 1,", "seed: 0,"))
    assert _plan_json(spec)["plan_hash"] == before
    # a changed image changes the data hash, and so the plan
    png = next((tmp_path / "images").iterdir())
    png.write_bytes(png.read_bytes() + b"\0")
    assert _plan_json(spec)["plan_hash"] != before


def test_plan_text_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(make_detection_project(tmp_path, n_images=3))])
    assert result.exit_code == 0
    assert "units 12" in result.output and "gaussian_noise" in result.output and "cost:" in result.output

"""Unlabelled production images: only label-free criteria, judged against the model's clean answers."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fieldready.cli import cli
from tests._project import make_detection_project

UNLABELLED = """\
fieldready: 1
name: raw-production-frames
task: detection
dataset: {format: images, images: images}
models:
  - {name: model-a, kind: torchscript, path: models/a.pt}
conditions:
  - {preset: repeatability}
criteria:
  - {metric: consistency, on: translate, at_least: 0.5}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 200}
"""


def test_label_free_run_on_unlabelled_images(tmp_path: Path) -> None:
    make_detection_project(tmp_path, n_images=6)
    spec = tmp_path / "raw.yaml"
    spec.write_text(UNLABELLED)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    model = json.loads((out / "results.json").read_text())["models"][0]
    crit = model["criteria"][0]
    assert 0.0 <= crit["value"] <= 1.0 and crit["ci"] is not None
    translate = [c for c in model["conditions"] if c["condition"] == "translate"]
    assert [c["severity"] for c in translate] == [1.0, 2.0, 3.0, 4.0]
    assert all(c["metrics"]["consistency"] is not None for c in translate)


def test_labelled_metric_on_unlabelled_images_is_refused(tmp_path: Path) -> None:
    make_detection_project(tmp_path, n_images=2)
    spec = tmp_path / "raw.yaml"
    spec.write_text(UNLABELLED.replace("metric: consistency", "metric: map"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "criteria[0].metric: metric 'map' needs labels" in result.output

"""Spec values that used to validate and then crash or mislead: refused by `validate` with the key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from tests._project import make_detection_project

CLASSIFICATION = """\
fieldready: 1
name: tiny-classifier
task: classification
dataset: {format: imagefolder, images: images}
models:
  - {name: mean, kind: torchscript, path: models/a.pt}
criteria:
  - {metric: top1, on: clean, at_least: 0.5}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 0}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_detection_project(tmp_path, n_images=3)


def _validate(spec: Path, old: str, new: str) -> tuple[int, str]:
    text = spec.read_text()
    assert old in text, f"fixture spec lacks {old!r}"
    spec.write_text(text.replace(old, new, 1))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception), result.exception
    return result.exit_code, result.output


def _errors(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.match(r"^.+\.yaml:\d+:\d+: ", line)]


MODEL_A = "{name: model-a, kind: torchscript, path: models/a.pt}"

# (case id, old text, new text, key path, words of the message)
CASES = [
    ("size-zero", MODEL_A, "{name: model-a, kind: torchscript, path: models/a.pt, input: {size: [0, 64]}}",
     "models[0].input.size[0]", "greater than 0"),
    ("size-negative", MODEL_A, "{name: model-a, kind: torchscript, path: models/a.pt, input: {size: [64, -8]}}",
     "models[0].input.size[1]", "greater than 0"),
    ("std-zero", MODEL_A, "{name: model-a, kind: torchscript, path: models/a.pt, input: {mean: [0, 0, 0], std: [1, 0, 1]}}",
     "models[0].input.std", "> 0"),
    ("std-negative", MODEL_A, "{name: model-a, kind: torchscript, path: models/a.pt, input: {mean: [0, 0, 0], std: [1, 1, -2]}}",
     "models[0].input.std", "> 0"),
    ("mean-nan", MODEL_A, "{name: model-a, kind: torchscript, path: models/a.pt, input: {mean: [0, .nan, 0], std: [1, 1, 1]}}",
     "models[0].input.mean[1]", "finite"),
    ("subset-seed-negative", "format: coco, images: images", "format: coco, subset: {size: 2, seed: -1}, images: images",
     "dataset.subset.seed", "greater than or equal to 0"),
    ("run-seed-negative", "seed: 0, batch_size: 5", "seed: -3, batch_size: 5", "run.seed", "greater than or equal to 0"),
    ("threshold-nan", "at_least: 0.3}", "at_least: .nan}", "criteria[0].at_least", "finite"),
    ("threshold-inf", "at_least: 0.3}", "at_least: .inf}", "criteria[0].at_least", "finite"),
    ("threshold-minus-inf", "at_least: 0.3}", "at_least: -.inf}", "criteria[0].at_least", "finite"),
    ("severity-nan", "levels: [1, 3]", "values: [0.1, .nan]", "conditions[0].severity.values[1]", "finite"),
    ("percent-at-least", "at_least: 0.3}", "at_least: 70}", "criteria[0].at_least", "write 0.7 for 70 %"),
    ("percent-at-least-aggregate", "{metric: production_score, at_least: 0.2}", "{metric: production_score, at_least: 20}",
     "criteria[3].at_least", "write 0.2 for 20 %"),
    ("percent-max-drop", "max_drop: 0.5}", "max_drop: 15}", "criteria[1].max_drop", "write 0.15 for 15 %"),
    ("percent-max-drop-vs-baseline", "{metric: rpc, at_least: 0.5}", "{metric: map, on: clean, max_drop_vs_baseline: 5}",
     "criteria[2].max_drop_vs_baseline", "write 0.05 for 5 %"),
    ("negative-max-drop", "max_drop: 0.5}", "max_drop: -0.1}", "criteria[1].max_drop", "fraction in [0, 1]"),
    ("name-mathtext", MODEL_A, '{name: "$\\\\alpha$", kind: torchscript, path: models/a.pt}', "models[0].name",
     "letters, digits, space and _ - . +"),
    ("name-slash", MODEL_A, '{name: "../evil", kind: torchscript, path: models/a.pt}', "models[0].name", "letters, digits"),
    ("name-newline", MODEL_A, '{name: "a\\nb", kind: torchscript, path: models/a.pt}', "models[0].name", "letters, digits"),
    ("metric-of-the-other-task", "{metric: rpc, at_least: 0.5}", "{metric: top1, at_least: 0.5}", "criteria[2].metric",
     "'top1' is a classification metric; this spec's task is detection"),
    ("primary-metric-of-the-other-task", "task: detection", "task: detection\nprimary_metric: top1", "primary_metric",
     "'top1' is a classification metric; this spec's task is detection"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_value_is_refused_with_its_key(project: Path, case: tuple) -> None:
    _, old, new, key, words = case
    code, out = _validate(project, old, new)
    assert code == 2, out
    errors = _errors(out)
    assert any(f": {key}: " in line and words in line for line in errors), out


def test_ratio_metrics_may_exceed_one(project: Path) -> None:
    code, out = _validate(project, "{metric: rpc, at_least: 0.5}", "{metric: rpc, at_least: 1.02}")
    assert code == 0, out


def test_safe_model_names_pass(project: Path) -> None:
    code, out = _validate(project, "name: model-b,", "name: ResNet-50 v1.5+aug_2,")
    assert code == 0, out


def test_detection_metric_in_a_classification_spec(tmp_path: Path) -> None:
    make_detection_project(tmp_path, n_images=2)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir()
    spec = tmp_path / "cls.yaml"
    spec.write_text(CLASSIFICATION)
    code, out = _validate(spec, "{metric: top1, on: clean, at_least: 0.5}", "{metric: map, on: clean, at_least: 0.5}")
    assert code == 2
    assert "criteria[0].metric: 'map' is a detection metric; this spec's task is classification" in out
    assert "did you mean" not in out


def test_level_out_of_range_is_one_line(project: Path) -> None:
    code, out = _validate(project, "levels: [1, 3]", "levels: [7]")
    assert code == 2
    assert _errors(out) and all("conditions[0].severity.levels: ImageNet-C levels are 1..5, got 7" in e for e in _errors(out))


def test_severity_neither_number_nor_mapping_is_one_line(project: Path) -> None:
    code, out = _validate(project, "severity: {levels: [1, 3]}", "severity: strong")
    assert code == 2
    assert len(_errors(out)) == 1 and "conditions[0].severity: Input should be" in out and "a number" in out


def test_a_detection_format_under_task_classification_fails_validate(project: Path) -> None:
    """A COCO dataset under task: classification validated, then the plan refused it; validate says it now."""
    project.write_text(project.read_text().replace("task: detection", "task: classification"))
    result = CliRunner().invoke(cli, ["validate", str(project)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "dataset.format: a coco dataset is for detection, but task is classification" in result.output

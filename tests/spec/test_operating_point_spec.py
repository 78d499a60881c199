"""A model's operating_point in the spec: the forms that validate, and the mistakes `validate` refuses (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.spec import load_spec
from tests._project import make_detection_project

MODEL_A = "  - {name: model-a, kind: torchscript, path: models/a.pt}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_detection_project(tmp_path, n_images=3)


def _with(spec: Path, operating_point: str) -> Path:
    text = spec.read_text()
    assert MODEL_A in text
    spec.write_text(text.replace(MODEL_A, MODEL_A[:-1] + f", operating_point: {operating_point}}}"))
    return spec


@pytest.mark.parametrize("form", [
    "{score_threshold: 0.4}",
    "{score_threshold: {square: 0.5, other: 0.3}}",
    "{rule: max_f1}",
    "{rule: min_precision, precision: 0.9}",
])
def test_declared_forms_validate(project: Path, form: str) -> None:
    loaded = load_spec(_with(project, form))
    assert loaded.spec.models[0].operating_point is not None
    assert loaded.spec.models[1].operating_point is None  # the default: rule max_f1 at evaluation


@pytest.mark.parametrize(("form", "where", "what"), [
    ("{score_threshold: 0.4, rule: max_f1}", "models[0].operating_point", "exactly one of"),
    ("{rule: min_precision}", "models[0].operating_point", "needs precision"),
    ("{rule: max_f1, precision: 0.9}", "models[0].operating_point", "only with rule: min_precision"),
    ("{rule: max_recall}", "models[0].operating_point.rule", "max_f1"),
    ("{rule: min_precision, precision: 1.5}", "models[0].operating_point.precision", "1"),
    ("{score_threshold: {square: 0.5, cat: 0.3}}", "models[0].operating_point.score_threshold.cat", "model 'model-a'"),
    ("{score_threshold: {square: 0.5}}", "models[0].operating_point.score_threshold", "no threshold for other"),
    ("{score_threshold: .nan}", "models[0].operating_point.score_threshold", ""),
    # a score is in [0, 1]: above reports nothing, below everything, silently
    ("{score_threshold: 1.5}", "models[0].operating_point.score_threshold", "in [0, 1]"),
    ("{score_threshold: -0.1}", "models[0].operating_point.score_threshold", "in [0, 1]"),
    ("{score_threshold: true}", "models[0].operating_point.score_threshold", "got True"),
    ("{score_threshold: {square: 2, other: 0.3}}", "models[0].operating_point.score_threshold", "class 'square' must be a number in [0, 1]"),
])
def test_mistakes_exit_2_naming_the_model_and_key(project: Path, form: str, where: str, what: str) -> None:
    result = CliRunner().invoke(cli, ["validate", str(_with(project, form))])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert where in result.output and what in result.output, result.output
    assert "model 'model-a'" in result.output, result.output


def test_a_rule_on_unlabelled_images_is_refused(project: Path) -> None:
    spec = _with(project, "{rule: max_f1}")
    text = spec.read_text().replace("dataset: {format: coco, images: images, annotations: val.json}",
                                    "dataset: {format: images, images: images}")
    text = "\n".join(line for line in text.splitlines() if "metric:" not in line or "consistency" in line)
    spec.write_text(text.replace("criteria:\n", "criteria:\n  - {metric: consistency, on: night, at_least: 0.1}\n"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "model 'model-a'" in result.output and "unlabelled" in result.output, result.output


def test_an_operating_point_on_a_classifier_is_refused(project: Path) -> None:
    spec = _with(project, "{score_threshold: 0.4}")
    spec.write_text(spec.read_text().replace("task: detection", "task: classification"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "models[0].operating_point" in result.output and "for detection models" in result.output, result.output

"""Spec validation: every broken spec gives SPEC:LINE:COL: key.path: message, exit 2, no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.errors import SpecError
from fieldready.spec import load_spec
from tests._project import make_detection_project

LOCATED = re.compile(r"^(?P<file>.+\.yaml):(?P<line>\d+):(?P<col>\d+): (?P<key>[\w.\[\]]+)?:? ?(?P<msg>.+)$")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_detection_project(tmp_path, n_images=4)


def _break(spec: Path, old: str, new: str) -> Path:
    text = spec.read_text()
    assert old in text, f"fixture spec lacks {old!r}"
    spec.write_text(text.replace(old, new, 1))
    return spec


def _validate(spec: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    return result.exit_code, result.output


def test_valid_spec_loads(project: Path) -> None:
    loaded = load_spec(project)
    assert loaded.spec.name == "tiny-detector"
    assert [c.name or c.corruption for c in loaded.spec.conditions] == ["gaussian_noise", "translate", "night"]
    code, out = _validate(project)
    assert code == 0 and "ok" in out


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("task: detection", "task: detection\nmodles: []", 4, "modles", "did you mean 'models'"),
        ("seed: 0, batch_size: 5", "seed: zero, batch_size: 5", 22, "run.seed", "integer"),
        ("path: models/b.pt", "path: models/missing.pt", 7, "models[1].path", "not found"),
        ("corruption: gaussian_noise, severity: {levels", "corruption: gaussian_nois, severity: {levels", 10, "conditions[0].corruption", "did you mean gaussian_noise"),
        ("on: gaussian_noise, max_drop", "on: fog, max_drop", 17, "criteria[1].on", "unknown condition 'fog'"),
        ("class: square", "class: circle", 20, "criteria[4].class", "unknown class 'circle'"),
        ("baseline: model-a", "baseline: model-z", 8, "baseline", "unknown model 'model-z'"),
        ("levels: [1, 3]", "values: [0.1, 7]", 10, "conditions[0].severity", "outside the valid range"),
        ("at_least: 0.3}", "at_least: 0.3, at_most: 0.9}", 16, "criteria[0]", "exactly one threshold"),
    ],
)
def test_broken_spec_is_located(project: Path, old: str, new: str, line: int, key: str, message: str) -> None:
    _break(project, old, new)
    with pytest.raises(SpecError) as info:
        load_spec(project)
    text = str(info.value)
    assert message in text, text
    code, out = _validate(project)
    assert code == 2
    assert "Traceback" not in out
    first = out.strip().splitlines()[0]
    m = LOCATED.match(first)
    assert m, first
    assert m["file"] == str(project)
    assert m["key"] == key, first
    assert int(m["line"]) == line, first


def test_yaml_syntax_error_is_located(project: Path) -> None:
    _break(project, "models:\n", "models:\n  - {name: broken\n")
    code, out = _validate(project)
    assert code == 2 and "Traceback" not in out
    first = out.strip().splitlines()[0]
    m = LOCATED.match(first)
    assert m and "YAML syntax error" in first
    assert int(m["line"]) >= 6


def test_all_problems_reported_together(project: Path) -> None:
    _break(project, "baseline: model-a", "baseline: model-z")
    _break(project, "class: square", "class: circle")
    code, out = _validate(project)
    lines = [line for line in out.strip().splitlines() if LOCATED.match(line)]
    assert code == 2 and len(lines) == 2


def test_missing_spec_file(tmp_path: Path) -> None:
    code, out = _validate(tmp_path / "nope.yaml")
    assert code == 2 and "not found" in out and "Traceback" not in out


def test_schema_command_prints_json_schema() -> None:
    import json

    result = CliRunner().invoke(cli, ["schema"])
    schema = json.loads(result.output)
    assert result.exit_code == 0
    assert {"fieldready", "task", "dataset", "models", "conditions", "criteria"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_committed_schema_is_current() -> None:
    """The schema file the example specs point editors at must match `fieldready schema`."""
    from fieldready.spec.schema import spec_json_schema_text

    committed = Path(__file__).resolve().parents[2] / "schema" / "fieldready-spec.schema.json"
    assert committed.read_text() == spec_json_schema_text(), "run: fieldready schema > schema/fieldready-spec.schema.json"

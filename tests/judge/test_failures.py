"""Failure gallery files: one set per model, even when two model names slugify alike."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.judge.failures import _stem
from tests._project import make_detection_project


def test_stems_differ_for_names_that_slugify_alike() -> None:
    names = ["Model A", "model-a", "model a", "model_a", "MODEL_A", "modèle a"]
    stems = [_stem(n).lower() for n in names]  # lower: a case-insensitive disk must keep them apart too
    assert len(set(stems)) == len(names)
    assert all(s.replace("-", "").replace("_", "").isalnum() for s in stems)


def test_models_named_alike_get_their_own_gallery_files(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=4)
    text = spec.read_text().replace("name: model-a,", "name: model a,").replace("name: model-b,", "name: model_a,")
    spec.write_text(text.replace("baseline: model-a", "baseline: model a"))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    files = {m["name"]: {f for g in m["gallery"] for f in (g["clean_png"], g["corrupted_png"])} for m in results["models"]}
    assert files["model a"] and files["model_a"]
    assert not files["model a"] & files["model_a"]
    for name in files["model a"] | files["model_a"]:
        assert (tmp_path / "run" / name).stat().st_size > 0
    assert not [p for p in (tmp_path / "run" / "gallery").iterdir() if p.suffix != ".png"]  # no temp files left

"""Datasets: missing, corrupt or inconsistent files give one message naming the file, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.dataset import load_dataset
from tests._project import make_detection_project


def _run(spec: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    return result.exit_code, result.output


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=8)
    spec.write_text(spec.read_text().replace("batch_size: 5", "batch_size: 2"))
    bad = tmp_path / "p" / "images" / "img006.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    code, out = _run(spec, tmp_path / "run")
    assert code == 2 and "Traceback" not in out
    assert "img006.png" in out and "cannot be decoded" in out


def test_missing_image_is_named(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    (tmp_path / "p" / "images" / "img001.png").unlink()
    code, out = _run(spec, tmp_path / "run")
    assert code == 2 and "img001.png" in out and "not found" in out


def test_malformed_annotations_are_named(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    (tmp_path / "p" / "val.json").write_text('{"images": [}')
    code, out = _run(spec, tmp_path / "run")
    assert code == 2 and "val.json" in out and "Traceback" not in out


def test_annotation_size_mismatch_is_named(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    ann = json.loads((tmp_path / "p" / "val.json").read_text())
    ann["images"][1]["width"] = 99
    (tmp_path / "p" / "val.json").write_text(json.dumps(ann))
    code, out = _run(spec, tmp_path / "run")
    assert code == 2 and "img001.png" in out and "99x64" in out


def test_imagefolder_classes_and_subset(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            cv2.imwrite(str(tmp_path / label / f"{i}.png"), np.full((8, 8, 3), i * 20, np.uint8))
    full = load_dataset(format="imagefolder", images=tmp_path, task="classification")
    assert full.classes == {0: "cat", 1: "dog"}
    assert [r.label for r in full.records] == [0] * 5 + [1] * 5
    part = load_dataset(format="imagefolder", images=tmp_path, task="classification", subset_size=4, subset_seed=3)
    again = load_dataset(format="imagefolder", images=tmp_path, task="classification", subset_size=4, subset_seed=3)
    assert len(part.records) == 4 and [r.image_id for r in part.records] == [r.image_id for r in again.records]

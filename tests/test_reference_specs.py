"""The reference specs under ``specs/reference/`` validate and compile against a small generated dataset.

Each spec is copied beside a few generated images in its own dataset format (COCO, YOLO or class
folders, with the classes its criteria name) and placeholder model files at its paths, then loaded with
every cross-reference check and compiled into a plan, as ``fieldready plan`` would. Each must argue its
conditions: every condition carries a frequency and a comment.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from ruamel.yaml import YAML

from fieldready.plan import compile_plan
from fieldready.resources import shipped
from fieldready.spec import load_spec

REFERENCE = shipped("specs") / "reference"
SPECS = sorted(REFERENCE.glob("*.yaml"))
#: The classes each spec's deployment detects or classifies (its criteria name some of them).
CLASSES = {
    "outdoor-surveillance": ["person", "vehicle"],
    "factory-inspection": ["defect", "ok"],
    "dash-camera": ["cyclist", "pedestrian", "vehicle"],
    "document-scanning": ["invoice", "letter", "receipt"],
    "drone-imagery": ["person", "vehicle"],
}


def _image(rng: np.random.Generator, h: int = 48, w: int = 64) -> np.ndarray:
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def _write_data(root: Path, dataset: dict, classes: list[str]) -> None:
    rng = np.random.default_rng(0)
    fmt = dataset["format"]
    if fmt == "imagefolder":
        for name in classes:
            (root / dataset["images"] / name).mkdir(parents=True)
            for j in range(2):
                cv2.imwrite(str(root / dataset["images"] / name / f"{j}.png"), _image(rng))
        return
    boxes = [(4 + 3 * i, 6 + 2 * i, 20, 16) for i in range(4)]  # x, y, w, h on 64 × 48
    if fmt == "coco":
        images = root / dataset["images"]
        images.mkdir(parents=True)
        coco: dict = {"images": [], "annotations": [],
                      "categories": [{"id": k + 1, "name": n} for k, n in enumerate(classes)]}
        for i, box in enumerate(boxes):
            cv2.imwrite(str(images / f"{i}.png"), _image(rng))
            coco["images"].append({"id": i + 1, "file_name": f"{i}.png", "width": 64, "height": 48})
            coco["annotations"].append({"id": i + 1, "image_id": i + 1, "category_id": i % len(classes) + 1,
                                        "bbox": list(box), "area": float(box[2] * box[3]), "iscrowd": 0})
        (root / dataset["annotations"]).write_text(json.dumps(coco))
    elif fmt == "yolo":
        data = root / dataset["data"]
        (data.parent / "images").mkdir(parents=True)
        (data.parent / "labels").mkdir()
        for i, (x, y, w, h) in enumerate(boxes):
            cv2.imwrite(str(data.parent / "images" / f"{i}.png"), _image(rng))
            line = f"{i % len(classes)} {(x + w / 2) / 64} {(y + h / 2) / 48} {w / 64} {h / 48}\n"
            (data.parent / "labels" / f"{i}.txt").write_text(line)
        names = "".join(f"  {k}: {n}\n" for k, n in enumerate(classes))
        data.write_text(f"path: .\nval: images\nnames:\n{names}")
    else:
        raise AssertionError(f"no generator for format {fmt}")


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_reference_spec_validates_and_plans(path: Path, tmp_path: Path) -> None:
    spec_path = tmp_path / path.name
    shutil.copy(path, spec_path)
    raw = YAML(typ="safe", pure=True).load(path.read_text())
    _write_data(tmp_path, raw["dataset"], CLASSES[path.stem])
    for model in raw["models"]:
        (tmp_path / model["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / model["path"]).write_bytes(f"placeholder for {model['name']}".encode())  # hashed, not run
    plan = compile_plan(load_spec(spec_path))
    assert len(plan.models) == 2 and plan.spec.baseline is not None
    assert len(plan.points) > len(plan.spec.conditions)  # clean + at least one point per condition
    # every condition states how often it happens, and the file argues it in a comment
    assert all(c.frequency > 0 for c in plan.spec.conditions)
    assert 0 < sum(c.frequency for c in plan.spec.conditions) <= 1
    text = path.read_text()
    assert text.count("#") >= len(plan.spec.conditions)


def test_the_reference_set_covers_the_common_deployments() -> None:
    assert {p.stem for p in SPECS} == set(CLASSES)

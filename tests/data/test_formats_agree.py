"""One dataset written as COCO, YOLO and Pascal VOC gives identical results through `fieldready run`.

The tiny project's COCO file is edited to hold what the conversions must carry: a second class, two
images without objects (one with an empty YOLO label file, one with none), YOLO polygon lines, and —
for COCO and VOC only, YOLO has no such thing — a crowd region written as a VOC ``difficult`` object.
Every number of results.json (outside provenance) must be equal, bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.dataset import format_names, load_dataset
from fieldready.spec.models import Dataset as DatasetSpec
from tests._project import DETECTION_SPEC, make_detection_project
from tests.data._formats import write_voc, write_yolo

COCO_DATASET = "dataset: {format: coco, images: images, annotations: val.json}"
N_IMAGES = 8

CROWD_SPEC = """\
fieldready: 1
name: crowd
task: detection
{dataset}
models:
  - {{name: model-a, kind: torchscript, path: models/a.pt}}
conditions:
  - {{corruption: gaussian_noise, severity: {{levels: [2]}}}}
criteria:
  - {{metric: map, on: clean, at_least: 0.3}}
run: {{device: cpu, seed: 0, batch_size: 4, bootstrap: 50}}
"""


def _run(spec: Path, out: Path) -> dict:
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


def _numbers(results: dict) -> dict[str, Any]:
    """Every number (and null) of results.json by its path, provenance (hashes, versions) left out."""
    out: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                if not (path == "" and key == "provenance"):
                    walk(sub, f"{path}.{key}")
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                walk(sub, f"{path}[{i}]")
        elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[path] = value

    walk(results, "")
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agree") / "p"
    make_detection_project(root, n_images=N_IMAGES)
    coco = json.loads((root / "val.json").read_text())
    squares = {a["image_id"]: a["bbox"] for a in coco["annotations"]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] <= N_IMAGES - 2]  # two images without objects
    coco["annotations"] += [
        {"id": 101, "image_id": 2, "category_id": 2, "bbox": [8, 40, 12, 8], "area": 96.0, "iscrowd": 0},
        {"id": 102, "image_id": 5, "category_id": 2, "bbox": [30, 2, 20, 10], "area": 200.0, "iscrowd": 0},
        {"id": 103, "image_id": 5, "category_id": 1, "bbox": [1, 50, 6, 12], "area": 72.0, "iscrowd": 0},
    ]
    (root / "val.json").write_text(json.dumps(coco))
    write_yolo(root / "val.json", root / "images", polygons=True)
    write_voc(root / "val.json", root / "voc")
    (root / "coco.yaml").write_text(DETECTION_SPEC)
    (root / "yolo.yaml").write_text(DETECTION_SPEC.replace(COCO_DATASET, "dataset: {format: yolo, data: data.yaml}"))
    (root / "voc.yaml").write_text(
        DETECTION_SPEC.replace(COCO_DATASET, "dataset: {format: voc, images: images, annotations: voc, classes: [square, other]}")
    )
    # The same, plus a crowd region over the bright square of the last image (which has no object).
    coco["annotations"].append(
        {"id": 104, "image_id": N_IMAGES, "category_id": 1, "bbox": squares[N_IMAGES], "area": 256.0, "iscrowd": 1}
    )
    (root / "crowd.json").write_text(json.dumps(coco))
    write_voc(root / "crowd.json", root / "voc_crowd")
    (root / "crowd_coco.yaml").write_text(CROWD_SPEC.format(dataset="dataset: {format: coco, images: images, annotations: crowd.json}"))
    (root / "crowd_voc.yaml").write_text(CROWD_SPEC.format(dataset="dataset: {format: voc, images: images, annotations: voc_crowd, classes: [square, other]}"))
    (root / "plain_coco.yaml").write_text(CROWD_SPEC.format(dataset=COCO_DATASET))
    return root


def test_the_three_forms_load_to_identical_targets(project: Path) -> None:
    forms = {
        "coco": load_dataset(format="coco", images=project / "images", annotations=project / "val.json"),
        "yolo": load_dataset(format="yolo", data=project / "data.yaml"),
        "voc": load_dataset(format="voc", images=project / "images", annotations=project / "voc", classes=["square", "other"]),
    }
    reference = forms.pop("coco")
    assert sum(len(t.labels) for t in reference.targets.values()) == N_IMAGES - 2 + 3
    for name, dataset in forms.items():
        assert dataset.classes == reference.classes, name
        assert [(r.image_id, r.path, r.width, r.height) for r in dataset.records] == [
            (r.image_id, str(Path(r.path).resolve()) if name == "yolo" else r.path, r.width, r.height) for r in reference.records
        ], name
        for image_id, expected in reference.targets.items():
            got = dataset.targets[image_id]
            for field in ("boxes", "xywh", "labels", "iscrowd", "area"):
                assert getattr(got, field).tolist() == getattr(expected, field).tolist(), (name, image_id, field)


def test_coco_yolo_and_voc_give_identical_results(project: Path, tmp_path: Path) -> None:
    numbers = {form: _numbers(_run(project / f"{form}.yaml", tmp_path / form)) for form in ("coco", "yolo", "voc")}
    coco = numbers["coco"]
    assert len(coco) > 200 and coco[".models[0].clean.map"] > 0  # real numbers, not an empty report
    assert {".models[0].per_class[0].class_id", ".models[0].per_class[1].class_id"} <= set(coco)
    for form in ("yolo", "voc"):
        differing = {k: (coco.get(k), numbers[form].get(k)) for k in coco.keys() | numbers[form].keys() if coco.get(k) != numbers[form].get(k)}
        assert not differing, (form, dict(list(differing.items())[:10]))


def test_voc_difficult_objects_are_coco_crowd_regions(project: Path, tmp_path: Path) -> None:
    crowd_coco = _run(project / "crowd_coco.yaml", tmp_path / "crowd_coco")
    crowd_voc = _run(project / "crowd_voc.yaml", tmp_path / "crowd_voc")
    assert _numbers(crowd_coco) == _numbers(crowd_voc)
    # The crowd region matters: the detection on it is no longer a false positive.
    plain = _run(project / "plain_coco.yaml", tmp_path / "plain")

    def false_positives(results: dict) -> float:
        square = next(c for c in results["models"][0]["per_class"] if c["name"] == "square")
        return square["metrics"]["fp"]

    assert false_positives(crowd_voc) == false_positives(plain) - 1


def test_every_spec_format_is_registered() -> None:
    assert set(get_args(DatasetSpec.model_fields["format"].annotation)) == set(format_names())

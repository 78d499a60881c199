"""``fieldready init``: the starter spec written from the shapes example's data and models runs; formats are recognised.

The shapes example's images, annotations and TorchScript models are used as they ship (a handful of
its 160 images, so the run stays short); the same small COCO set written again as YOLO and VOC, a
class-per-folder set and a plain folder must each be recognised with their task and classes, and the
spec written for them must validate. An existing output is never overwritten without --force.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from ruamel.yaml import YAML
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.resources import example_dir
from fieldready.spec import load_spec
from fieldready.starter import detect_dataset, detect_model
from tests.data._formats import write_voc, write_yolo
from tests.execution.models._models import BrightBoxYolo, TinyClassifier

N_IMAGES = 6


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first images of the shapes example with their annotations, beside its three models."""
    source = example_dir("shapes")
    root = tmp_path_factory.mktemp("shapes")
    coco = json.loads((source / "data" / "val.json").read_text())
    keep = coco["images"][:N_IMAGES]
    ids = {img["id"] for img in keep}
    (root / "data" / "images").mkdir(parents=True)
    for img in keep:
        shutil.copy(source / "data" / "images" / img["file_name"], root / "data" / "images" / img["file_name"])
    coco = {**coco, "images": keep, "annotations": [a for a in coco["annotations"] if a["image_id"] in ids]}
    (root / "data" / "val.json").write_text(json.dumps(coco))
    shutil.copytree(source / "models", root / "models")
    return root


def test_init_on_the_shapes_example_writes_a_spec_that_runs(shapes: Path, tmp_path: Path) -> None:
    out = tmp_path / "specs" / "shapes.yaml"
    models = sorted((shapes / "models").glob("*.pt"))
    args = ["init", str(shapes / "data"), *[a for m in models for a in ("--model", str(m))], "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"{N_IMAGES} images" in result.output  # the sample-size warning for the data at hand
    text = out.read_text()
    spec = load_spec(out).spec
    assert spec.task == "detection" and spec.dataset.format == "coco"
    assert [m.kind for m in spec.models] == ["torchscript"] * len(models)
    assert spec.baseline == spec.models[0].name
    assert {c.corruption for c in spec.conditions} >= {"gaussian_noise", "gaussian_blur", "translate"}
    assert any(c.max_drop_vs_baseline is not None for c in spec.criteria)
    assert "# sample size:" in text and "# classes: circle, square, triangle" in text
    # every criterion and condition line carries a comment saying how to choose it
    entries = [line for line in text.splitlines() if line.startswith("  - {")]
    assert entries and all("   # " in line for line in entries)
    run = CliRunner().invoke(cli, ["run", str(out), "-o", str(tmp_path / "run"), "--quiet"])
    assert run.exit_code in (0, 1), run.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [m["name"] for m in results["models"]] == [m.name for m in spec.models]
    assert all(m["error"] is None and m["clean"]["map"] is not None for m in results["models"])


def test_init_refuses_to_overwrite_without_force(shapes: Path, tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    out.write_text("mine\n")
    args = ["init", str(shapes / "data"), "--model", str(shapes / "models" / "model-a.pt"), "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--force" in result.output and "Traceback" not in result.output
    assert out.read_text() == "mine\n"
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0
    assert load_spec(out).spec.models[0].kind == "torchscript"


def test_each_data_format_is_recognised(shapes: Path, tmp_path: Path) -> None:
    coco = shapes / "data" / "val.json"
    images = shapes / "data" / "images"
    expected_classes = ["circle", "square", "triangle"]
    yolo_root = tmp_path / "yolo"
    shutil.copytree(images, yolo_root / "images")
    write_yolo(coco, yolo_root / "images")
    voc_root = tmp_path / "voc"
    shutil.copytree(images, voc_root / "JPEGImages")
    write_voc(coco, voc_root / "Annotations")
    for path, fmt in ((shapes / "data", "coco"), (coco, "coco"), (yolo_root, "yolo"), (voc_root, "voc")):
        found = detect_dataset(path)
        assert (found.format, found.task) == (fmt, "detection"), path
        assert found.classes == expected_classes
        assert len(found.dataset.records) == N_IMAGES and found.side == 128
    folder = tmp_path / "folders"
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
        for j in range(2):
            cv2.imwrite(str(folder / name / f"{j}.png"), np.full((40, 30, 3), 60 * j, np.uint8))
    found = detect_dataset(folder)
    assert (found.format, found.task, found.classes, found.side) == ("imagefolder", "classification", ["cat", "dog"], 30)
    found = detect_dataset(folder / "cat", task="classification")
    assert (found.format, found.task) == ("images", "classification")


def test_onnx_and_pt2_models_bring_their_input_size_and_output_format(shapes: Path, tmp_path: Path) -> None:
    yolo = BrightBoxYolo(3).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(yolo, (torch.rand(1, 3, 96, 64),), str(tmp_path / "yolo.onnx"), dynamo=False,
                          input_names=["images"], output_names=["output0"])
    torch.export.save(torch.export.export(TinyClassifier(4).eval(), (torch.rand(2, 3, 48, 40),)), str(tmp_path / "cls.pt2"))
    found = detect_model(tmp_path / "yolo.onnx", task="detection", num_classes=3, fallback_size=128)
    assert (found.kind, found.size) == ("onnx", (96, 64))
    assert found.output == {"format": "yolo", "layout": "v8", "labels": "from_dataset"}
    assert found.input["resize"] == "letterbox" and not found.notes
    found = detect_model(tmp_path / "cls.pt2", task="classification", num_classes=3, fallback_size=128)
    assert (found.kind, found.size, found.output["format"]) == ("exported", (48, 40), "logits")
    assert any("4 classes" in note for note in found.notes)  # the dataset has 3: say so
    out = tmp_path / "spec.yaml"
    result = CliRunner().invoke(cli, ["init", str(shapes / "data"), "--model", str(tmp_path / "yolo.onnx"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    model = YAML(typ="safe", pure=True).load(out.read_text())["models"][0]
    assert model["input"]["size"] == [96, 64] and model["output"]["format"] == "yolo"


def test_a_file_that_is_no_model_is_one_line(shapes: Path, tmp_path: Path) -> None:
    bad = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, str(bad))
    result = CliRunner().invoke(cli, ["init", str(shapes / "data"), "--model", str(bad), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "weights.pt" in result.output and "kind: python" in result.output
    assert not (tmp_path / "s.yaml").exists()


@pytest.mark.parametrize("images", ["x", ["x"], [{"id": 1}], [{"id": 1, "file_name": 5}]])
def test_a_malformed_coco_file_is_one_line_naming_it(shapes: Path, tmp_path: Path, images: object) -> None:
    data = tmp_path / "data"
    shutil.copytree(shapes / "data", data)
    (data / "val.json").write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    model = shapes / "models" / "model-a.pt"
    result = CliRunner().invoke(cli, ["init", str(data), "--model", str(model), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "val.json" in result.output and not (tmp_path / "s.yaml").exists()


@pytest.mark.parametrize("name,text", [("val.json", "{broken"), ("data.yaml", "names: !!python/object/apply:os.system [x]\n"),
                                       ("val.json", b"\xff\xfe{")])
def test_an_unparseable_annotation_file_is_not_read_as_unlabelled_images(shapes: Path, tmp_path: Path, name: str,
                                                                        text: str | bytes) -> None:
    """A broken COCO JSON beside images/ must not turn the dataset into one class folder called 'images'."""
    data = tmp_path / "data"
    shutil.copytree(shapes / "data" / "images", data / "images")
    (data / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    model = shapes / "models" / "model-a.pt"
    result = CliRunner().invoke(cli, ["init", str(data), "--model", str(model), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{name}: cannot be parsed" in result.output and not (tmp_path / "s.yaml").exists()


def test_output_that_is_a_folder_is_refused_even_with_force(shapes: Path, tmp_path: Path) -> None:
    model = shapes / "models" / "model-a.pt"
    result = CliRunner().invoke(cli, ["init", str(shapes / "data"), "--model", str(model), "-o", str(tmp_path), "--force"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{tmp_path} is a folder" in result.output and tmp_path.is_dir()


class _Needs224(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 224:
            raise ValueError("this model expects 224x224 input")
        return x.mean((2, 3))


def test_a_model_that_refuses_the_blank_probe_gets_a_note_not_a_traceback(shapes: Path, tmp_path: Path) -> None:
    """init calls each model once on a blank image; a model's own size check raising there is said in the spec."""
    model = tmp_path / "needs224.pt"
    torch.jit.script(_Needs224()).save(str(model))
    out = tmp_path / "s.yaml"
    result = CliRunner().invoke(cli, ["init", str(shapes / "data"), "--model", str(model), "-o", str(out)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    text = out.read_text()
    assert "one call on a blank 128×128 image failed" in text and "expects 224x224" in text and "input.size" in text


def test_a_class_name_with_a_line_break_cannot_write_keys_into_the_spec(shapes: Path, tmp_path: Path) -> None:
    """The classes comment shows names escaped: 'x\\nplugins: [evil.py]' stays inside the comment line."""
    data = tmp_path / "data"
    shutil.copytree(shapes / "data", data)
    coco = json.loads((data / "val.json").read_text())
    coco["categories"][0]["name"] += "\nplugins: [evil.py]\r\nmodels: []"
    (data / "val.json").write_text(json.dumps(coco))
    out = tmp_path / "s.yaml"
    result = CliRunner().invoke(cli, ["init", str(data), "--model", str(shapes / "models" / "model-a.pt"), "-o", str(out)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    spec = load_spec(out).spec
    assert spec.plugins == [] and [m.name for m in spec.models] == ["model-a"]
    assert "\\nplugins: [evil.py]\\r\\nmodels: []" in out.read_text()


def test_task_classification_on_a_detection_dataset_is_refused_not_written(shapes: Path, tmp_path: Path) -> None:
    """--task classification on COCO boxes wrote a spec that validated and then could not run."""
    out = tmp_path / "s.yaml"
    args = ["init", str(shapes / "data"), "--task", "classification", "--model", str(shapes / "models" / "model-a.pt"), "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "val.json: a coco dataset is for detection, not classification" in result.output and not out.exists()

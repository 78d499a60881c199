"""``kind: onnx`` and ``kind: exported`` end to end: a spec on disk, ``fieldready run``, numbers in results.json.

The model files are made by the real tools (``torch.onnx.export``, ``torch.export.save``, a transformers
DETR built from its config, offline and seeded) and read back only through the spec: its ``input:`` and
``output:`` blocks, no Python code beside it — except the same DETR once more through ``kind: python``,
which must give the exported program's numbers. The YOLO-layout detector finds the red rectangle of each
non-square image through a letterbox, so its AP50 is 1 only if the boxes land back on the original; the
same file declared with the wrong channel order loses it. Hostile files and declarations end in exit 2,
one line naming the culprit, no traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import transformers
from click.testing import CliRunner, Result
from torch import Tensor, nn

from fieldready.cli import cli
from fieldready.execution.models.adapter import Adapter
from fieldready.spec.models import ModelSpec
from tests.execution.models._models import BrightBoxYolo, TinyClassifier, scene

BOXES = [(40, 20, 100, 70), (0, 30, 50, 89), (110, 5, 160, 45), (60, 40, 120, 90)]  # xyxy on 160 × 90
CATEGORIES = [{"id": 1, "name": "person"}, {"id": 2, "name": "helmet"}, {"id": 3, "name": "vest"}]
MODEL_ORDER = ["vest", "helmet", "person"]  # the detectors' class order; the rectangle is their class 1, 'helmet'
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _legacy_onnx(model: nn.Module, example: Tensor, path: Path) -> Path:
    """Ultralytics' export: the TorchScript-based exporter, ``images`` → ``output0``, a dynamic batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["images"], output_names=["output0"],
                          dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
    return path


class _ExportableDetr(nn.Module):
    """A transformers DETR with an image-only signature and a plain dict output, as one exports it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: Tensor) -> dict[str, Tensor]:
        out = self.model(pixel_values=pixel_values)
        return {"logits": out.logits, "pred_boxes": out.pred_boxes}


HF_MODELS = '''"""A transformers DETR built from its config: the entry point of the spec's python-kind model."""
import torch
import transformers


def detr(order):
    backbone = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                         layer_type="basic", out_features=["stage2"])
    config = transformers.DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, num_queries=12, d_model=32,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_labels=3, id2label=dict(enumerate(order)),
    )
    torch.manual_seed(0)
    return transformers.DetrForObjectDetection(config).eval()
'''


def _detr() -> nn.Module:
    backbone = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                         layer_type="basic", out_features=["stage2"])
    config = transformers.DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, num_queries=12, d_model=32,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_labels=3, id2label=dict(enumerate(MODEL_ORDER)),
    )
    torch.manual_seed(0)
    return transformers.DetrForObjectDetection(config).eval()


def _write_rgb(path: Path, image: Tensor) -> None:
    array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(array, cv2.COLOR_RGB2BGR))


DETECTION_SPEC = """\
fieldready: 1
name: exported-detectors
task: detection
dataset: {format: coco, images: images, annotations: val.json}
models:
  - name: yolo-onnx
    kind: onnx
    path: models/yolo.onnx
    input: {size: [64, 64], resize: letterbox, pad_value: 114}
    output: {format: yolo, layout: v8, labels: [vest, helmet, person]}
  - name: yolo-onnx-bgr
    kind: onnx
    path: models/yolo.onnx
    input: {size: [64, 64], resize: letterbox, color: bgr}
    output: {format: yolo, labels: [vest, helmet, person]}
  - name: yolo-pt2
    kind: exported
    path: models/yolo.pt2
    input: {size: [64, 64], resize: letterbox, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
    output: {format: yolo, iou_threshold: 0.6, max_detections: 50, labels: {1: helmet}}
  - name: detr-pt2
    kind: exported
    path: models/detr.pt2
    input: {size: [64, 96], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
    output: {format: detr, labels: [vest, helmet, person]}
  - name: detr-python
    kind: python
    entrypoint: "hf_models:detr"
    options: {order: [vest, helmet, person]}
    input: {size: [64, 96], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
    output: {format: detr, labels: [vest, helmet, person]}
baseline: yolo-onnx
conditions:
  - {corruption: gaussian_noise, severity: {levels: [1]}, frequency: 0.2}
criteria:
  - {metric: ap50, on: clean, at_least: 0.5}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 50}
"""

CLASSIFICATION_SPEC = """\
fieldready: 1
name: exported-classifier
task: classification
dataset: {format: imagefolder, images: images}
models:
  - name: cls-onnx
    kind: onnx
    path: models/classifier.onnx
    output: {format: logits, labels: [vest, person, helmet]}
conditions:
  - {corruption: gaussian_noise, severity: {levels: [1]}, frequency: 0.2}
criteria:
  - {metric: top1, on: clean, at_least: 0.0}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 50}
"""


@pytest.fixture(scope="module")
def detection_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinds_det")
    (root / "images").mkdir()
    (root / "models").mkdir()
    images, anns = [], []
    for i, (x1, y1, x2, y2) in enumerate(BOXES):
        _write_rgb(root / "images" / f"img{i}.png", scene(90, 160, (x1, y1, x2, y2), seed=i))
        images.append({"id": i + 1, "file_name": f"img{i}.png", "width": 160, "height": 90})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 2, "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "area": float((x2 - x1) * (y2 - y1)), "iscrowd": 0})
    (root / "val.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES}))
    _legacy_onnx(BrightBoxYolo(3).eval(), torch.rand(2, 3, 64, 64), root / "models" / "yolo.onnx")
    yolo = BrightBoxYolo(3, mean=MEAN, std=STD).eval()
    torch.export.save(torch.export.export(yolo, (torch.rand(2, 3, 64, 64),)), str(root / "models" / "yolo.pt2"))
    detr = _ExportableDetr(_detr())
    torch.export.save(torch.export.export(detr, (torch.rand(2, 3, 64, 96),)), str(root / "models" / "detr.pt2"))
    (root / "hf_models.py").write_text(HF_MODELS)
    (root / "spec.yaml").write_text(DETECTION_SPEC)
    return root


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _results(run: Path) -> dict[str, dict]:
    return {m["name"]: m for m in json.loads((run / "results.json").read_text())["models"]}


def test_onnx_and_exported_detectors_run_from_the_spec(detection_project: Path, tmp_path: Path) -> None:
    result = _invoke("run", str(detection_project / "spec.yaml"), "-o", str(tmp_path / "run"), "--quiet")
    assert result.exit_code in (0, 1), result.output
    models = _results(tmp_path / "run")
    assert {m["kind"] for m in models.values()} == {"onnx", "exported", "python"}
    for name in ("yolo-onnx", "yolo-pt2"):
        # the rectangle comes back on the 160 × 90 original through the 64 × 64 letterbox
        assert models[name]["error"] is None
        assert models[name]["clean"]["ap50"] == pytest.approx(1.0), name
        assert models[name]["clean"]["map"] > 0.5, name
    # the same file fed the wrong channel order cannot see red: it loses the rectangle
    assert models["yolo-onnx-bgr"]["clean"]["ap50"] < 0.5
    # DETR (random weights) runs through the detr convention: one number, its boxes on the image
    assert models["detr-pt2"]["error"] is None
    assert 0.0 <= models["detr-pt2"]["clean"]["map"] < 0.5
    # the same DETR run in process through kind python (its ModelOutput) gives the exported program's numbers
    assert models["detr-python"]["error"] is None
    for key in ("map", "ap50", "ar100"):
        assert models["detr-python"]["clean"][key] == pytest.approx(models["detr-pt2"]["clean"][key], abs=1e-6), key


@pytest.fixture(scope="module")
def classification_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    root = tmp_path_factory.mktemp("kinds_cls")
    g = torch.Generator().manual_seed(5)
    for k, name in enumerate(["helmet", "person", "vest"]):
        (root / "images" / name).mkdir(parents=True)
        for j in range(3):
            image = (torch.rand(3, 32, 32, generator=g) * 0.5 + 0.25 * k).clamp(0, 1)
            _write_rgb(root / "images" / name / f"{j}.png", image)
    (root / "models").mkdir()
    classifier = TinyClassifier(3, seed=2).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(classifier, (torch.rand(2, 3, 32, 32),), str(root / "models" / "classifier.onnx"), dynamo=True,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    (root / "spec.yaml").write_text(CLASSIFICATION_SPEC)
    return root, classifier


def test_onnx_classifier_top1_equals_the_torch_model_on_the_same_images(classification_project: tuple, tmp_path: Path) -> None:
    root, classifier = classification_project
    result = _invoke("run", str(root / "spec.yaml"), "-o", str(tmp_path / "run"), "--quiet")
    assert result.exit_code in (0, 1), result.output
    model = _results(tmp_path / "run")["cls-onnx"]
    classes = ["helmet", "person", "vest"]  # the dataset's (sorted folders)
    order = ["vest", "person", "helmet"]  # the model's, as the spec declares
    correct = []
    for k, name in enumerate(classes):
        for file in sorted((root / "images" / name).iterdir()):
            rgb = cv2.cvtColor(cv2.imread(str(file)), cv2.COLOR_BGR2RGB)
            x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                predicted = order[int(classifier(x).argmax(1))]
            correct.append(predicted == name)
    assert model["clean"]["top1"] == pytest.approx(float(np.mean(correct)))


# ---------------------------------------------------------------------------------------------- hostile


def _spec_with(root: Path, tmp_path: Path, models: str, *, task: str = "detection") -> Path:
    dataset = ("{format: coco, images: %s, annotations: %s}" % (root / "images", root / "val.json") if task == "detection"
               else "{format: imagefolder, images: %s}" % (root / "images"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"fieldready: 1\nname: hostile\ntask: {task}\ndataset: {dataset}\nmodels:\n{models}\n"
                    "criteria:\n  - {metric: %s, on: clean, at_least: 0.0}\nrun: {device: cpu, bootstrap: 10}\n"
                    % ("ap50" if task == "detection" else "top1"))
    return spec


def _refused(result: Result, *culprits: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2, result.output
    for culprit in culprits:
        assert culprit in result.output, (culprit, result.output)


def test_a_corrupt_onnx_file_is_named(detection_project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes((detection_project / "models" / "yolo.onnx").read_bytes()[:300])
    spec = _spec_with(detection_project, tmp_path, f"  - {{name: m, kind: onnx, path: {bad}, output: {{format: yolo}}}}")
    _refused(_invoke("run", str(spec), "-o", str(tmp_path / "run"), "--quiet"), "broken.onnx", "not a loadable ONNX model")


def test_an_output_of_the_wrong_shape_for_its_format_names_the_model(detection_project: Path, classification_project: tuple,
                                                                      tmp_path: Path) -> None:
    classifier = classification_project[0] / "models" / "classifier.onnx"
    spec = _spec_with(detection_project, tmp_path, f"  - {{name: squeezed, kind: onnx, path: {classifier}, "
                      "input: {size: [32, 32]}, output: {format: yolo}}")
    _refused(_invoke("run", str(spec), "-o", str(tmp_path / "run"), "--quiet"), "'squeezed'", "[4, 3]", "anchors")


def test_a_missing_model_file_is_named(detection_project: Path, tmp_path: Path) -> None:
    spec = _spec_with(detection_project, tmp_path, "  - {name: m, kind: onnx, path: nowhere/yolo.onnx}")
    _refused(_invoke("validate", str(spec)), "nowhere/yolo.onnx", "not found")


def test_labels_the_dataset_lacks_name_both_sides(detection_project: Path, tmp_path: Path) -> None:
    model = detection_project / "models" / "yolo.onnx"
    spec = _spec_with(detection_project, tmp_path, f"  - {{name: m, kind: onnx, path: {model}, "
                      "output: {format: yolo, labels: [vest, hardhat, person]}}")
    result = _invoke("validate", str(spec))
    _refused(result, "models[0].output.labels", "'hardhat'", "person", "helmet", "vest")


def test_an_output_format_of_the_other_task_is_refused(classification_project: tuple, tmp_path: Path) -> None:
    root = classification_project[0]
    spec = _spec_with(root, tmp_path, f"  - {{name: m, kind: onnx, path: {root / 'models' / 'classifier.onnx'}, "
                      "output: {format: detr}}", task="classification")
    _refused(_invoke("validate", str(spec)), "models[0].output.format", "'detr'", "logits")


def test_a_pt2_that_is_not_an_export_program_is_named(detection_project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "weights.pt2"
    torch.save(BrightBoxYolo(3).state_dict(), str(bad))  # a state dict with the program's extension
    spec = _spec_with(detection_project, tmp_path, f"  - {{name: m, kind: exported, path: {bad}, output: {{format: yolo}}}}")
    _refused(_invoke("run", str(spec), "-o", str(tmp_path / "run"), "--quiet"), "weights.pt2", "torch.export program")


def test_without_onnxruntime_one_line_names_the_extra(detection_project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    spec = _spec_with(detection_project, tmp_path, f"  - {{name: m, kind: onnx, path: {detection_project / 'models' / 'yolo.onnx'}, "
                      "input: {size: [64, 64], resize: letterbox}, output: {format: yolo}}")
    _refused(_invoke("run", str(spec), "-o", str(tmp_path / "run"), "--quiet"), "fieldready[onnx]")


def test_unlabelled_images_keep_the_model_class_indices_under_a_declared_output() -> None:
    # raw production frames have no classes to map to: the yolo head is decoded and NMS'd all the same
    spec = ModelSpec(name="m", kind="python", entrypoint="x:y", input={"size": [64, 64], "resize": "letterbox"},
                     output={"format": "yolo", "labels": {1: "helmet"}})
    images = torch.stack([scene(90, 160, box, seed=i) for i, box in enumerate(BOXES)])
    adapter = Adapter(spec, BrightBoxYolo(3).eval(), torch.device("cpu"), "detection", classes={})
    dets = adapter(images)
    for i, (x1, y1, x2, y2) in enumerate(BOXES):
        best = int(dets.scores[dets.index == i].argmax())
        assert int(dets.labels[dets.index == i][best]) == 1  # the model's own index: nothing to map it to
        np.testing.assert_allclose(dets.boxes[dets.index == i][best].numpy(), [x1, y1, x2, y2], atol=2.5)

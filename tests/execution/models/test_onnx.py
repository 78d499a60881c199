"""The ``onnx`` kind on real files written by ``torch.onnx.export``: same predictions as the torch model.

The YOLO-layout detectors are exported as Ultralytics exports them (the TorchScript-based exporter,
input ``images``, output ``output0``, a dynamic batch axis or none); the classifier with torch's
default (dynamo) exporter. Each runs through ``load_onnx`` and the declared conventions and is
compared with the torch model decoded by a reference written out in ``_models.py``; the red
rectangle the detector finds must land where it was drawn on the original, non-square image.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from fieldready.errors import ModelError
from fieldready.execution.models.convention_spec import InputConvention, OutputConvention, resolve_labels
from fieldready.execution.models.conventions import decode_output, prepare_input
from fieldready.execution.models.kinds.onnx import load_onnx
from tests.execution.models._models import BrightBoxYolo, TinyClassifier, as_per_image, canonical, reference_yolo, scene

CLASSES = {1: "person", 2: "helmet", 3: "vest"}
YOLO_NAMES = ["vest", "helmet", "person"]  # the model's class order; its rectangle class 1 is 'helmet' (id 2)
BOXES = [(40, 20, 100, 70), (0, 30, 50, 89), (110, 5, 160, 45)]  # xyxy on 160 × 90 images
OUTPUT = TypeAdapter(OutputConvention)


def _legacy_export(model: torch.nn.Module, example: torch.Tensor, path: Path, *, dynamic: bool) -> Path:
    """Ultralytics' way: the TorchScript-based exporter, ``images`` → ``output0``, optionally a dynamic batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["images"], output_names=["output0"],
                          dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}} if dynamic else None)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[torch.nn.Module, Path]]:
    root = tmp_path_factory.mktemp("onnx")
    models = {
        "yolo_fixed": (BrightBoxYolo(3).eval(), False),
        "yolo_dynamic": (BrightBoxYolo(3).eval(), True),
        "yolo_v5_bgr_255": (BrightBoxYolo(3, layout="v5", red=2, scale=255.0).eval(), True),
    }
    out = {}
    for name, (model, dynamic) in models.items():
        out[name] = (model, _legacy_export(model, torch.rand(2, 3, 64, 64), root / f"{name}.onnx", dynamic=dynamic))
    uint8 = TinyClassifier(3, input_kind="uint8").eval()
    out["cls_uint8"] = (uint8, _legacy_export(uint8, torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8),
                                              root / "cls_uint8.onnx", dynamic=True))
    nhwc = TinyClassifier(3, input_kind="nhwc").eval()
    out["cls_nhwc_fp16"] = (nhwc, _legacy_export(nhwc, torch.rand(2, 32, 32, 3).half(), root / "cls_nhwc_fp16.onnx",
                                                 dynamic=True))
    classifier = TinyClassifier(3).eval()
    path = root / "classifier.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(classifier, (torch.rand(2, 3, 32, 32),), str(path), dynamo=True,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    out["classifier"] = (classifier, path)
    return out


class _Recorder:
    """Stands in front of an InferenceSession and notes the batch of every run."""

    def __init__(self, session: object) -> None:
        self.session = session
        self.batches: list[int] = []

    def run(self, names: object, feed: dict) -> list:
        self.batches.append(next(iter(feed.values())).shape[0])
        return self.session.run(names, feed)  # type: ignore[attr-defined]


def _images() -> torch.Tensor:
    return torch.stack([scene(90, 160, box, seed=i) for i, box in enumerate(BOXES)])


def test_the_model_is_read_from_the_file(exported: dict) -> None:
    cpu = torch.device("cpu")
    fixed = load_onnx(exported["yolo_fixed"][1], device=cpu)
    assert (fixed.input_name, fixed.input_dtype, fixed.layout, fixed.batch, fixed.input_size) == ("images", "float32", "NCHW", 2, (64, 64))
    assert fixed.output_names == ["output0"] and fixed.providers == ["CPUExecutionProvider"]
    assert load_onnx(exported["yolo_dynamic"][1], device=cpu).batch is None
    assert load_onnx(exported["classifier"][1], device=cpu).batch is None
    assert load_onnx(exported["cls_uint8"][1], device=cpu).input_dtype == "uint8"
    nhwc = load_onnx(exported["cls_nhwc_fp16"][1], device=cpu)
    assert (nhwc.layout, nhwc.input_dtype, nhwc.input_size) == ("NHWC", "float16", (32, 32))


@pytest.mark.parametrize("name, batches", [("yolo_fixed", [2, 2, 2]), ("yolo_dynamic", [5])])
def test_fixed_batches_are_chunked_and_padded_dynamic_ones_run_whole(exported: dict, name: str, batches: list, device: str) -> None:
    model, path = exported[name]
    onnx = load_onnx(path, device=torch.device(device))
    onnx.session = _Recorder(onnx.session)
    x = torch.rand(5, 3, 64, 64)
    out = onnx(x.to(device))
    assert onnx.session.batches == batches
    assert out.device.type == torch.device(device).type
    with torch.no_grad():
        torch.testing.assert_close(out.cpu(), model(x), atol=1e-4, rtol=1e-4)


def _ultralytics_scale_boxes(boxes: np.ndarray, input_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """Ultralytics' ``scale_boxes``: undo the letterbox of ``image_hw`` into ``input_hw``, then clip."""
    gain = min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])
    pad_x = round((input_hw[1] - image_hw[1] * gain) / 2 - 0.1)
    pad_y = round((input_hw[0] - image_hw[0] * gain) / 2 - 0.1)
    out = boxes.copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - pad_x) / gain
    out[:, [1, 3]] = (out[:, [1, 3]] - pad_y) / gain
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, image_hw[1])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, image_hw[0])
    return out


@pytest.mark.parametrize("name", ["yolo_fixed", "yolo_dynamic"])
def test_yolo_onnx_predicts_as_the_torch_model_and_lands_on_the_original(exported: dict, name: str, device: str) -> None:
    model, path = exported[name]
    onnx = load_onnx(path, device=torch.device(device))
    images = _images().to(device)
    x, transform = prepare_input(images, InputConvention(size=(64, 64), resize="letterbox"))
    spec = OUTPUT.validate_python({"format": "yolo", "score_threshold": 0.05, "iou_threshold": 0.6, "labels": YOLO_NAMES})
    mapping = resolve_labels(spec.labels, CLASSES, classification=False)
    dets = decode_output(onnx(x), spec, transform, classes=CLASSES, mapping=mapping, where=f"model {name!r}")

    with torch.no_grad():
        raw = model(x.cpu()).numpy()
    reference = reference_yolo(raw, layout="v8", score_threshold=0.05, iou_threshold=0.6, max_detections=300)
    ours = as_per_image(dets.index, dets.boxes, dets.scores, dets.labels, n=len(BOXES))
    to_category = np.array([3, 2, 1])
    for (boxes, scores, labels), (b, s, lab) in zip(reference, ours):
        boxes, scores, labels = canonical(_ultralytics_scale_boxes(boxes, (64, 64), (90, 160)), scores, labels)
        assert len(s) == len(scores) > 3
        np.testing.assert_allclose(s, scores, atol=1e-5)
        np.testing.assert_allclose(b, boxes, atol=1e-3)
        np.testing.assert_array_equal(lab, to_category[labels])
    for i, box in enumerate(BOXES):
        best = (dets.index == i) & (dets.scores > 0.5)
        assert int(best.sum()) == 1 and dets.labels[best].tolist() == [2]  # helmet
        np.testing.assert_allclose(dets.boxes[best][0].cpu().numpy(), box, atol=2.6)  # one input pixel is 2.5 here


def test_declared_bgr_and_value_range_reach_a_v5_model(exported: dict, device: str) -> None:
    _, path = exported["yolo_v5_bgr_255"]
    onnx = load_onnx(path, device=torch.device(device))
    images = _images().to(device)
    spec = OUTPUT.validate_python({"format": "yolo", "layout": "v5", "labels": YOLO_NAMES})
    mapping = resolve_labels(spec.labels, CLASSES, classification=False)
    declared = InputConvention(size=(64, 64), resize="letterbox", color="bgr", value_range=255)
    x, transform = prepare_input(images, declared)
    dets = decode_output(onnx(x), spec, transform, classes=CLASSES, mapping=mapping)
    for i, box in enumerate(BOXES):
        best = (dets.index == i) & (dets.scores > 0.5)
        assert dets.labels[best].tolist() == [2]
        np.testing.assert_allclose(dets.boxes[best][0].cpu().numpy(), box, atol=2.6)
    # fed RGB instead of the declared BGR, the model sees no red rectangle
    x, transform = prepare_input(images, declared.model_copy(update={"color": "rgb"}))
    wrong = decode_output(onnx(x), spec, transform, classes=CLASSES, mapping=mapping)
    assert float(wrong.scores.max()) < 0.5


def test_onnx_classifier_gives_the_torch_logits_in_the_dataset_order(exported: dict, device: str) -> None:
    model, path = exported["classifier"]
    onnx = load_onnx(path, device=torch.device(device))
    images = torch.rand(3, 3, 48, 40).to(device)
    x, transform = prepare_input(images, InputConvention(size=(32, 32), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
    spec = OUTPUT.validate_python({"format": "logits", "labels": {0: "vest", 1: "person", 2: "helmet"}})
    logits = decode_output(onnx(x), spec, transform, classes=CLASSES,
                           mapping=resolve_labels(spec.labels, CLASSES, classification=True))
    with torch.no_grad():
        expected = model(x.cpu())
    torch.testing.assert_close(logits.cpu(), expected[:, [1, 2, 0]], atol=1e-4, rtol=1e-4)


def test_uint8_and_nhwc_float16_inputs(exported: dict, device: str) -> None:
    images = torch.rand(3, 3, 32, 32).to(device)
    model, path = exported["cls_uint8"]
    onnx = load_onnx(path, device=torch.device(device))
    x, _ = prepare_input(images, InputConvention(dtype="uint8", value_range=255))
    with torch.no_grad():
        torch.testing.assert_close(onnx(x).cpu(), model(x.cpu()), atol=1e-4, rtol=1e-4)
    with pytest.raises(ModelError, match=r"input 'images' is uint8, fieldready prepared float32; declare input: \{dtype: uint8, value_range: 255\}"):
        onnx(images)

    model, path = exported["cls_nhwc_fp16"]
    onnx = load_onnx(path, device=torch.device(device))
    x, _ = prepare_input(images, InputConvention(dtype="float16"))
    with torch.no_grad():
        expected = model(x.cpu().permute(0, 2, 3, 1))
    torch.testing.assert_close(onnx(x).cpu(), expected, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(onnx(images).cpu(), expected, atol=2e-3, rtol=2e-3)  # float32 is cast for it


def test_onnx_errors_name_the_file_and_the_fix(exported: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    fixed = load_onnx(exported["yolo_fixed"][1], device=cpu)
    with pytest.raises(ModelError, match=r"yolo_fixed.onnx: the ONNX model takes 64×64 images .* got 90×160; declare input: \{size: \[64, 64\]\}"):
        fixed(_images())
    with pytest.raises(ModelError, match=r"missing.onnx: ONNX model file not found"):
        load_onnx(tmp_path / "missing.onnx", device=cpu)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match=r"bad.onnx: not a loadable ONNX model"):
        load_onnx(bad, device=cpu)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    with pytest.raises(ModelError, match=r"pip install 'fieldready\[onnx\]'"):
        load_onnx(exported["yolo_fixed"][1], device=cpu)

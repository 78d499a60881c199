"""Input and output conventions against references: Ultralytics' letterbox, greedy NMS, OpenCV's NMS, label maps.

The functions are pure torch, so these tests run on ``--device``; the references are numpy/OpenCV.
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from pydantic import TypeAdapter, ValidationError

from fieldready.errors import ModelError, SpecError
from fieldready.execution.models import conventions as cv
from fieldready.execution.models.convention_spec import (
    InputConvention,
    OutputConvention,
    resolve_labels,
)
from tests.execution.models._models import BrightBoxYolo, as_per_image, canonical, greedy_nms, reference_yolo, scene

CLASSES = {1: "person", 2: "helmet", 5: "vest"}  # category ids need not be contiguous
OUTPUT = TypeAdapter(OutputConvention)


def ultralytics_letterbox(img: np.ndarray, new_shape: tuple[int, int], pad: int = 114) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Ultralytics' ``LetterBox`` (v8) on an HWC uint8 image, written out: image, ratio, (left, top)."""
    shape = img.shape[:2]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad, pad, pad))
    return img, r, (left, top)


# ---------------------------------------------------------------------------------------------- input


@pytest.mark.parametrize("hw, target", [((29, 50), (64, 64)), ((45, 31), (64, 97)), ((33, 33), (40, 72))])
def test_letterbox_matches_ultralytics(hw: tuple[int, int], target: tuple[int, int], device: str) -> None:
    # upscaling, where bilinear without antialiasing is what both compute: same pixels, same padding
    g = torch.Generator().manual_seed(1)
    img = (torch.rand(3, *hw, generator=g) * 255).round() / 255
    x, t = cv.resize(img[None].to(device), target, mode="letterbox", pad_value=114)
    ref, r, (left, top) = ultralytics_letterbox((img.permute(1, 2, 0).numpy() * 255).astype(np.float32), target)
    assert x.shape[-2:] == ref.shape[:2] == target
    np.testing.assert_allclose(x[0].permute(1, 2, 0).cpu().numpy() * 255, ref, atol=1e-3)
    assert t.pad[0].tolist() == [left, top]
    assert t.scale[0].tolist() == pytest.approx([r, r], rel=0.02)  # per-axis scale of the rounded size


def test_letterbox_pads_with_the_pad_value_and_shrinks_with_antialiasing(device: str) -> None:
    img = torch.zeros(1, 3, 100, 300, device=device)
    img[..., ::2] = 1.0  # one-pixel stripes: aliasing would make them survive the shrink
    x, t = cv.resize(img, (60, 60), mode="letterbox", pad_value=0)
    assert t.pad[0].tolist() == [0, 20] and x.shape == (1, 3, 60, 60)
    assert float(x[..., :20, :].abs().max()) == 0 and float(x[..., 40:, :].abs().max()) == 0
    inner = x[..., 20:40, 2:-2]
    assert float(inner.std()) < 0.05 and abs(float(inner.mean()) - 0.5) < 0.05


def test_prepare_input_applies_every_declared_step_in_order(device: str) -> None:
    img = torch.rand(2, 3, 8, 12, device=device)
    spec = InputConvention(color="bgr", value_range=255, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 8.0))
    x, t = cv.prepare_input(img, spec)
    expected = (img.flip(1) * 255 - torch.tensor([10.0, 20, 30], device=device).view(1, 3, 1, 1)) / torch.tensor(
        [2.0, 4, 8], device=device).view(1, 3, 1, 1)
    torch.testing.assert_close(x, expected)
    assert t.input_size == (8, 12) and t.scale.tolist() == [[1.0, 1.0]] * 2

    x8, _ = cv.prepare_input(img, InputConvention(dtype="uint8", value_range=255, size=(8, 12)))
    assert x8.dtype == torch.uint8 and torch.equal(x8, (img * 255).round().to(torch.uint8))
    x16, _ = cv.prepare_input(img, InputConvention(dtype="float16"))
    assert x16.dtype == torch.float16

    xs, ts = cv.prepare_input(img, InputConvention(size=(16, 16)))
    assert xs.shape == (2, 3, 16, 16) and ts.scale[0].tolist() == pytest.approx([16 / 12, 2.0]) and ts.pad.abs().sum() == 0


@pytest.mark.parametrize("block, reason", [
    ({"resize": "letterbox"}, "letterbox needs size"),
    ({"dtype": "uint8"}, "value_range: 255"),
    ({"dtype": "uint8", "value_range": 255, "mean": [1, 2, 3], "std": [1, 1, 1]}, "remove mean and std"),
    ({"mean": [0.5, 0.5, 0.5]}, "mean and std together"),
    ({"std": [1, 0, 1], "mean": [0, 0, 0]}, "must be > 0"),
    ({"value_range": 100}, "value_range"),
    ({"pad_value": 300}, "pad_value"),
    ({"colour": "bgr"}, "colour"),
])
def test_input_block_is_validated(block: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        InputConvention.model_validate(block)


def test_spec_module_imports_without_torch() -> None:
    code = ("import sys; import fieldready.execution.models.convention_spec as m; "
            "m.resolve_labels({0: 'a'}, {3: 'a'}, classification=False); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------- boxes


def test_box_encodings_agree(device: str) -> None:
    xyxy = torch.tensor([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 4.0, 2.0]], device=device)
    size = (100, 200)  # h, w
    wh = xyxy[:, 2:] - xyxy[:, :2]
    forms = {
        "xyxy": xyxy,
        "xywh": torch.cat([xyxy[:, :2], wh], 1),
        "cxcywh": torch.cat([xyxy[:, :2] + wh / 2, wh], 1),
    }
    norm = torch.tensor([200.0, 100.0, 200.0, 100.0], device=device)
    for encoding, boxes in forms.items():
        torch.testing.assert_close(cv.to_xyxy(boxes, encoding, normalized=False, input_size=size), xyxy)
        torch.testing.assert_close(cv.to_xyxy(boxes / norm, encoding, normalized=True, input_size=size), xyxy)


def test_a_known_box_maps_back_through_letterbox_exactly(device: str) -> None:
    img = torch.zeros(2, 3, 90, 160, device=device)
    _, t = cv.resize(img, (64, 64), mode="letterbox")
    orig = torch.tensor([[16.0, 9.0, 80.0, 45.0], [0.0, 0.0, 160.0, 90.0]], device=device)
    index = torch.tensor([0, 1], device=device)
    forward = orig * t.scale[index].repeat(1, 2) + t.pad[index].repeat(1, 2)
    assert forward[1].tolist() == pytest.approx([0.0, 14.0, 64.0, 50.0])  # the image fills the unpadded band
    torch.testing.assert_close(t.to_original(forward, index), orig)
    # boxes reaching into the padding are clipped to the image
    clipped = t.to_original(torch.tensor([[-5.0, 0.0, 70.0, 64.0]], device=device), index[:1])
    assert clipped[0].tolist() == pytest.approx([0.0, 0.0, 160.0, 90.0])


# ---------------------------------------------------------------------------------------------- NMS


def _random_boxes(k: int, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(k, 2, generator=g) * 100
    wh = torch.rand(k, 2, generator=g) * 30 + 2
    scores = torch.rand(k, generator=g)
    groups = torch.randint(0, 3, (k,), generator=g)
    return torch.cat([xy, xy + wh], 1).to(device), scores.to(device), groups.to(device)


@pytest.mark.parametrize("iou", [0.3, 0.5, 0.7])
def test_nms_equals_greedy_reference_and_opencv(iou: float, device: str) -> None:
    boxes, scores, groups = _random_boxes(400, seed=int(iou * 10), device=device)
    kept = set(cv.batched_nms(boxes, scores, groups, iou).tolist())
    b, s, g = boxes.cpu().numpy(), scores.cpu().numpy(), groups.cpu().numpy()
    reference = set()
    for c in np.unique(g):
        idx = np.nonzero(g == c)[0]
        reference |= {int(idx[k]) for k in greedy_nms(b[idx], s[idx], iou)}
    assert kept == reference
    assert len(kept) < 400  # the case suppresses something
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)
    opencv = cv2.dnn.NMSBoxesBatched(xywh.tolist(), s.tolist(), g.tolist(), 0.0, iou)
    assert kept == {int(i) for i in np.asarray(opencv).flatten()}


def test_nms_capped_per_group_keeps_the_same_best_per_image(device: str) -> None:
    # stopping each group after m kept boxes cannot change an image's m best: they all come first
    boxes, scores, groups = _random_boxes(600, seed=7, device=device)
    image = groups % 2
    full = cv.batched_nms(boxes, scores, groups, 0.4)
    capped = cv.batched_nms(boxes, scores, groups, 0.4, max_per_group=5)
    assert len(capped) < len(full)
    for i in (0, 1):
        best = lambda kept: set(kept[image[kept] == i][scores[kept[image[kept] == i]].argsort(descending=True)[:5]].tolist())  # noqa: E731
        assert best(capped) == best(full)


def test_nms_follows_chains_of_suppression(device: str) -> None:
    # A suppresses B, so B does not suppress C: greedy keeps A and C (one sweep would drop C too)
    boxes = torch.tensor([[0.0, 0, 10, 10], [4.0, 0, 14, 10], [8.0, 0, 18, 10]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    kept = cv.batched_nms(boxes, scores, torch.zeros(3, dtype=torch.long, device=device), 0.3)
    assert sorted(kept.tolist()) == [0, 2]


# ---------------------------------------------------------------------------------------------- decoders


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_yolo_decode_equals_reference(layout: str, device: str) -> None:
    model = BrightBoxYolo(num_classes=3, layout=layout).eval()
    images = torch.stack([scene(64, 64, (8, 10, 30, 40), seed=i) for i in range(3)])
    with torch.no_grad():
        raw = model(images)
    dets = cv.decode_yolo(raw.to(device), 3, layout=layout, score_threshold=0.05, iou_threshold=0.5, max_detections=20,
                          input_size=(64, 64))
    reference = reference_yolo(raw.numpy(), layout=layout, score_threshold=0.05, iou_threshold=0.5, max_detections=20)
    assert dets.num_classes == 3
    ours = as_per_image(dets.index, dets.boxes, dets.scores, dets.labels, n=3)
    for (boxes, scores, labels), (b, s, lab) in zip(reference, ours):
        boxes, scores, labels = canonical(boxes, scores, labels)
        assert 5 < len(scores) == len(s)
        np.testing.assert_allclose(s, scores, rtol=1e-5)
        np.testing.assert_allclose(b, boxes, atol=1e-4)
        np.testing.assert_array_equal(lab, labels)


def test_yolo_layouts_agree_and_a_wrong_layout_is_named(device: str) -> None:
    images = torch.stack([scene(64, 64, (8, 10, 30, 40))])
    with torch.no_grad():
        v8 = BrightBoxYolo(layout="v8").eval()(images).to(device)
        v5 = BrightBoxYolo(layout="v5").eval()(images).to(device)
    a = cv.decode_yolo(v8, 1, layout="v8", input_size=(64, 64))
    b = cv.decode_yolo(v5, 1, layout="v5", input_size=(64, 64))
    torch.testing.assert_close(a.scores, b.scores)
    torch.testing.assert_close(a.boxes, b.boxes)
    with pytest.raises(ModelError, match=r"\[1, 4 \+ 3, anchors\].*declare layout: v5"):
        cv.decode_yolo(v5, 1, layout="v8", num_classes=3, input_size=(64, 64), where="model 'y'")
    with pytest.raises(ModelError, match=r"model 'y' returned .*\[1, 7, 65\].*declare layout: v8"):
        cv.decode_yolo(v8, 1, layout="v5", num_classes=3, input_size=(64, 64), where="model 'y'")
    spec = OUTPUT.validate_python({"format": "yolo", "layout": "v8"})
    _, t = cv.resize(torch.zeros(1, 3, 64, 64, device=device), (64, 64))
    with pytest.raises(ModelError, match=r"declare layout: v5"):  # the dataset's 3 classes tell the layouts apart
        cv.decode_output(v5, spec, t, classes=CLASSES, mapping=None)
    with pytest.raises(ModelError, match=r"\[2, 4 \+ C, anchors\]"):
        cv.decode_yolo(v8, 2, layout="v8", input_size=(64, 64))
    nan = v8.clone()
    nan[0, 0, 3] = float("nan")
    with pytest.raises(ModelError, match="NaN or infinite"):
        cv.decode_yolo(nan, 1, input_size=(64, 64))


def test_yolo_thresholds_and_max_detections(device: str) -> None:
    images = torch.stack([scene(64, 64, (8, 10, 30, 40), seed=i) for i in range(2)])
    with torch.no_grad():
        raw = BrightBoxYolo().eval()(images).to(device)
    few = cv.decode_yolo(raw, 2, max_detections=3, score_threshold=0.0, iou_threshold=0.9, input_size=(64, 64))
    assert torch.bincount(few.index, minlength=2).tolist() == [3, 3]
    high = cv.decode_yolo(raw, 2, score_threshold=0.5, input_size=(64, 64))
    assert high.scores.min() > 0.5 and len(high.scores) == 2  # only the rectangle's anchor
    loose = cv.decode_yolo(raw, 2, score_threshold=0.0, iou_threshold=1.0, max_detections=10_000, input_size=(64, 64))
    assert len(loose.scores) == 2 * raw.shape[2]  # IoU threshold 1 suppresses nothing


def test_torchvision_decode_and_legacy_labels(device: str) -> None:
    out = [
        {"boxes": torch.tensor([[0.1, 0.2, 0.3, 0.4]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros(0), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    _, t = cv.resize(torch.zeros(2, 3, 50, 100, device=device), (50, 100))
    spec = OUTPUT.validate_python({"format": "torchvision", "normalized": True})
    dets = cv.decode_output(out, spec, t, classes=CLASSES, mapping=None)
    assert dets.index.tolist() == [0] and dets.labels.tolist() == [2]  # from_dataset: already category ids
    assert dets.boxes[0].tolist() == pytest.approx([10.0, 10.0, 30.0, 20.0])
    mapped = cv.decode_output(out, spec, t, classes=CLASSES, mapping={2: 5})
    assert mapped.labels.tolist() == [5]
    dropped = cv.decode_output(out, spec, t, classes=CLASSES, mapping={0: 1})
    assert len(dropped.labels) == 0  # label 2 is not mapped: dropped
    with pytest.raises(ModelError, match=r"list of 2 dicts"):
        cv.decode_output(out[:1], spec, t, classes=CLASSES, mapping=None, where="model 'tv'")


def test_classification_logits_and_probabilities(device: str) -> None:
    logits = torch.randn(4, 3, device=device)
    _, t = cv.resize(torch.zeros(4, 3, 8, 8, device=device), (8, 8))
    as_logits = cv.decode_output({"logits": logits}, OUTPUT.validate_python({"format": "logits"}), t,
                                 classes=CLASSES, mapping=None)
    torch.testing.assert_close(as_logits, logits)
    probs = logits.softmax(1)
    from_probs = cv.decode_output((probs,), OUTPUT.validate_python({"format": "probabilities"}), t,
                                  classes=CLASSES, mapping=None)
    torch.testing.assert_close(from_probs.softmax(1), probs)
    # the model's order (vest, person, helmet) becomes the dataset's (person 1, helmet 2, vest 5)
    mapping = resolve_labels(["vest", "person", "helmet"], CLASSES, classification=True)
    reordered = cv.decode_output(logits, OUTPUT.validate_python({"format": "logits"}), t, classes=CLASSES, mapping=mapping)
    torch.testing.assert_close(reordered, logits[:, [1, 2, 0]])
    with pytest.raises(ModelError, match=r"outputs 3 classes but the dataset has 2 \(1: person, 2: helmet\)"):
        cv.decode_output(logits, OUTPUT.validate_python({"format": "logits"}), t, classes={1: "person", 2: "helmet"},
                         mapping=None)
    with pytest.raises(ModelError, match="outside \\[0, 1\\]"):
        cv.decode_classification(logits * 5, 4, kind="probabilities")


def test_probabilities_declared_on_scores_that_are_not_a_softmax_are_refused(device: str) -> None:
    """Scores in [0, 1] that do not sum to 1 (a classifier's sigmoid or mean logits) contradict format: probabilities."""
    sigmoids = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.3, 0.4]], device=device)
    with pytest.raises(ModelError, match=r"model 'm'.*rows that sum to 1\.8, not 1.*declare format: logits"):
        cv.decode_classification(sigmoids, 2, kind="probabilities", where="model 'm'")
    half = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], device=device, dtype=torch.float16)
    assert cv.decode_classification(half, 2, kind="probabilities").argmax(1).tolist() == [0, 2]


# ---------------------------------------------------------------------------------------------- labels


def test_labels_resolve_by_index_list_name_and_id() -> None:
    assert resolve_labels("from_dataset", CLASSES, classification=False) is None
    assert resolve_labels({0: "helmet", 3: "person"}, CLASSES, classification=False) == {0: 2, 3: 1}
    assert resolve_labels(["vest", 1], CLASSES, classification=False) == {0: 5, 1: 1}
    spec = OUTPUT.validate_python({"format": "yolo", "labels": {"0": "person", 1: "helmet"}})
    assert spec.labels == {0: "person", 1: "helmet"}


@pytest.mark.parametrize("labels, classification, message", [
    ({0: "helmets"}, False, r"model class 0 maps to 'helmets', which the dataset does not have; the dataset's classes are 1: person, 2: helmet, 5: vest"),
    ({0: 7}, False, r"category id 7, which the dataset does not have; .*1: person"),
    (["person", "helmet"], True, r"cover no class for 5: vest"),
    (["person", "person", "helmet", "vest"], True, r"1: person is named by several model classes"),
])
def test_label_mismatch_names_both_sides(labels: object, classification: bool, message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        resolve_labels(labels, CLASSES, classification=classification, key="models.yolo.output.labels")
    assert "models.yolo.output.labels" in str(info.value)


def test_detection_labels_map_and_mismatch_at_decode(device: str) -> None:
    dets = cv.Detections(torch.tensor([0, 0, 1], device=device), torch.zeros(3, 4, device=device),
                         torch.tensor([0.9, 0.8, 0.7], device=device), torch.tensor([0, 2, 1], device=device), num_classes=3)
    mapped = cv.map_detection_labels(dets, None, CLASSES)
    assert mapped.labels.tolist() == [1, 5, 2]
    partial = cv.map_detection_labels(dets, {2: 1}, CLASSES)
    assert partial.labels.tolist() == [1] and partial.scores.tolist() == pytest.approx([0.8])
    with pytest.raises(ModelError, match=r"model 'd' outputs 3 classes \(indices 0..2\) but labels maps model class 4 \(to dataset class 'vest'\)"):
        cv.map_detection_labels(dets, {4: 5}, CLASSES, where="model 'd'")
    with pytest.raises(ModelError, match=r"outputs 3 classes but the dataset has 2"):
        cv.map_detection_labels(dets, None, {1: "a", 2: "b"})


def test_output_block_is_validated() -> None:
    with pytest.raises(ValidationError, match="format"):
        OUTPUT.validate_python({"format": "ssd"})
    with pytest.raises(ValidationError, match="iou_threshold"):
        OUTPUT.validate_python({"format": "yolo", "iou_threshold": 1.5})
    with pytest.raises(ValidationError, match="layout"):
        OUTPUT.validate_python({"format": "yolo", "layout": "v11"})
    with pytest.raises(ValidationError, match="boxes"):
        OUTPUT.validate_python({"format": "detr", "boxes": "yxyx"})
    with pytest.raises(ValidationError, match="maps no class"):
        OUTPUT.validate_python({"format": "logits", "labels": []})
    assert OUTPUT.validate_python({"format": "detr"}).normalized is True


# ---------------------------------------------------------------------------------------------- batching


def test_fixed_batch_models_are_fed_in_padded_chunks(device: str) -> None:
    seen = []

    def fixed(x: torch.Tensor) -> dict:
        seen.append(x.shape[0])
        assert x.shape[0] == 4
        s = x.flatten(1).sum(1)
        return {"t": s, "pair": (s, s * 2), "per_image": [{"v": v} for v in s]}

    x = torch.rand(10, 3, 2, 2, device=device)
    out = cv.run_in_batches(fixed, x, max_batch=4, min_batch=4)
    assert seen == [4, 4, 4]
    expected = x.flatten(1).sum(1)
    torch.testing.assert_close(out["t"], expected)
    torch.testing.assert_close(out["pair"][1], expected * 2)
    assert len(out["per_image"]) == 10 and float(out["per_image"][9]["v"]) == pytest.approx(float(expected[9]))
    assert cv.run_in_batches(lambda t: t.shape[0], x, max_batch=None) == 10

"""Hugging Face transformers models built from tiny configs (offline, seeded) through the ``detr`` and ``logits`` conventions.

A DETR (small ResNet backbone, no timm, no pretrained weights) is compared with transformers' own
``post_process_object_detection``, both as the in-process model (its ``ModelOutput``) and as a
``torch.export`` program loaded by the ``exported`` kind; a ResNet image classifier's logits are
compared with its own, reordered to the dataset's classes by the names in its ``id2label``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from pydantic import TypeAdapter
from torch import Tensor, nn

from fieldready.execution.models.convention_spec import InputConvention, OutputConvention, resolve_labels
from fieldready.execution.models.conventions import decode_output, prepare_input
from fieldready.execution.models.kinds.exported import load_exported
from tests.execution.models._models import as_per_image, canonical

CLASSES = {1: "person", 2: "helmet", 3: "vest"}
ID2LABEL = {0: "vest", 1: "person", 2: "helmet"}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
OUTPUT = TypeAdapter(OutputConvention)


def _backbone() -> "transformers.ResNetConfig":
    return transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                     layer_type="basic", out_features=["stage2"])


@pytest.fixture(scope="module")
def detr() -> nn.Module:
    config = transformers.DetrConfig(
        use_timm_backbone=False, backbone_config=_backbone(), use_pretrained_backbone=False, num_queries=12, d_model=32,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_labels=3, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()},
    )
    torch.manual_seed(0)
    return transformers.DetrForObjectDetection(config).eval()


@pytest.fixture(scope="module")
def processor() -> object:
    # the PIL post-processor builds without a download and without torchvision
    cls = getattr(transformers, "DetrImageProcessorPil", None) or transformers.DetrImageProcessor
    return cls()


def _images(n: int = 3) -> Tensor:
    return torch.rand(n, 3, 90, 160, generator=torch.Generator().manual_seed(3))


def _hf_reference(processor: object, outputs: object, sizes: list[tuple[int, int]]) -> list[tuple[np.ndarray, ...]]:
    """transformers' post-processing, labels turned into dataset category ids by name, in canonical order."""
    by_name = {name: cid for cid, name in CLASSES.items()}
    results = processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)  # type: ignore[attr-defined]
    return [canonical(r["boxes"].detach().numpy(), r["scores"].detach().numpy(),
                      np.array([by_name[ID2LABEL[int(i)]] for i in r["labels"]])) for r in results]


def _compare(ours: list, reference: list) -> None:
    for (b, s, lab), (rb, rs, rlab) in zip(ours, reference):
        assert len(s) == len(rs) == 12
        np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, rb, atol=1e-3)
        np.testing.assert_array_equal(lab, rlab)


def test_detr_through_the_detr_convention_equals_transformers_post_processing(detr: nn.Module, processor: object) -> None:
    images = _images()
    x, transform = prepare_input(images, InputConvention(size=(64, 96), mean=MEAN, std=STD))
    with torch.no_grad():
        outputs = detr(pixel_values=x)
    spec = OUTPUT.validate_python({"format": "detr", "labels": ID2LABEL})
    dets = decode_output(outputs, spec, transform, classes=CLASSES,
                         mapping=resolve_labels(spec.labels, CLASSES, classification=False))
    ours = as_per_image(dets.index, dets.boxes, dets.scores, dets.labels, n=3)
    _compare(ours, _hf_reference(processor, outputs, [(90, 160)] * 3))


def test_detr_boxes_come_back_through_letterbox(detr: nn.Module, processor: object) -> None:
    # transformers maps normalised boxes onto the model input; undoing the letterbox by hand must agree
    images = _images(2)
    x, transform = prepare_input(images, InputConvention(size=(96, 96), resize="letterbox", mean=MEAN, std=STD))
    with torch.no_grad():
        outputs = detr(pixel_values=x)
    spec = OUTPUT.validate_python({"format": "detr", "labels": ID2LABEL})
    dets = decode_output(outputs, spec, transform, classes=CLASSES,
                         mapping=resolve_labels(spec.labels, CLASSES, classification=False))
    gain, pad_y = 96 / 160, (96 - 90 * 96 / 160) / 2  # 160 × 90 fills the width; 21 rows of padding above
    reference = []
    for b, s, lab in _hf_reference(processor, outputs, [(96, 96)] * 2):
        b = b.copy()
        b[:, [1, 3]] -= pad_y
        b = (b / gain).clip(0, None)
        b[:, [0, 2]] = b[:, [0, 2]].clip(None, 160)
        b[:, [1, 3]] = b[:, [1, 3]].clip(None, 90)
        reference.append(canonical(b, s, lab))
    _compare(as_per_image(dets.index, dets.boxes, dets.scores, dets.labels, n=2), reference)


class _Exportable(nn.Module):
    """The DETR with an image-only signature and a plain dict output, as one would export it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: Tensor) -> dict[str, Tensor]:
        out = self.model(pixel_values=pixel_values)
        return {"logits": out.logits, "pred_boxes": out.pred_boxes}


def test_detr_exported_with_torch_export_runs_without_its_code(detr: nn.Module, processor: object, tmp_path: Path,
                                                              device: str) -> None:
    path = tmp_path / "detr.pt2"
    torch.export.save(torch.export.export(_Exportable(detr), (torch.rand(2, 3, 64, 96),)), str(path))
    loaded = load_exported(path, device=torch.device(device))
    assert (loaded.min_batch, loaded.max_batch) == (2, 2)
    images = _images()
    x, transform = prepare_input(images.to(device), InputConvention(size=(64, 96), mean=MEAN, std=STD))
    spec = OUTPUT.validate_python({"format": "detr", "labels": ID2LABEL})
    dets = decode_output(loaded(x), spec, transform, classes=CLASSES,
                         mapping=resolve_labels(spec.labels, CLASSES, classification=False))
    with torch.no_grad():
        outputs = detr(pixel_values=x.cpu())
    _compare(as_per_image(dets.index, dets.boxes, dets.scores, dets.labels, n=3),
             _hf_reference(processor, outputs, [(90, 160)] * 3))


def test_hf_classifier_logits_in_the_dataset_order() -> None:
    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                       layer_type="basic", num_labels=3, id2label=ID2LABEL,
                                       label2id={v: k for k, v in ID2LABEL.items()})
    torch.manual_seed(1)
    model = transformers.ResNetForImageClassification(config).eval()
    images = _images(4)
    x, transform = prepare_input(images, InputConvention(size=(48, 48), mean=MEAN, std=STD))
    with torch.no_grad():
        outputs = model(pixel_values=x)
    mapping = resolve_labels(ID2LABEL, CLASSES, classification=True)
    logits = decode_output(outputs, OUTPUT.validate_python({"format": "logits", "labels": ID2LABEL}), transform,
                           classes=CLASSES, mapping=mapping)
    order = [1, 2, 0]  # person, helmet, vest are the model's classes 1, 2, 0
    torch.testing.assert_close(logits, outputs.logits[:, order])
    names = [CLASSES[sorted(CLASSES)[i]] for i in logits.argmax(1).tolist()]
    assert names == [model.config.id2label[int(i)] for i in outputs.logits.argmax(1)]
    probabilities = decode_output(outputs.logits.softmax(-1), OUTPUT.validate_python({"format": "probabilities", "labels": ID2LABEL}),
                                  transform, classes=CLASSES, mapping=mapping)
    torch.testing.assert_close(probabilities.softmax(1), outputs.logits[:, order].softmax(1))

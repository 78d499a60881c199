"""Gallery drawing: PNG output, size cap, input checks, data URIs."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from fieldready.errors import ReportError
from fieldready.report.gallery import draw_classification, draw_detections, png_data_uri


def _decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_draw_detections_caps_size_and_draws():
    img = np.zeros((480, 640, 3), np.uint8)
    png = draw_detections(img, gt_boxes=[[100, 100, 300, 400]], gt_labels=[0], boxes=[[120, 90, 330, 380]],
                          scores=[0.87], labels=[1], class_names={0: "person", 1: "helmet"}, max_side=320)
    out = _decode(png)
    assert out.shape[:2] == (240, 320)
    assert out.sum() > 0  # boxes and labels were drawn on the black image
    assert png == draw_detections(img, gt_boxes=[[100, 100, 300, 400]], gt_labels=[0], boxes=[[120, 90, 330, 380]],
                                  scores=[0.87], labels=[1], class_names={0: "person", 1: "helmet"})


def test_draw_detections_checks_inputs():
    with pytest.raises(ReportError, match="HxWx3 uint8"):
        draw_detections(np.zeros((10, 10), np.uint8), gt_boxes=[], gt_labels=[], boxes=[], scores=[], labels=[],
                        class_names={})
    with pytest.raises(ReportError, match="one label"):
        draw_detections(np.zeros((10, 10, 3), np.uint8), gt_boxes=[], gt_labels=[], boxes=[[0, 0, 5, 5]], scores=[],
                        labels=[0], class_names={})


def test_draw_classification_adds_caption_strip():
    out = _decode(draw_classification(np.full((64, 64, 3), 128, np.uint8), true_label=0, pred_label=1, prob=0.6,
                                      class_names={0: "cat", 1: "dog"}))
    assert out.shape == (64 + 34, 64, 3)


def test_png_data_uri_downscales_large_images(tmp_path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.random.default_rng(0).integers(0, 255, (900, 700, 3), dtype=np.uint8))
    uri = png_data_uri(big, max_side=200)
    small = _decode(base64.b64decode(uri.split(",", 1)[1]))
    assert max(small.shape[:2]) == 200
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ReportError, match="bad.png is not a decodable image"):
        png_data_uri(tmp_path / "bad.png")

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
    img = np.full((200, 240, 3), 128, np.uint8)
    out = _decode(draw_classification(img, true_label=0, pred_label=1, prob=0.6, class_names={0: "cat", 1: "dog"}))
    assert out.shape[1] == 240 and out.shape[0] > 200 + 20  # no rescale; strip below the image
    assert (out[:200] == 128).all()
    assert tuple(out[-1, 0]) == (0, 0, 170)  # BGR: red strip for a wrong prediction


def test_small_images_are_upscaled_crisply_before_drawing():
    rng = np.random.default_rng(1)
    digit = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    out = _decode(draw_classification(digit, true_label=5, pred_label=5, prob=0.9, class_names={5: "5"}))
    assert out.shape[1] == 160  # 5x: short side reaches 160 px
    body = cv2.cvtColor(out[:160], cv2.COLOR_BGR2RGB)
    assert (body == np.repeat(np.repeat(digit, 5, axis=0), 5, axis=1)).all()  # nearest neighbour, no blur
    # The caption strip is drawn at the upscaled size: taller than the old fixed 34 px at 32 px wide.
    assert out.shape[0] - 160 >= 34
    # max_side stays the cap: a 32x100 strip can only grow 3x.
    tall = _decode(draw_classification(np.zeros((100, 32, 3), np.uint8), true_label=0, pred_label=0, prob=1.0,
                                       class_names={}, max_side=320))
    assert tall.shape[1] == 96
    # Detection boxes follow the upscale: a box drawn on a 40x40 image lands 4x further out.
    det = _decode(draw_detections(np.zeros((40, 40, 3), np.uint8), gt_boxes=[[10, 10, 30, 30]], gt_labels=[0],
                                  boxes=[], scores=[], labels=[], class_names={0: "a"}))
    assert det.shape[:2] == (160, 160) and det[100, 40].any() and not det[100, 80].any()


def test_long_class_names_shrink_to_fit():
    img = np.zeros((32, 32, 3), np.uint8)
    names = {0: "a-really-long-class-name", 1: "another-long-class-name"}
    out = _decode(draw_classification(img, true_label=0, pred_label=1, prob=0.5, class_names=names))
    assert out.shape[1] == 160 and out.shape[0] - 160 < 60


def test_png_data_uri_downscales_large_images(tmp_path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.random.default_rng(0).integers(0, 255, (900, 700, 3), dtype=np.uint8))
    uri = png_data_uri(big, max_side=200)
    small = _decode(base64.b64decode(uri.split(",", 1)[1]))
    assert max(small.shape[:2]) == 200
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.random.default_rng(0).integers(0, 255, (66, 32, 3), dtype=np.uint8))
    up = _decode(base64.b64decode(png_data_uri(tiny).split(",", 1)[1]))
    assert up.shape[:2] == (264, 128)  # 4x, nearest neighbour: 5x would exceed max_side 320
    assert png_data_uri(tiny) == png_data_uri(tiny)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ReportError, match="bad.png is not a decodable image"):
        png_data_uri(tmp_path / "bad.png")

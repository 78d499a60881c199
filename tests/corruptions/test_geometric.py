"""Boxes travel with the image: hand-computed cases for every geometric corruption."""

from __future__ import annotations

import math

import pytest
import torch

import fieldready.corruptions as C
from fieldready.errors import CorruptionError
from fieldready.rng import ImageRNG


def _boxes(rows: list[list[float]], device: str, n: int = 1) -> C.Boxes:
    b = torch.tensor(rows, dtype=torch.float32, device=device)
    return C.Boxes(b.expand(n, *b.shape).clone(), torch.ones((n, b.shape[0]), dtype=torch.bool, device=device))


def _square(device: str, h: int = 64, w: int = 80) -> torch.Tensor:
    img = torch.zeros((1, 3, h, w), device=device)
    img[..., 20:30, 30:40] = 1.0
    return img


def _centroid(img: torch.Tensor) -> tuple[float, float]:
    m = img[0, 0]
    ys, xs = torch.meshgrid(torch.arange(m.shape[0]) + 0.5, torch.arange(m.shape[1]) + 0.5, indexing="ij")
    total = m.sum()
    return float((m.cpu() * xs).sum() / total.cpu()), float((m.cpu() * ys).sum() / total.cpu())


def test_translate_moves_box_with_content(device: str) -> None:
    img = _square(device)
    out = C.apply(img, "translate", 5.0, ImageRNG([3], device=device), boxes=_boxes([[30, 20, 40, 30]], device))
    b = out.boxes.xyxy[0, 0].cpu()
    dx, dy = float(b[0] - 30), float(b[1] - 20)
    assert math.hypot(dx, dy) == pytest.approx(5.0, abs=1e-4)
    assert float(b[2] - b[0]) == pytest.approx(10.0, abs=1e-4)
    cx, cy = _centroid(out.images)
    assert (cx - 35.0, cy - 25.0) == pytest.approx((dx, dy), abs=0.05)
    assert bool(out.boxes.valid[0, 0])


def test_box_leaving_the_frame_becomes_invalid(device: str) -> None:
    boxes = _boxes([[30, 20, 40, 30], [0, 0, 80, 64]], device)
    out = C.apply(_square(device), "translate", 500.0, ImageRNG([1], device=device), boxes=boxes)
    assert not out.boxes.valid.any()
    assert (out.images == 0).all()


def test_mostly_hidden_box_is_invalid_partly_hidden_kept(device: str) -> None:
    # a 10-px shift keeps 80 % of a 50-px box but less than 25 % of a 12-px box at the edge
    boxes = _boxes([[0, 0, 12, 12], [10, 10, 60, 60]], device)
    img = torch.rand((1, 3, 64, 80), device=device)
    for key in range(20):
        out = C.apply(img, "translate", 10.0, ImageRNG([key], device=device), boxes=boxes)
        b = out.boxes.xyxy[0].cpu()
        assert (b[:, [0, 2]] >= 0).all() and (b[:, [0, 2]] <= 80).all() and (b[:, [1, 3]] <= 64).all()
        assert bool(out.boxes.valid[0, 1])
        area = float((b[0, 2] - b[0, 0]).clamp(min=0) * (b[0, 3] - b[0, 1]).clamp(min=0))
        assert bool(out.boxes.valid[0, 0]) == (area >= 0.25 * 144 and float(b[0, 2] - b[0, 0]) >= 1 and float(b[0, 3] - b[0, 1]) >= 1)


def test_hflip_maps_x_to_w_minus_x(device: str) -> None:
    img = torch.rand((1, 3, 64, 80), device=device)
    out = C.apply(img, "hflip", 1.0, ImageRNG([0], device=device), boxes=_boxes([[10, 20, 30, 40]], device))
    assert out.boxes.xyxy[0, 0].tolist() == [50.0, 20.0, 70.0, 40.0]
    assert torch.equal(out.images, img.flip(-1))


def test_vflip_maps_y_to_h_minus_y(device: str) -> None:
    img = torch.rand((1, 3, 64, 80), device=device)
    out = C.apply(img, "vflip", 1.0, ImageRNG([0], device=device), boxes=_boxes([[10, 20, 30, 40]], device))
    assert out.boxes.xyxy[0, 0].tolist() == [10.0, 24.0, 30.0, 44.0]
    assert torch.equal(out.images, img.flip(-2))


def test_flip_probability_zero_keeps_everything(device: str) -> None:
    img = torch.rand((2, 3, 16, 16), device=device)
    out = C.apply(img, "hflip", 0.0, ImageRNG([0, 1], device=device), boxes=_boxes([[1, 2, 3, 4]], device, n=2))
    assert torch.equal(out.images, img) and out.boxes.xyxy[:, 0].tolist() == [[1, 2, 3, 4]] * 2


def test_rotate_quarter_turn(device: str) -> None:
    img = torch.rand((1, 3, 64, 64), device=device)
    out = C.apply(img, "rotate", 90.0, ImageRNG([5], device=device), boxes=_boxes([[0, 0, 64, 32]], device))
    b = out.boxes.xyxy[0, 0].cpu()
    assert any(torch.allclose(b, torch.tensor(e), atol=1e-3) for e in ([0.0, 0, 32, 64], [32.0, 0, 64, 64]))
    # a quarter turn of a square image is a pixel permutation
    assert any(torch.allclose(out.images, img.rot90(k, dims=(-2, -1)), atol=1e-4) for k in (1, 3))


def test_scale_about_centre(device: str) -> None:
    img = torch.rand((1, 3, 64, 64), device=device)
    out = C.apply(img, "scale", 2.0, ImageRNG([0], device=device), boxes=_boxes([[16, 16, 48, 48], [0, 0, 16, 16]], device))
    torch.testing.assert_close(out.boxes.xyxy[0, 0].cpu(), torch.tensor([0.0, 0, 64, 64]))
    assert out.boxes.valid[0].tolist() == [True, False]


def test_elastic_moves_boxes_a_little(device: str) -> None:
    img = torch.rand((2, 3, 96, 96), device=device)
    boxes = _boxes([[20, 20, 60, 70]], device, n=2)
    out = C.apply(img, "elastic_transform", 30.0, ImageRNG([0, 1], device=device), boxes=boxes)
    moved = out.boxes.xyxy[:, 0].cpu()
    assert out.boxes.valid.all()
    assert (moved - torch.tensor([20.0, 20, 60, 70])).abs().max() < 8.0


def test_non_geometric_corruptions_pass_boxes_through(device: str) -> None:
    boxes = _boxes([[1, 2, 3, 4]], device)
    out = C.apply(torch.rand((1, 3, 32, 32), device=device), "gaussian_blur", 2.0, ImageRNG([0], device=device), boxes=boxes)
    assert out.boxes is boxes


def test_object_occlusion_covers_each_box_share(device: str) -> None:
    img = torch.ones((1, 3, 64, 80), device=device)
    boxes = C.Boxes(
        torch.tensor([[[4, 4, 24, 44], [40, 10, 80, 30], [0, 0, 0, 0]]], dtype=torch.float32, device=device),
        torch.tensor([[True, True, False]], device=device),
    )
    out = C.apply(img, "object_occlusion", 0.25, ImageRNG([2], device=device), boxes=boxes)
    black = (out.images[0, 0] == 0).cpu()
    assert float(black[4:44, 4:24].float().mean()) == pytest.approx(0.25, abs=0.05)
    assert float(black[10:30, 40:80].float().mean()) == pytest.approx(0.25, abs=0.05)
    assert int(black.sum()) == int(black[4:44, 4:24].sum() + black[10:30, 40:80].sum())


def test_object_occlusion_without_boxes_says_what_to_do(device: str) -> None:
    with pytest.raises(CorruptionError, match="no boxes"):
        C.apply(torch.rand((1, 3, 16, 16), device=device), "object_occlusion", 0.3, ImageRNG([0], device=device))


def test_occlusion_area_fraction(device: str) -> None:
    img = torch.ones((3, 3, 60, 90), device=device)
    out = C.apply(img, "occlusion", 0.3, ImageRNG([0, 1, 2], device=device))
    frac = (out.images[:, 0] == 0).float().mean(dim=(1, 2)).cpu()
    assert torch.allclose(frac, torch.full((3,), 0.3), atol=0.02)

"""Each estimator against known values: synthetic edges and noise, real photographs, fieldready's own corruptions."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from fieldready.corruptions import corrupt
from fieldready.profile import estimators as est


def _apply(image: np.ndarray, name: str, severity: float, seed: int = 0) -> np.ndarray:
    t = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    out = corrupt(t, name, severity=severity, seed=seed).images[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _shapes_image() -> np.ndarray:
    """Dark rectangles and a disk on a light ground: isolated step edges."""
    img = np.full((160, 160, 3), 200, np.uint8)
    cv2.rectangle(img, (20, 20), (70, 90), (40, 60, 50), -1)
    cv2.circle(img, (115, 110), 28, (70, 30, 120), -1, lineType=cv2.LINE_AA)
    cv2.rectangle(img, (90, 15), (145, 55), (120, 120, 20), -1)
    return img


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[:256, 128:384])


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_blur_sigma_of_gaussian_blurred_step_edges(sigma: float) -> None:
    img = _shapes_image()
    sharp = est.blur_sigma(img)
    blurred = est.blur_sigma(cv2.GaussianBlur(img, (0, 0), sigma))
    assert sharp is not None and blurred is not None
    added = math.sqrt(max(blurred**2 - sharp**2, 0.0))  # Gaussian blurs add in quadrature
    assert added == pytest.approx(sigma, rel=0.2)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0])
def test_blur_sigma_on_a_photograph_blurred_by_the_catalogue(astronaut: np.ndarray, sigma: float) -> None:
    sharp = est.blur_sigma(astronaut)
    blurred = est.blur_sigma(_apply(astronaut, "gaussian_blur", sigma))
    assert sharp is not None and blurred is not None and blurred > sharp
    assert math.sqrt(blurred**2 - sharp**2) == pytest.approx(sigma, rel=0.2)


def test_blur_sigma_is_none_without_edges() -> None:
    assert est.blur_sigma(np.full((64, 64, 3), 128, np.uint8)) is None


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_noise_sigma_on_flat_grey(sigma: float) -> None:
    rng = np.random.default_rng(0)
    img = np.clip(np.rint((0.5 + rng.normal(0, sigma, (128, 128, 3))) * 255), 0, 255).astype(np.uint8)
    assert est.noise_sigma(img) == pytest.approx(sigma, rel=0.1)


@pytest.mark.parametrize("sigma", [0.02, 0.08, 0.18])
def test_noise_sigma_on_a_photograph_with_catalogue_noise(astronaut: np.ndarray, sigma: float) -> None:
    clean = est.noise_sigma(astronaut)
    noisy = est.noise_sigma(_apply(astronaut, "gaussian_noise", sigma))
    assert math.sqrt(max(noisy**2 - clean**2, 0.0)) == pytest.approx(sigma, rel=0.2)


def test_noise_sigma_leaves_out_clipped_regions() -> None:
    # Half black, half mid grey, noise clipped at 0 in the black half: the estimate follows the grey half.
    rng = np.random.default_rng(1)
    base = np.zeros((128, 128, 3))
    base[:, 64:] = 0.5
    img = np.clip(np.rint(np.clip(base + rng.normal(0, 0.06, base.shape), 0, 1) * 255), 0, 255).astype(np.uint8)
    assert est.noise_sigma(img) == pytest.approx(0.06, rel=0.15)


@pytest.mark.parametrize("quality", [5, 10, 37, 50, 75, 95, 100])
def test_jpeg_quality_from_opencv_files(astronaut: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    assert est.jpeg_quality(buf.tobytes()) == quality


@pytest.mark.parametrize("quality", [20, 60, 90])
def test_jpeg_quality_from_pillow_files(astronaut: np.ndarray, quality: int) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, format="JPEG", quality=quality)
    assert est.jpeg_quality(buf.getvalue()) == quality


def test_jpeg_tables_are_read_in_natural_order(astronaut: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, 50])
    tables = est.quantisation_tables(buf.tobytes())
    np.testing.assert_array_equal(tables[0], est.IJG_LUMA)  # quality 50 is the base table itself
    np.testing.assert_array_equal(tables[1], est.IJG_CHROMA)


def test_jpeg_quality_of_non_jpeg_and_damaged_bytes(astronaut: np.ndarray) -> None:
    ok, png = cv2.imencode(".png", astronaut)
    assert est.jpeg_quality(png.tobytes()) is None
    ok, jpg = cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, 80])
    data = jpg.tobytes()
    assert est.jpeg_quality(data[:30]) is None  # cut inside the first table
    assert est.jpeg_quality(b"\xff\xd8\xff\xdb\xff\xff") is None  # a length running past the end
    assert est.jpeg_quality(b"") is None


def test_jpeg_quality_of_custom_tables_is_the_nearest_ijg_quality() -> None:
    # A camera's own table: the IJG quality-70 table with every entry one step coarser.
    table = np.clip(np.floor((est.IJG_LUMA * 60 + 50) / 100) + 1, 1, 255).astype(np.uint8)
    zig = np.empty(64, np.uint8)
    zig[:] = table[est._ZIGZAG]
    segment = b"\xff\xdb" + (67).to_bytes(2, "big") + b"\x00" + zig.tobytes()
    data = b"\xff\xd8" + segment + b"\xff\xda\x00\x02"
    assert est.jpeg_quality(data) == pytest.approx(70, abs=3)


@pytest.mark.parametrize("ev", [-2.0, -1.0, -0.5])
def test_mean_luminance_ratio_is_the_exposure_change(astronaut: np.ndarray, ev: float) -> None:
    darker = _apply(astronaut, "exposure", ev)
    assert math.log2(est.mean_luminance(darker) / est.mean_luminance(astronaut)) == pytest.approx(ev, abs=0.03)


@pytest.mark.parametrize("factor", [0.3, 0.6])
def test_rms_contrast_ratio_is_the_contrast_factor(astronaut: np.ndarray, factor: float) -> None:
    flat = _apply(astronaut, "contrast", factor)
    assert est.rms_contrast(flat) / est.rms_contrast(astronaut) == pytest.approx(factor, rel=0.03)


def test_rms_contrast_ignores_underexposure_through_srgb() -> None:
    # std / mean of sRGB values grows as a frame darkens (13 % at −3 EV on this scene, 19 % on the
    # shapes camera's median frame); with sRGB's 0.055 offset in the mean, the gain cancels.
    image = _shapes_image()
    base = est.rms_contrast(image)
    for ev in (-1.0, -2.0, -3.0):
        assert est.rms_contrast(_apply(image, "exposure", ev)) == pytest.approx(base, rel=0.015), ev


def test_rms_contrast_ignores_exposure_and_blur(astronaut: np.ndarray) -> None:
    base = est.rms_contrast(astronaut)
    for ev in (-1.0, -2.0, -3.0):  # the astronaut's dark suit reaches sRGB's linear toe, where the offset is not exact
        assert est.rms_contrast(_apply(astronaut, "exposure", ev)) == pytest.approx(base, rel=0.08), ev
    assert est.rms_contrast(_apply(astronaut, "gaussian_blur", 2.0)) == pytest.approx(base, rel=0.08)


def test_kelvin_to_rgb_is_the_catalogues_black_body() -> None:
    from fieldready.corruptions import field

    assert est.kelvin_to_rgb is field.kelvin_to_rgb  # one definition, shared without torch
    # Hand-computed from Helland's fit: 1000 K → g = (99.4708025861·ln 10 − 161.1195681661)/255, b = 0.
    assert est.kelvin_to_rgb(1000.0) == pytest.approx((1.0, (99.4708025861 * 2.302585093 - 161.1195681661) / 255, 0.0))
    assert est.kelvin_to_rgb(6600.0) == pytest.approx((1.0, 1.0, 1.0))


@pytest.mark.parametrize("kelvin", [2500.0, 4000.0, 9000.0])
def test_kelvin_shift_recovers_a_colour_cast(astronaut: np.ndarray, kelvin: float) -> None:
    before = np.array(est.chromaticity(astronaut))
    after = np.array(est.chromaticity(_apply(astronaut, "color_temperature", kelvin)))
    assert est.kelvin_shift(tuple(after - before)) == pytest.approx(kelvin, rel=0.03)
    assert est.kelvin_shift((0.0, 0.0)) == pytest.approx(6500, rel=0.01)


def _coloured_ground(seed: int) -> np.ndarray:
    """A random coloured ground with grey (equal in every channel) texture and a coloured disk: scene colour, no cast."""
    rng = np.random.default_rng(seed)
    img = np.empty((96, 96, 3), np.float64)
    img[:] = rng.integers(50, 200, size=3)
    cells = (np.add.outer(np.arange(96) // 8, np.arange(96) // 8) % 2) * 2.0 - 1.0
    img += (rng.integers(10, 25) * cells)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    cv2.circle(img, (48, 48), 20, tuple(int(v) for v in rng.integers(0, 256, size=3)), -1, lineType=cv2.LINE_AA)
    return img


@pytest.mark.parametrize("kelvin", [3000.0, 9000.0])
def test_edge_chromaticity_recovers_a_cast_on_a_coloured_ground(kelvin: float) -> None:
    img = _coloured_ground(0)
    before = np.array(est.edge_chromaticity(img))
    after = np.array(est.edge_chromaticity(_apply(img, "color_temperature", kelvin)))
    assert est.kelvin_shift(tuple(after - before)) == pytest.approx(kelvin, rel=0.05)
    darker = np.array(est.edge_chromaticity(_apply(img, "exposure", -1.0)))
    assert np.abs(darker - before).max() < 0.05  # exposure scales every channel alike: no cast


def test_edge_chromaticity_separates_a_cast_from_scene_colour() -> None:
    # Across grounds of random colour, grey-world chromaticity spreads as wide as a 3000 K cast;
    # the colour of the edges (grey texture) spreads far less, so the cast stands out of it.
    grounds = [_coloured_ground(seed) for seed in range(1, 25)]
    direction = np.array(est.log_gains(3000.0))
    length = float(np.linalg.norm(direction))
    for estimator, tighter in ((est.edge_chromaticity, True), (est.chromaticity, False)):
        along = np.array([estimator(g) for g in grounds]) @ (direction / length)
        assert (float(np.percentile(along, 95) - np.percentile(along, 5)) < 0.5 * length) is tighter


def test_haze_rises_under_an_airlight_veil(astronaut: np.ndarray) -> None:
    # Koschmieder: I = t·J + (1 − t)·A with airlight A = white; the dark channel rises by about (1 − t).
    veiled = np.clip(np.rint(0.5 * astronaut.astype(np.float64) + 0.5 * 255), 0, 255).astype(np.uint8)
    clear, hazy = est.haze(astronaut), est.haze(veiled)
    assert hazy - clear == pytest.approx(0.5 * (1 - clear), abs=0.03)

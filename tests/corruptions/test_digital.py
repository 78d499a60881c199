"""Digital corruptions: the torch JPEG path agrees with libjpeg; closed-form HSV edits match skimage."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.color
import torch

from fieldready.corruptions import apply
from fieldready.corruptions._jpeg import jpeg_cv2, jpeg_torch
from fieldready.rng import ImageRNG

from conftest import photos


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(1.0 / ((a - b) ** 2).mean(dim=(1, 2, 3)))


@pytest.mark.parametrize("quality", [25, 18, 15, 10, 7, 60, 95])
def test_torch_jpeg_matches_libjpeg(quality: int, device: str) -> None:
    x = photos(2, 120)[..., :100, :]  # 100×120: not a multiple of 16, so edge padding is exercised
    ref = jpeg_cv2(x, quality)
    ours = jpeg_torch(x.to(device), quality).cpu()
    assert (_psnr(ref, ours) >= 35.0).all()


@pytest.mark.parametrize("severity", [0.3, -0.4])
def test_brightness_is_the_hsv_value_shift(severity: float) -> None:
    x = photos(1, 48)
    hsv = skimage.color.rgb2hsv(x[0].permute(1, 2, 0).double().numpy())
    hsv[..., 2] = np.clip(hsv[..., 2] + severity, 0, 1)
    ref = torch.from_numpy(skimage.color.hsv2rgb(hsv)).permute(2, 0, 1).float()
    out = apply(x, "brightness", severity, ImageRNG([0])).images[0]
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("mult", "offset"), [(0.3, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)])
def test_saturate_is_the_hsv_saturation_change(mult: float, offset: float) -> None:
    x = photos(1, 48)
    x[..., :4, :4] = 0.5  # grey pixels take hue 0, as in skimage
    hsv = skimage.color.rgb2hsv(x[0].permute(1, 2, 0).double().numpy())
    hsv[..., 1] = np.clip(hsv[..., 1] * mult + offset, 0, 1)
    ref = torch.from_numpy(skimage.color.hsv2rgb(hsv)).permute(2, 0, 1).float()
    out = apply(x, "saturate", mult, ImageRNG([0])).images[0]
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def _u8(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _float(im: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255.0


def _u8_of(x: torch.Tensor) -> np.ndarray:
    return np.round(x[0].permute(1, 2, 0).numpy() * 255.0).astype(np.int64)


# small → large size pairs; several put (i + ½)·step exactly on a pixel boundary (40 → 100: step 0.4, pixel 2
# at 1.0; 30 → 100; 12 → 33), where Pillow's accumulated double decides the pixel and (i + ½)·step picks another
NEAREST_PAIRS = [(40, 100), (30, 100), (12, 33), (18, 47), (13, 33), (96, 240), (128, 320), (170, 427), (256, 640), (192, 480),
                 (384, 640), (288, 480), (134, 224), (1, 7), (3, 5)]  # fmt: skip


@pytest.mark.parametrize(("small", "large"), NEAREST_PAIRS)
def test_pixelate_enlarges_with_pils_nearest_pixels(small: int, large: int) -> None:
    """Both enlargements (cv2 on the CPU, row gathers on other devices) pick PIL NEAREST's source pixel everywhere."""
    from PIL import Image

    from fieldready.corruptions.digital import nearest_upscale_cv2, nearest_upscale_torch

    for sh, sw, h, w in [(small, small, large, large), (small, 7, large, 23)]:
        im = _u8((sh, sw, 3), seed=small * 1000 + large)
        ref = np.array(Image.fromarray(im).resize((w, h), Image.NEAREST)).astype(np.int64)
        assert np.array_equal(_u8_of(nearest_upscale_cv2(_float(im), h, w)), ref), (sh, sw, h, w)
        assert np.array_equal(_u8_of(nearest_upscale_torch(_float(im), h, w)), ref), (sh, sw, h, w)


@pytest.mark.parametrize(("size", "out"), [(100, 40), (33, 13), (47, 18), (640, 160), (427, 170), (60, 10), (100, 10), (7, 3), (5, 1)])
def test_pixelate_box_pass_is_pils_to_the_grey_level(size: int, out: int) -> None:
    """One BOX pass (only the width or only the height changes) equals Pillow's 8-bit result exactly, ties included.

    Random 8-bit pixels put many box means exactly on a half; runs of 6 (60 → 10) round those up, runs of 10
    (100 → 10) down, as Pillow's fixed-point weights do.
    """
    from PIL import Image

    im = _u8((size, 29, 3), seed=size + out)
    ref = np.array(Image.fromarray(im).resize((29, out), Image.BOX)).astype(np.int64)  # the height only
    assert np.array_equal(_u8_of(apply_pass(_float(im), out)), ref)
    im = np.ascontiguousarray(im.transpose(1, 0, 2))
    ref = np.array(Image.fromarray(im).resize((out, 29), Image.BOX)).astype(np.int64)  # the width only
    got = apply_pass(_float(im).transpose(-1, -2).contiguous(), out).transpose(-1, -2)
    assert np.array_equal(_u8_of(got), ref)


def apply_pass(x: torch.Tensor, out: int) -> torch.Tensor:
    """The vertical BOX pass of pixelate on [0, 1] images, back in [0, 1]."""
    from fieldready.corruptions.digital import box_pass_8bit

    return box_pass_8bit(x, out, gain=255.0) / 255.0


@pytest.mark.parametrize(("h", "w"), [(33, 33), (47, 33), (33, 47), (100, 100), (240, 320), (427, 640), (640, 480), (97, 61)])
def test_pixelate_is_pil_box_then_nearest_at_any_size(h: int, w: int) -> None:
    """The whole corruption on random 8-bit images against imagecorruptions' PIL calls: never more than one grey level off.

    The enlargement's pixel choice is exact (above); Pillow's two BOX passes, each rounding to 8 bits, are
    followed horizontal first, as in Pillow ≤ 12.3. (Pillow 13.0 runs the vertical pass first at some size
    pairs, which moves a few box means by one level.)
    """
    from PIL import Image

    im = _u8((h, w, 3), seed=h * w)
    x = _float(im)
    for c in (0.6, 0.5, 0.4, 0.3, 0.25):
        small = Image.fromarray(im).resize((int(w * c), int(h * c)), Image.BOX)
        ref = np.array(small.resize((w, h), Image.NEAREST)).astype(np.int64)
        out = apply(x, "pixelate", 1 / c, ImageRNG([0])).images
        assert np.abs(_u8_of(out) - ref).max() <= 1, (h, w, c)


def test_pixelate_cv2_enlargement_matches_the_torch_path() -> None:
    from fieldready.corruptions.digital import nearest_upscale_cv2, nearest_upscale_torch

    for sh, sw, h, w in [(192, 256, 480, 640), (288, 384, 480, 640), (134, 134, 224, 224), (89, 89, 224, 224), (17, 23, 48, 56), (1, 1, 5, 7)]:
        small = torch.rand(2, 3, sh, sw)
        assert torch.equal(nearest_upscale_cv2(small, h, w), nearest_upscale_torch(small, h, w))

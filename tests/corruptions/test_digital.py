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


@pytest.mark.parametrize(("h", "w", "block"), [(48, 56, 1 / 0.6), (100, 120, 1 / 0.4), (37, 91, 3.3), (64, 64, 4.0)])
def test_pixelate_is_pil_box_then_nearest(h: int, w: int, block: float) -> None:
    """The row-gather BOX downscale and the cv2 (CPU) enlargement equal the dense PIL BOX/NEAREST formulation."""
    from fieldready.corruptions.digital import box_matrix, nearest_index

    # random values: 8-bit photos put many box means exactly on a rounding tie (k + ½), where the summation order decides
    x = torch.rand((2, 3, h, w), generator=torch.Generator().manual_seed(0))
    sh, sw = int(h / block), int(w / block)
    mh, mw = box_matrix(h, sh, device=torch.device("cpu")), box_matrix(w, sw, device=torch.device("cpu"))
    small = torch.round(torch.einsum("ih,nchw,jw->ncij", mh.double(), x.double(), mw.double()) * 255.0) / 255.0
    ref = small.index_select(2, nearest_index(sh, h, device=torch.device("cpu")))
    ref = ref.index_select(3, nearest_index(sw, w, device=torch.device("cpu"))).float()
    out = apply(x, "pixelate", block, ImageRNG([0, 1])).images
    # rounding to 8 bits may still flip by one level where the two summation orders straddle a half
    assert (out - ref).abs().max() <= 1.0 / 255.0 + 1e-6
    assert ((out - ref).abs() > 1e-6).float().mean() < 0.01


def test_pixelate_cv2_enlargement_matches_the_torch_path() -> None:
    from fieldready.corruptions.digital import nearest_upscale_cv2, nearest_upscale_torch_t

    # (192, 256) → (480, 640) takes the remap fallback (cv2's INTER_NEAREST_EXACT is off there), the others resize
    for sh, sw, h, w in [(192, 256, 480, 640), (288, 384, 480, 640), (134, 134, 224, 224), (89, 89, 224, 224), (17, 23, 48, 56), (1, 1, 5, 7)]:
        small = torch.rand(2, 3, sh, sw)
        assert torch.equal(nearest_upscale_cv2(small, h, w), nearest_upscale_torch_t(small.transpose(-1, -2).contiguous(), h, w))

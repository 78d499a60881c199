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

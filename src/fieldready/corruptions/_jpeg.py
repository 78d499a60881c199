"""JPEG round trips: libjpeg through cv2 on CPU (exact, fast) and a torch DCT-quantise path for other devices."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# The IJG base quantisation tables (ITU T.81 Annex K), scaled by quality as libjpeg does.
_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_CHROMA = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
]


def quant_table(base: list[int], quality: int) -> torch.Tensor:
    """libjpeg's ``jpeg_quality_scaling`` applied to a base table, as an 8×8 float tensor."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    t = torch.tensor(base, dtype=torch.float64)
    return torch.clamp(torch.floor((t * scale + 50) / 100), 1, 255).view(8, 8).float()


_INV = np.float32(255.0)


def _jpeg_one(src: np.ndarray, dst: np.ndarray, params: list[int]) -> None:
    """Round-trip one ``[3, H, W]`` float image in [0, ∞) through libjpeg into ``dst`` (same shape, float32)."""
    # convertScaleAbs rounds (half to even, like torch.round) and saturates at 255; src is never negative here.
    bgr = cv2.merge([cv2.convertScaleAbs(src[c], alpha=255.0) for c in (2, 1, 0)])
    ok, buf = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise RuntimeError("libjpeg could not encode the image")
    for c, plane in zip((2, 1, 0), cv2.split(cv2.imdecode(buf, cv2.IMREAD_COLOR))):
        np.divide(plane, _INV, out=dst[c], dtype=np.float32)


def jpeg_cv2(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode/decode each image with libjpeg (cv2, 4:2:0 as PIL's default) on CPU.

    Planes go straight from the float batch to an interleaved uint8 BGR image and back into a
    preallocated output (cv2's SIMD conversions), with no torch permute/flip copies on the way.
    """
    x = images.detach().contiguous()
    if float(x.amin()) < 0.0:
        x = x.clamp(0.0, 1.0)
    src = x.numpy()
    out = torch.empty(images.shape, dtype=torch.float32)
    dst = out.numpy()
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
    for i in range(src.shape[0]):  # libjpeg codes one image per call; this is I/O, not image math
        _jpeg_one(src[i], dst[i], params)
    return out


def _dct_matrix(device: torch.device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64)
    m = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * 0.5
    m[0] /= math.sqrt(2)
    return m.float().to(device)


def _blocks_roundtrip(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Level-shift, 8×8 DCT, quantise, dequantise and inverse DCT a ``[N, H, W]`` plane (H, W multiples of 8)."""
    n, h, w = plane.shape
    d = _dct_matrix(plane.device)
    b = (plane - 128.0).view(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)
    coef = d @ b @ d.T
    coef = torch.round(coef / table) * table
    back = d.T @ coef @ d
    return back.permute(0, 1, 3, 2, 4).reshape(n, h, w) + 128.0


def _pad_to(x: torch.Tensor, mult: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % mult, (-w) % mult
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def jpeg_torch(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Baseline JPEG (YCbCr, 4:2:0, IJG tables) simulated in torch, for devices without libjpeg."""
    n, _, h, w = images.shape
    x = torch.round(images.clamp(0, 1) * 255.0)
    x = _pad_to(x, 16)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
    chroma = F.avg_pool2d(torch.stack([cb, cr], 1), 2)
    yq = _blocks_roundtrip(y, quant_table(_LUMA, quality).to(images.device))
    ct = quant_table(_CHROMA, quality).to(images.device)
    cq = torch.stack([_blocks_roundtrip(chroma[:, k].contiguous(), ct) for k in range(2)], 1)
    # libjpeg's "fancy" upsampling is the triangle filter, i.e. bilinear with half-pixel centres.
    cq = F.interpolate(cq, scale_factor=2, mode="bilinear", align_corners=False)
    cb, cr = cq[:, 0] - 128.0, cq[:, 1] - 128.0
    rgb = torch.stack([yq + 1.402 * cr, yq - 0.344136 * cb - 0.714136 * cr, yq + 1.772 * cb], 1)
    return torch.round(rgb.clamp(0, 255))[..., :h, :w] / 255.0

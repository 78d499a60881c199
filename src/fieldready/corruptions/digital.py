"""Digital and photometric corruptions: brightness, contrast, saturation, JPEG compression, pixelation."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from fieldready.corruptions._filters import per_image
from fieldready.corruptions._jpeg import jpeg_cv2, jpeg_torch
from fieldready.corruptions._levels import interp
from fieldready.corruptions.registry import register
from fieldready.rng import ImageRNG

__all__ = ["brightness", "contrast", "saturate", "jpeg_compression", "pixelate"]


@register("brightness")
def brightness(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Add ``severity`` to the HSV value channel (hue and saturation kept), as ImageNet-C."""
    v = images.amax(1, keepdim=True)
    v_new = (v + severity).clamp(0.0, 1.0)
    # With hue and saturation fixed, RGB is proportional to V; black pixels (V=0) become grey V'.
    # Black pixels have all channels 0, so adding V' there (and 0 elsewhere) gives the grey.
    ratio = v_new / v.clamp_min(1e-12)
    black = torch.where(v > 0, torch.zeros_like(v_new), v_new)
    return torch.mul(images, ratio).add_(black).clamp_(0.0, 1.0)


@register("contrast")
def contrast(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Scale each channel's deviation from its image mean by ``severity``."""
    mean = per_image(lambda x: x.mean(dim=(2, 3), keepdim=True), images)  # a sum's order depends on the tensor
    return torch.mul(images, severity).add_(mean * (1.0 - severity)).clamp_(0.0, 1.0)


_SAT_MULT = (0.0, 2.0, 5.0, 20.0)
_SAT_OFFSET = (0.0, 0.0, 0.1, 0.2)


@register("saturate")
def saturate(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Multiply HSV saturation (plus ImageNet-C's offset at strong levels), hue and value kept."""
    offset = interp(severity, _SAT_MULT, _SAT_OFFSET)
    v = images.amax(1, keepdim=True)
    s = (v - images.amin(1, keepdim=True)) / v.clamp_min(1e-12)
    s = torch.where(v > 0, s, torch.zeros_like(s))
    s_new = (s * severity + offset).clamp(0.0, 1.0)
    # Hue fixed: each channel's distance below V scales with saturation. Grey pixels have hue 0 (red).
    coloured = v - (v - images) * (s_new / s.clamp_min(1e-12))
    red = torch.tensor([0.0, 1.0, 1.0], device=images.device).view(1, 3, 1, 1)
    grey = v - v * s_new * red
    return torch.where(s > 0, coloured, grey).clamp_(0.0, 1.0)


@register("jpeg_compression")
def jpeg_compression(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Baseline JPEG round trip at the given quality (libjpeg on CPU, a torch simulation elsewhere)."""
    quality = int(round(severity))
    if images.device.type == "cpu":
        return jpeg_cv2(images, quality)
    return jpeg_torch(images, quality)


def box_matrix(size_in: int, size_out: int, *, device: torch.device) -> torch.Tensor:
    """PIL's BOX downscaling weights ``[size_out, size_in]``: the mean of the input pixels under each output pixel."""
    scale = size_in / size_out
    centre = (torch.arange(size_out, dtype=torch.float64) + 0.5) * scale
    j = torch.arange(size_in, dtype=torch.float64)
    x = (j[None, :] - centre[:, None] + 0.5) / scale
    lo = torch.clamp((centre - scale * 0.5 + 0.5).floor(), min=0)
    hi = torch.clamp((centre + scale * 0.5 + 0.5).floor(), max=size_in)
    w = ((x > -0.5) & (x <= 0.5) & (j[None, :] >= lo[:, None]) & (j[None, :] < hi[:, None])).double()
    w = w / w.sum(1, keepdim=True).clamp_min(1.0)
    return w.float().to(device)


@functools.lru_cache(maxsize=128)
def box_runs(size_in: int, size_out: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """PIL BOX runs: (first input index, run length) of each output pixel, and the shortest and longest run.

    Each output pixel is the mean of the contiguous input pixels whose centres fall under it.
    """
    weights = box_matrix(size_in, size_out, device=torch.device("cpu")) > 0
    j = torch.arange(size_in)
    start = torch.where(weights, j, size_in).amin(1)
    count = torch.where(weights, j + 1, 0).amax(1) - start
    return start, count, int(count.min()), int(count.max())


def box_downscale_rows(x: torch.Tensor, size_out: int) -> torch.Tensor:
    """PIL BOX downscaling of the rows (dim -2) of ``x``: the *sum* of each run (divide by ``box_runs`` counts).

    Whole rows are gathered and added (contiguous copies, fast on any device): the shortest run
    length of terms for every output row, then the extra term only for the rows with a longer run.
    """
    start, count, shortest, longest = box_runs(x.shape[-2], size_out)
    start = start.to(x.device)
    out = x.index_select(-2, start)
    for t in range(1, longest):
        if t < shortest:
            out.add_(x.index_select(-2, start + t))
        else:
            rows = torch.nonzero(count > t).flatten().to(x.device)
            out.index_add_(-2, rows, x.index_select(-2, start[rows] + t))
    return out


def box_downscale(x: torch.Tensor, size_h: int, size_w: int) -> torch.Tensor:
    """PIL BOX downscaling of the last two dims to ``size_h × size_w`` (the mean of each box of pixels)."""
    _, count_h, _, _ = box_runs(x.shape[-2], size_h)
    _, count_w, _, _ = box_runs(x.shape[-1], size_w)
    y = box_downscale_rows(x, size_h)
    y = box_downscale_rows(y.transpose(-1, -2).contiguous(), size_w).transpose(-1, -2)
    area = (count_h[:, None] * count_w[None, :]).to(x.device, torch.float32)
    return y / area


def nearest_index(size_in: int, size_out: int, *, device: torch.device) -> torch.Tensor:
    """PIL/torch "nearest-exact" source index of each output pixel (pixel-centre aligned)."""
    idx = ((torch.arange(size_out, dtype=torch.float64) + 0.5) * (size_in / size_out)).floor().long()
    return idx.clamp_(max=size_in - 1).to(device)


@register("pixelate")
def pixelate(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Box-downscale by the block size and upscale back with nearest neighbour (PIL BOX then NEAREST)."""
    n, c, h, w = images.shape
    factor = 1.0 / max(severity * spatial_scale, 1.0)
    # int() truncation and float factor exactly as the reference computes the small size
    sh, sw = max(1, int(h * factor)), max(1, int(w * factor))
    if (sh, sw) == (h, w):
        return images.clone()
    count_h, count_w = box_runs(h, sh)[1], box_runs(w, sw)[1]
    # Rows first, then the columns as rows of the transposed (smaller) result: only row gathers.
    small_t = box_downscale_rows(box_downscale_rows(images, sh).transpose(-1, -2).contiguous(), sw)  # [N, C, sw, sh]
    scale = (255.0 / (count_w[:, None] * count_h[None, :]).to(images.device, torch.float32))
    small_t = torch.round(small_t.mul_(scale)).div_(255.0)  # PIL holds the small image in 8 bits
    small_t.clamp_(0.0, 1.0)
    if images.device.type == "cpu":
        return nearest_upscale_cv2(small_t.transpose(-1, -2).contiguous(), h, w)
    return nearest_upscale_torch_t(small_t, h, w)


def nearest_upscale_torch_t(small_t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL NEAREST enlargement of the *transposed* small images ``[N, C, sw, sh]`` to ``[N, C, h, w]``.

    Row gathers only: the columns on the transposed image, then the rows (any device).
    """
    sw, sh = small_t.shape[-2:]
    up = small_t.index_select(-2, nearest_index(sw, w, device=small_t.device)).transpose(-1, -2).contiguous()
    return up.index_select(-2, nearest_index(sh, h, device=small_t.device))


@functools.lru_cache(maxsize=32)
def _nearest_maps(sh: int, sw: int, h: int, w: int) -> np.ndarray:
    """cv2.remap's fixed-point map (int16 x, y per output pixel) of the same source indices as ``nearest_index``."""
    ys = nearest_index(sh, h, device=torch.device("cpu")).numpy().astype(np.int16)
    xs = nearest_index(sw, w, device=torch.device("cpu")).numpy().astype(np.int16)
    maps = np.empty((h, w, 2), dtype=np.int16)
    maps[..., 0] = xs[None, :]
    maps[..., 1] = ys[:, None]
    return maps


def nearest_upscale_cv2(small: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL NEAREST enlargement of CPU images ``[N, C, sh, sw]`` to ``[N, C, h, w]`` with cv2.remap per plane,
    written straight into the output (same pixels as ``nearest_upscale_torch_t``, several times faster)."""
    n, c, sh, sw = small.shape
    if max(sh, sw, h, w) >= 2**15:  # int16 maps
        return nearest_upscale_torch_t(small.transpose(-1, -2).contiguous(), h, w)
    src = small.reshape(n * c, sh, sw).numpy()
    out = torch.empty((n, c, h, w), dtype=small.dtype)
    dst = out.view(n * c, h, w).numpy()
    if _resize_is_exact(sh, sw, h, w):
        for i in range(n * c):
            cv2.resize(src[i], (w, h), dst=dst[i], interpolation=cv2.INTER_NEAREST_EXACT)
    else:
        maps = _nearest_maps(sh, sw, h, w)
        for i in range(n * c):
            cv2.remap(src[i], maps, None, cv2.INTER_NEAREST, dst=dst[i])
    return out


@functools.lru_cache(maxsize=32)
def _resize_is_exact(sh: int, sw: int, h: int, w: int) -> bool:
    """Whether cv2's INTER_NEAREST_EXACT picks the same source pixels as ``nearest_index`` for this size pair.

    It does for most sizes but not all (its fixed-point arithmetic rounds differently at a few
    pixels, e.g. 192×256 → 480×640), so each size pair is checked once on an index image;
    cv2.remap with exact maps (about 5× slower) covers the others.
    """
    ids = np.arange(sh * sw, dtype=np.float64).reshape(sh, sw)
    got = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    ys = nearest_index(sh, h, device=torch.device("cpu")).numpy()
    xs = nearest_index(sw, w, device=torch.device("cpu")).numpy()
    return bool(np.array_equal(got, ids[ys][:, xs]))

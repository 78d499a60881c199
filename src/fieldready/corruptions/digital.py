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


# Pillow's 8-bit resampling: weights in fixed point with 22 fraction bits, sums rounded half up (Resample.c).
_PRECISION_BITS = 22


@functools.lru_cache(maxsize=128)
def box_runs(size_in: int, size_out: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """PIL BOX runs: (first input index, run length) of each output pixel, and the shortest and longest run.

    Each output pixel is the mean of the contiguous input pixels whose centres fall under it. The bounds
    follow Pillow's ``precompute_coeffs`` operation by operation in double precision, because a pixel
    centre that lands exactly on a box edge is decided by how that arithmetic rounds.
    """
    if not 1 <= size_out <= size_in:
        raise ValueError(f"box_runs: BOX downscaling needs 1 <= size_out <= size_in, got {size_in} -> {size_out}")
    scale = float(size_in) / size_out  # (double)(in1 - in0) / outSize, in1 the input size as a float32
    support = 0.5 * scale  # the box's half-width; scale >= 1, so filterscale == scale
    inv_scale = 1.0 / scale
    starts, counts = [], []
    for xx in range(size_out):
        center = (xx + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size_in)
        inside = [x for x in range(lo, hi) if -0.5 < (x - center + 0.5) * inv_scale <= 0.5]
        starts.append(inside[0])
        counts.append(len(inside))
    start, count = torch.tensor(starts), torch.tensor(counts)
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


@functools.lru_cache(maxsize=128)
def _box_rounding(size_in: int, size_out: int, gain: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, offset) per output pixel of a BOX pass: ``floor(sum·scale + offset)`` is Pillow's 8-bit value.

    Pillow weighs each of a run's n pixels by ``K = int(0.5 + 2**22 / n)`` and rounds ``sum·K / 2**22``
    half up. For an integer sum I that is the mean rounded to nearest, and a mean exactly on a half (n
    even) goes up when ``K·n ≥ 2**22`` (n = 6) and down otherwise (n = 10): ``floor((I + b) / n)`` with
    b = n/2 ± ⅛. The ⅛ also absorbs float error in the sum: it is I/gain (values in 0..1 for gain 255)
    up to a few 1e-5, and ``(I + b) / n`` lies at least ⅛/n from an integer.
    """
    _, count, _, _ = box_runs(size_in, size_out)
    scale, offset = [], []
    for n in count.tolist():
        tie_up = int(0.5 + (1.0 / n) * (1 << _PRECISION_BITS)) * n >= 1 << _PRECISION_BITS
        scale.append(gain / n)
        offset.append((n / 2 + (0.125 if tie_up else -0.125)) / n)
    return torch.tensor(scale)[:, None], torch.tensor(offset)[:, None]


def box_pass_8bit(x: torch.Tensor, size_out: int, *, gain: float = 1.0) -> torch.Tensor:
    """One PIL BOX pass over the rows (dim -2) of 8-bit values ``x·gain`` (float32): Pillow's 8-bit result, in 0..255.

    Exact in float32 for 8-bit input (integers, or k/255 with gain 255): see ``_box_rounding``.
    Other input (a composition's float output) rounds each run's mean to 8 bits.
    """
    scale, offset = (t.to(x.device) for t in _box_rounding(x.shape[-2], size_out, gain))
    sums = box_downscale_rows(x, size_out)
    return torch.addcmul(offset, sums, scale, out=sums).floor_()  # means of 0..255 values: no clipping needed


@functools.lru_cache(maxsize=128)
def _nearest_index_cpu(size_in: int, size_out: int) -> torch.Tensor:
    """``nearest_index`` on the CPU, cached per size pair."""
    step = float(size_in) / size_out  # a[0] = (double)(box[2] - box[0]) / xsize, the box a float32
    pos = step * 0.5
    idx = []
    for _ in range(size_out):
        idx.append(int(pos))  # COORD(): truncation, pos >= 0
        pos += step  # accumulated, not (i + 0.5) * step: the sum's rounding picks the pixel on a boundary
    return torch.tensor(idx).clamp_(max=size_in - 1)


def nearest_index(size_in: int, size_out: int, *, device: torch.device) -> torch.Tensor:
    """PIL NEAREST's source index of each output pixel, bit for bit (``ImagingScaleAffine``).

    Pillow starts at half a step and *adds* the step once per output pixel in double precision,
    then truncates. Where (i + ½)·step is an integer in exact arithmetic (e.g. 40 → 100 px: step 0.4,
    pixel 2 at 1.0) the accumulated sum lands a hair below or above it, and that decides the pixel.
    """
    return _nearest_index_cpu(size_in, size_out).to(device)


@register("pixelate")
def pixelate(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Box-downscale by the block size and upscale back with nearest neighbour (PIL BOX then NEAREST)."""
    n, c, h, w = images.shape
    factor = 1.0 / max(severity * spatial_scale, 1.0)
    # int() truncation and float factor exactly as the reference computes the small size
    sh, sw = max(1, int(h * factor)), max(1, int(w * factor))
    if (sh, sw) == (h, w):
        return images.clone()
    # Pillow's two passes on the 8-bit image, horizontal first, each rounding to 8 bits. A pass sums
    # whole rows (row gathers), so the horizontal one runs on the transposed image. A pass whose size
    # does not change is skipped, as in Pillow.
    small = images
    if sw != w:
        small = box_pass_8bit(images.transpose(-1, -2).contiguous(), sw, gain=255.0).transpose(-1, -2).contiguous()
    if sh != h:
        small = box_pass_8bit(small, sh, gain=255.0 if sw == w else 1.0)
    small.div_(255.0)  # a pass ran, so this is a new tensor
    if images.device.type == "cpu":
        return nearest_upscale_cv2(small, h, w)
    return nearest_upscale_torch(small, h, w)


def nearest_upscale_torch(small: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL NEAREST enlargement of ``[N, C, sh, sw]`` to ``[N, C, h, w]`` by row gathers (any device).

    The columns are gathered as rows of the transposed image, then the rows.
    """
    sh, sw = small.shape[-2:]
    small_t = small.transpose(-1, -2).contiguous()
    up = small_t.index_select(-2, nearest_index(sw, w, device=small.device)).transpose(-1, -2).contiguous()
    return up.index_select(-2, nearest_index(sh, h, device=small.device))


def nearest_upscale_cv2(small: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL NEAREST enlargement of CPU images ``[N, C, sh, sw]`` to ``[N, C, h, w]``: cv2's INTER_NEAREST_EXACT
    per plane, written straight into the output, where it picks the same pixels as ``nearest_index``
    (several times faster); ``nearest_upscale_torch`` for the other size pairs."""
    n, c, sh, sw = small.shape
    if not _resize_is_exact(sh, sw, h, w):
        return nearest_upscale_torch(small, h, w)
    src = small.reshape(n * c, sh, sw).numpy()
    out = torch.empty((n, c, h, w), dtype=small.dtype)
    dst = out.view(n * c, h, w).numpy()
    for i in range(n * c):
        cv2.resize(src[i], (w, h), dst=dst[i], interpolation=cv2.INTER_NEAREST_EXACT)
    return out


@functools.lru_cache(maxsize=128)
def _resize_is_exact(sh: int, sw: int, h: int, w: int) -> bool:
    """Whether cv2's INTER_NEAREST_EXACT picks the same source pixels as ``nearest_index`` for this size pair.

    It did for every pair tried (all enlargements up to 300 px, a sample up to 3000), but it is fixed-point
    code that documents no tie rule, so each size pair is checked once. Nearest-neighbour resizing is separable,
    so one row and one column of pixel indices stand for the image.
    """
    row = cv2.resize(np.arange(sw, dtype=np.float32)[None], (w, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0]
    col = cv2.resize(np.arange(sh, dtype=np.float32)[:, None], (1, h), interpolation=cv2.INTER_NEAREST_EXACT)[:, 0]
    xs = nearest_index(sw, w, device=torch.device("cpu")).numpy()
    ys = nearest_index(sh, h, device=torch.device("cpu")).numpy()
    return bool(np.array_equal(row, xs) and np.array_equal(col, ys))

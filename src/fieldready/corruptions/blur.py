"""Optical and motion blur: gaussian, defocus (disk), motion, glass and zoom blur, as in ImageNet-C."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from fieldready.corruptions._filters import _correlate1d, fft_filter, gaussian_blur as _gaussian, pad
from fieldready.corruptions._levels import interp
from fieldready.corruptions.builtin import BUILTIN
from fieldready.corruptions.registry import register
from fieldready.rng import ImageRNG

__all__ = ["gaussian_blur", "defocus_blur", "motion_blur", "glass_blur", "zoom_blur", "disk_kernel", "motion_kernels"]

# Level tables of imagecorruptions 1.1.2, keyed by the primary parameter (the severity: the declared levels).
_DEFOCUS_RADIUS = BUILTIN["defocus_blur"].levels
_DEFOCUS_ALIAS = (0.1, 0.5, 0.5, 0.5, 0.5)
_MOTION_SIGMA = (0.0, 3.0, 5.0, 8.0, 12.0, 15.0)
_MOTION_RADIUS = (0.0, 10.0, 15.0, 15.0, 15.0, 20.0)
_GLASS_SIGMA = BUILTIN["glass_blur"].levels
_GLASS_DELTA = (1.0, 2.0, 2.0, 3.0, 4.0)
_GLASS_ITERS = (2.0, 1.0, 3.0, 2.0, 2.0)
_ZOOM_MAX = BUILTIN["zoom_blur"].levels  # 1.11, not 1.10: np.arange(1, 1.11, .01) ends at 1.11
_ZOOM_STEP = (0.01, 0.01, 0.02, 0.02, 0.03)


@register("gaussian_blur")
def gaussian_blur(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Gaussian blur of standard deviation σ pixels (edge pixels repeated, as skimage)."""
    return _gaussian(images, severity * spatial_scale, mode="replicate").clamp_(0.0, 1.0)


def disk_kernel(radius: float, alias_blur: float, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """ImageNet-C's anti-aliased disk: a pixel disk of ``radius``, normalised, then a tiny Gaussian blur."""
    half = max(8, math.ceil(radius))
    t = torch.arange(-half, half + 1, dtype=torch.float32, device=device)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).float()
    disk = disk / disk.sum().clamp_min(1.0)
    ksize = 3 if radius <= 8 else 5
    g = torch.arange(ksize, dtype=torch.float32, device=device) - (ksize - 1) / 2
    g = torch.exp(-(g**2) / (2 * max(alias_blur, 1e-3) ** 2))
    g = g / g.sum()
    p = ksize // 2
    d = pad(disk[None, None], p, p, "reflect101")
    d = F.conv2d(d, g.view(1, 1, -1, 1))
    d = F.conv2d(d, g.view(1, 1, 1, -1))
    return d[0, 0]


@register("defocus_blur")
def defocus_blur(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Out-of-focus blur: convolution with an anti-aliased disk of the given radius."""
    radius = severity * spatial_scale
    if radius <= 0:
        return images.clone()
    alias = interp(severity, _DEFOCUS_RADIUS, _DEFOCUS_ALIAS)
    if math.floor(radius) <= 6:
        # The reference blurs its disk inside a 17×17 box with reflected borders; up to radius 6 the reflection
        # reads only zeros, so disk then Gaussian is its kernel exactly (ImageNet-C levels 1–3).
        return disk_then_gaussian(images, radius, alias).clamp_(0.0, 1.0)
    kernel = disk_kernel(radius, alias, device=images.device)
    return fft_filter(images, kernel[None], mode="reflect101").clamp_(0.0, 1.0)


def disk_then_gaussian(x: torch.Tensor, radius: float, alias_blur: float) -> torch.Tensor:
    """Convolve with the normalised pixel disk of ``radius`` then the 3-tap Gaussian of σ ``alias_blur``
    (reflect-101 borders), by row runs: the disk is a stack of horizontal segments, so a running
    horizontal box sum, grown one pixel each side per step, is added at every row offset whose segment
    has that half-width. About 4·radius full-image adds instead of two FFTs: faster for small disks.

    Equals ``disk_kernel`` filtering for radius < 7 (beyond, that kernel reflects the disk's rim at its box edge).
    """
    n, c, h, w = x.shape
    rr = math.floor(radius)
    rows: dict[int, list[int]] = {}
    for dy in range(-rr, rr + 1):
        k = math.isqrt(max(0, math.floor(radius * radius - dy * dy)))
        while (k + 1) ** 2 <= radius * radius - dy * dy:
            k += 1
        while k > 0 and k * k > radius * radius - dy * dy:
            k -= 1
        rows.setdefault(k, []).append(dy)
    area = sum((2 * k + 1) * len(dys) for k, dys in rows.items())
    g = torch.exp(-(torch.arange(-1, 2, dtype=torch.float64) ** 2) / (2 * max(alias_blur, 1e-3) ** 2))
    g = g / g.sum()
    p = rr + 1
    xp = pad(x, p, p, "reflect101")
    h2, w2 = h + 2, w + 2  # the disk stage also covers the Gaussian's one-pixel margin
    box = xp[..., :, rr : rr + w2].clone()
    acc = torch.zeros((n, c, h2, w2), dtype=x.dtype, device=x.device)
    for k in range(max(rows) + 1):
        if k > 0:
            box += xp[..., :, rr - k : rr - k + w2]
            box += xp[..., :, rr + k : rr + k + w2]
        for dy in rows.get(k, []):
            acc += box[..., rr + dy : rr + dy + h2, :]
    acc = _correlate1d(acc, (g / area).tolist(), -2)
    return _correlate1d(acc, g.tolist(), -1)


def motion_kernels(
    angle_deg: torch.Tensor, radius: int, sigma: float, *, height: int, width: int
) -> torch.Tensor:
    """Per-image convolution kernels ``[N, 4r+1, 4r+1]`` of ImageNet-C's one-sided Gaussian motion streak.

    Tap i (weight ∝ exp(-i²/2σ²), i < 2r+1) sits at the pixel offset i·(sin a, cos a) rounded as the
    reference does; taps farther than the image size are dropped, as the reference stops there.
    """
    taps = 2 * radius + 1
    i = torch.arange(taps, dtype=torch.float32, device=angle_deg.device)
    w = torch.exp(-(i**2) / (2 * sigma**2))
    w = w / w.sum()
    dy, dx = _motion_offsets(angle_deg, taps)
    dy, dx = dy.to(angle_deg.device), dx.to(angle_deg.device)
    keep = (dy.abs() < height) & (dx.abs() < width)
    keep = torch.cumprod(keep.int(), dim=1).bool()
    size = 4 * radius + 1
    c = 2 * radius
    flat = ((dy + c) * size + (dx + c)).long()
    k = torch.zeros((dy.shape[0], size * size), dtype=torch.float32, device=angle_deg.device)
    k.scatter_add_(1, flat, torch.where(keep, w.expand(dy.shape), torch.zeros_like(w).expand(dy.shape)))
    return k.view(-1, size, size)


def _motion_offsets(angle_deg: torch.Tensor, taps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(dy, dx) ``[N, taps]`` of each tap, computed as imagecorruptions' ``_motion_blur`` does, in float64 on the CPU.

    A tap whose offset i·sin a − ½ is an integer in exact arithmetic (a = ±30°: i·sin a = ∓i/2) falls on
    a pixel boundary; the reference's double-precision sin and hypot put it on one side, so the same
    operations decide it here (float32 would pick the other pixel).
    """
    dys, dxs = [], []
    for a in angle_deg.reshape(-1).double().cpu().tolist():
        rad = float(np.deg2rad(a))
        py, px = taps * float(np.sin(rad)), taps * float(np.cos(rad))
        hyp = math.hypot(py, px)
        dys.append([-math.ceil((k * py) / hyp - 0.5) for k in range(taps)])
        dxs.append([-math.ceil((k * px) / hyp - 0.5) for k in range(taps)])
    return torch.tensor(dys, dtype=torch.long).reshape(-1, taps), torch.tensor(dxs, dtype=torch.long).reshape(-1, taps)


def motion_params(sigma: float, spatial_scale: float) -> tuple[int, float]:
    """(radius, σ) in pixels for a motion σ: the radius follows the level table, both scale with size."""
    radius = interp(sigma, _MOTION_SIGMA, _MOTION_RADIUS, extrapolate=True)
    return max(1, round(radius * spatial_scale)), sigma * spatial_scale


@register("motion_blur")
def motion_blur(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Camera-shake streak at a random angle in [-45°, 45°] per image, with a Gaussian fall-off along it."""
    angle = rng.uniform(1, low=-45.0, high=45.0)
    if severity <= 0:
        return images.clone()
    radius, sigma = motion_params(severity, spatial_scale)
    kernels = motion_kernels(angle, radius, sigma, height=images.shape[-2], width=images.shape[-1])
    return fft_filter(images, kernels, mode="replicate").clamp_(0.0, 1.0)


def _shuffle(images: torch.Tensor, delta: int, rng: ImageRNG, *, jumps: int = 6) -> torch.Tensor:
    """One pass of glass_blur's pixel "swap" loop, exactly, without the loop.

    On RGB arrays the reference's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` swaps numpy views, so
    it really copies ``x[h, w] ← x[h', w']`` in a reverse raster scan, offsets in [-Δ, Δ). A pixel thus
    reads its source's *current* value: the original one, or, if the source was visited earlier in
    the scan, that source's own result. Following these pointers to the end of each chain (pointer
    doubling, 2^jumps links; chains continue with probability < 1/2) gives the loop's output.
    """
    n, c, h, w = images.shape
    dev = images.device
    off = rng.randint(-delta, delta, 2, h, w)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)

    def inside(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (y > delta) & (y <= h - delta) & (x > delta) & (x <= w - delta)

    sy, sx = ys + off[:, 1], xs + off[:, 0]
    here = inside(ys, xs)
    src = torch.where(here, sy * w + sx, ys * w + xs).view(n, h * w)
    # The source was already visited (so holds its result) if it lies in the scanned area and later in raster order.
    chained = here & inside(sy, sx) & ((off[:, 1] > 0) | ((off[:, 1] == 0) & (off[:, 0] > 0)))
    own = torch.arange(h * w, device=dev).expand(n, h * w)
    nxt = torch.where(chained.view(n, -1), src, own)
    for _ in range(jumps):
        nxt = nxt.gather(1, nxt)
    # nxt is now the last visited pixel of each chain; it read the original value at its own source.
    final = src.gather(1, nxt)
    idx = final.view(n, 1, h * w).expand(n, c, h * w)
    return images.reshape(n, c, h * w).gather(2, idx).view(n, c, h, w)


@register("glass_blur")
def glass_blur(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Frosted-glass blur: Gaussian blur, local random pixel shuffles, Gaussian blur again."""
    sigma = severity * spatial_scale
    delta = max(1, round(interp(severity, _GLASS_SIGMA, _GLASS_DELTA) * spatial_scale))
    iters = max(1, round(interp(severity, _GLASS_SIGMA, _GLASS_ITERS)))
    x = _gaussian(images, sigma, mode="replicate")
    x = torch.floor(x.clamp(0, 1) * 255.0) / 255.0  # the reference shuffles uint8 pixels
    for _ in range(iters):
        x = _shuffle(x, delta, rng)
    return _gaussian(x, sigma, mode="replicate").clamp_(0.0, 1.0)


def zoom_factors(max_zoom: float) -> list[float]:
    """The zoom factors ImageNet-C averages: 1, 1+step, … up to ``max_zoom`` (step from the level table)."""
    step = interp(max_zoom, _ZOOM_MAX, _ZOOM_STEP)
    count = int(math.floor((max_zoom - 1.0) / step + 1e-6)) + 1
    return [1.0 + step * k for k in range(count)]


@register("zoom_blur")
def zoom_blur(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Radial blur of a fast zoom: the mean of the image and its centred zooms up to the given factor.

    The content stays anchored at the image centre, so boxes are left unchanged.
    """
    n, c, h, w = images.shape
    zooms = zoom_factors(severity)
    out = images.clone()
    for z in zooms:
        ch, cw = math.ceil(h / z), math.ceil(w / z)
        top, left = (h - ch) // 2, (w - cw) // 2
        # One plane per channel ([N·C, 1, h, w], copied contiguous): torch's bilinear kernel is ~2× faster
        # on single-channel planes than on a strided 3-channel crop.
        crop = images[..., top : top + ch, left : left + cw].reshape(n * c, 1, ch, cw)
        # scipy.ndimage.zoom(order=1) maps the end pixels onto each other, i.e. align_corners=True.
        up = F.interpolate(crop, size=(round(ch * z), round(cw * z)), mode="bilinear", align_corners=True)
        out += up.view(n, c, *up.shape[-2:])[..., :h, :w]
    return (out / (len(zooms) + 1)).clamp_(0.0, 1.0)

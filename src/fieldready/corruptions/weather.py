"""Weather: fog, frost, snow, spatter and rain, with procedurally generated textures (no texture files).

fog, frost, snow and spatter vary several parameters non-monotonically across ImageNet-C's levels,
so no single physical parameter orders them: their severity is the continuous ImageNet-C level
(1.0–5.0); fractional levels interpolate the parameter table between neighbouring rows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fieldready.corruptions._color import gray
from fieldready.corruptions._filters import correlate2d, fft_filter, gaussian_blur, pad, per_image
from fieldready.corruptions._levels import level_params
from fieldready.corruptions._texture import next_power_of_2, plasma_fractal
from fieldready.corruptions.blur import motion_kernels
from fieldready.corruptions.registry import register
from fieldready.rng import ImageRNG

__all__ = ["fog", "frost", "snow", "spatter", "rain"]

_FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))


@register("fog")
def fog(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Fog: a plasma-fractal haze added to the image, then the range rescaled (ImageNet-C's fog)."""
    strength, decay = level_params(severity, _FOG)
    h, w = images.shape[-2:]
    haze = plasma_fractal(rng, next_power_of_2(max(h, w)), decay)[:, None, :h, :w]
    top = images.amax(dim=(1, 2, 3), keepdim=True)
    out = torch.add(images, haze, alpha=strength)  # one full-size buffer, then in place
    return out.mul_(top / (top + strength)).clamp_(0.0, 1.0)


_FROST = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))
# Per-channel mean and std (0–255, RGB) of the five frost photographs ImageNet-C draws from; each
# image gets one of these looks on a procedural ice texture, so brightness and tint match the benchmark.
_FROST_LOOKS = torch.tensor(
    [
        [[77.7, 149.1, 165.7], [26.9, 16.5, 15.3]],
        [[200.8, 205.4, 214.5], [21.4, 22.1, 22.6]],
        [[200.8, 205.4, 214.5], [21.4, 22.1, 22.6]],
        [[137.6, 152.8, 165.2], [28.5, 28.5, 29.9]],
        [[112.4, 123.4, 134.8], [44.4, 43.3, 41.7]],
    ]
)


_FROST_SIZE = 256  # side of the procedural texture at its own scale, as a frost photograph has one


def frost_texture(rng: ImageRNG, h: int, w: int) -> torch.Tensor:
    """``[N, 3, H, W]`` procedural frost in [0, 1]: rough fractal plus crystalline ridges, tinted like frost photos.

    As ImageNet-C crops its frost photographs: an image that fits in the texture gets a window of it at
    the texture's own scale (a small image shows a few crystals, not the whole pattern shrunk), a larger one
    the texture enlarged to cover it. The tint is set from the whole texture's statistics, so a window keeps
    its local variation, and any size from 1×1 gets finite values.
    """
    size = _FROST_SIZE
    base = plasma_fractal(rng, size, 1.6)
    veins = 1.0 - (2.0 * plasma_fractal(rng, size, 1.3) - 1.0).abs()  # ridges look like ice needles
    tex = base + per_image(lambda v: v**4, veins)
    # Standardise the texture and apply the picked look in one affine map per image and channel:
    # look_mean + look_std · (tex - μ) / σ = offset + gain · tex.
    std, mean = per_image(lambda t: torch.stack(torch.std_mean(t, dim=(1, 2)), 1), tex).unbind(1)
    std = std.clamp_min(1e-6)
    if size < max(h, w):
        # Enlarge only the part that covers the H×W crop (+2 source pixels, so no kept pixel sees the cut).
        scale = max(h, w) / size
        sh, sw = min(size, math.ceil(h / scale) + 2), min(size, math.ceil(w / scale) + 2)
        tex = F.interpolate(
            tex[:, None, :sh, :sw], scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False
        )[:, 0]
    tex = tex[:, :h, :w]
    pick = torch.floor(rng.uniform() * len(_FROST_LOOKS)).long().clamp_(max=len(_FROST_LOOKS) - 1)
    looks = _FROST_LOOKS.to(tex.device)[pick]  # [N, 2, 3]
    gain = looks[:, 1] / std[:, None]
    offset = looks[:, 0] - gain * mean[:, None]
    out = torch.addcmul(offset[:, :, None, None], gain[:, :, None, None], tex[:, None])
    return out.clamp_(0.0, 255.0).div_(255.0)


@register("frost")
def frost(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Frost on the lens: the image dimmed and a procedural ice texture added (ImageNet-C's weights)."""
    image_weight, frost_weight = level_params(severity, _FROST)
    out = frost_texture(rng, *images.shape[-2:]).mul_(frost_weight)
    return out.add_(images, alpha=image_weight).clamp_(0.0, 1.0)


_SNOW = (
    (0.1, 0.3, 3.0, 0.5, 10.0, 4.0, 0.8),
    (0.2, 0.3, 2.0, 0.5, 12.0, 4.0, 0.7),
    (0.55, 0.3, 4.0, 0.9, 12.0, 8.0, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12.0, 8.0, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12.0, 12.0, 0.55),
)


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """ImageNet-C's ``clipped_zoom``: enlarge the centre crop by ``zoom`` (bilinear, end pixels aligned), keep H×W."""
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / zoom), math.ceil(w / zoom)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    up = F.interpolate(crop, size=(max(h, round(ch * zoom)), max(w, round(cw * zoom))), mode="bilinear", align_corners=True)
    return up[..., :h, :w]


@register("snow")
def snow(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Falling snow: thresholded enlarged noise as flakes, streaked by motion blur, over a whitened scene."""
    loc, scale, zoom, threshold, radius, sigma, blend = level_params(severity, _SNOW)
    h, w = images.shape[-2:]
    flakes = rng.normal(1, h, w, mean=loc, std=scale)
    flakes = clipped_zoom(flakes, max(zoom * spatial_scale, 1.0))
    flakes = torch.where(flakes < threshold, torch.zeros_like(flakes), flakes).clamp_(0.0, 1.0)
    angle = rng.uniform(1, low=-135.0, high=-45.0)
    kernels = motion_kernels(angle, max(1, round(radius * spatial_scale)), sigma * spatial_scale, height=h, width=w)
    flakes = fft_filter(flakes, kernels, mode="replicate")
    flakes = torch.round(flakes.clamp(0.0, 1.0) * 255.0) / 255.0
    scene = blend * images + (1 - blend) * torch.maximum(images, gray(images) * 1.5 + 0.5)
    return (scene + flakes + flakes.flip(-2, -1)).clamp_(0.0, 1.0)


_SPATTER = (
    (0.65, 0.3, 4.0, 0.69, 0.6, 0.0),
    (0.65, 0.3, 3.0, 0.68, 0.6, 0.0),
    (0.65, 0.3, 2.0, 0.68, 0.5, 0.0),
    (0.65, 0.3, 1.0, 0.65, 1.5, 1.0),
    (0.67, 0.4, 1.0, 0.65, 1.5, 1.0),
)
_WATER = (175 / 255.0, 238 / 255.0, 238 / 255.0)
_MUD = (63 / 255.0, 42 / 255.0, 20 / 255.0)


def _edt_truncated(edges: torch.Tensor, limit: int) -> torch.Tensor:
    """Euclidean distance ``[N, 1, H, W]`` to the nearest True pixel of ``edges``, truncated at ``limit``.

    Exact within the limit: a row pass (nearest edge along x) then a column pass minimising dy² + dx²,
    each a min over 2·limit+1 shifts of the whole batch.
    """
    big = float(limit * limit + 1)
    d = torch.where(edges, 0.0, big)
    padded = pad(d, 0, limit, "zeros").masked_fill(pad(torch.ones_like(d, dtype=torch.bool), 0, limit, "zeros").logical_not(), big)
    w = d.shape[-1]
    row = torch.full_like(d, big)
    for s in range(-limit, limit + 1):
        row = torch.minimum(row, padded[..., limit + s : limit + s + w] + s * s)
    padded = pad(row, limit, 0, "zeros").masked_fill(pad(torch.ones_like(d, dtype=torch.bool), limit, 0, "zeros").logical_not(), big)
    h = d.shape[-2]
    col = torch.full_like(d, big)
    for s in range(-limit, limit + 1):
        col = torch.minimum(col, padded[..., limit + s : limit + s + h, :] + s * s)
    return col.sqrt().clamp_(max=float(limit))


def _box3(x: torch.Tensor) -> torch.Tensor:
    """cv2.blur with a 3×3 box (reflect-101 borders)."""
    return correlate2d(x, [[1.0 / 9.0] * 3] * 3, mode="reflect101")


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """cv2.equalizeHist per image on integer-valued ``[N, 1, H, W]`` in 0..255."""
    n = x.shape[0]
    idx = x.reshape(n, -1).long()
    hist = torch.zeros((n, 256), device=x.device).scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float32))
    cdf = hist.cumsum(1)
    first = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).amin(1, keepdim=True)  # count of the lowest value
    total = cdf[:, -1:]
    lut = torch.round((cdf - first).clamp_min(0) * (255.0 / (total - first).clamp_min(1.0)))
    return lut.gather(1, idx).view_as(x)


def canny(x: torch.Tensor, low: float, high: float, *, hysteresis_steps: int = 8) -> torch.Tensor:
    """cv2.Canny on integer-valued ``[N, 1, H, W]`` (0–255): Sobel, L1 magnitude, non-maximum suppression, hysteresis.

    Suppression keeps OpenCV's tie rule (the top/left pixel of a tie wins); hysteresis grows strong edges
    into connected weak ones for ``hysteresis_steps`` pixels instead of an unbounded flood fill.
    """
    gx = correlate2d(x, [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], mode="replicate")
    gy = correlate2d(x, [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]], mode="replicate")
    mag = gx.abs() + gy.abs()
    m = pad(mag, 1, 1, "zeros")
    h, w = x.shape[-2:]

    def at(dy: int, dx: int) -> torch.Tensor:
        return m[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    ax, ay = gx.abs(), gy.abs()
    horizontal = ay < 0.4142135 * ax
    vertical = ay > 2.4142135 * ax
    same_sign = (gx * gy) >= 0
    keep_h = (mag > at(0, -1)) & (mag >= at(0, 1))
    keep_v = (mag > at(-1, 0)) & (mag >= at(1, 0))
    keep_d = torch.where(same_sign, (mag > at(-1, -1)) & (mag > at(1, 1)), (mag > at(-1, 1)) & (mag > at(1, -1)))
    peak = torch.where(horizontal, keep_h, torch.where(vertical, keep_v, keep_d)) & (mag > low)
    edges = peak & (mag > high)
    for _ in range(hysteresis_steps):
        edges = peak & (F.max_pool2d(edges.float(), 3, stride=1, padding=1) > 0)
    return edges


def _water_weight(liquid: torch.Tensor) -> torch.Tensor:
    """ImageNet-C's water-drop shading: distance to the drop edges, equalised, embossed and blurred."""
    dist = _edt_truncated(canny(liquid, 50.0, 150.0), 20)
    dist = torch.floor(_box3(dist))
    dist = _equalize(dist)
    dist = correlate2d(dist, [[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]], mode="reflect101")
    dist = torch.round(dist).clamp_(0.0, 255.0)
    return _box3(dist)


@register("spatter")
def spatter(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Water drops or mud splashes on the lens, from thresholded smoothed noise (ImageNet-C's spatter)."""
    # Water and mud are different processes: between levels 3 and 4 the nearer row is used, not a blend.
    if 3.0 < severity < 4.0:
        severity = 3.0 if severity <= 3.5 else 4.0
    loc, scale, sigma, threshold, intensity, mode = level_params(severity, _SPATTER)
    h, w = images.shape[-2:]
    liquid = rng.normal(1, h, w, mean=loc, std=scale)
    liquid = gaussian_blur(liquid, sigma * spatial_scale, mode="replicate")
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mode < 0.5:
        shade = torch.floor(liquid.clamp(0, 1) * 255.0) / 255.0 * _water_weight(torch.floor(liquid.clamp(0, 1) * 255.0))
        shade = shade / shade.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) * intensity
        colour = torch.tensor(_WATER, device=images.device).view(1, 3, 1, 1)
        return (images + shade * colour).clamp_(0.0, 1.0)
    mud = gaussian_blur((liquid > threshold).float(), intensity * spatial_scale, mode="replicate")
    mud = torch.where(mud < 0.8, torch.zeros_like(mud), mud)
    colour = torch.tensor(_MUD, device=images.device).view(1, 3, 1, 1)
    return (images * (1 - mud) + colour * mud).clamp_(0.0, 1.0)


@register("rain")
def rain(images: torch.Tensor, severity: float, rng: ImageRNG, *, spatial_scale: float = 1.0) -> torch.Tensor:
    """Rain: bright near-vertical streaks (20 px at 224², angle within ±15° of vertical) over a slightly hazy scene."""
    h, w = images.shape[-2:]
    u = rng.uniform(2, h, w)
    drops = torch.where(u[:, :1] < severity, 0.6 + 0.4 * u[:, 1:], torch.zeros_like(u[:, :1]))
    angle = rng.uniform(1, low=75.0, high=105.0)
    radius = max(1, round(10 * spatial_scale))
    kernels = motion_kernels(angle, radius, 1e6, height=h, width=w)  # flat profile: a uniform streak
    streaks = fft_filter(drops, kernels, mode="zeros") * (radius * 0.8)
    haze = min(0.4, severity * 8.0)  # the air between camera and scene brightens and flattens
    scene = images * (1 - haze) + haze * 0.75
    return (scene + streaks.clamp_min(0.0)).clamp_(0.0, 1.0)

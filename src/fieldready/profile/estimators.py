"""Per-image estimators of the conditions the catalogue simulates: pure NumPy/OpenCV functions of one image.

Each takes an ``HxWx3`` uint8 RGB array (or, for JPEG quality, the file's bytes) and returns one
number in the unit of the catalogue's corruption, or of a quantity that is compared with a
reference set (exposure, contrast, colour, haze), so ``suggest.py`` can turn it into that unit.
Every estimator is validated against the catalogue's own corruptions in ``benchmarks/profile.py``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fieldready.corruptions._kelvin import kelvin_to_rgb

__all__ = [
    "blur_sigma",
    "noise_sigma",
    "jpeg_quality",
    "mean_luminance",
    "rms_contrast",
    "chromaticity",
    "edge_chromaticity",
    "haze",
    "kelvin_shift",
    "log_gains",
    "srgb_to_linear",
    "kelvin_to_rgb",
    "IJG_LUMA",
    "IJG_CHROMA",
]

# Rec. 709 luminance of linear RGB (the exposure corruption works in linear light).
_LUMA_709 = np.array([0.2126, 0.7152, 0.0722])


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] → linear light (the IEC 61966-2-1 curve, as the catalogue's exposure uses)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


_COARSE_SIDE = 32  # pixels on the short side for scene-scale statistics (contrast, haze)

# sRGB → linear for each 8-bit value: a table lookup instead of a power per pixel.
_LINEAR_LUT = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


def _linear_means(image: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float, float]:
    """Mean linear-light R, G, B of a uint8 RGB image (over ``mask`` when given)."""
    linear = _LINEAR_LUT[image]
    means = cv2.mean(linear, mask=mask) if mask is not None else cv2.mean(linear)
    return float(means[0]), float(means[1]), float(means[2])


def _gray(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB uint8 image as float32 in [0, 1] (OpenCV's BT.601 weights)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


# ---------------------------------------------------------------------------------------------- blur

_MIN_EDGES = 20  # fewer edge pixels than this: the frame has no edges to judge blur by
_MIN_ISOLATED = 8  # fewer isolated ones than this: fall back to every edge pixel
_REMAP_ROWS = 30000  # cv2.remap takes maps of at most SHRT_MAX rows


def _gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    return gx, gy


def _gradient(gray: np.ndarray) -> np.ndarray:
    return cv2.magnitude(*_gradients(gray))


def _edge_pixels(gray: np.ndarray) -> np.ndarray:
    """Canny edge mask on a lightly denoised copy: strong, thin edges where the re-blur ratio is meaningful."""
    smooth = cv2.GaussianBlur(gray, (0, 0), 0.7, borderType=cv2.BORDER_REPLICATE)
    u8 = np.clip(smooth * 255.0 + 0.5, 0, 255).astype(np.uint8)
    dx = cv2.Sobel(u8, cv2.CV_16S, 1, 0, ksize=3)
    dy = cv2.Sobel(u8, cv2.CV_16S, 0, 1, ksize=3)
    mag = np.hypot(dx.astype(np.float32), dy.astype(np.float32))
    high = max(float(np.percentile(mag, 90)), 24.0)
    edges = cv2.Canny(dx, dy, high * 0.5, high, L2gradient=True) > 0
    edges[:3, :] = edges[-3:, :] = False  # borders: the padding fakes a flat neighbourhood
    edges[:, :3] = edges[:, -3:] = False
    return edges


def _isolated(mag: np.ndarray, ys: np.ndarray, xs: np.ndarray, nx: np.ndarray, ny: np.ndarray, reach: float) -> np.ndarray:
    """Edge pixels whose gradient profile across the edge falls off alone, with no other edge within ``reach``.

    The re-blur ratio is exact for an isolated step; near another edge (a thin line, fine texture)
    re-blurring mixes the two and the ratio says "sharper" than the edge is. The profile along the
    normal must decrease monotonically (5 % slack) to under 30 % of the peak at ±``reach``.
    """
    steps = int(2 * math.ceil(reach)) * 2 + 1
    offsets = np.linspace(-reach, reach, steps, dtype=np.float32)
    c = steps // 2
    keep = np.zeros(len(ys), dtype=bool)
    for i in range(0, len(ys), _REMAP_ROWS):
        sl = slice(i, i + _REMAP_ROWS)
        mx = (xs[sl, None] + nx[sl, None] * offsets[None]).astype(np.float32)
        my = (ys[sl, None] + ny[sl, None] * offsets[None]).astype(np.float32)
        profile = cv2.remap(mag, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        peak = profile[:, c : c + 1]
        slack = 0.05 * peak
        rising = (np.diff(profile[:, : c + 1], axis=1) >= -slack).all(axis=1)
        falling = (np.diff(profile[:, c:], axis=1) <= slack).all(axis=1)
        low_ends = (profile[:, 0] < 0.3 * peak[:, 0]) & (profile[:, -1] < 0.3 * peak[:, 0])
        keep[sl] = rising & falling & low_ends
    return keep


def blur_sigma(image: np.ndarray, *, reblur: float = 1.0) -> float | None:
    """Gaussian blur σ in pixels, from the gradient ratio at edges before and after re-blurring.

    A step edge blurred by σ has a peak gradient ∝ 1/σ; blurring it again by σ_r gives
    ∝ 1/√(σ² + σ_r²), so the ratio R gives σ = σ_r / √(R² − 1) (Zhuo & Sim, 2011). The median is
    taken over isolated edge pixels (``_isolated``), and the estimate refined twice with σ_r ≈ σ,
    where R is most sensitive. It measures the total blur of the frame, the optics' and the pixel
    grid's included (≈ 0.6–1 px on sharp photographs); ``suggest`` removes the reference's level in
    quadrature, since Gaussian blurs add that way. None when the frame has too few edges to say.
    """
    gray = _gray(image)
    edges = _edge_pixels(gray)
    if int(edges.sum()) < _MIN_EDGES:
        return None
    gx, gy = _gradients(gray)
    ys, xs = np.nonzero(edges)
    mag_full = cv2.magnitude(gx, gy)
    mag = mag_full[ys, xs]
    nx, ny = gx[ys, xs] / np.maximum(mag, 1e-12), gy[ys, xs] / np.maximum(mag, 1e-12)
    sigma_r, estimate = reblur, 0.0
    for round_ in range(3):
        chosen = np.ones(len(mag), dtype=bool)
        if round_ > 0:  # the first round's estimate sets how far the edge must stand alone
            isolated = _isolated(mag_full, ys, xs, nx, ny, 2.5 * max(estimate, 0.7) + 1.5)
            if int(isolated.sum()) >= _MIN_ISOLATED:
                chosen = isolated
        blurred = cv2.GaussianBlur(gray, (0, 0), sigma_r, borderType=cv2.BORDER_REPLICATE)
        ratio = mag / np.maximum(_gradient(blurred)[ys, xs], 1e-12)
        ok = chosen & (ratio > 1.0 + 1e-3)
        if int(ok.sum()) < _MIN_ISOLATED:
            return None
        estimate = float(np.median(sigma_r / np.sqrt(ratio[ok] ** 2 - 1.0)))
        sigma_r = float(np.clip(estimate, 1.0, 8.0))
    return estimate


# --------------------------------------------------------------------------------------------- noise

# Immerkær's kernel: the difference of two Laplacians, which cancels locally linear image content.
# Its response to white noise σ has standard deviation 6σ (√ of the sum of squared taps, 36).
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_MAD = 0.6744897501960817  # median |N(0, 1)|


def noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of additive white noise on [0, 1], the median over the three channels.

    Each channel is filtered with Immerkær's kernel and the noise taken as a robust scale (median
    absolute response / 0.6745 / 6) over flat pixels: the 20 % with the strongest gradient are left
    out (Tai & Yang's refinement), and so are pixels whose neighbourhood sits near 0 or 1, where the
    catalogue's noise is clipped. Texture still reads as a little noise; ``suggest`` removes the
    reference's level in quadrature, since independent noises add that way.
    """
    estimates = []
    for plane8 in cv2.split(np.ascontiguousarray(image)):
        plane = plane8.astype(np.float32) * np.float32(1.0 / 255.0)
        inner = (slice(1, -1), slice(1, -1))  # the filters' borders are padding, not image
        response = _sample(np.abs(cv2.filter2D(plane, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT)[inner]))
        grad = _sample(cv2.magnitude(*_gradients(plane))[inner])
        local = _sample(cv2.blur(plane, (5, 5), borderType=cv2.BORDER_REFLECT)[inner])
        flat = grad <= np.percentile(grad, 80)
        sigma = float(np.median(response[flat])) / _MAD / 6.0 if flat.any() else 0.0
        for _ in range(2):  # away from the clipping bounds, by the current estimate
            margin = max(2.0 * sigma, 2.0 / 255.0)
            keep = flat & (local > margin) & (local < 1.0 - margin)
            if int(keep.sum()) < 64:
                break
            sigma = float(np.median(response[keep])) / _MAD / 6.0
        estimates.append(sigma)
    return float(np.median(estimates))


def _sample(values: np.ndarray, limit: int = 1 << 19) -> np.ndarray:
    """The values, or an evenly strided subset of about ``limit`` of them: the medians need no more."""
    flat = values.ravel()
    step = max(1, flat.size // limit)
    return flat[::step] if step > 1 else flat


# ---------------------------------------------------------------------------------------------- JPEG

# The IJG base tables (ITU T.81 Annex K) in natural (row-major) order, as libjpeg, PIL and OpenCV use.
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)  # fmt: skip
IJG_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
], dtype=np.float64)  # fmt: skip

# Position in natural order of the k-th coefficient of a DQT segment (which stores zigzag order).
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
    7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
    39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])  # fmt: skip


def _ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's ``jpeg_quality_scaling`` of a base table, clamped to baseline's 1..255."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


_IJG_LUMA_TABLES = np.stack([_ijg_table(IJG_LUMA, q) for q in range(1, 101)])
_IJG_CHROMA_TABLES = np.stack([_ijg_table(IJG_CHROMA, q) for q in range(1, 101)])


def quantisation_tables(data: bytes) -> dict[int, np.ndarray]:
    """The quantisation tables of a JPEG file's DQT segments, by table id, in natural order.

    Reads markers from SOI up to the first SOS (the tables precede the scan); an empty dict when the
    bytes are not a JPEG or the segments are malformed.
    """
    tables: dict[int, np.ndarray] = {}
    if data[:2] != b"\xff\xd8":
        return tables
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return tables
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > n:
            return tables
        if marker == 0xDA:  # start of scan: no more tables before the image data
            break
        if marker == 0xDB:
            seg, j = data[i + 4 : i + 2 + length], 0
            while j < len(seg):
                precision, table_id = seg[j] >> 4, seg[j] & 0x0F
                size = 128 if precision else 64
                if j + 1 + size > len(seg):
                    return tables
                raw = np.frombuffer(seg[j + 1 : j + 1 + size], dtype=">u2" if precision else np.uint8).astype(np.float64)
                natural = np.empty(64)
                natural[_ZIGZAG] = raw
                tables[table_id] = natural
                j += 1 + size
        i += 2 + length
    return tables


def jpeg_quality(data: bytes) -> float | None:
    """The IJG quality (1–100) whose scaled tables best match a JPEG file's own; None for other files.

    libjpeg (OpenCV, PIL, most cameras' firmware) writes the Annex K tables scaled by
    ``jpeg_quality_scaling``; the quality with the least squared log-difference from the file's luma
    (and chroma, when present) table is the one written, exactly for IJG encoders and the nearest
    equivalent for custom tables.
    """
    tables = quantisation_tables(data)
    if 0 not in tables:
        return None
    cost = np.sum((np.log(_IJG_LUMA_TABLES) - np.log(np.maximum(tables[0], 1))) ** 2, axis=1)
    if 1 in tables:
        cost = cost + np.sum((np.log(_IJG_CHROMA_TABLES) - np.log(np.maximum(tables[1], 1))) ** 2, axis=1)
    return float(int(np.argmin(cost)) + 1)


# ------------------------------------------------------------------------------ exposure and contrast


def mean_luminance(image: np.ndarray) -> float:
    """Mean linear-light luminance (Rec. 709) in [0, 1]: exposure in EV is log2 of its ratio to the reference's."""
    r, g, b = _linear_means(image)
    return float(_LUMA_709 @ np.array([r, g, b]))


def _coarse(image: np.ndarray, side: int = _COARSE_SIDE) -> np.ndarray:
    """The image area-averaged to about ``side`` pixels on its short side (unchanged when already smaller).

    Contrast and haze are scene-scale properties; at this scale blur up to a few pixels, sensor
    noise and JPEG blocks average out, so those conditions do not read as a change of contrast.
    """
    h, w = image.shape[:2]
    if min(h, w) <= side:
        return image
    scale = side / min(h, w)
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


# sRGB encodes linear light L as 1.055·L^(1/2.4) − 0.055: an exposure gain a multiplies (value + 0.055) by
# a^(1/2.4) exactly, above the curve's short linear toe (values below 10 of 255).
_SRGB_OFFSET = 0.055 * 255.0


def rms_contrast(image: np.ndarray) -> float:
    """Relative RMS contrast at scene scale: the mean over channels of standard deviation / (mean + sRGB offset).

    The catalogue's contrast corruption scales each channel's deviation from its mean by its factor
    and keeps the mean, so the ratio of this to the reference's typical value is that factor. An
    exposure change scales the deviation and the mean plus sRGB's 0.055 offset alike, so it leaves
    it be (without the offset, a frame darkened by 3 EV read as 19 % more contrasted on the shapes camera).
    """
    mean, std = cv2.meanStdDev(np.ascontiguousarray(_coarse(image)))
    return float(np.mean(std[:, 0] / (mean[:, 0] + _SRGB_OFFSET)))


# --------------------------------------------------------------------------------------- colour cast


def chromaticity(image: np.ndarray) -> tuple[float, float]:
    """Grey-world log chromaticity ``(log R/G, log B/G)`` of the mean linear RGB of the unclipped pixels."""
    unclipped = (image.max(axis=2) < 250).astype(np.uint8)
    r, g, b = _linear_means(image, unclipped if int(unclipped.sum()) > 16 else None)
    return float(math.log((r + 1e-6) / (g + 1e-6))), float(math.log((b + 1e-6) / (g + 1e-6)))


_EDGE_GAMMA = 2.2
# 8-bit value → linear light to the power 1/2.2: a cast's gain g on linear light multiplies it by g^(1/2.2) exactly.
_GAMMA_LUT = _LINEAR_LUT ** (1.0 / _EDGE_GAMMA)
_MIN_EDGE_ENERGY = 1e-3  # mean gradient magnitude (on [0, 1]) below which a frame has no edges to judge a cast by


def edge_chromaticity(image: np.ndarray) -> tuple[float, float]:
    """Grey-edge log chromaticity (van de Weijer, Gevers & Gijsenij, 2007): ``(log R/G, log B/G)`` of the mean gradients.

    Scenes vary in colour far more than in the colour of their edges and textures (a red wall has
    grey shading), so the mean gradient magnitude per channel separates an illuminant's cast from
    scene colour much better than grey-world means (on the shapes camera's random coloured
    backgrounds, a 3000 K cast lands beyond the reference's range on 98 % of frames instead of 52 %).
    Gradients are taken on linear light to the power 1/2.2 (close to the stored values, where
    textures are grey) and the log ratios multiplied by 2.2, so a ``color_temperature`` cast still
    shifts the result by exactly its log gains; pixels next to a clipped value are left out. A frame
    without edges falls back to grey-world (``chromaticity``).
    """
    u = _GAMMA_LUT[image]
    unclipped = ((image.max(axis=2) < 250) & (image.min(axis=2) > 0)).astype(np.uint8)
    unclipped = cv2.erode(unclipped, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    if int(unclipped.sum()) < 16:
        unclipped = None
    energy = []
    for c in range(3):
        gx, gy = _gradients(np.ascontiguousarray(u[..., c]))
        energy.append(cv2.mean(cv2.magnitude(gx, gy), mask=unclipped)[0] / 8.0)  # Sobel's gain is 8
    if min(energy) < _MIN_EDGE_ENERGY:
        return chromaticity(image)
    r, g, b = energy
    return float(_EDGE_GAMMA * math.log(r / g)), float(_EDGE_GAMMA * math.log(b / g))


def log_gains(kelvin: float) -> tuple[float, float]:
    """``(log gR/gG, log gB/gG)`` of the colour_temperature corruption at ``kelvin`` (white balanced at 6500 K)."""
    ill = srgb_to_linear(np.array(kelvin_to_rgb(kelvin)))
    ref = srgb_to_linear(np.array(kelvin_to_rgb(6500.0)))
    g = np.maximum(ill, 1e-6) / np.maximum(ref, 1e-6)
    return float(math.log(g[0] / g[1])), float(math.log(g[2] / g[1]))


_KELVIN_GRID = np.geomspace(1000.0, 40000.0, 2000)
_KELVIN_GAINS = np.array([log_gains(k) for k in _KELVIN_GRID])


def kelvin_shift(delta: tuple[float, float]) -> float:
    """The illuminant temperature (K) whose colour_temperature cast best explains a chromaticity shift.

    ``delta`` is a frame's ``chromaticity`` minus the reference's typical value; the catalogue's
    cast multiplies linear RGB by fixed gains, so the shift is their logs (nearest point on the curve).
    """
    d = np.asarray(delta, dtype=np.float64)
    return float(_KELVIN_GRID[int(np.argmin(np.sum((_KELVIN_GAINS - d) ** 2, axis=1)))])


# ----------------------------------------------------------------------------------------------- haze


def haze(image: np.ndarray) -> float:
    """Mean dark channel (He, Sun & Tang, 2009) on [0, 1]: near 0 in clear colourful scenes, it rises with haze and fog.

    The dark channel is the per-pixel minimum over the colour channels, then over a 3×3 patch, at
    scene scale (``_coarse``: 3 px there is about a tenth of the short side), so blur and noise
    leave it be.
    """
    dark = _coarse(image).min(axis=2)
    dark = cv2.erode(dark, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)), borderType=cv2.BORDER_REPLICATE)
    return float(dark.mean() / 255.0)

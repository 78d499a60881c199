"""The built-in corruptions' metadata, declared without torch: names, families, units, ranges, levels, flags.

``fieldready validate`` and ``plan`` read only this; each function is bound by its family module
(``fieldready.corruptions.<family>``, where ``@register(name)`` sits on it) the first time it is
used. Adding a built-in corruption: declare it here and write it in its family module.
Descriptions repeat the first line of the function's docstring; a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Sequence

from fieldready.corruptions.registry import Corruption, describe

__all__ = ["BUILTIN"]

_LEVELS = (1.0, 2.0, 3.0, 4.0, 5.0)
_LEVEL_UNIT = "ImageNet-C level, continuous (fractional levels interpolate the parameter table)"


def _builtin(name: str, family: str, unit: str, *, valid_range: Sequence[float], levels: Sequence[float], **flags) -> Corruption:  # noqa: ANN003
    """A built-in corruption's metadata; its function lives in ``fieldready.corruptions.<family>``."""
    return describe(name, family=family, unit=unit, valid_range=valid_range, levels=levels,
                    module=f"fieldready.corruptions.{family}", **flags)


#: Every built-in corruption by name, in family-module order.
BUILTIN: dict[str, Corruption] = {c.name: c for c in (
    # noise.py
    _builtin("gaussian_noise", "noise", "σ of additive Gaussian noise (intensity in [0, 1])",
             valid_range=(0.0, 2.0), levels=(0.08, 0.12, 0.18, 0.26, 0.38), identity=0.0, imagenet_c=True,
             description="Additive white Gaussian noise of standard deviation σ, clipped to [0, 1]."),
    _builtin("shot_noise", "noise", "photons at full white (Poisson scale; lower is noisier)",
             valid_range=(0.5, 100000.0), levels=(60.0, 25.0, 12.0, 5.0, 3.0), imagenet_c=True,
             description="Photon shot noise: Poisson(x·λ)/λ, where λ photons would make a white pixel."),
    _builtin("impulse_noise", "noise", "fraction of values replaced by salt or pepper",
             valid_range=(0.0, 1.0), levels=(0.03, 0.06, 0.09, 0.17, 0.27), identity=0.0, imagenet_c=True,
             description="Salt-and-pepper noise on each channel value independently (skimage's ``s&p``, salt:pepper 1:1)."),
    _builtin("speckle_noise", "noise", "σ of multiplicative Gaussian noise",
             valid_range=(0.0, 3.0), levels=(0.15, 0.2, 0.35, 0.45, 0.6), identity=0.0,
             description="Multiplicative Gaussian noise x + x·n, n ~ N(0, σ²), clipped to [0, 1]."),
    # blur.py
    _builtin("gaussian_blur", "blur", "σ in pixels",
             valid_range=(0.0, 50.0), levels=(1.0, 2.0, 3.0, 4.0, 6.0), spatial=("sigma",), identity=0.0,
             description="Gaussian blur of standard deviation σ pixels (edge pixels repeated, as skimage)."),
    _builtin("defocus_blur", "blur", "disk radius in pixels",
             valid_range=(0.0, 100.0), levels=(3.0, 4.0, 6.0, 8.0, 10.0), spatial=("radius",), identity=0.0, imagenet_c=True,
             description="Out-of-focus blur: convolution with an anti-aliased disk of the given radius."),
    _builtin("motion_blur", "blur", "σ in pixels of the motion streak's Gaussian profile (streak length follows)",
             valid_range=(0.0, 60.0), levels=(3.0, 5.0, 8.0, 12.0, 15.0), spatial=("sigma", "radius"), identity=0.0, imagenet_c=True,
             description="Camera-shake streak at a random angle in [-45°, 45°] per image, with a Gaussian fall-off along it."),
    _builtin("glass_blur", "blur", "σ in pixels of the Gaussian around the local pixel shuffle",
             valid_range=(0.0, 10.0), levels=(0.7, 0.9, 1.0, 1.1, 1.5), spatial=("sigma", "max_delta"), imagenet_c=True,
             description="Frosted-glass blur: Gaussian blur, local random pixel shuffles, Gaussian blur again."),
    # zoom_blur level 1 is 1.11, not 1.10: imagecorruptions' np.arange(1, 1.11, .01) ends at 1.11.
    _builtin("zoom_blur", "blur", "largest zoom factor of the averaged centred zooms",
             valid_range=(1.0, 3.0), levels=(1.11, 1.15, 1.2, 1.24, 1.3), identity=1.0, imagenet_c=True,
             description="Radial blur of a fast zoom: the mean of the image and its centred zooms up to the given factor."),
    # weather.py
    _builtin("fog", "weather", _LEVEL_UNIT,
             valid_range=(1.0, 5.0), levels=_LEVELS, imagenet_c=True,
             description="Fog: a plasma-fractal haze added to the image, then the range rescaled (ImageNet-C's fog)."),
    _builtin("frost", "weather", _LEVEL_UNIT,
             valid_range=(1.0, 5.0), levels=_LEVELS, imagenet_c=True,
             description="Frost on the lens: the image dimmed and a procedural ice texture added (ImageNet-C's weights)."),
    _builtin("snow", "weather", _LEVEL_UNIT,
             valid_range=(1.0, 5.0), levels=_LEVELS, spatial=("flake_size", "streak_radius", "streak_sigma"), imagenet_c=True,
             description="Falling snow: thresholded enlarged noise as flakes, streaked by motion blur, over a whitened scene."),
    _builtin("spatter", "weather", _LEVEL_UNIT + "; levels ≤ 3.5 are water drops, above are mud",
             valid_range=(1.0, 5.0), levels=_LEVELS, spatial=("drop_size",),
             description="Water drops or mud splashes on the lens, from thresholded smoothed noise (ImageNet-C's spatter)."),
    _builtin("rain", "weather", "rain density: fraction of pixels starting a streak",
             valid_range=(0.0, 0.2), levels=(0.002, 0.004, 0.008, 0.015, 0.03), spatial=("streak_length",), identity=0.0,
             description="Rain: bright near-vertical streaks (20 px at 224², angle within ±15° of vertical) over a slightly hazy scene."),
    # digital.py
    _builtin("brightness", "digital", "added HSV value V (negative darkens)",
             valid_range=(-1.0, 1.0), levels=(0.1, 0.2, 0.3, 0.4, 0.5), identity=0.0, imagenet_c=True,
             description="Add ``severity`` to the HSV value channel (hue and saturation kept), as ImageNet-C."),
    _builtin("contrast", "digital", "contrast factor around each channel's mean (1 = unchanged)",
             valid_range=(0.0, 10.0), levels=(0.4, 0.3, 0.2, 0.1, 0.05), identity=1.0, imagenet_c=True,
             description="Scale each channel's deviation from its image mean by ``severity``."),
    _builtin("saturate", "digital", "HSV saturation multiplier (1 = unchanged; the offset follows the level table above 2)",
             valid_range=(0.0, 50.0), levels=(0.3, 0.1, 2.0, 5.0, 20.0), identity=1.0,
             description="Multiply HSV saturation (plus ImageNet-C's offset at strong levels), hue and value kept."),
    _builtin("jpeg_compression", "digital", "JPEG quality (1–100, rounded; lower is worse)",
             valid_range=(1.0, 100.0), levels=(25.0, 18.0, 15.0, 10.0, 7.0), imagenet_c=True,
             description="Baseline JPEG round trip at the given quality (libjpeg on CPU, a torch simulation elsewhere)."),
    _builtin("pixelate", "digital", "block size in pixels (1 = unchanged)",
             valid_range=(1.0, 64.0), levels=(1 / 0.6, 1 / 0.5, 1 / 0.4, 1 / 0.3, 1 / 0.25), spatial=("block",), identity=1.0, imagenet_c=True,
             description="Box-downscale by the block size and upscale back with nearest neighbour (PIL BOX then NEAREST)."),
    # geometric.py
    _builtin("translate", "geometric", "shift in pixels (direction uniformly random per image)",
             valid_range=(0.0, 10000.0), levels=(1.0, 2.0, 4.0, 8.0, 16.0), geometric=True, spatial=("shift",), identity=0.0,
             description="Shift the image by ``severity`` pixels in a random direction (bilinear for sub-pixel shifts)."),
    _builtin("rotate", "geometric", "rotation in degrees about the centre (sign random per image)",
             valid_range=(0.0, 180.0), levels=(1.0, 2.0, 5.0, 10.0, 20.0), geometric=True, identity=0.0,
             description="Rotate about the image centre by ``severity`` degrees, clockwise or anticlockwise at random."),
    _builtin("scale", "geometric", "zoom factor about the centre (>1 enlarges and crops, <1 shrinks with black borders)",
             valid_range=(0.1, 10.0), levels=(1.05, 1.1, 1.2, 1.35, 1.5), geometric=True, identity=1.0,
             description="Zoom the image about its centre by ``severity`` (camera distance or focal length change)."),
    _builtin("hflip", "geometric", "probability that an image is mirrored left–right",
             valid_range=(0.0, 1.0), levels=(0.2, 0.4, 0.6, 0.8, 1.0), geometric=True, identity=0.0,
             description="Mirror left–right (x → W − x) each image with probability ``severity``."),
    _builtin("vflip", "geometric", "probability that an image is mirrored top–bottom",
             valid_range=(0.0, 1.0), levels=(0.2, 0.4, 0.6, 0.8, 1.0), geometric=True, identity=0.0,
             description="Mirror top–bottom (y → H − y) each image with probability ``severity``."),
    _builtin("elastic_transform", "geometric", "α, gain of the smoothed random displacement field (ImageNet-C: 250 × 0.05 … 0.12)",
             valid_range=(0.0, 500.0), levels=(12.5, 16.25, 21.25, 25.0, 30.0), geometric=True, spatial=("alpha",), identity=0.0, imagenet_c=True,
             description="Local rubber-sheet warp: uniform noise smoothed by a Gaussian of σ = 1 % of the size, times α."),
    # field.py
    _builtin("occlusion", "field", "occluded fraction of the image area (one black rectangle)",
             valid_range=(0.0, 1.0), levels=(0.05, 0.1, 0.2, 0.3, 0.5), identity=0.0,
             description="Cutout: one black rectangle covering ``severity`` of the frame, random aspect (1:2–2:1) and position."),
    _builtin("object_occlusion", "field", "fraction of each ground-truth box covered (one black rectangle per box)",
             valid_range=(0.0, 1.0), levels=(0.1, 0.2, 0.3, 0.4, 0.5), needs_boxes=True, identity=0.0,
             description="Occlude each object: a black rectangle of the box's aspect and ``severity`` of its area, placed inside it."),
    _builtin("dead_pixels", "field", "fraction of sensor pixels dead (always black)",
             valid_range=(0.0, 1.0), levels=(0.001, 0.002, 0.005, 0.01, 0.02), identity=0.0,
             description="Dead sensor pixels: a random ``severity`` share of pixel sites read black in all channels."),
    _builtin("stuck_pixels", "field", "fraction of sensor pixels stuck at a saturated colour",
             valid_range=(0.0, 1.0), levels=(0.001, 0.002, 0.005, 0.01, 0.02), identity=0.0,
             description="Stuck (hot) pixels: a random ``severity`` share of sites read a fixed saturated colour (one of the 7 non-black RGB corners)."),
    _builtin("exposure", "field", "exposure change in EV (stops; negative is darker), applied in linear light",
             valid_range=(-10.0, 10.0), levels=(-0.5, -1.0, -1.5, -2.0, -3.0), identity=0.0,
             description="Under- or over-exposure: linear-light intensity times 2^EV, clipped at sensor saturation."),
    _builtin("gamma", "field", "gamma exponent γ in out = in^γ (1 = unchanged, >1 darker mid-tones)",
             valid_range=(0.05, 20.0), levels=(1.25, 1.5, 2.0, 2.5, 3.0), identity=1.0,
             description="A wrong tone curve: every value raised to the power γ."),
    _builtin("color_temperature", "field", "illuminant colour temperature in kelvin under a 6500 K white balance (lower is warmer)",
             valid_range=(1000.0, 40000.0), levels=(5500.0, 4500.0, 3500.0, 3000.0, 2500.0), identity=6500.0,
             description="Wrong white balance: linear RGB scaled by the illuminant's colour relative to 6500 K (brightest channel kept)."),
    _builtin("vignetting", "field", "light fall-off at the image corners (0 = none, 1 = black corners)",
             valid_range=(0.0, 1.0), levels=(0.1, 0.2, 0.35, 0.5, 0.7), identity=0.0,
             description="Lens vignetting: linear light scaled by 1 − v·(r/r_corner)⁴ -like cos⁴ fall-off, v at the corners."),
)}

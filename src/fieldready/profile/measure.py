"""Read production frames (images, or video files sampled at a declared rate) and measure each one.

A frame is an ``HxWx3`` uint8 RGB array with its name and, when it came from a JPEG file, that file's
bytes (the quality is read from its quantisation tables). ``measure_image`` applies every estimator
of ``estimators.py`` to one frame; ``read_frames`` walks a folder; ``reference_paths`` finds the
images of a reference set (a folder, or a spec's dataset). Every failure is a DataError naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from fieldready.data.dataset import load_spec_dataset
from fieldready.data.types import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fieldready.errors import DataError
from fieldready.profile import estimators as est
from fieldready.spec import load_spec

__all__ = [
    "Frame",
    "Measurement",
    "measure_image",
    "measure_frames",
    "read_frames",
    "frame_files",
    "reference_frames",
    "read_video",
    "decode_image",
]

_LOSSLESS_SUFFIXES = frozenset({".png", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class Frame:
    """One frame: RGB pixels, a name (file, or ``file@12.0s`` for a video frame), its kind, JPEG bytes if any.

    ``kind`` is ``jpeg`` (the file's quantisation tables are read), ``lossless`` (PNG, BMP, TIFF:
    no compression to measure), ``video`` or ``other`` (compression unknown).
    """

    name: str
    image: np.ndarray
    kind: str = "other"
    jpeg: bytes | None = None


@dataclass(frozen=True)
class Measurement:
    """What the estimators read from one frame, in their own units (see ``estimators.py``).

    ``blur`` (σ px) and ``noise`` (σ on [0, 1]) are measured after the frame is brought to the
    reference's scale (``scale``, 1 when not resized); ``jpeg_quality`` is None for frames that
    are not JPEG files; ``chroma_r``/``chroma_b`` are grey-edge log chromaticities (``edge_chromaticity``).
    """

    name: str
    kind: str
    width: int
    height: int
    scale: float
    blur: float | None
    noise: float
    jpeg_quality: float | None
    luminance: float
    contrast: float
    chroma_r: float
    chroma_b: float
    haze: float

    def as_dict(self) -> dict:
        return asdict(self)


MIN_SIDE = 16  # px: the estimators' filters (5×5 blur, gradients, borders left out) need some inside to measure


def measure_image(
    image: np.ndarray, *, name: str = "", kind: str = "other", jpeg: bytes | None = None, short_side: int | None = None
) -> Measurement:
    """Measure one ``HxWx3`` uint8 RGB frame; with ``short_side``, larger frames are first reduced to it.

    Blur and noise are properties of the pixel grid: a frame from a 1080p camera and a 128 px
    reference image are compared at the reference's scale (area averaging, as a model's resize does).
    """
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise DataError(f"{name or 'a frame'}: {w}×{h} px is too small to measure (at least {MIN_SIDE} px a side); "
                        "remove it from the folder")
    scaled, scale = image, 1.0
    if short_side is not None and min(h, w) > 1.25 * short_side:
        scale = short_side / min(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    r, b = est.edge_chromaticity(image)
    return Measurement(
        name=name,
        kind="jpeg" if jpeg is not None else kind,
        width=int(w),
        height=int(h),
        scale=float(scale),
        blur=est.blur_sigma(scaled),
        noise=est.noise_sigma(scaled),
        jpeg_quality=est.jpeg_quality(jpeg) if jpeg is not None else None,
        luminance=est.mean_luminance(image),
        contrast=est.rms_contrast(image),
        chroma_r=r,
        chroma_b=b,
        haze=est.haze(image),
    )


def measure_frames(frames: Iterator[Frame], *, short_side: int | None = None) -> list[Measurement]:
    """Measure every frame of an iterator (frames are decoded one at a time, so memory stays flat)."""
    return [measure_image(f.image, name=f.name, kind=f.kind, jpeg=f.jpeg, short_side=short_side) for f in frames]


def decode_image(path: Path) -> Frame:
    """One image file as a Frame (EXIF orientation applied, as fieldready's data loaders do), or DataError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and permissions") from None
    try:
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error:
        bgr = None
    if bgr is None or bgr.size == 0:
        raise DataError(f"{path}: image cannot be decoded (corrupt or unsupported format); fix or remove it from the folder")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if data[:2] == b"\xff\xd8":  # a JPEG whatever its name says
        return Frame(str(path), rgb, "jpeg", data)
    return Frame(str(path), rgb, "lossless" if path.suffix.lower() in _LOSSLESS_SUFFIXES else "other")


def read_video(path: Path, *, sample_fps: float) -> Iterator[Frame]:
    """Frames of a video file sampled at ``sample_fps`` per second (every frame when the rate is unknown)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: video cannot be opened (corrupt or unsupported codec); fix or remove it from the folder")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if math.isfinite(fps) and fps > 0 else 0.0
        step = max(1, round(fps / sample_fps)) if fps else 1
        index = read = 0
        while True:
            if not cap.grab():
                break
            if index % step == 0:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise DataError(f"{path}: frame {index} cannot be decoded (corrupt video); fix or remove it from the folder")
                at = f"{index / fps:.2f}s" if fps else f"frame {index}"
                read += 1
                yield Frame(f"{path}@{at}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "video")
            index += 1
        if read == 0:
            raise DataError(f"{path}: no frame could be decoded (corrupt or empty video); fix or remove it from the folder")
    finally:
        cap.release()


def frame_files(folder: Path) -> list[Path]:
    """The image and video files below ``folder``, sorted by relative path; DataError when there are none."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        return [folder]
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found; give a folder of production images or video files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    if not files:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES + VIDEO_SUFFIXES))
        raise DataError(f"{folder}: no images or videos found (looked for {kinds}); give a folder of production frames")
    return files


def read_frames(folder: Path, *, sample_fps: float = 1.0) -> Iterator[Frame]:
    """Every frame below ``folder``: each image file, and each video sampled at ``sample_fps`` frames per second."""
    if not (sample_fps > 0 and math.isfinite(sample_fps)):
        raise DataError(f"sample rate must be a positive number of frames per second, got {sample_fps}")
    for path in frame_files(folder):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            yield from read_video(path, sample_fps=sample_fps)
        else:
            yield decode_image(path)


def reference_frames(source: Path, *, sample_fps: float = 1.0) -> tuple[Iterator[Frame], str]:
    """The frames of a reference set and a description: a spec's dataset, or a folder of images or videos.

    A spec is loaded and validated (``fieldready.spec.load_spec``) and its dataset read with its own
    format and subset, so the reference is exactly the images a run would corrupt.
    """
    source = Path(source)
    if source.is_file() and source.suffix.lower() in {".yaml", ".yml"}:
        loaded = load_spec(source)
        dataset = load_spec_dataset(loaded.spec.dataset, task=loaded.spec.task, resolve=loaded.resolve)
        paths = [Path(r.path) for r in dataset.records]
        if not paths:
            raise DataError(f"{source}: the spec's dataset has no images to serve as the reference")
        return (decode_image(p) for p in paths), f"the dataset of {source} ({len(paths)} images)"
    frame_files(source)  # fails at once on a missing or empty folder
    return read_frames(source, sample_fps=sample_fps), str(source)

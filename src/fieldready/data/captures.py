"""Repeated captures of the same things, unlabelled: folders of captures (groups) and videos (sequences).

A spec's ``repeatability.dataset`` names a folder: each immediate subfolder holds captures of one
part or scene (``groups: folder``), and each video file anywhere below it (``.mp4``, ``.avi``, …,
read by OpenCV) is one sequence whose frames are sampled at ``fps`` frames per second. A capture is
one image or one sampled video frame, with a negative id so it never meets a labelled image's id in
the result store. Everything is checked when the set is indexed, each failure one ``DataError``
naming the folder or file: a group needs two readable captures, a video two sampled frames.
Frames are decoded again when the run streams them (``stream_captures``), one pass per video.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from fieldready.data.dataset import hash_file
from fieldready.data.decode import read_rgb
from fieldready.data.types import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fieldready.errors import DataError

__all__ = [
    "Capture",
    "CaptureGroup",
    "CaptureSet",
    "load_captures",
    "stream_captures",
    "sampled_frames",
]



@dataclass(frozen=True)
class Capture:
    """One capture: an image file, or frame ``frame`` of a video file (``at``: its time, for captions)."""

    image_id: int
    path: str
    width: int
    height: int
    group: int
    frame: int | None = None
    at: str = ""

    @property
    def name(self) -> str:
        """The file name, with the frame time for a video frame (``belt.avi@1.50s``)."""
        return Path(self.path).name + (f"@{self.at}" if self.frame is not None else "")


@dataclass(frozen=True)
class CaptureGroup:
    """Captures of one thing: a folder's images (``group``) or a video's sampled frames in order (``video``)."""

    name: str
    kind: Literal["group", "video"]
    captures: tuple[Capture, ...]


@dataclass
class CaptureSet:
    """Every group and video of a captures folder, in a stable order, with a digest of their bytes."""

    root: Path
    fps: float
    groups: list[CaptureGroup]
    digest: str = ""
    files: list[Path] = field(default_factory=list)

    @property
    def captures(self) -> list[Capture]:
        return [c for g in self.groups for c in g.captures]

    def of_kind(self, kind: str) -> list[CaptureGroup]:
        return [g for g in self.groups if g.kind == kind]

    def sample_size(self, metric: str) -> tuple[int, int | None]:
        """(independent units the bootstrap resamples, trials of a rate) behind a repeatability metric.

        Groups are resampled for ``repeatability`` (a share of groups) and ``agreement`` (a share of
        the pairs within groups); videos for ``video_flip_rate``, a share of consecutive-frame
        transitions. The trials only bound the interval from below (Clopper–Pearson) and keep it in
        [0, 1]; the bootstrap over groups carries the dependence between a group's captures.
        """
        if metric == "video_flip_rate":
            videos = self.of_kind("video")
            return len(videos), sum(len(v.captures) - 1 for v in videos) or None
        groups = self.of_kind("group")
        if metric == "agreement":
            return len(groups), sum(len(g.captures) * (len(g.captures) - 1) // 2 for g in groups) or None
        return len(groups), len(groups) or None


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(f"{path}: video cannot be opened (corrupt or unsupported codec); fix or remove it from the captures")
    return cap


def _step(cap: cv2.VideoCapture, fps: float) -> tuple[int, float]:
    rate = cap.get(cv2.CAP_PROP_FPS)
    rate = rate if math.isfinite(rate) and rate > 0 else 0.0
    return (max(1, round(rate / fps)) if rate else 1), rate


def sampled_frames(path: Path, *, fps: float) -> Iterator[tuple[int, str, np.ndarray]]:
    """(frame index, time, ``HxWx3`` uint8 RGB) of a video sampled at ``fps`` per second, in order.

    Every frame when the file declares no rate. A frame that cannot be decoded is a DataError.
    """
    cap = _open(path)
    try:
        step, rate = _step(cap, fps)
        index = 0
        while cap.grab():
            if index % step == 0:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise DataError(f"{path}: frame {index} cannot be decoded (corrupt video); fix or remove it from the captures")
                yield index, (f"{index / rate:.2f}s" if rate else f"frame {index}"), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    except cv2.error as exc:
        raise DataError(f"{path}: video cannot be decoded ({str(exc).strip().splitlines()[-1]}); fix or remove it") from None
    finally:
        cap.release()


def load_captures(root: Path, *, fps: float = 2.0, first_id: int = -1) -> CaptureSet:
    """Index ``root``: one group per subfolder (its images, sorted), one sequence per video below ``root``.

    Ids count down from ``first_id`` (negative), groups first then videos, in sorted path order.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: captures folder not found; check repeatability.dataset.images")
    if not (fps > 0 and math.isfinite(fps)):
        raise DataError(f"repeatability.dataset.fps must be a positive number of frames per second, got {fps}")
    entries = sorted(root.iterdir())
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise DataError(
            f"{loose[0]}: image is not inside a group folder; with groups: folder each part's captures go in "
            f"their own subfolder ({root}/<part>/<capture>.png)"
        )
    videos = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    folders = [p for p in entries if p.is_dir()]
    groups: list[CaptureGroup] = []
    files: list[Path] = []
    next_id = first_id
    h = hashlib.sha256()
    for folder in folders:
        images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            if any(v.is_relative_to(folder) for v in videos):
                continue  # a folder of videos, not a group
            raise DataError(f"{folder}: group folder has no images; put at least 2 captures of the part in it, or remove it")
        if len(images) < 2:
            raise DataError(f"{folder}: group has only one capture ({images[0].name}); a group needs at least 2 captures to compare")
        captures = []
        for path in images:
            array = read_rgb(path)
            captures.append(Capture(next_id, str(path), int(array.shape[1]), int(array.shape[0]), len(groups)))
            next_id -= 1
            hash_file(path, h, what="the capture")
            h.update(f"\x1f{path.relative_to(root).as_posix()}\n".encode())
        groups.append(CaptureGroup(folder.name, "group", tuple(captures)))
        files += images
    for video in videos:
        captures = []
        for index, at, frame in sampled_frames(video, fps=fps):
            captures.append(Capture(next_id, str(video), int(frame.shape[1]), int(frame.shape[0]), len(groups), index, at))
            next_id -= 1
        if not captures:
            raise DataError(f"{video}: video has no frames (empty or corrupt); fix or remove it from the captures")
        if len(captures) < 2:
            raise DataError(f"{video}: only one frame sampled at {fps:g} per second; raise repeatability.dataset.fps or use a longer video")
        hash_file(video, h, what="the capture")
        h.update(f"\x1f{video.relative_to(root).as_posix()}\n".encode())
        groups.append(CaptureGroup(video.relative_to(root).as_posix(), "video", tuple(captures)))
        files.append(video)
    if not groups:
        raise DataError(
            f"{root}: no capture groups or videos found; put each part's captures in a subfolder "
            f"({root}/<part>/*.png) or add video files ({', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    h.update(f"fps={fps!r}".encode())
    return CaptureSet(root, fps, groups, h.hexdigest(), files)


def stream_captures(captures: CaptureSet, wanted: set[int] | None = None) -> Iterator[tuple[Capture, np.ndarray]]:
    """(capture, ``HxWx3`` uint8 RGB) for every capture (or those whose id is in ``wanted``), group by group.

    A video is read once from its start, so resuming a half-done video decodes its earlier frames
    again but never keeps them. A frame whose size changed since indexing is a DataError.
    """
    for group in captures.groups:
        todo = [c for c in group.captures if wanted is None or c.image_id in wanted]
        if not todo:
            continue
        if group.kind == "group":
            for c in todo:
                yield c, _checked(c, read_rgb(c.path))
            continue
        by_frame = {c.frame: c for c in todo}
        last = max(by_frame)
        for index, _, frame in sampled_frames(Path(todo[0].path), fps=captures.fps):
            if index in by_frame:
                yield by_frame[index], _checked(by_frame[index], frame)
            if index >= last:
                break
        else:
            raise DataError(f"{todo[0].path}: video is shorter than when it was indexed; the file changed — run the same command again")


def _checked(capture: Capture, array: np.ndarray) -> np.ndarray:
    h, w = array.shape[:2]
    if (w, h) != (capture.width, capture.height):
        raise DataError(
            f"{capture.path}: capture is now {w}x{h} but was {capture.width}x{capture.height} when indexed; "
            "the file changed during the run — run the same command again"
        )
    return array

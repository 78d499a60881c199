"""Thumbnails of the captures shown for the groups that disagreed (``RepeatGroup.shown``), under ``gallery/``.

The captures are read again (a video once, in order) and written as PNGs at most 256 px on their
longer side; the report embeds them beside each capture's answer. Nothing is drawn on them: the
answers are the page's text.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from fieldready.data.captures import CaptureSet, stream_captures
from fieldready.errors import StoreError
from fieldready.execution.store import write_atomic
from fieldready.judge.results import Results
from fieldready.report.gallery import encode_png

__all__ = ["write_repeat_gallery", "THUMB_SIDE"]

THUMB_SIDE = 256


def write_repeat_gallery(results: Results, captures: CaptureSet | None, run_dir: Path) -> list[Path]:
    """Write every shown capture's thumbnail to its ``png`` path under ``run_dir``; return the paths written."""
    wanted: dict[int, list[str]] = {}
    for m in results.models:
        for g in (m.repeatability.disagreeing if m.repeatability else []):
            for c in g.shown:
                wanted.setdefault(c.image_id, []).append(c.png)
    if captures is None or not wanted:
        return []
    folder = Path(run_dir) / "gallery"
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for capture, image in stream_captures(captures, set(wanted)):
            h, w = image.shape[:2]
            scale = THUMB_SIDE / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            thumb = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
            data = encode_png(thumb)
            for rel in wanted[capture.image_id]:
                written.append(write_atomic(Path(run_dir) / rel, data))
    except OSError as exc:
        raise StoreError(f"{folder}: cannot write the repeatability thumbnails ({exc.strerror or exc}); free disk space "
                         "and run the same command again") from None
    return written

"""Failure-gallery images: the judge's panels drawn as PNG files, and PNG files as data URIs.

``write_gallery`` draws each ``Panel`` (``draw_detections`` / ``draw_classification``) into the run
directory; the report embeds the files with ``png_data_uri`` so the HTML works offline as one file.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from fieldready.errors import ReportError, StoreError
from fieldready.execution.store import write_atomic
from fieldready.judge.results import Panel

__all__ = ["draw_detections", "draw_classification", "draw_panel", "write_gallery", "png_data_uri", "encode_png"]

# Ground truth green and solid, predictions magenta and thinner: apart by hue and by line weight.
_GT_COLOR = (0, 200, 0)
_PRED_COLOR = (230, 0, 200)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Small images (e.g. 32x32 digits) are upscaled to at least this short side before drawing, so
# boxes and captions are drawn at a readable size instead of the image's own tiny scale.
MIN_SIDE = 160


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", "")
        raise ReportError(f"gallery image must be an HxWx3 uint8 RGB array, got {got}; convert it before drawing")
    return image


def _fit(image: np.ndarray, max_side: int, min_side: int = 0) -> tuple[np.ndarray, float]:
    """Rescale so the longer side is at most ``max_side`` and, for small images, the shorter side at least ``min_side``.

    Large images are downscaled (area filter). Small images are upscaled by a whole factor with
    nearest-neighbour sampling, so pixels stay crisp squares; ``max_side`` stays the cap, so the
    factor is the largest that keeps the longer side within it. Returns the image and the scale used.
    """
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    elif min_side and min(h, w) < min_side:
        factor = min(-(-min_side // min(h, w)), max_side // max(h, w))
        if factor > 1:
            scale = float(factor)
            image = cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(image), scale


def encode_png(image_rgb: np.ndarray) -> bytes:
    """Encode an RGB uint8 array as PNG bytes (deterministic for the same pixels)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ReportError("could not encode a gallery image as PNG; check that OpenCV was built with PNG support")
    return buf.tobytes()


def _label(canvas: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], *, below: bool) -> None:
    """Draw ``text`` on a filled tag next to a box corner, kept inside the canvas."""
    scale, thick = 0.38, 1
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    h, w = canvas.shape[:2]
    x = int(min(max(x, 0), max(w - tw - 2, 0)))
    top = y + 1 if below or y - th - base - 2 < 0 else y - th - base - 2
    top = int(min(max(top, 0), max(h - th - base - 2, 0)))
    cv2.rectangle(canvas, (x, top), (x + tw + 2, top + th + base + 2), color, thickness=-1)
    cv2.putText(canvas, text, (x + 1, top + th + 1), _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


def draw_detections(
    image: np.ndarray,
    *,
    gt_boxes: Sequence[Sequence[float]] | np.ndarray,
    gt_labels: Sequence[int] | np.ndarray,
    boxes: Sequence[Sequence[float]] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Mapping[int, str],
    max_side: int = 320,
) -> bytes:
    """Draw ground truth (green, thick, label below) and predictions (magenta, label + score above).

    Boxes are ``[x1, y1, x2, y2]`` in pixels of ``image``; the result is a PNG whose longer side is at
    most ``max_side``. Images smaller than ``MIN_SIDE`` are first upscaled (nearest neighbour, whole factor).
    """
    canvas, s = _fit(_check_image(image).copy(), max_side, MIN_SIDE)
    gt = np.asarray(gt_boxes, dtype=float).reshape(-1, 4) * s
    pr = np.asarray(boxes, dtype=float).reshape(-1, 4) * s
    if len(gt) != len(gt_labels) or not (len(pr) == len(scores) == len(labels)):
        raise ReportError(
            f"draw_detections got {len(gt)} GT boxes / {len(gt_labels)} GT labels and {len(pr)} boxes / "
            f"{len(scores)} scores / {len(labels)} labels; pass one label (and score) per box"
        )
    for box, lab in zip(gt, gt_labels):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), _GT_COLOR, 2)
        _label(canvas, f"GT {class_names.get(int(lab), str(int(lab)))}", x1, y2, _GT_COLOR, below=True)
    for box, score, lab in zip(pr, scores, labels):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), _PRED_COLOR, 1, cv2.LINE_AA)
        _label(canvas, f"{class_names.get(int(lab), str(int(lab)))} {float(score):.2f}", x1, y1, _PRED_COLOR, below=False)
    return encode_png(canvas)


def draw_classification(
    image: np.ndarray,
    *,
    true_label: int,
    pred_label: int,
    prob: float,
    class_names: Mapping[int, str],
    max_side: int = 320,
) -> bytes:
    """Image with a caption strip: true label, predicted label and its probability (✓/✗ by colour and word).

    Small images are upscaled first (nearest neighbour, whole factor, up to ``max_side``), so the
    caption is drawn at a readable size; the font shrinks when a long class name would not fit.
    """
    canvas, _ = _fit(_check_image(image), max_side, MIN_SIDE)
    ok = int(true_label) == int(pred_label)
    lines = [
        f"true: {class_names.get(int(true_label), str(int(true_label)))}",
        f"pred: {class_names.get(int(pred_label), str(int(pred_label)))} {float(prob):.2f} {'OK' if ok else 'WRONG'}",
    ]
    w = canvas.shape[1]
    scale = min(0.7, max(0.4, w / 400))
    widest = max(cv2.getTextSize(t, _FONT, scale, 1)[0][0] for t in lines)
    if widest > w - 6:
        scale = max(0.25, scale * (w - 6) / widest)
    (_, th), base = cv2.getTextSize("Ag", _FONT, scale, 1)
    line_h = th + base + 3
    strip = np.full((2 * line_h + 4, w, 3), (0, 110, 0) if ok else (170, 0, 0), dtype=np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(strip, text, (3, 2 + th + 1 + line_h * i), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return encode_png(np.concatenate([canvas, strip], axis=0))


def draw_panel(panel: Panel) -> bytes:
    """A panel as PNG bytes: boxes drawn for a detection panel, the caption strip for a classification one."""
    if panel.boxes is not None:
        return draw_detections(
            panel.image, gt_boxes=panel.gt_boxes if panel.gt_boxes is not None else np.zeros((0, 4)),
            gt_labels=panel.gt_labels if panel.gt_labels is not None else np.zeros(0, dtype=np.int64),
            boxes=panel.boxes, scores=panel.scores, labels=panel.labels, class_names=panel.classes,  # type: ignore[arg-type]
        )
    return draw_classification(panel.image, true_label=int(panel.true_label),  # type: ignore[arg-type]
                               pred_label=int(panel.pred_label), prob=float(panel.prob),  # type: ignore[arg-type]
                               class_names=panel.classes)


def write_gallery(panels: Sequence[Panel], run_dir: Path) -> list[Path]:
    """Draw every panel into its PNG under ``run_dir`` (atomically), creating ``gallery/`` first."""
    folder = Path(run_dir) / "gallery"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{folder}: cannot create the gallery folder ({exc.strerror})") from None
    out = []
    for panel in panels:
        path = Path(run_dir) / panel.path
        try:
            write_atomic(path, draw_panel(panel))
        except OSError as exc:
            raise StoreError(f"{path}: cannot write the gallery image ({exc.strerror}); free disk space and run the "
                             "same command again") from None
        out.append(path)
    return out


def png_data_uri(path: Path, *, max_side: int = 320, max_bytes: int = 200_000, min_side: int = MIN_SIDE) -> str:
    """Read an image file and return a ``data:image/png`` URI, downscaled when above the size caps.

    Images whose shorter side is below ``min_side`` are upscaled by a whole factor (nearest neighbour,
    longer side still at most ``max_side``), so browsers and PDF viewers show crisp pixels, not a blur.

    Raises ReportError naming the file when it is missing or not a decodable image.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"gallery image {path} cannot be read ({exc.strerror}); re-run the pipeline or remove the item") from exc
    decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ReportError(f"gallery image {path} is not a decodable image; re-run the pipeline to regenerate it")
    is_png = raw[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = decoded.shape[:2]
    small = min_side and min(h, w) < min_side and 2 * max(h, w) <= max_side
    if not is_png or max(h, w) > max_side or len(raw) > max_bytes or small:
        fitted, _ = _fit(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), max_side, min_side)
        raw = encode_png(fitted)
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")

"""Deterministic synthetic detection data for the bundled `shapes` example (COCO format).

Three classes — circle, square, triangle — drawn with OpenCV on textured backgrounds: a smooth
colour field, a stripe / checker / blotch texture and distractor lines and crosses. There is no pixel
noise: the clean data is clean, which is what makes a model trained without augmentation
noise-fragile. Each 128×128 image holds 1–5 objects of 10–44 px with varied colours (a fifth of
them of low contrast against the background); objects may overlap a little (≤ 25 % of the smaller
box), later ones drawn over earlier ones, and the annotation keeps the full (amodal) box.

Determinism: every image has its own ``numpy.random.default_rng([seed, split, index])`` stream and
the pixels are built from integer draws, exact float arithmetic (+, ×, no transcendental functions)
and OpenCV's integer rasterisation, so the same seed gives the same pixels on any machine. Images
are written as lossless PNG; the tests compare decoded pixels, not file bytes.

    python examples/shapes/generate.py                     # regenerate the committed val split
    python examples/shapes/generate.py --split train -n 800 -o /tmp/shapes-train
    python examples/shapes/generate.py --captures          # regenerate data/captures (repeatability)

Repeated captures (``write_captures``): a few scenes each rendered several times as a camera would
see the same part again — a sub-pixel shift, a small change of gain and offset (lighting) and
Gaussian sensor noise — one subfolder per scene, and a short MJPG video of one static scene with the
same small changes frame to frame. The spec's ``repeatability:`` section reads them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

__all__ = ["CATEGORIES", "SIZE", "SPLITS", "make_image", "make_split", "write_split", "recapture", "write_captures"]

SIZE = 128
CATEGORIES = [
    {"id": 1, "name": "circle", "supercategory": "shape"},
    {"id": 2, "name": "square", "supercategory": "shape"},
    {"id": 3, "name": "triangle", "supercategory": "shape"},
]
SPLITS = {"train": 0, "val": 1, "test": 2, "captures": 3}
DEFAULT_SEED = 2024
VAL_IMAGES = 160
MIN_SIZE, MAX_SIZE = 10, 44


def _bilinear(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Upsample a small ``[gh, gw, c]`` grid to ``[h, w, c]`` with exact +/× arithmetic only."""
    gh, gw = grid.shape[:2]
    ys = np.arange(h, dtype=np.float64) * (gh - 1) / (h - 1)
    xs = np.arange(w, dtype=np.float64) * (gw - 1) / (w - 1)
    y0 = np.minimum(ys.astype(np.int64), gh - 2)
    x0 = np.minimum(xs.astype(np.int64), gw - 2)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx


def _background(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A textured background (uint8 HxWx3 RGB) and its base colour."""
    base = rng.integers(40, 216, size=3).astype(np.float64)
    field = _bilinear(rng.integers(-40, 41, size=(5, 5, 3)).astype(np.float64), SIZE, SIZE)
    img = base[None, None, :] + field
    kind = int(rng.integers(0, 4))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    if kind == 0:  # stripes at one of a few integer slopes
        a, b = int(rng.integers(-2, 3)), int(rng.integers(1, 3))
        period = int(rng.integers(4, 12))
        amp = rng.integers(8, 25, size=3).astype(np.float64)
        pattern = ((xx * a + yy * b) // period) % 2
        img = img + pattern[..., None] * amp[None, None, :]
    elif kind == 1:  # checker
        cell = int(rng.integers(4, 14))
        amp = float(rng.integers(8, 22))
        pattern = ((xx // cell) + (yy // cell)) % 2
        img = img + pattern[..., None] * amp
    elif kind == 2:  # blotches: medium-frequency value noise
        blot = _bilinear(rng.integers(-25, 26, size=(17, 17, 1)).astype(np.float64), SIZE, SIZE)
        img = img + blot
    # kind 3: smooth field only
    return np.ascontiguousarray(np.clip(np.rint(img), 0, 255).astype(np.uint8)), base


def _colour(rng: np.random.Generator, base: np.ndarray) -> tuple[int, int, int]:
    """An object colour at least a little different from the background's base colour."""
    low_contrast = rng.random() < 0.2
    lo, hi = (45, 90) if low_contrast else (110, 765)
    for _ in range(50):
        c = rng.integers(0, 256, size=3)
        d = np.abs(c - base).sum()
        if lo <= d <= hi:
            break
    return int(c[0]), int(c[1]), int(c[2])


def _distractors(rng: np.random.Generator, img: np.ndarray) -> None:
    for _ in range(int(rng.integers(0, 4))):
        p = rng.integers(0, SIZE, size=4)
        col = tuple(int(v) for v in rng.integers(0, 256, size=3))
        cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), col, int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = (int(v) for v in rng.integers(6, SIZE - 6, size=2))
        r = int(rng.integers(3, 7))
        col = tuple(int(v) for v in rng.integers(0, 256, size=3))
        cv2.line(img, (cx - r, cy), (cx + r, cy), col, 2, cv2.LINE_AA)
        cv2.line(img, (cx, cy - r), (cx, cy + r), col, 2, cv2.LINE_AA)


def _overlap(a: list[int], b: list[int]) -> float:
    """Intersection over the smaller box's area (so a small box is never hidden under a big one)."""
    ax1, ay1, aw, ah = a
    bx1, by1, bw, bh = b
    iw = max(0, min(ax1 + aw, bx1 + bw) - max(ax1, bx1))
    ih = max(0, min(ay1 + ah, by1 + bh) - max(ay1, by1))
    return iw * ih / float(min(aw * ah, bw * bh))


def _draw(img: np.ndarray, mask: np.ndarray, cat: int, x0: int, y0: int, s: int, rng: np.random.Generator,
          colour: tuple[int, int, int]) -> list[int]:
    """Draw one object whose box is [x0, y0, s, s] (triangles: their own height); return the xywh box."""
    if cat == 1:  # circle
        r = (s - 1) // 2
        cx, cy = x0 + r, y0 + r
        for target, col in ((img, colour), (mask, 255)):
            cv2.circle(target, (cx, cy), r, col, -1, cv2.LINE_AA if target is img else cv2.LINE_8)
        return [cx - r, cy - r, 2 * r + 1, 2 * r + 1]
    if cat == 2:  # square (axis-aligned)
        for target, col in ((img, colour), (mask, 255)):
            cv2.rectangle(target, (x0, y0), (x0 + s - 1, y0 + s - 1), col, -1, cv2.LINE_8)
        return [x0, y0, s, s]
    # triangle, apex up, vertices jittered by a couple of pixels
    j = rng.integers(-2, 3, size=2)
    apex_x = x0 + (s - 1) // 2 + int(j[0])
    h = s - int(abs(j[1]))
    pts = np.array([[apex_x, y0], [x0, y0 + h - 1], [x0 + s - 1, y0 + h - 1]], dtype=np.int32)
    cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_8)
    return [x0, y0, s, h]


def make_image(seed: int, split: str, index: int) -> tuple[np.ndarray, list[dict]]:
    """One image (uint8 ``[128, 128, 3]`` RGB) and its annotations (category_id, bbox xywh, area)."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    img, base = _background(rng)
    _distractors(rng, img)
    n = int(rng.integers(1, 6))
    boxes: list[list[int]] = []
    anns: list[dict] = []
    for _ in range(n):
        cat = int(rng.integers(1, 4))
        colour = _colour(rng, base)
        for _attempt in range(30):
            # sizes skewed towards small: the max of a uniform and a lower uniform
            s = int(min(rng.integers(MIN_SIZE, MAX_SIZE + 1), rng.integers(MIN_SIZE, MAX_SIZE + 12)))
            x0, y0 = (int(v) for v in rng.integers(1, SIZE - s, size=2))
            box = [x0, y0, s, s]
            if all(_overlap(box, b) <= 0.25 for b in boxes):
                break
        else:
            continue
        mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
        bbox = _draw(img, mask, cat, x0, y0, s, rng, colour)
        boxes.append(bbox)
        anns.append({"category_id": cat, "bbox": bbox, "area": int(np.count_nonzero(mask))})
    return img, anns


def make_split(split: str, n: int, seed: int = DEFAULT_SEED) -> tuple[list[np.ndarray], dict]:
    """All images of a split (RGB uint8 arrays) and its COCO dict (file names ``{split}_{i:06d}.png``)."""
    images, coco_images, coco_anns = [], [], []
    for i in range(n):
        img, anns = make_image(seed, split, i)
        images.append(img)
        image_id = i + 1
        coco_images.append({"id": image_id, "file_name": f"{split}_{i:06d}.png", "width": SIZE, "height": SIZE})
        for a in anns:
            coco_anns.append({"id": len(coco_anns) + 1, "image_id": image_id, "category_id": a["category_id"],
                              "bbox": a["bbox"], "area": a["area"], "iscrowd": 0})
    coco = {
        "info": {"description": f"fieldready shapes example, split {split}, seed {seed}, generated by generate.py"},
        "images": coco_images,
        "annotations": coco_anns,
        "categories": CATEGORIES,
    }
    return images, coco


def write_split(out: Path, split: str, n: int, seed: int = DEFAULT_SEED, json_name: str | None = None) -> Path:
    """Write ``out/images/*.png`` and ``out/{split}.json``; return the JSON path."""
    images, coco = make_split(split, n, seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for img, meta in zip(images, coco["images"]):
        cv2.imwrite(str(out / "images" / meta["file_name"]), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])
    path = out / (json_name or f"{split}.json")
    path.write_text(json.dumps(coco, indent=1) + "\n")
    return path


CAPTURE_SCENES, CAPTURES_PER_SCENE = 6, 4
VIDEO_FRAMES, VIDEO_FPS = 16, 8.0


def recapture(image: np.ndarray, rng: np.random.Generator, *, shift: tuple[float, float] | None = None) -> np.ndarray:
    """The same scene captured again: a sub-pixel shift (±0.5 px), gain 0.9–1.1 and offset ±8 (lighting), sensor noise σ 1–4."""
    dx, dy = shift if shift is not None else (float(v) for v in rng.uniform(-0.5, 0.5, size=2))
    moved = cv2.warpAffine(image, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]), (image.shape[1], image.shape[0]),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain, offset, sigma = rng.uniform(0.9, 1.1), rng.uniform(-8.0, 8.0), rng.uniform(1.0, 4.0)
    noisy = moved.astype(np.float64) * gain + offset + rng.normal(0.0, sigma, size=moved.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def write_captures(out: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write ``out/part-XX/capture-K.png`` (scenes × captures) and ``out/conveyor.avi``; return the files."""
    files = []
    for s in range(CAPTURE_SCENES):
        scene, _ = make_image(seed, "captures", s)
        rng = np.random.default_rng([seed, SPLITS["captures"], s, 1])
        folder = out / f"part-{s:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(CAPTURES_PER_SCENE):
            path = folder / f"capture-{k}.png"
            cv2.imwrite(str(path), cv2.cvtColor(recapture(scene, rng), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            files.append(path)
    scene, _ = make_image(seed, "captures", CAPTURE_SCENES)
    rng = np.random.default_rng([seed, SPLITS["captures"], CAPTURE_SCENES, 2])
    path = out / "conveyor.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (SIZE, SIZE))
    try:
        for k in range(VIDEO_FRAMES):  # a static scene, the camera drifting a fraction of a pixel
            frame = recapture(scene, rng, shift=(0.05 * k, -0.03 * k))
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return files + [path]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="val", choices=sorted(SPLITS))
    ap.add_argument("-n", type=int, default=VAL_IMAGES, help="number of images")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--captures", action="store_true", help="write the repeated captures to OUT/captures instead")
    args = ap.parse_args()
    if args.captures:
        files = write_captures(args.out / "captures", args.seed)
        print(f"wrote {len(files)} capture files to {args.out / 'captures'}")
        return
    path = write_split(args.out, args.split, args.n, args.seed)
    print(f"wrote {args.n} images and {path}")


if __name__ == "__main__":
    main()

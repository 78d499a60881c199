"""Write the evaluation split of scikit-learn's handwritten digits as a class-per-folder PNG dataset.

    python examples/digits/prepare.py            # writes examples/digits/data/<class>/<id>.png
    python examples/digits/prepare.py --out DIR  # elsewhere (the tests regenerate into a tmp dir)

The split is deterministic: ``train_test_split(test_size=360, stratify=labels, random_state=0)`` over
the 1797 images of ``sklearn.datasets.load_digits`` (bundled with scikit-learn, no download). The
360 evaluation images are written here and committed; ``train.py`` rebuilds the 1437 training
images in memory with the same functions, so training and evaluation see identically made pixels.

Image making, per 8×8 digit (integers 0..16 = number of "on" pixels in a 4×4 block of the original
32×32 NIST bitmap):
  * scale 0..16 → 0..255 (×255/16), white ink on black, as float;
  * upscale 8×8 → 32×32 (×4, back to the bitmaps' native size) with **bilinear** interpolation
    (``cv2.INTER_LINEAR``). Each 8×8 value is an ink *density*; bilinear turns the densities back into
    smooth strokes and, being a convex combination, never leaves [0, 255]. Nearest-neighbour would
    paint hard 4×4 blocks whose edges are an artefact of the downsampling — exactly the thing that
    1–2 px translation and blur would then probe — and bicubic overshoots (ringing, clipping);
  * round to uint8 and write as a 3-channel PNG (identical channels: the model contract is RGB, so
    any image loader gives the same [3, 32, 32] tensor without a grey→RGB special case).

File names are ``<class>/<index>.png`` with ``index`` the zero-padded position in ``load_digits``,
so every image traces back to its source row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
SEED = 0
EVAL_SIZE = 360
SIZE = 32
CLASSES = [str(c) for c in range(10)]  # folder names; sorted order == label index

__all__ = ["SEED", "EVAL_SIZE", "SIZE", "CLASSES", "split", "to_image", "images_uint8", "write_dataset"]


def split() -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``load_digits()`` of the training and evaluation images (sorted)."""
    y = load_digits().target
    train_idx, eval_idx = train_test_split(
        np.arange(len(y)), test_size=EVAL_SIZE, stratify=y, random_state=SEED
    )
    return np.sort(train_idx), np.sort(eval_idx)


def to_image(digit8: np.ndarray) -> np.ndarray:
    """One 8×8 digit (0..16) → uint8 ``[32, 32, 3]`` (see the module docstring for why bilinear)."""
    grey = np.asarray(digit8, dtype=np.float32).reshape(8, 8) * np.float32(255.0 / 16.0)
    up = cv2.resize(grey, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    u8 = np.clip(np.rint(up), 0, 255).astype(np.uint8)
    return np.repeat(u8[:, :, None], 3, axis=2)


def images_uint8(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``[N, 32, 32, 3]`` and int labels ``[N]`` for rows ``indices`` of load_digits."""
    d = load_digits()
    imgs = np.stack([to_image(d.images[i]) for i in indices])
    return imgs, d.target[indices].astype(np.int64)


def write_dataset(out: Path) -> list[Path]:
    """Write the evaluation split under ``out/<class>/<index>.png``; returns the written paths."""
    _, eval_idx = split()
    imgs, labels = images_uint8(eval_idx)
    written = []
    for c in CLASSES:
        (out / c).mkdir(parents=True, exist_ok=True)
    for idx, img, label in zip(eval_idx, imgs, labels):
        path = out / CLASSES[label] / f"{idx:04d}.png"
        # channels are identical, so RGB vs OpenCV's BGR order does not matter; fixed compression level
        if not cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "data", help="dataset root (default: %(default)s)")
    args = parser.parse_args()
    stale = [p for p in args.out.glob("*/*.png")] if args.out.exists() else []
    for p in stale:  # a re-run must not leave images of an older split behind
        p.unlink()
    paths = write_dataset(args.out)
    counts = {c: sum(1 for p in paths if p.parent.name == c) for c in CLASSES}
    print(f"wrote {len(paths)} images to {args.out}: " + " ".join(f"{c}:{n}" for c, n in counts.items()))


if __name__ == "__main__":
    main()

"""Benchmark: fieldready's batched corruptions vs imagecorruptions 1.1.2 per image, on the 15 × 5 ImageNet-C grid.

Prints per-corruption time per image (both, summed over levels 1–5) and the speed-up, the total ratio and
the geometric mean of the ratios, at 224×224 and 640×480. Targets: total ≥ 20×, geometric mean ≥ 3×,
no corruption more than 2× slower. Run: ``python benchmarks/corruptions.py [--images 4] [--ref-images 2]``.

With ``--fork-python PATH`` (a Python whose ``imagecorruptions`` is the numba fork imagecorruptions-imaug
1.1.5, which installs under the same module name, so it lives in its own venv:
``python -m venv /tmp/icfork && /tmp/icfork/bin/pip install imagecorruptions-imaug==1.1.5 numpy``) the
fork is timed too, one image at a time in a subprocess on the same photos, and a column and a total
line compare against it (target: ≥ 4× faster in total).

Threads: by default fieldready's own choice for a run (``execution/device.py::choose_threads``: the
free physical cores less one, OpenCV one thread), so the table is what a user gets; ``--threads N``
overrides it. On the shared 2-core machines torch's *own* default (2 threads) measured 2–14× slower per
corruption at 640×480 while other jobs held about one core (OpenMP workers spin and wait for a core).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _imagecorruptions_shim import load  # noqa: E402

import fieldready.corruptions as C  # noqa: E402
from fieldready.execution.device import choose_threads  # noqa: E402

IMAGENET_C = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]  # fmt: skip
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def photos(n: int, h: int, w: int) -> np.ndarray:
    """``n`` real photos resized to h×w, uint8 HWC."""
    return np.stack([cv2.resize(getattr(skimage.data, PHOTOS[i % 4])(), (w, h), interpolation=cv2.INTER_AREA) for i in range(n)])


_CV2_THREADS = {"reference": 1, "ours": 1}  # the reference keeps OpenCV's default; fieldready sets its own


def time_ours(x: torch.Tensor, name: str, repeats: int) -> float:
    """Seconds per image for levels 1–5 on the batch ``x`` (after a warm-up of the same calls)."""
    cv2.setNumThreads(_CV2_THREADS["ours"])
    for level in range(1, 6):
        C.corrupt(x, name, level=level)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for level in range(1, 6):
            C.corrupt(x, name, level=level)
        best = min(best, time.perf_counter() - t)
    return best / x.shape[0]


def time_reference(ic, imgs: np.ndarray, name: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds per image for levels 1–5, one image at a time as the reference works."""
    cv2.setNumThreads(_CV2_THREADS["reference"])
    ic.corrupt(imgs[0], severity=1, corruption_name=name)  # warm-up (imports, caches)
    t = time.perf_counter()
    for im in imgs:
        for level in range(1, 6):
            ic.corrupt(im, severity=level, corruption_name=name)
    return (time.perf_counter() - t) / len(imgs)


_FORK_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import imagecorruptions as ic
imgs = np.load(sys.argv[1])
out = {}
for name in json.loads(sys.argv[2]):
    ic.corrupt(imgs[0], severity=1, corruption_name=name)  # warm-up: numba compiles on the first call
    t = time.perf_counter()
    for im in imgs:
        for level in range(1, 6):
            ic.corrupt(im, severity=level, corruption_name=name)
    out[name] = (time.perf_counter() - t) / len(imgs)
print(json.dumps(out))
"""


def time_fork(python: str, imgs: np.ndarray) -> dict[str, float]:
    """Seconds per image (levels 1–5) of every ImageNet-C corruption in the fork, run by ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "imgs.npy"
        np.save(path, imgs)
        done = subprocess.run(
            [python, "-c", _FORK_SCRIPT, str(path), json.dumps(IMAGENET_C)], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"timing the fork with {python} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="batch size for fieldready")
    parser.add_argument("--ref-images", type=int, default=2, help="images timed with the (slow) reference")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="224x224,480x640", help="HxW list")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: fieldready's choice for a run)")
    parser.add_argument("--fork-python", default=None, help="python of a venv with imagecorruptions-imaug 1.1.5")
    args = parser.parse_args()
    threads = choose_threads(args.threads)
    torch.set_num_threads(threads.torch)
    _CV2_THREADS.update(reference=cv2.getNumThreads(), ours=threads.opencv)
    ic = load()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {threads}, {len(os.sched_getaffinity(0))} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"fieldready batch {args.images}, reference {args.ref_images} images")
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.split("x"))
        imgs = photos(max(args.images, args.ref_images), h, w)
        x = torch.from_numpy(imgs[: args.images]).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        fork = time_fork(args.fork_python, imgs[: args.ref_images]) if args.fork_python else {}
        print(f"\n{h}×{w}: ms per image, levels 1–5 summed")
        fork_cols = f" {'imaug fork':>11} {'vs fork':>8}" if fork else ""
        print(f"{'corruption':<18} {'imagecorruptions':>16} {'fieldready':>11} {'speed-up':>9}{fork_cols}")
        ratios, tot_ref, tot_ours, tot_fork = [], 0.0, 0.0, 0.0
        for name in IMAGENET_C:
            ref = time_reference(ic, imgs[: args.ref_images], name)
            ours = time_ours(x, name, args.repeats)
            ratios.append(ref / ours)
            tot_ref, tot_ours = tot_ref + ref, tot_ours + ours
            extra = ""
            if fork:
                tot_fork += fork[name]
                extra = f" {fork[name] * 1e3:>11.1f} {fork[name] / ours:>7.1f}×"
            print(f"{name:<18} {ref * 1e3:>16.1f} {ours * 1e3:>11.1f} {ref / ours:>8.1f}×{extra}", flush=True)
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        extra = f" {tot_fork * 1e3:>11.1f} {tot_fork / tot_ours:>7.1f}×" if fork else ""
        print(f"{'total':<18} {tot_ref * 1e3:>16.1f} {tot_ours * 1e3:>11.1f} {tot_ref / tot_ours:>8.1f}×{extra}")
        print(f"geometric mean of speed-ups: {geo:.1f}×; slowest: {min(ratios):.2f}× ({IMAGENET_C[ratios.index(min(ratios))]})")
        if fork:
            print(f"vs the numba fork imagecorruptions-imaug: {tot_fork / tot_ours:.1f}× faster in total (target ≥ 4×)")

if __name__ == "__main__":
    main()

"""Fidelity table: fieldready vs imagecorruptions 1.1.2 on real photographs, 19 shared corruptions × levels 1–5.

For each corruption and level, on scikit-image photographs resized to ``--size`` (INTER_AREA), with several
seeds per image for the random corruptions:

* ``fieldready`` / ``reference``: mean PSNR (dB) of each side's output against the clean image;
* ``diff``: fieldready − reference; ``3 SE``: three standard errors of that difference. The samples are
  paired by (image, seed index) — the two sides' draws are independent, so the pairing only removes the
  image-to-image spread, which both sides share — and SE = sd(paired differences) / √n;
* ``ref draw sd``: the reference's own draw-to-draw spread, the SD of its PSNR over seeds of the same image
  (pooled over images); 0 for the deterministic corruptions;
* ``agree``: for the deterministic corruptions, the PSNR between the two outputs (min over images);
* ``verdict``: ``within 1 dB`` if |diff| ≤ 1; else ``within 3 SE`` if the reference itself varies by more
  than 1 dB from draw to draw (ref draw sd > 1) and |diff| ≤ 3 SE; else ``FAIL``. A deterministic
  corruption also FAILs if ``agree`` < 35 dB.

Both outputs are quantised to uint8 like the reference's ``corrupt`` (truncation), as in
``tests/corruptions/test_fidelity.py``. The reference's glass blur is a pure-Python loop over pixels
(~0.6 s per call at 224×224, ~3 s per image over levels 1–5), so it runs on fewer images and seeds
(``--glass-images``, ``--glass-seeds``).

A second sweep (``--sizes``, H×W) repeats the comparison at odd, non-square and large sizes (33×33, 47×33,
100×100, 240×320, 427×640, 640×480 by default), where size-dependent details show (pixelate's nearest-pixel
choice, the crop and edge rows of zoomed layers, streaks near the border, frost textures smaller or larger than
the image): every corruption at every size and level, with fewer seeds from 224² up (``--size-seeds``; the
texture-driven fog, frost and spatter ``--texture-seeds``; more on smaller images, see ``seeds_at``) and glass_blur on ``--size-glass-images`` images × 1 seed (its
reference takes ~20 s per 640×480 image). It writes a per-level table and a corruption × size matrix.

Run: ``python benchmarks/fidelity.py [--size 224] [--seeds 10] [--sizes 33x33,...] [--out benchmarks/FIDELITY.md]``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import math
import platform
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import skimage
import skimage.data
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _imagecorruptions_shim import load  # noqa: E402

import fieldready  # noqa: E402
import fieldready.corruptions as C  # noqa: E402

IMAGENET_C = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]  # fmt: skip
EXTRA = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
SHARED = IMAGENET_C + EXTRA
# the reference draws nothing for these: one call per image, and the two outputs are compared directly
DETERMINISTIC = {"brightness", "contrast", "saturate", "pixelate", "jpeg_compression", "defocus_blur", "gaussian_blur", "zoom_blur"}

# skimage.data photographs that ship inside the scikit-image wheel (no pooch / network needed)
PHOTOS = {
    "astronaut": lambda: skimage.data.astronaut(),
    "coffee": lambda: skimage.data.coffee(),
    "chelsea": lambda: skimage.data.chelsea(),
    "rocket": lambda: skimage.data.rocket(),
    "immunohistochemistry": lambda: skimage.data.immunohistochemistry(),
    "motorcycle_left": lambda: skimage.data.stereo_motorcycle()[0],
}


def load_photos(h: int, w: int) -> tuple[list[str], np.ndarray, list[str]]:
    """The available photos resized to h×w (height × width) uint8 HWC; names of those that could not be loaded offline."""
    names, arrays, skipped = [], [], []
    for name, fetch in PHOTOS.items():
        try:
            img = fetch()
        except Exception as exc:  # noqa: BLE001  (pooch missing / no network: skip, and say so)
            skipped.append(f"{name} ({type(exc).__name__})")
            continue
        names.append(name)
        arrays.append(cv2.resize(img[..., :3], (w, h), interpolation=cv2.INTER_AREA))
    return names, np.stack(arrays), skipped


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR (dB, peak 255) over the leading axis."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def ours(clean: np.ndarray, name: str, level: int, seed: int) -> np.ndarray:
    x = torch.from_numpy(clean).permute(0, 3, 1, 2).float().div(255.0).contiguous()
    out = fieldready.corrupt(x, name, level=level, seed=seed).images
    return np.floor(out.permute(0, 2, 3, 1).numpy() * 255.0 + 1e-4).astype(np.uint8)


def theirs(ic, clean: np.ndarray, name: str, level: int, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = []
    for i, im in enumerate(clean):
        np.random.seed((seed * 1000 + i) * 10 + level)
        out.append(ic.corrupt(im, severity=level, corruption_name=name))
    return np.stack(out)


def measure(ic, clean: np.ndarray, name: str, level: int, seeds: int) -> dict:  # type: ignore[no-untyped-def]
    """PSNRs vs clean, [seeds, images] for both sides, and (deterministic) agreement between outputs."""
    p_ours, p_ref, agree = [], [], []
    for s in range(seeds):
        a = ours(clean, name, level, seed=1 + s)
        b = theirs(ic, clean, name, level, seed=1 + s)
        p_ours.append(psnr(a, clean))
        p_ref.append(psnr(b, clean))
        if name in DETERMINISTIC:
            agree.append(psnr(a, b))
    p_ours_a, p_ref_a = np.array(p_ours), np.array(p_ref)
    d = (p_ours_a - p_ref_a).ravel()
    n = d.size
    se = d.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
    # reference draw-to-draw spread: SD over seeds of the same image, pooled over images
    draw_sd = float(np.sqrt(p_ref_a.var(axis=0, ddof=1).mean())) if seeds > 1 else 0.0
    diff = float(p_ours_a.mean() - p_ref_a.mean())
    row = {
        "n": n, "ours": float(p_ours_a.mean()), "ref": float(p_ref_a.mean()), "diff": diff, "se3": 3 * float(se),
        "draw_sd": draw_sd, "agree": float(np.min(agree)) if agree else None,
    }  # fmt: skip
    if abs(diff) <= 1.0:
        verdict = "within 1 dB"
    elif draw_sd > 1.0 and abs(diff) <= row["se3"]:
        verdict = "within 3 SE"
    else:
        verdict = "FAIL"
    if row["agree"] is not None and row["agree"] < 35.0:
        verdict = "FAIL" if verdict == "FAIL" else f"FAIL (agree {row['agree']:.1f} dB)"
    row["verdict"] = verdict
    return row


def fmt_row(name: str, level: int, r: dict) -> str:
    agree = f"{r['agree']:.1f}" if r["agree"] is not None else "—"
    agree = ">99" if r["agree"] is not None and r["agree"] > 99 else agree
    return (
        f"| {name} | {level} | {r['n']} | {r['ours']:.2f} | {r['ref']:.2f} | {r['diff']:+.2f} | {r['se3']:.2f} | "
        f"{r['draw_sd']:.2f} | {agree} | {r['verdict']} |"
    )


TEXTURE = {"fog", "frost", "spatter"}


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"33x33,47x33"`` → ``[(33, 33), (47, 33)]`` (height × width)."""
    return [(int(h), int(w)) for h, w in (item.lower().split("x") for item in text.split(",") if item)]


def seeds_at(base: int, h: int, w: int) -> int:
    """Seeds per image at h×w: ``base`` from 224² up, more on smaller images (cheap, and their damage varies more from
    draw to draw: snow's ±1 dB at 33×33 against ±0.2 dB at 224²), at most 10."""
    return max(base, min(10, math.ceil(base * 224 * 224 / (h * w))))


def size_sweep(ic, corruptions: list[str], sizes: list[tuple[int, int]], args: argparse.Namespace) -> dict:  # type: ignore[no-untyped-def]
    """Every corruption × size × level: the ``measure`` row, and the seconds each size took."""
    rows: dict = {}
    seconds = {}
    for h, w in sizes:
        t0 = time.perf_counter()
        _, photos, _ = load_photos(h, w)
        for name in corruptions:
            clean, seeds = photos, seeds_at(args.size_seeds, h, w)
            if name in DETERMINISTIC:
                seeds = 1
            elif name == "glass_blur":
                clean, seeds = photos[: args.size_glass_images], 1
            elif name in TEXTURE:
                seeds = seeds_at(args.texture_seeds, h, w)
            for level in range(1, 6):
                rows[(name, (h, w), level)] = r = measure(ic, clean, name, level, seeds)
                print(f"{h}x{w} " + fmt_row(name, level, r), flush=True)
        seconds[(h, w)] = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds}


def size_cell(levels: list[dict]) -> str:
    """A corruption × size cell: the worst level's agreement (deterministic) or |diff|, and the verdict."""
    if any(r["verdict"].startswith("FAIL") for r in levels):
        return "FAIL"
    if levels[0]["agree"] is not None:
        worst = min(r["agree"] for r in levels)
        return ">99 dB" if worst > 99 else f"{worst:.0f} dB"
    worst = max(abs(r["diff"]) for r in levels)
    return f"{worst:.2f}" + (" (3 SE)" if any(r["verdict"] == "within 3 SE" for r in levels) else "")


def size_tables(sweep: dict, corruptions: list[str], sizes: list[tuple[int, int]]) -> tuple[list[str], list[str], dict]:
    """The per-level table, the corruption × size matrix, and the verdict counts of the size sweep."""
    rows = sweep["rows"]
    per_level = [
        "| corruption | H×W | n | diff dB, levels 1–5 (agree dB where deterministic) | ref draw sd dB (max) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    matrix = ["| corruption | " + " | ".join(f"{h}×{w}" for h, w in sizes) + " |", "|---|" + "---|" * len(sizes)]
    counts: dict = {}
    for name in corruptions:
        cells = []
        for h, w in sizes:
            levels = [rows[(name, (h, w), level)] for level in range(1, 6)]
            for r in levels:
                key = "FAIL" if r["verdict"].startswith("FAIL") else r["verdict"]
                counts[key] = counts.get(key, 0) + 1
            values = " · ".join(
                (f"{r['agree']:.0f}" if r["agree"] <= 99 else ">99") if r["agree"] is not None else f"{r['diff']:+.2f}" for r in levels
            )
            verdicts = sorted({r["verdict"] for r in levels})
            per_level.append(
                f"| {name} | {h}×{w} | {levels[0]['n']} | {values} | {max(r['draw_sd'] for r in levels):.2f} | {', '.join(verdicts)} |"
            )
            cells.append(size_cell(levels))
        matrix.append(f"| {name} | " + " | ".join(cells) + " |")
    return per_level, matrix, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per image for the random corruptions")
    parser.add_argument("--glass-images", type=int, default=3, help="images for glass_blur (slow reference)")
    parser.add_argument("--glass-seeds", type=int, default=3, help="seeds per image for glass_blur")
    parser.add_argument("--only", default=None, help="comma-separated subset of corruptions (for quick checks)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the reference is single-threaded)")
    parser.add_argument("--sizes", default="33x33,47x33,100x100,240x320,427x640,640x480", help="H×W list for the size sweep ('' to skip)")
    parser.add_argument("--size-seeds", type=int, default=3, help="seeds per image in the size sweep (random corruptions)")
    parser.add_argument("--texture-seeds", type=int, default=8, help="seeds per image in the size sweep for fog, frost, spatter")
    parser.add_argument("--size-glass-images", type=int, default=2, help="images for glass_blur in the size sweep (1 seed)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "FIDELITY.md"), help="markdown output ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    ic = load()
    photo_names, photos, skipped = load_photos(args.size, args.size)
    corruptions = args.only.split(",") if args.only else SHARED
    start = time.perf_counter()

    header = [
        "| corruption | level | n | fieldready dB | reference dB | diff dB | 3 SE dB | ref draw sd dB | agree dB | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    lines, counts, fails, timings = [], {}, [], {}
    for name in corruptions:
        t0 = time.perf_counter()
        clean, seeds = photos, args.seeds
        if name in DETERMINISTIC:
            seeds = 1
        elif name == "glass_blur":
            clean, seeds = photos[: args.glass_images], args.glass_seeds
        for level in range(1, 6):
            r = measure(ic, clean, name, level, seeds)
            line = fmt_row(name, level, r)
            print(line, flush=True)
            lines.append(line)
            key = "FAIL" if r["verdict"].startswith("FAIL") else r["verdict"]
            counts[key] = counts.get(key, 0) + 1
            if key == "FAIL":
                fails.append(f"{name} L{level}: fieldready {r['ours']:.2f} dB, reference {r['ref']:.2f} dB, "
                             f"diff {r['diff']:+.2f} dB, 3 SE {r['se3']:.2f} dB, ref draw sd {r['draw_sd']:.2f} dB"
                             + (f", agree {r['agree']:.1f} dB" if r["agree"] is not None else ""))
        timings[name] = time.perf_counter() - t0
    runtime = time.perf_counter() - start

    total = sum(counts.values())
    summary = [f"{total} cells: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("within 1 dB", "within 3 SE", "FAIL"))]
    summary += [f"- FAIL {f}" for f in fails]
    summary.append(f"runtime {runtime:.0f} s (slowest: " + ", ".join(
        f"{k} {v:.0f} s" for k, v in sorted(timings.items(), key=lambda kv: -kv[1])[:3]) + ")")
    print("\n" + "\n".join(summary))

    sizes = parse_sizes(args.sizes)
    size_doc = ""
    if sizes:
        t0 = time.perf_counter()
        sweep = size_sweep(ic, corruptions, sizes, args)
        per_level, matrix, size_counts = size_tables(sweep, corruptions, sizes)
        size_runtime = time.perf_counter() - t0
        size_summary = (
            f"{sum(size_counts.values())} cells (corruption × size × level): "
            + ", ".join(f"{size_counts.get(k, 0)} {k}" for k in ("within 1 dB", "within 3 SE", "FAIL"))
            + f"; runtime {size_runtime:.0f} s ("
            + ", ".join(f"{h}×{w} {sec:.0f} s" for (h, w), sec in sweep["seconds"].items())
            + ")"
        )
        print("\n" + "\n".join(matrix) + "\n\n" + size_summary)
        size_doc = f"""
## At every size

The same comparison at odd, non-square and large sizes (H×W, the same photos resized with INTER_AREA):
random corruptions {len(photo_names)} images × {args.size_seeds} seeds from 224² up, more on smaller images (up to 10, so
{", ".join(f"{h}×{w}: {seeds_at(args.size_seeds, h, w)}" for h, w in sizes)}; fog, frost and spatter
{", ".join(f"{seeds_at(args.texture_seeds, h, w)}" for h, w in sizes)}),
deterministic ones {len(photo_names)} images × 1 call, glass_blur {args.size_glass_images} images × 1 seed (its reference
takes ~20 s per 640×480 image). Same columns and verdicts as above.

**Corruption × size**: the worst of levels 1–5 — the smallest agreement between the outputs for the deterministic
corruptions, the largest |diff| of the mean PSNR to the clean image (dB) for the random ones ("(3 SE)": some level
within 3 SE only, where the reference's own draws spread by more than 1 dB).

{chr(10).join(matrix)}

{size_summary}

**Per level** (diff dB for each level 1–5, or agree dB for the deterministic corruptions):

{chr(10).join(per_level)}
"""

    if not args.out:
        return
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}" for p in ("imagecorruptions", "torch", "numpy", "scikit-image", "opencv-python-headless", "scipy")
        if _has(p)
    )
    command = "python benchmarks/fidelity.py " + " ".join(sys.argv[1:])
    glass = f"{min(args.glass_images, len(photo_names))} images ({', '.join(photo_names[: args.glass_images])}) × {args.glass_seeds} seeds"
    doc = f"""# Fidelity against imagecorruptions 1.1.2

Generated by `benchmarks/fidelity.py` — see its docstring for the definitions. Command: `{command.strip()}`,
{datetime.date.today().isoformat()}, Python {platform.python_version()}, fieldready {fieldready.__version__}, {versions};
torch {torch.get_num_threads()} thread(s).

**Images** ({args.size}×{args.size}, cv2 INTER_AREA from `skimage.data`): {", ".join(photo_names)}
(`motorcycle_left` is `skimage.data.stereo_motorcycle()[0]`; `immunohistochemistry` is a microscopy slide, not a photo).
{"Skipped (not loadable offline): " + ", ".join(skipped) + "." if skipped else "All requested images loaded offline (they ship inside the scikit-image wheel); images that need pooch/network (e.g. kidney, lily, skin) were not requested."}

**Samples per cell** (`n` = image × seed pairs): random corruptions {len(photo_names)} images × {args.seeds} seeds;
deterministic ones ({", ".join(sorted(DETERMINISTIC))}) {len(photo_names)} images × 1 call;
glass_blur only {glass}, because the reference is a pure-Python pixel loop (~3 s per image over levels 1–5 at 224×224).
fieldready uses `corrupt(..., seed=s)` for s = 1..seeds (image i draws from `derive_seed(s, i)`); the reference is
called image by image after `np.random.seed` with a distinct seed per (seed, image, level).

**Columns**: fieldready / reference = mean PSNR to the clean image; diff = fieldready − reference; 3 SE = three
standard errors of the difference, from the differences paired by (image, seed index); ref draw sd = the reference's
SD over seeds of the same image (pooled), the draw-to-draw spread; agree = PSNR between the two outputs, min over
images (deterministic corruptions only). **Verdict**: within 1 dB if |diff| ≤ 1; else within 3 SE only where the
reference varies by more than 1 dB from draw to draw (ref draw sd > 1) and |diff| ≤ 3 SE; else FAIL. Deterministic
corruptions also need agree ≥ 35 dB. Both outputs are truncated to uint8 as the reference's `corrupt` does.

{chr(10).join(header + lines)}

## Summary

{chr(10).join(summary)}
{size_doc}"""
    Path(args.out).write_text(doc)
    print(f"wrote {args.out}")


def _has(package: str) -> bool:
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()

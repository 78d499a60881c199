"""Benchmark: does `fieldready profile` recover known corruptions at known severities and frequencies?

Applies fieldready's own corruptions (and libjpeg through OpenCV and Pillow for JPEG) to real
photographs — scikit-image's sample images — and to the examples' images, then measures them:

A. severity, per image: each estimator on the clean and the corrupted image; blur and noise as the
   σ added (quadrature difference), exposure as EV, contrast as a factor, colour cast in kelvin,
   JPEG quality read from the encoded bytes. Targets: blur σ and noise σ within 20 %, JPEG ±5.
B. frequency, production-style: k % of the production frames get a condition at a random severity
   in a range, and the profile (unpaired, against the reference) must suggest a frequency within
   ±3 points of k and a median severity near the applied one. Cameras: "shapes" — the example's
   160 committed images are the reference (as `--spec examples/shapes/spec.yaml` makes them) and
   400 new images of the same generator (its test split) are production; "shapes-1000" — the same
   camera with 1000 reference images (the example's validation split continued: its first 160
   are the committed ones) and 1000 production images, to show what more frames buy;
   "photographs" — 128 px crops of the photographs, alternately reference and production (13 very
   different scenes, the hard case: the spread of the content hides mild conditions).
   ``--seeds 0 1 2 3`` repeats part B over draws — other frames and severities for the conditions,
   other production frames (and for shapes-1000 other reference frames: image ``seed × 1000`` on),
   another alternation of the crops — and summarises each cell's root-mean-square and worst error:
   one draw's error is one sample of the estimator's, whose spread is what a user meets.
C. false positives: clean production (no condition applied) against the reference over repeated
   draws — disjoint sets of new shapes images, and other alternations of the photograph crops:
   how often any condition is suggested, and how large.

Run: ``python benchmarks/profile.py`` (about ten minutes on two shared cores). Needs scikit-image (test extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `profile` (which cProfile imports): keep its folder
# off the import path so an `import profile` anywhere below finds the standard one.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fieldready.profile import estimators as est  # noqa: E402
from fieldready.profile import profile_measurements  # noqa: E402
from fieldready.profile.measure import Measurement, measure_image  # noqa: E402

ROOT = _HERE.parent
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "brick", "gravel", "grass", "moon", "coins", "clock", "text", "immunohistochemistry")


def photographs() -> dict[str, np.ndarray]:
    """scikit-image's bundled photographs as HxWx3 uint8 RGB (grey ones stacked to three channels)."""
    import skimage.data

    out = {}
    for name in PHOTOS:
        x = getattr(skimage.data, name)()
        out[name] = np.ascontiguousarray(np.stack([x] * 3, -1) if x.ndim == 2 else x[..., :3])
    return out


def example_images(folder: Path, n: int) -> list[np.ndarray]:
    files = sorted(p for p in folder.rglob("*.png"))
    step = max(1, len(files) // n)
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in files[::step][:n]]


def corrupt(image: np.ndarray, name: str, severity: float, seed: int = 0) -> np.ndarray:
    """fieldready's corruption on one uint8 RGB image, back to uint8 (as a camera would store it)."""
    import torch

    from fieldready.corruptions import corrupt as fr_corrupt

    t = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    out = fr_corrupt(t, name, severity=severity, seed=seed).images[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, quality: int, encoder: str) -> bytes:
    if encoder == "pillow":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
        return buf.getvalue()
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# ------------------------------------------------------------------------------------- A. severity


def _row(label: str, sev: str, n: int, summary: str, ok: bool | None) -> str:
    flag = "" if ok is None else ("yes" if ok else "NO")
    return f"| {label} | {sev} | {n} | {summary} | {flag} |"


def severity_table(sets: dict[str, list[np.ndarray]]) -> list[str]:
    """Per image: the estimators on clean vs corrupted copies, summarised per set and severity."""
    lines = [
        "| condition (set) | applied | images | recovered: median [10th–90th pct]; share within target | target met (median) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for set_name, images in sets.items():
        clean_blur = [est.blur_sigma(im) for im in images]
        for sigma in (1.0, 1.5, 2.0, 3.0, 4.0):
            ratios = []
            for i, im in enumerate(images):
                b = est.blur_sigma(corrupt(im, "gaussian_blur", sigma, i))
                if b is not None and clean_blur[i] is not None:
                    ratios.append(np.sqrt(max(b**2 - clean_blur[i] ** 2, 0.0)) / sigma)
            r = np.array(ratios)
            lines.append(_row(f"gaussian_blur σ px ({set_name})", f"{sigma:g}", len(r),
                              f"{np.median(r) * sigma:.2f} [{np.percentile(r, 10) * sigma:.2f}–{np.percentile(r, 90) * sigma:.2f}]; "
                              f"{np.mean(np.abs(r - 1) <= 0.2):.0%} within 20 %", abs(np.median(r) - 1) <= 0.2))
    for set_name, images in sets.items():
        clean_noise = [est.noise_sigma(im) for im in images]
        for sigma in (0.02, 0.04, 0.08, 0.12, 0.18):
            r = np.array([np.sqrt(max(est.noise_sigma(corrupt(im, "gaussian_noise", sigma, i)) ** 2 - clean_noise[i] ** 2, 0.0)) / sigma
                          for i, im in enumerate(images)])
            lines.append(_row(f"gaussian_noise σ ({set_name})", f"{sigma:g}", len(r),
                              f"{np.median(r) * sigma:.3f} [{np.percentile(r, 10) * sigma:.3f}–{np.percentile(r, 90) * sigma:.3f}]; "
                              f"{np.mean(np.abs(r - 1) <= 0.2):.0%} within 20 %", abs(np.median(r) - 1) <= 0.2))
    everything = [im for images in sets.values() for im in images]
    for encoder in ("opencv", "pillow"):
        for quality in (10, 20, 30, 50, 70, 90, 95):
            errors = np.array([est.jpeg_quality(jpeg_bytes(im, quality, encoder)) - quality for im in everything])
            lines.append(_row(f"jpeg_compression quality ({encoder}, all sets)", str(quality), len(errors),
                              f"error max {np.abs(errors).max():.0f}; {np.mean(np.abs(errors) <= 5):.0%} within ±5", bool(np.abs(errors).max() <= 5)))
    for ev in (-2.0, -1.0, 1.0):
        got = np.array([np.log2(est.mean_luminance(corrupt(im, "exposure", ev)) / est.mean_luminance(im)) for im in everything])
        lines.append(_row("exposure EV (all sets)", f"{ev:+g}", len(got), f"{np.median(got):+.2f} [{np.percentile(got, 10):+.2f}–{np.percentile(got, 90):+.2f}]", None))
    for factor in (0.3, 0.5, 0.7):
        got = np.array([est.rms_contrast(corrupt(im, "contrast", factor)) / est.rms_contrast(im) for im in everything])
        lines.append(_row("contrast factor (all sets)", f"{factor:g}", len(got), f"{np.median(got):.2f} [{np.percentile(got, 10):.2f}–{np.percentile(got, 90):.2f}]", None))
    for kelvin in (3000.0, 4500.0, 8000.0):
        got = []
        for im in everything:
            c0, c1 = np.array(est.edge_chromaticity(im)), np.array(est.edge_chromaticity(corrupt(im, "color_temperature", kelvin)))
            got.append(est.kelvin_shift(tuple(c1 - c0)))
        g = np.array(got)
        lines.append(_row("color_temperature K (all sets)", f"{kelvin:.0f}", len(g), f"{np.median(g):.0f} [{np.percentile(g, 10):.0f}–{np.percentile(g, 90):.0f}]", None))
    return lines


# ------------------------------------------------------------------------------------ B. frequency

# condition → (corruption, severity range drawn uniformly per frame, the suggested side that must find it)
SCENARIOS = {
    "gaussian_blur": ("gaussian_blur", (1.5, 3.0), "gaussian_blur"),
    "gaussian_noise": ("gaussian_noise", (0.04, 0.12), "gaussian_noise"),
    "jpeg_compression": ("jpeg", (15, 50), "jpeg_compression"),
    "underexposed": ("exposure", (-3.0, -2.0), "underexposed"),
    "low_contrast": ("contrast", (0.3, 0.5), "low_contrast"),
    "warm_cast": ("color_temperature", (2500.0, 3500.0), "warm_cast"),
}


def crops(image: np.ndarray, size: int = 128, stride: int = 64) -> list[np.ndarray]:
    h, w = image.shape[:2]
    return [np.ascontiguousarray(image[y : y + size, x : x + size]) for y in range(0, h - size + 1, stride) for x in range(0, w - size + 1, stride)]


def _measure(image: np.ndarray, name: str, *, jpeg: bytes | None = None) -> Measurement:
    return measure_image(image, name=name, kind="lossless", jpeg=jpeg)


def _corrupted_measurement(frame: np.ndarray, name: str, condition: str, severity: float, seed: int) -> Measurement:
    corruption = SCENARIOS[condition][0]
    if corruption == "jpeg":
        data = jpeg_bytes(frame, int(round(severity)), "opencv")
        return _measure(decode_jpeg(data), name, jpeg=data)
    return _measure(corrupt(frame, corruption, severity, seed), name)


def _side(profiles: dict, name: str):  # noqa: ANN202
    return next(sp for qp in profiles.values() for sp in qp.sides if sp.side.name == name)


def frequency_table(
    reference_frames: list[np.ndarray], production_frames: list[np.ndarray], *, shares=(0.05, 0.10, 0.20, 0.30), seed: int = 0,
    conditions: tuple[str, ...] | None = None,
) -> tuple[list[str], dict[tuple[str, float], float]]:
    """Unpaired recovery of the frequency and severity of a condition applied to k % of production frames: the
    table's lines and each (condition, share)'s error in points."""
    reference = [_measure(f, f"ref{i}") for i, f in enumerate(reference_frames)]
    clean = [_measure(f, f"prod{i}") for i, f in enumerate(production_frames)]
    n = len(clean)
    rng = np.random.default_rng(seed)
    base_profiles, _ = profile_measurements(clean, reference)
    base = {sp.side.name: sp.frequency for qp in base_profiles.values() for sp in qp.sides}
    lines = [
        f"Reference: {len(reference)} frames; production: {n} frames. With no condition applied, the suggested frequencies are "
        + ", ".join(f"{k} {v:.0%}" for k, v in base.items() if v > 0) + (" and 0 for the others." if any(base.values()) else "all 0."),
        "",
        "| condition | applied to | severity applied (range; median) | suggested frequency | error (points) | suggested severity p10 / p50 / p90 | largest other suggested frequency | within ±3 points |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    errors: dict[tuple[str, float], float] = {}
    for condition, (_, (lo, hi), side_name) in SCENARIOS.items():
        for share in shares:
            k = int(round(share * n))
            chosen = rng.choice(n, size=k, replace=False)
            severities = rng.uniform(lo, hi, size=k)
            if conditions is not None and condition not in conditions:
                continue  # the draws above are still made, so a filtered run applies the same frames and severities
            if condition == "jpeg_compression":
                severities = np.round(severities)
            production = list(clean)
            for i, s in zip(chosen, severities):
                production[i] = _corrupted_measurement(production_frames[i], f"prod{i}", condition, float(s), seed=int(i))
            profiles, _ = profile_measurements(production, reference)
            sp = _side(profiles, side_name)
            others = max(((o.frequency, o.side.name) for qp in profiles.values() for o in qp.sides if o.side.name != side_name), key=lambda t: t[0])
            err = 100 * (sp.frequency - k / n)
            errors[(condition, share)] = err
            sev = " / ".join(f"{v:.3g}" for v in sp.severity) if sp.severity else "–"
            lines.append(
                f"| {condition} | {k / n:.0%} ({k}) | {lo:g}–{hi:g}; {np.median(severities):.3g} | {sp.frequency:.1%} | {err:+.1f} | {sev} | "
                f"{others[0]:.1%}{f' ({others[1]})' if others[0] > 0 else ''} | {'yes' if abs(err) <= 3 else 'NO'} |"
            )
    return lines, errors


def summary_table(errors: dict[str, list[dict[tuple[str, float], float]]], shares=(0.05, 0.10, 0.20, 0.30)) -> list[str]:
    """Per condition and camera, over the draws: the root-mean-square error and the worst error at each share."""
    cameras = list(errors)
    draws = {camera: len(runs) for camera, runs in errors.items()}
    lines = [
        "| condition | " + " | ".join(f"{c} ({draws[c]} draws): RMS (worst) at k = " + " / ".join(f"{s:.0%}" for s in shares) for c in cameras) + " |",
        "| --- |" + " --- |" * len(cameras),
    ]
    within = total = 0
    for condition in SCENARIOS:
        cells = []
        for camera in cameras:
            parts = []
            for share in shares:
                e = np.array([run[(condition, share)] for run in errors[camera] if (condition, share) in run])
                if not e.size:
                    parts.append("–")
                    continue
                within += int(np.sum(np.abs(e) <= 3))
                total += e.size
                parts.append(f"{np.sqrt(np.mean(e**2)):.1f} ({e[np.argmax(np.abs(e))]:+.1f})")
            cells.append(" / ".join(parts))
        if any(c.strip("– /") for c in cells):
            lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines += ["", f"{within} of {total} errors (cells × draws) within ±3 points."]
    return lines


def shapes_images(split: str, start: int, n: int) -> list[np.ndarray]:
    """Images ``start … start + n − 1`` of a shapes generator split ("val": the committed ones first; "test": new scenes)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("shapes_generate", ROOT / "examples/shapes/generate.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return [module.make_image(module.DEFAULT_SEED, split, i)[0] for i in range(start, start + n)]


def false_positive_row(pairs: list[tuple[list[Measurement], list[Measurement]]], label: str) -> str:
    """Clean production against its reference, draw by draw: how often any condition is suggested, and how much."""
    frequencies, any_condition, worst = [], 0, (0.0, "none")
    for reference, production in pairs:
        profiles, _ = profile_measurements(production, reference)
        sides = {sp.side.name: sp.frequency for qp in profiles.values() for sp in qp.sides}
        frequencies += list(sides.values())
        any_condition += any(f >= 0.01 for f in sides.values())
        name, f = max(sides.items(), key=lambda kv: kv[1])
        if f > worst[0]:
            worst = (f, name)
    reference, production = pairs[0]
    return (f"| {label} | {len(pairs)} × {len(production)} vs {len(reference)} | {any_condition} of {len(pairs)} | "
            f"{np.mean(frequencies):.2%} | {worst[0]:.1%} ({worst[1]}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40, help="images taken from each example (shapes, digits) for part A")
    parser.add_argument("--production", type=int, default=400, help="new shapes images as production frames in part B")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", help="part B over these draws (default: --seed alone), with a summary table: "
                        "each draw applies the conditions to other frames at other severities, and takes other production frames "
                        "(shapes), other reference and production frames (shapes-1000) or another alternation of the crops (photographs)")
    parser.add_argument("--conditions", nargs="+", choices=sorted(SCENARIOS), help="only these conditions in part B (default: all)")
    parser.add_argument("--parts", default="ABC", help="which parts to run: A (severity), B (frequency), C (false positives)")
    parser.add_argument("--cameras", nargs="+", default=["shapes", "shapes-1000", "photographs"], choices=["shapes", "shapes-1000", "photographs"],
                        help="part B's and C's cameras")
    parser.add_argument("--large", type=int, default=1000, help="reference and production images of the shapes-1000 camera")
    parser.add_argument("--draws", type=int, default=8, help="clean draws per camera in part C")
    args = parser.parse_args()
    conditions = tuple(args.conditions) if args.conditions else None
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    photos = photographs()
    sets = {
        "photographs": list(photos.values()),
        "shapes": example_images(ROOT / "examples/shapes/data/images", args.examples),
        "digits": example_images(ROOT / "examples/digits/data", args.examples),
    }
    if "A" in args.parts:
        print("## A. Severity, per image (clean vs corrupted copy)\n")
        print("\n".join(severity_table(sets)))
    t_a = time.perf_counter() - start
    if "B" in args.parts:
        print("\n## B. Frequency and severity, production vs reference (unpaired)\n")
    frames = [c for im in photos.values() for c in crops(im)]
    seeds = args.seeds or [args.seed]
    errors: dict[str, list[dict[tuple[str, float], float]]] = {camera: [] for camera in args.cameras}
    for seed in seeds if "B" in args.parts else []:
        if "shapes" in args.cameras:
            print(f"### Shapes camera (seed {seed}): reference = the example's 160 images, production = {args.production} new images of its generator\n")
            lines, errs = frequency_table(example_images(ROOT / "examples/shapes/data/images", 10**6),
                                          shapes_images("test", seed * args.production, args.production), seed=seed, conditions=conditions)
            print("\n".join(lines))
            errors["shapes"].append(errs)
        if "shapes-1000" in args.cameras:
            print(f"\n### Shapes camera (seed {seed}), {args.large} reference images (validation split) and {args.large} production images\n")
            lines, errs = frequency_table(shapes_images("val", seed * args.large, args.large), shapes_images("test", seed * args.large, args.large),
                                          seed=seed, conditions=conditions)
            print("\n".join(lines))
            errors["shapes-1000"].append(errs)
        if "photographs" in args.cameras:
            order = np.random.default_rng(seed).permutation(len(frames))
            print(f"\n### Photographs (seed {seed}): 128 px crops of 13 scenes, alternately reference and production\n")
            lines, errs = frequency_table([frames[i] for i in order[0::2]], [frames[i] for i in order[1::2]], seed=seed, conditions=conditions)
            print("\n".join(lines))
            errors["photographs"].append(errs)
    if "B" in args.parts:
        print(f"\n### Summary over {len(seeds)} draws (error of the suggested frequency in points)\n")
        print("\n".join(summary_table(errors)))
    if "C" in args.parts:
        print("\n## C. False positives: clean production against the reference, repeated draws\n")
        print("| camera | draws × production vs reference frames | draws with any condition ≥ 1 % | mean suggested frequency | largest (side) |")
        print("| --- | --- | --- | --- | --- |")
        first = 10_000 + 1_000 * args.seed  # test-split images no part B draw used
        if "shapes" in args.cameras:
            reference = [_measure(f, f"ref{i}") for i, f in enumerate(example_images(ROOT / "examples/shapes/data/images", 10**6))]
            draws = [[_measure(f, f"p{i}") for i, f in enumerate(shapes_images("test", first + d * args.production, args.production))]
                     for d in range(args.draws)]
            print(false_positive_row([(reference, d) for d in draws], "shapes"))
        if "shapes-1000" in args.cameras:
            reference = [_measure(f, f"ref{i}") for i, f in enumerate(shapes_images("val", 0, args.large))]
            n_draws = max(2, args.draws // 3)
            draws = [[_measure(f, f"p{i}") for i, f in enumerate(shapes_images("test", first + 50_000 + d * args.large, args.large))]
                     for d in range(n_draws)]
            print(false_positive_row([(reference, d) for d in draws], f"shapes-{args.large}"))
        if "photographs" in args.cameras:
            measured = [_measure(f, f"crop{i}") for i, f in enumerate(frames)]
            orders = [np.random.default_rng(args.seed + 1 + d).permutation(len(frames)) for d in range(args.draws)]
            # each draw its own alternation of the crops: another clean production against another reference
            print(false_positive_row([([measured[i] for i in o[0::2]], [measured[i] for i in o[1::2]]) for o in orders], "photographs"))
    total = time.perf_counter() - start
    print(f"\ntime: {total:.0f} s (A {t_a:.0f} s, B {total - t_a:.0f} s)")


if __name__ == "__main__":
    main()

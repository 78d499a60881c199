"""Benchmark: 1000 paired-bootstrap resamples of COCO AP vs ONE evaluation of the same predictions.

Prints seconds and ratios against faster-coco-eval and pycocotools measured in the same run.
Target: 1000 resamples ≤ 2 × one faster-coco-eval evaluation. Run: ``python benchmarks/bootstrap.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.evaluation.metrics.bootstrap import resample_indices
from fieldready.evaluation.metrics.coco_format import coco_detections, coco_ground_truth
from fieldready.evaluation.metrics.detection import evaluate_detection


def make_case(n_images: int, dets_per_image: int, *, seed: int = 0) -> tuple[list[ImageTargets], list[ImageDetections], list[int]]:
    """COCO-like synthetic predictions: ~7 objects of 20 busy classes per image, 80 categories."""
    rng = np.random.default_rng(seed)
    cats = list(range(1, 81))
    targets, detections = [], []
    for i in range(n_images):
        m = int(rng.integers(1, 15))
        xy = rng.uniform(0, 500, (m, 2))
        size = np.exp(rng.uniform(np.log(8), np.log(300), (m, 2)))
        boxes = np.concatenate([xy, xy + size], 1)
        labels = rng.choice(cats[:20], m)
        targets.append(ImageTargets(i, boxes, labels, rng.random(m) < 0.02, np.zeros(0), 640, 480))
        src = rng.integers(0, m, dets_per_image)
        db = boxes[src] + rng.normal(0, 1, (dets_per_image, 4)) * np.repeat(size[src], 2, 1) * 0.2
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        dl = np.where(rng.random(dets_per_image) < 0.7, labels[src], rng.choice(cats[:20], dets_per_image))
        detections.append(ImageDetections(i, db, rng.random(dets_per_image), dl))
    return targets, detections, cats


def _pycocotools(targets, detections, cats) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_ground_truth(targets, category_ids=cats)
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(coco_detections(detections)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--skip-pycocotools", action="store_true")
    args = parser.parse_args()
    targets, detections, cats = make_case(args.images, args.dets)

    evaluate_detection(targets[:20], detections[:20], category_ids=cats)  # warm up imports
    t0 = time.perf_counter()
    ev = evaluate_detection(targets, detections, category_ids=cats)
    t_fce = time.perf_counter() - t0

    t0 = time.perf_counter()
    ev.match_tables()
    t_tables = time.perf_counter() - t0
    indices = resample_indices(args.images, resamples=args.resamples, seed=0)
    t0 = time.perf_counter()
    reps = ev.replicates(indices, "map")
    t_boot = time.perf_counter() - t0
    identity = ev.replicates(np.arange(args.images)[None, :], "map")[0]
    assert abs(identity - ev.stats["map"]) < 1e-12, (identity, ev.stats["map"])

    t_pyc = float("nan")
    if not args.skip_pycocotools:
        t0 = time.perf_counter()
        ref = _pycocotools(targets, detections, cats)
        t_pyc = time.perf_counter() - t0
        assert abs(ref - ev.stats["map"]) < 1e-9

    print(f"{args.images} images x {args.dets} detections, {len(cats)} categories; map = {ev.stats['map']:.4f}, "
          f"bootstrap 95% = [{np.quantile(reps, 0.025):.4f}, {np.quantile(reps, 0.975):.4f}]")
    print("| step | seconds | ratio vs 1 faster-coco-eval | ratio vs 1 pycocotools |")
    print("| --- | ---: | ---: | ---: |")
    rows = [
        ("1 evaluation, faster-coco-eval (incl. dict building)", t_fce),
        ("1 evaluation, pycocotools", t_pyc),
        ("match tables, built once", t_tables),
        (f"{args.resamples} resamples of map (tables built)", t_boot),
        (f"tables + {args.resamples} resamples", t_tables + t_boot),
    ]
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {t / t_fce:.2f} | {t / t_pyc:.3f} |")


if __name__ == "__main__":
    main()

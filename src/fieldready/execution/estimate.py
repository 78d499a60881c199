"""A short timing of a plan's work, for ``fieldready plan --estimate``: how long the run will take here.

It runs the real per-batch work (decode, every corruption point, every model: ``runner.run_batch``)
on a few images after one warm-up call per model, and scales the measured seconds per image to the
dataset. Evaluation and the report are not timed (they are typically a small share for image models,
and are shown by the run's progress display). Nothing is written to any store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from fieldready.data.decode import decode_images
from fieldready.execution.device import choose_threads, select_device, use_threads
from fieldready.execution.models.adapter import BatchWhere, load_model
from fieldready.execution.runner import _Targets, batches, run_batch
from fieldready.plan import TestPlan

__all__ = ["Estimate", "estimate_run"]


@dataclass(frozen=True)
class Estimate:
    """The run's estimated ``seconds`` for ``images`` on ``device``: a fixed cost per batch plus one per image.

    Both are fitted from two timings of the full per-batch work (1 image and ``sampled`` images),
    so a batch's overhead is not counted once per image, nor the images' cost once per batch.
    """

    sampled: int
    per_batch: float
    per_image: float
    images: int
    seconds: float
    device: str
    load_seconds: float


def estimate_run(plan: TestPlan, *, sample: int = 4) -> Estimate:
    """Time the full per-batch work (decode, every point, every model) on 1 and ``sample`` images and extrapolate.

    The models are loaded once (``load_seconds``, paid once per run as well) and warmed up on one
    clean image, so the first call's one-off cost does not count as per-image time.
    """
    device = select_device(plan.spec.run.device)
    records = plan.dataset.records
    group = batches(records, max(1, min(sample, plan.batch_size)))[0]
    one = batches(group.records[:1], 1)[0]
    with use_threads(choose_threads(getattr(plan.spec.run, "threads", None))):
        t0 = time.perf_counter()
        adapters = [load_model(m.spec, plan.loaded.root, device, plan.spec.task, dataset=plan.dataset) for m in plan.models]
        load_seconds = time.perf_counter() - t0
        targets = _Targets.of(plan, device)
        with torch.inference_mode():
            image = decode_images(one.records, device)
            for a in adapters:
                a(image, where=BatchWhere(records=one.records))
        timings = []
        for batch in (one, group):
            t0 = time.perf_counter()
            run_batch(plan, batch, adapters, targets, device)
            timings.append(time.perf_counter() - t0)
    k = len(group.records)
    per_image = max((timings[1] - timings[0]) / (k - 1), 0.0) if k > 1 else timings[0]
    per_batch = max(timings[0] - per_image, 0.0) if k > 1 else 0.0
    n_batches = len(batches(records, plan.batch_size))
    seconds = n_batches * per_batch + len(records) * per_image + load_seconds
    return Estimate(k, per_batch, per_image, len(records), seconds, str(device), load_seconds)

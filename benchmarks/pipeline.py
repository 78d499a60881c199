"""Pipeline throughput against the models' bare forward passes, on a bundled example, in one run.

The reference is the floor no pipeline can beat: every model's forward pass on the same batches
(already decoded, on the device, no corruption, nothing stored). The pipeline figure is the whole
of ``execute`` + ``evaluate``: decode, corrupt on the device, predict, store in SQLite, evaluate.
Everything above the reference is overhead to shrink. Prints a table; run with
``python benchmarks/pipeline.py [--example shapes|digits] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from fieldready.data.decode import decode_images
from fieldready.evaluation.evaluate import evaluate
from fieldready.execution.device import select_device
from fieldready.execution.models.adapter import load_model
from fieldready.execution.runner import batches, execute
from fieldready.execution.store import ResultStore
from fieldready.plan import compile_plan
from fieldready.resources import example_spec
from fieldready.spec import load_spec


def bare_forward_seconds(plan, device: torch.device) -> float:  # noqa: ANN001
    """Time of every unit's forward passes on pre-decoded batches (the reference)."""
    adapters = [load_model(m.spec, plan.loaded.root, device, plan.spec.task) for m in plan.models]
    decoded = [decode_images(b.records, device) for b in batches(plan.dataset.records, plan.batch_size)]
    for adapter in adapters:  # warm-up: first calls pay for TorchScript's profiling passes
        adapter(decoded[0])
    start = time.perf_counter()
    for images in decoded:
        for _ in plan.points:
            for adapter in adapters:
                adapter(images)
    return time.perf_counter() - start


def pipeline_seconds(plan, device: torch.device) -> tuple[float, float]:  # noqa: ANN001
    """Time of execute (decode + corrupt + predict + store) and of evaluate, into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp)) as store:
        start = time.perf_counter()
        execute(plan, store, device=device, progress=False)
        mid = time.perf_counter()
        evaluate(plan, store)
        return mid - start, time.perf_counter() - mid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="shapes", choices=["shapes", "digits"])
    parser.add_argument("--repeat", type=int, default=3, help="take the best of N runs of each")
    args = parser.parse_args()
    plan = compile_plan(load_spec(example_spec(args.example)))
    device = select_device(plan.spec.run.device)
    predictions = len(plan.dataset.records) * len(plan.points) * len(plan.models)
    reference = min(bare_forward_seconds(plan, device) for _ in range(args.repeat))
    runs = [pipeline_seconds(plan, device) for _ in range(args.repeat)]
    run_s, eval_s = min(runs, key=sum)
    total = run_s + eval_s
    print(f"example {args.example}: {len(plan.dataset.records)} images × {len(plan.points)} points × "
          f"{len(plan.models)} models = {predictions} predictions on {device}, best of {args.repeat}")
    print(f"{'stage':<44}{'seconds':>9}{'pred/s':>10}{'× bare':>9}")
    rows = [
        ("bare forward passes (reference)", reference),
        ("execute: decode+corrupt+predict+store", run_s),
        ("evaluate: COCO/accuracy for every unit", eval_s),
        ("pipeline total", total),
    ]
    for name, seconds in rows:
        print(f"{name:<44}{seconds:>9.2f}{predictions / seconds:>10.0f}{seconds / reference:>9.2f}")
    print(f"pipeline throughput = {reference / total:.2f} of the bare forward pass")


if __name__ == "__main__":
    main()

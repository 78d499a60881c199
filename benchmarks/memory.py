"""Peak memory against dataset size: the same spec on 1 000 and 10 000 synthetic images, one process each.

The streaming runner keeps a couple of corrupted batches in memory whatever the dataset's size, and
the store holds predictions on disk, so peak RSS should barely move with the number of images
(target: 10 000 within 1.2× of 1 000). Each size runs in a fresh subprocess (peak RSS is a
high-water mark) on 32×32 PNGs in two class folders with a tiny TorchScript classifier, two
conditions at two levels; the stages are measured one after the other: compile (indexing and
hashing), execute (decode + corrupt + predict + store) and evaluate (metrics for every unit).
Run: ``python benchmarks/memory.py [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """\
fieldready: 1
name: memory
task: classification
dataset: {format: imagefolder, images: data}
models:
  - {name: mean, kind: torchscript, path: model.pt}
conditions:
  - {corruption: gaussian_noise, severity: {levels: [1, 3]}}
  - {corruption: defocus_blur, severity: {levels: [1, 3]}}
criteria:
  - {metric: top1, on: clean, at_least: 0.5}
run: {device: cpu, seed: 0, batch_size: 64, bootstrap: 100}
"""


def make_project(root: Path, n: int) -> Path:
    """``n`` 32×32 PNGs in two class folders, a TorchScript classifier and the spec."""
    import cv2
    import numpy as np
    import torch

    class Mean(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([0.5 - m, m - 0.5], dim=1)

    rng = np.random.default_rng(0)
    for c in ("dark", "light"):
        (root / "data" / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        light = i % 2
        img = (rng.random((32, 32, 3)) * 100 + 100 * light).astype(np.uint8)
        cv2.imwrite(str(root / "data" / ("light" if light else "dark") / f"{i:05d}.png"), img)
    torch.jit.script(Mean()).save(str(root / "model.pt"))
    (root / "spec.yaml").write_text(SPEC)
    return root / "spec.yaml"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def measure(n: int) -> dict:
    """Peak RSS (MB) after each stage of one run on ``n`` images, in this process."""
    import torch

    from fieldready.evaluation.evaluate import evaluate
    from fieldready.execution.runner import execute
    from fieldready.execution.store import ResultStore
    from fieldready.plan import compile_plan
    from fieldready.spec import load_spec

    out = {"images": n, "imported": _rss_mb()}
    with tempfile.TemporaryDirectory() as tmp:
        spec = make_project(Path(tmp) / "p", n)
        out["made"] = _rss_mb()
        t0 = time.perf_counter()
        plan = compile_plan(load_spec(spec))
        out["compile"] = _rss_mb()
        with ResultStore(Path(tmp) / "run") as store:
            execute(plan, store, device=torch.device("cpu"), progress=False)
            out["execute"] = _rss_mb()
            out["execute_s"] = time.perf_counter() - t0
            evaluate(plan, store)
            out["evaluate"] = _rss_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # the subprocess's own size
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        done = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("peak RSS (MB) after each stage, one fresh process per size")
    print(f"{'images':>8}{'imports':>9}{'compile':>9}{'execute':>9}{'evaluate':>10}{'execute s':>11}")
    for r in rows:
        print(f"{r['images']:>8}{r['imported']:>9.0f}{r['compile']:>9.0f}{r['execute']:>9.0f}{r['evaluate']:>10.0f}{r['execute_s']:>11.1f}")
    first, last = rows[0], rows[-1]
    for stage in ("execute", "evaluate"):
        print(f"{stage}: {last[stage] / first[stage]:.2f}× the peak RSS at {last['images']} images as at {first['images']} (target ≤ 1.2×)")


if __name__ == "__main__":
    main()

"""Pipeline throughput against the models' bare forward passes, on a bundled example, in one run.

The reference is the floor no pipeline can beat: every model's forward pass on the same batches
(already decoded, on the device, no corruption, nothing stored). The pipeline figure is the whole
of what ``fieldready run`` computes before judging: decode, corrupt on the device, predict, store in
SQLite, with the streaming evaluator building each batch's match tables beside it
(``evaluation/stream.py``), then the evaluation tail left after the last batch. Everything above
the reference is overhead to shrink. For comparison, the same pipeline runs without the streaming
evaluator (execute, then evaluate everything), interleaved with the other two. Prints a table; run with
``python benchmarks/pipeline.py [--example shapes|digits|resnet18] [--repeat 3]``.

``resnet18``: a plain-torch ResNet-18 (seeded weights, TorchScript) at 224×224 over the imagenet-c
preset (15 corruptions × 5 levels + clean) on ``--images`` photos, the case where the model's own
compute dominates (target ≥ 0.95 of the bare forward passes on CPU). Both sides run with the thread
setting a run would choose (``execution/device.py::choose_threads``), printed with the table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from fieldready.data.decode import decode_images
from fieldready.evaluation.evaluate import evaluate
from fieldready.evaluation.stream import StreamingEvaluator
from fieldready.execution.device import choose_threads, select_device, use_threads
from fieldready.execution.models.adapter import load_model
from fieldready.execution.repeat import execute_repeatability
from fieldready.execution.runner import batches, execute
from fieldready.execution.store import ResultStore
from fieldready.plan import compile_plan
from fieldready.resources import example_spec
from fieldready.spec import load_spec


def bare_forward_seconds(plan, device: torch.device) -> tuple[float, float]:  # noqa: ANN001
    """Wall and CPU time of every unit's forward passes on pre-decoded batches (the reference)."""
    adapters = [load_model(m.spec, plan.loaded.root, device, plan.spec.task) for m in plan.models]
    decoded = [decode_images(b.records, device) for b in batches(plan.dataset.records, plan.batch_size)]
    for adapter in adapters:  # warm-up: first calls pay for TorchScript's profiling passes
        adapter(decoded[0])
    start, cpu = time.perf_counter(), time.process_time()
    for images in decoded:
        for _ in plan.points:
            for adapter in adapters:
                adapter(images)
    return time.perf_counter() - start, time.process_time() - cpu


def pipeline_seconds(plan, device: torch.device, threads, *, stream: bool = True) -> tuple[float, float, float]:  # noqa: ANN001
    """Wall time of execute (decode + corrupt + predict + store, with ``stream`` the streaming evaluator
    beside it), of the evaluation tail after the last batch, and CPU time of both, into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp)) as store:
        start, cpu = time.perf_counter(), time.process_time()
        evaluator = StreamingEvaluator(plan)
        with evaluator.attach(store) if stream else evaluator:  # as pipeline.run does
            execute(plan, store, device=device, progress=False, threads=threads)
            execute_repeatability(plan, store, device=device, progress=False)  # the repeated captures, if the spec has them
            mid = time.perf_counter()
            streamed = evaluator.finish()
        evaluate(plan, store, streamed=streamed)
        return mid - start, time.perf_counter() - mid, time.process_time() - cpu


class _Block(torch.nn.Module):
    """ResNet's basic block: two 3×3 convolutions with batch norm and a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.down = torch.nn.Sequential()
        if stride != 1 or cin != cout:
            self.down = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.down(x))


def resnet18(classes: int) -> torch.nn.Module:
    """ResNet-18's layout (11.7 M parameters with 1000 classes, 1.8 GFLOPs at 224 px), seeded weights."""
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = [torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
                                     torch.nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
        cin = cout
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(512, classes)]
    return torch.nn.Sequential(*layers).eval()


def resnet_spec(root: Path, images: int) -> Path:
    """A project of ``images`` 224×224 photos in two class folders, the ResNet-18 and the imagenet-c preset."""
    import cv2
    import skimage.data

    names = ("astronaut", "chelsea", "coffee", "rocket")
    for i in range(images):
        folder = root / "data" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        photo = cv2.resize(getattr(skimage.data, names[i % 4])(), (224 + i, 224 + i))[i : i + 224, i : i + 224]
        cv2.imwrite(str(folder / f"{i:04d}.png"), photo[:, :, ::-1])
    torch.jit.script(resnet18(2)).save(str(root / "resnet18.pt"))
    spec = root / "spec.yaml"
    spec.write_text(f"""\
fieldready: 1
name: resnet18-imagenet-c
task: classification
dataset: {{format: imagefolder, images: data}}
models:
  - {{name: resnet18, kind: torchscript, path: resnet18.pt}}
conditions:
  - {{preset: imagenet-c}}
criteria:
  - {{metric: top1, on: clean, at_least: 0.5}}
run: {{device: cpu, seed: 0, batch_size: {images}, bootstrap: 100}}
""")
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="shapes", choices=["shapes", "digits", "resnet18"])
    parser.add_argument("--images", type=int, default=8, help="photos for --example resnet18 (one batch)")
    parser.add_argument("--repeat", type=int, default=3, help="take the best of N runs of each")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: a run's own choice)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    spec = resnet_spec(Path(tmp.name), args.images) if args.example == "resnet18" else example_spec(args.example)
    plan = compile_plan(load_spec(spec))
    device = select_device(plan.spec.run.device)
    predictions = len(plan.dataset.records) * len(plan.points) * len(plan.models)
    threads = choose_threads(args.threads)
    print(f"threads: {threads}; {len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    refs, runs, plain = [], [], []
    with use_threads(threads):  # execute sets the same itself; the reference needs it too
        for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits all alike
            refs.append(bare_forward_seconds(plan, device))
            runs.append(pipeline_seconds(plan, device, threads))
            plain.append(pipeline_seconds(plan, device, threads, stream=False))
    reference, reference_cpu = min(refs)
    run_s, eval_s, cpu_s = min(runs, key=lambda r: r[0] + r[1])
    plain_run, plain_eval, plain_cpu = min(plain, key=lambda r: r[0] + r[1])
    total, plain_total = run_s + eval_s, plain_run + plain_eval
    print(f"example {args.example}: {len(plan.dataset.records)} images × {len(plan.points)} points × "
          f"{len(plan.models)} models = {predictions} predictions on {device}, best of {args.repeat}")
    print(f"{'stage':<48}{'seconds':>9}{'pred/s':>10}{'× bare':>9}")
    rows = [
        ("bare forward passes (reference)", reference),
        ("execute: decode+corrupt+predict+store+stream", run_s),
        ("evaluation tail after the last batch", eval_s),
        ("pipeline total (what a run computes)", total),
        ("without streaming: execute", plain_run),
        ("without streaming: evaluate after execute", plain_eval),
        ("without streaming: total", plain_total),
    ]
    for name, seconds in rows:
        print(f"{name:<48}{seconds:>9.2f}{predictions / seconds:>10.0f}{seconds / reference:>9.2f}")
    print(f"pipeline throughput = {reference / total:.2f} of the bare forward pass "
          f"(without streaming {reference / plain_total:.2f})")
    print(f"CPU seconds (all threads): bare {reference_cpu:.2f}, pipeline {cpu_s:.2f} = {reference_cpu / cpu_s:.2f} of the bare "
          f"forward pass's work (what a contended machine sees); without streaming {plain_cpu:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

"""execute(plan) → result store: decode each batch once, corrupt it on the device, run every model.

The loop is batch → point → model: an image is decoded and moved to the device once, each
corruption of the plan is computed once per batch and fed to every candidate (so all models see
the very same pixels), and clean predictions are one more point. Host copies happen once per batch,
when its predictions are committed to the store in one transaction.

Streaming: a prefetch thread decodes and corrupts ahead (a couple of points, so memory does not grow
with the dataset) while the main thread runs the models and commits; on CUDA it computes on a side
stream from pinned host memory. ``run_batch`` is the same work in one thread, for the Ray actors
(``ray_executor.py``), which return rows to the driver, the store's single writer.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import groupby

import numpy as np
import torch
from tqdm import tqdm

from fieldready import corruptions
from fieldready.corruptions import Boxes
from fieldready.data.decode import decode_images
from fieldready.data.types import ImageRecord
from fieldready.errors import ModelError
from fieldready.execution.device import Threads, choose_threads, use_threads
from fieldready.execution.models.adapter import Adapter, BatchDetections, BatchWhere, load_model
from fieldready.execution.store import PredictionRow, ResultStore, TargetRow
from fieldready.plan import CLEAN, Point, TestPlan
from fieldready.rng import ImageRNG, derive_seed

__all__ = ["execute", "Batch", "batches", "corrupt_point", "RunStats", "Pending", "pending", "run_batch", "corrupted_points"]


@dataclass(frozen=True)
class Batch:
    """Images of one size processed together, with a key that names them in the store."""

    key: str
    records: list[ImageRecord]


@dataclass(frozen=True)
class RunStats:
    """What ``execute`` did: batches computed now and already found in the store."""

    computed: int
    resumed: int
    seconds: float
    device: str


def batches(records: list[ImageRecord], batch_size: int) -> list[Batch]:
    """Group images by size (a batch is one tensor) and cut each group into batches, in id order."""
    by_size = sorted(records, key=lambda r: (r.height, r.width, r.image_id))
    out = []
    for (h, w), group in groupby(by_size, key=lambda r: (r.height, r.width)):
        items = list(group)
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            ids = ",".join(str(r.image_id) for r in chunk)
            digest = hashlib.sha1(ids.encode()).hexdigest()[:16]
            out.append(Batch(f"{h}x{w}:{chunk[0].image_id}:{len(chunk)}:{digest}", chunk))
    return out


def corrupt_point(
    images: torch.Tensor,
    point: Point,
    image_ids: list[int],
    *,
    seed: int,
    boxes: Boxes | None = None,
) -> corruptions.Corrupted:
    """Apply a point's steps to a batch with per-image seeds from (seed, point, image id)."""
    if not point.steps:
        return corruptions.Corrupted(images, boxes)
    rng = ImageRNG([derive_seed(seed, point.key, i) for i in image_ids], device=images.device)
    scale = min(images.shape[-2:]) / point.relative_to if point.relative_to else 1.0
    steps = [(s.corruption, s.severity) for s in point.steps]
    return corruptions.apply_steps(images, steps, rng, spatial_scale=scale, boxes=boxes)


def execute(
    plan: TestPlan,
    store: ResultStore,
    *,
    device: torch.device,
    progress: bool = True,
    threads: Threads | None = None,
) -> RunStats:
    """Run every unit of the plan into ``store``, skipping the (model, image) pairs it already holds.

    Done work is found by image and model, not by batch, so a resume may use another batch size,
    and a model whose predictions were dropped (it changed) is computed again alone. A prefetch
    thread decodes and corrupts ahead while the models run (``_Prefetch``); ``threads`` (default:
    ``run.threads`` or the free cores, ``choose_threads``) sets torch's and OpenCV's thread counts.
    """
    store.claim(plan.plan_hash, plan.identity())
    work = pending(plan, store)
    if not work.batches:
        return RunStats(0, work.resumed, 0.0, str(device))
    threads = threads or choose_threads(getattr(plan.spec.run, "threads", None))
    with use_threads(threads):
        start = time.perf_counter()
        targets = _Targets.of(plan, device)
        prefetch = _Prefetch(plan, work.batches, targets, device)  # decodes and corrupts while the models load
        bar = None
        try:
            adapters = [
                load_model(m.spec, plan.loaded.root, device, plan.spec.task, dataset=plan.dataset)
                for m in plan.models
                if work.missing[m.name]
            ]
            bar = progress_bar(plan, work, len(adapters), progress=progress)
            for batch, items in prefetch:
                t0 = time.perf_counter()
                ids = {r.image_id for r in batch.records}
                needed = [a for a in adapters if work.missing[a.name] & ids]
                predictions, moved = _predict(batch, needed, _ticking(items, bar, len(batch.records)), targets=targets)
                store.commit_batch(
                    batch.key,
                    images=len(batch.records),
                    seconds=time.perf_counter() - t0 + prefetch.seconds.pop(batch.key, 0.0),
                    predictions=[p for p in predictions if p.image_id in work.missing[p.model]],
                    targets=moved,
                )
        finally:
            prefetch.close()
            if bar is not None:
                bar.close()
    return RunStats(len(work.batches), work.resumed, time.perf_counter() - start, str(device))


@dataclass(frozen=True)
class Pending:
    """What is left of a run: the batches to compute, each model's missing images, batches already done."""

    batches: list[Batch]
    missing: dict[str, set[int]]
    resumed: int


def pending(plan: TestPlan, store: ResultStore) -> Pending:
    """The batches still to compute, found by image and model in the store (not by batch key)."""
    records = plan.dataset.records
    done = store.done_by_model(len(plan.points))
    missing = {m.name: {r.image_id for r in records} - done.get(m.name, set()) for m in plan.models}
    todo_ids = set().union(*missing.values())
    todo = batches([r for r in records if r.image_id in todo_ids], plan.batch_size)
    resumed = store.batch_count() if any(done.values()) else 0
    return Pending(todo, missing, resumed)


def _ticking(items: Iterable[_Point], bar: tqdm, images: int) -> Iterator[_Point]:
    """The batch's points, advancing the bar by the batch's images as each point's models finish.

    Per point, not per batch: on a small dataset (one batch) the bar moves through the conditions
    instead of jumping from 0 to 100 %.
    """
    for item in items:
        yield item
        bar.update(images)


def progress_bar(plan: TestPlan, work: Pending, models: int, *, progress: bool) -> tqdm:
    """The run's bar in images × points (every model sees each), starting at what a resume found done."""
    points = max(len(plan.points), 1)
    total = len(plan.dataset.records) * points
    return tqdm(
        total=total,
        initial=total - sum(len(b.records) for b in work.batches) * points,
        unit="img·pt",
        desc=f"{plan.spec.name}: {len(plan.points) * models} units",
        disable=None if progress else True,
        smoothing=0.1,
    )


@dataclass(frozen=True)
class _Point:
    """One point's corrupted batch, ready for the models, and the ground truth it moved (geometric points)."""

    point: Point
    images: torch.Tensor
    decoded: torch.Tensor
    where: BatchWhere
    moved: Boxes | None
    ready: object = None  # a CUDA event the side stream recorded after computing ``images``


MODEL_LAYOUT = torch.channels_last
"""The memory layout every point's images reach the models in, clean and corrupted alike.

Decoding yields it (HWC pixels seen as NCHW), element-wise corruptions keep it and the others return
contiguous NCHW; one layout means one set of convolution kernels for every point, and on the CPU
a ResNet-18 runs 11 % faster on it (oneDNN's blocked NHWC kernels; ``benchmarks/pipeline.py``).
"""


def corrupted_points(
    plan: TestPlan, batch: Batch, targets: _Targets | None, device: torch.device
) -> Iterator[_Point]:
    """Decode a batch once and yield each point's corrupted images, in plan order, in ``MODEL_LAYOUT``."""
    ids = [r.image_id for r in batch.records]
    images = _decode(batch, device).contiguous(memory_format=MODEL_LAYOUT)
    boxes = targets.batch(ids)[0] if targets is not None else None
    for point in plan.points:
        corrupted = corrupt_point(images, point, ids, seed=plan.seed, boxes=boxes)
        moved = corrupted.boxes if boxes is not None and point.geometric and corrupted.boxes is not None else None
        where = BatchWhere(point.condition, point.label, batch.records)  # names the images in model errors
        yield _Point(point, corrupted.images.contiguous(memory_format=MODEL_LAYOUT), images, where, moved)


def _decode(batch: Batch, device: torch.device) -> torch.Tensor:
    """A batch on ``device``; on CUDA through pinned host memory so the copy is asynchronous."""
    if device.type != "cuda":
        return decode_images(batch.records, device)
    host = decode_images(batch.records, torch.device("cpu"))
    return host.pin_memory().to(device, non_blocking=True)


def run_batch(
    plan: TestPlan, batch: Batch, adapters: list[Adapter], targets: _Targets | None, device: torch.device
) -> tuple[list[PredictionRow], list[TargetRow]]:
    """One batch, start to end, in the calling thread: decode, corrupt, predict (what a Ray actor runs)."""
    return _predict(batch, adapters, corrupted_points(plan, batch, targets, device), targets=targets)


def _predict(
    batch: Batch, adapters: list[Adapter], items: Iterable[_Point], *, targets: _Targets | None = None
) -> tuple[list[PredictionRow], list[TargetRow]]:
    """Every model on every point of one batch → host rows for the store."""
    ids = [r.image_id for r in batch.records]
    outputs: list[tuple[str, Point, torch.Tensor | BatchDetections]] = []
    moved: list[tuple[Point, Boxes]] = []
    labels = areas = None
    for item in items:
        if item.ready is not None:  # computed on the prefetch thread's CUDA stream
            current = torch.cuda.current_stream(item.images.device)
            current.wait_event(item.ready)
            for tensor in (item.images, item.decoded):  # not reused by the side stream before this one is done
                tensor.record_stream(current)
        if item.moved is not None:
            moved.append((item.point, item.moved))
        for n, adapter in enumerate(adapters):
            x = _own_copy(item.images, item.decoded, last=n == len(adapters) - 1)
            outputs.append((adapter.name, item.point, adapter(x, where=item.where)))
    if moved and targets is not None:
        _, labels, areas = targets.batch(ids)
    predictions = [row for name, point, out in outputs for row in _rows(name, point, out, batch)]
    target_rows = [row for point, b in moved for row in _target_rows(point, b, labels, areas, ids)]
    return predictions, target_rows


class _Prefetch:
    """Decodes and corrupts batch k+1 on a thread of its own while the models run on batch k.

    Iterating yields ``(batch, points)`` in order, ``points`` being an iterator of ``_Point`` fed by
    the thread through a short queue (two points ahead), so memory holds a few corrupted batches
    whatever the dataset's size. On CUDA the thread computes on a stream of its own and hands over
    an event to wait on. An error of the thread (an undecodable image) is raised where the consumer
    reaches it, after the batches before it are committed; ``close`` stops the thread.
    """

    _DEPTH = 2

    def __init__(self, plan: TestPlan, todo: list[Batch], targets: _Targets | None, device: torch.device) -> None:
        self._plan, self._todo, self._targets, self._device = plan, todo, targets, device
        self._queue: queue.Queue = queue.Queue(maxsize=self._DEPTH)
        self._stop = threading.Event()
        self.seconds: dict[str, float] = {}  # prefetch time per batch, added to the batch's own
        self._thread = threading.Thread(target=self._produce, name="fieldready-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        stream = torch.cuda.Stream(self._device) if self._device.type == "cuda" else None
        try:
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                for batch in self._todo:
                    t0 = time.perf_counter()
                    for item in corrupted_points(self._plan, batch, self._targets, self._device):
                        if stream is not None:
                            event = torch.cuda.Event()
                            event.record(stream)
                            item = _Point(item.point, item.images, item.decoded, item.where, item.moved, event)
                        self.seconds[batch.key] = self.seconds.get(batch.key, 0.0) + time.perf_counter() - t0
                        if not self._put(item):
                            return
                        t0 = time.perf_counter()
                    if not self._put(_END):
                        return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failed(exc))

    def __iter__(self) -> Iterator[tuple[Batch, Iterator[_Point]]]:
        for batch in self._todo:
            yield batch, self._points()

    def _points(self) -> Iterator[_Point]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


_END = object()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _own_copy(batch: torch.Tensor, decoded: torch.Tensor, *, last: bool) -> torch.Tensor:
    """The tensor one model may receive: a model that writes into its input must not change the next model's.

    The last model of a point gets the point's tensor itself, unless it shares memory with the
    decoded images that later points start from; every other model gets a copy.
    """
    if last and batch.untyped_storage().data_ptr() != decoded.untyped_storage().data_ptr():
        return batch
    return batch.clone()


@dataclass(frozen=True)
class _Targets:
    """Every image's ground truth padded once per run: a batch takes rows, with no per-image loop."""

    row: dict[int, int]
    boxes: Boxes
    labels: np.ndarray
    areas: np.ndarray

    @classmethod
    def of(cls, plan: TestPlan, device: torch.device) -> "_Targets | None":
        if plan.spec.task != "detection" or not plan.dataset.targets:
            return None
        ids = [r.image_id for r in plan.dataset.records]
        targets = [plan.dataset.targets[i] for i in ids]
        boxes = Boxes.from_list([torch.from_numpy(t.boxes) for t in targets], device=device)
        m = boxes.xyxy.shape[1]
        labels = np.full((len(ids), m), -1, dtype=np.int64)
        areas = np.zeros((len(ids), m), dtype=np.float64)
        for row, t in enumerate(targets):
            labels[row, : len(t.labels)] = t.labels
            box_area = np.clip((t.boxes[:, 2] - t.boxes[:, 0]) * (t.boxes[:, 3] - t.boxes[:, 1]), 1e-9, None)
            areas[row, : len(t.labels)] = t.area / box_area  # COCO area as a share of the box, kept under moves
        return cls({i: row for row, i in enumerate(ids)}, boxes, labels, areas)

    def batch(self, ids: list[int]) -> tuple[Boxes, np.ndarray, np.ndarray]:
        rows = [self.row[i] for i in ids]
        index = torch.tensor(rows, device=self.boxes.xyxy.device)
        return Boxes(self.boxes.xyxy[index], self.boxes.valid[index]), self.labels[rows], self.areas[rows]


def _rows(model: str, point: Point, out: torch.Tensor | BatchDetections, batch: Batch) -> Iterator[PredictionRow]:
    """Host arrays per image; NaN or infinite output is the model's error, named with its image."""
    ids = [r.image_id for r in batch.records]
    if isinstance(out, torch.Tensor):
        logits = out.cpu().numpy()
        bad = ~np.isfinite(logits).all(axis=1)
        _raise_if_bad(model, point, batch, bad)
        for i, image_id in enumerate(ids):
            yield PredictionRow(model, point.key, image_id, logits[i])
        return
    table = torch.cat([out.boxes, out.scores[:, None], out.labels[:, None].float(), out.index[:, None].float()], 1)
    table = table.cpu().numpy()
    bad = np.zeros(len(ids), dtype=bool)
    finite = np.isfinite(table[:, :5]).all(axis=1)
    bad[table[~finite, 6].astype(np.int64)] = True
    _raise_if_bad(model, point, batch, bad)
    order = np.argsort(table[:, 6], kind="stable")
    table = table[order]
    bounds = np.searchsorted(table[:, 6], np.arange(len(ids) + 1))
    for i, image_id in enumerate(ids):
        yield PredictionRow(model, point.key, image_id, table[bounds[i] : bounds[i + 1], :6])


def _raise_if_bad(model: str, point: Point, batch: Batch, bad: np.ndarray) -> None:
    if bad.any():
        record = batch.records[int(np.flatnonzero(bad)[0])]
        where = "clean images" if point.key == CLEAN else f"condition {point.condition!r}"
        raise ModelError(
            f"model {model!r} returned NaN or infinite values for {record.path} (image {record.image_id}) "
            f"on {where}; {int(bad.sum())} image(s) of this batch affected. Finished batches are saved; "
            "fix the model and run the same command again"
        )


def _target_rows(
    point: Point, boxes: Boxes, labels: np.ndarray, areas: np.ndarray, ids: list[int]
) -> Iterator[TargetRow]:
    """Moved ground truth per image: valid boxes only, area rescaled with the box."""
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
    valid = boxes.valid.cpu().numpy() & (labels >= 0)
    box_area = (xyxy[..., 2] - xyxy[..., 0]) * (xyxy[..., 3] - xyxy[..., 1])
    for row, image_id in enumerate(ids):
        keep = valid[row]
        data = np.concatenate(
            [xyxy[row, keep], labels[row, keep, None].astype(np.float64), (box_area[row, keep] * areas[row, keep])[:, None]],
            axis=1,
        )
        yield TargetRow(point.key, image_id, data)

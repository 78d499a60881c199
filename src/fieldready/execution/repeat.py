"""Run every model on the plan's repeated captures (``repeatability:``), into the same result store.

The captures are never corrupted: each model sees each capture once, at the point key ``REPEAT``.
Captures stream group by group (a video is read once, in order) and are cut into batches of one
image size; each batch's predictions are committed atomically like the labelled images', so an
interrupted run resumes here too, computing only the (model, capture) pairs the store lacks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import numpy as np
import torch
from tqdm import tqdm

from fieldready.data.captures import Capture, stream_captures
from fieldready.execution.models.adapter import BatchWhere, load_model
from fieldready.execution.runner import Batch, _rows
from fieldready.execution.store import ResultStore
from fieldready.plan import REPEAT, Point, TestPlan

__all__ = ["execute_repeatability", "REPEAT_POINT"]

#: The point every capture is predicted at: no corruption steps.
REPEAT_POINT = Point(key=REPEAT, condition=REPEAT, steps=(), label="repeated captures")


def _chunks(stream: Iterator[tuple[Capture, np.ndarray]], size: int) -> Iterator[list[tuple[Capture, np.ndarray]]]:
    """Consecutive captures of one image size, at most ``size`` at a time (a batch is one tensor)."""
    chunk: list[tuple[Capture, np.ndarray]] = []
    for item in stream:
        if chunk and (len(chunk) >= size or item[1].shape != chunk[0][1].shape):
            yield chunk
            chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def execute_repeatability(plan: TestPlan, store: ResultStore, *, device: torch.device, progress: bool = True) -> int:
    """Predict every capture the store lacks, for every model; return the number of batches computed."""
    captures = plan.captures
    if captures is None:
        return 0
    ids = {c.image_id for c in captures.captures}
    missing = {m.name: ids - set(store.predictions(m.name, REPEAT)) for m in plan.models}
    todo = set().union(*missing.values())
    if not todo:
        return 0
    adapters = [
        load_model(m.spec, plan.loaded.root, device, plan.spec.task, dataset=plan.dataset)
        for m in plan.models
        if missing[m.name]
    ]
    bar = tqdm(total=len(ids), initial=len(ids) - len(todo), unit="img", desc=f"{plan.spec.name}: repeated captures",
               disable=None if progress else True)
    computed = 0
    try:
        for chunk in _chunks(stream_captures(captures, todo), plan.batch_size):
            t0 = time.perf_counter()
            records = [c for c, _ in chunk]
            key_ids = ",".join(str(c.image_id) for c in records)
            batch = Batch(f"{REPEAT}:{records[0].image_id}:{len(records)}:{hashlib.sha1(key_ids.encode()).hexdigest()[:16]}",
                          records)  # type: ignore[arg-type]  # a Capture has what a batch reads: id, path, size
            images = torch.from_numpy(np.stack([a for _, a in chunk])).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            where = BatchWhere(REPEAT, REPEAT_POINT.label, records)  # type: ignore[arg-type]
            batch_ids = {c.image_id for c in records}
            rows = []
            for adapter in adapters:
                if missing[adapter.name] & batch_ids:
                    out = adapter(images.clone(), where=where)  # a model may write into its input
                    rows += [r for r in _rows(adapter.name, REPEAT_POINT, out, batch) if r.image_id in missing[adapter.name]]
            store.commit_batch(batch.key, images=len(records), seconds=time.perf_counter() - t0, predictions=rows)
            computed += 1
            bar.update(len(records))
    finally:
        bar.close()
    return computed

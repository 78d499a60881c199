"""Evaluation streamed beside execution: the per-image part of each committed batch, done while the next ones run.

Execution is batch-major, so no unit (model × point) is finished before the last batch; but the
per-image part of detection evaluation is: the COCO match tables of a batch's images (against the
ground truth, which for a geometric point comes in the same commit as the moved boxes; and against
the model's own clean detections, committed with the same batch, when consistency is measured).
``StreamingEvaluator`` listens to the result store (``ResultStore.add_listener``, so the local and
the Ray executor feed it alike), builds those tables on a background thread behind a bounded queue,
and merges them as they come (``merge_match_tables``: bit for bit the whole build's arrays).
``evaluate`` then takes the merged tables of every unit whose images were all streamed and builds
the rest as before (batches computed by an earlier process, a resumed run).

An error of the thread (the same typed error the end-of-run evaluation would raise) reaches the
executor at its next commit, or ``finish``; ``close`` stops the thread without waiting for its queue,
so a failed or interrupted run never hangs on it. Classification has no per-image work worth a
thread (a unit's metrics are a few array operations over its logits), so it streams nothing.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluation.evaluate import detections_of, measured_at, moved_targets
from fieldready.evaluation.metrics.detection import MAX_DETS, pseudo_targets
from fieldready.evaluation.metrics.match_tables import MatchTables, build_match_tables, merge_match_tables, take_images
from fieldready.evaluation.metrics.registry import get_metric
from fieldready.execution.store import PredictionRow, ResultStore, TargetRow
from fieldready.plan import CLEAN, TestPlan

__all__ = ["Streamed", "BatchTables", "StreamingEvaluator", "batch_tables"]

Unit = tuple[str, str]  # (model, point)
_DONE = object()  # the queue's end mark
_NICE = 10  # the stream thread's niceness above the run's


@dataclass
class Streamed:
    """Merged match tables per unit: against the ground truth (``tables``) and the clean detections (``consistency``).

    A unit is present only when every one of its images this process committed was streamed once;
    ``evaluate`` uses its tables only when they cover the unit's whole image set (not so after a resume).
    """

    tables: dict[Unit, MatchTables] = field(default_factory=dict)
    consistency: dict[Unit, MatchTables] = field(default_factory=dict)


@dataclass
class BatchTables:
    """One commit's match tables per unit, and the units it cannot serve (their moved boxes or clean detections are elsewhere)."""

    truth: dict[Unit, MatchTables] = field(default_factory=dict)
    consistency: dict[Unit, MatchTables] = field(default_factory=dict)
    lost_truth: set[Unit] = field(default_factory=set)
    lost_consistency: set[Unit] = field(default_factory=set)


def _stored(data: np.ndarray) -> np.ndarray:
    """An array as the store gives it back: float32 (the store keeps float32, exactly)."""
    return np.asarray(data, dtype=np.float32)


def batch_tables(
    plan: TestPlan,
    predictions: list[PredictionRow],
    targets: list[TargetRow],
    *,
    category_ids: list[int] | None,
    consistency: set[str] | frozenset[str] = frozenset(),
) -> BatchTables:
    """One commit's match tables per unit, against the ground truth (labelled data) and, at the points
    in ``consistency``, against the model's clean detections of the same images.

    ``category_ids``: the evaluated categories (None: not known until the end, so each table holds
    every category of its batch and ``merge_match_tables`` cuts it to the final list). A geometric
    point's moved boxes, and a model's clean detections, must be in the same commit (as both
    executors commit them); a unit whose are not is left to the end-of-run evaluation. All units of
    the commit are matched in one call (``_build_apart``), so the vectorised matching runs once per
    batch, not once per unit.
    """
    points = {p.key: p for p in plan.points}
    rows: dict[Unit, dict[int, np.ndarray]] = {}
    for p in predictions:
        if p.point in points:  # the repeated captures are evaluated apart
            rows.setdefault((p.model, p.point), {})[p.image_id] = _stored(p.data)
    moved: dict[str, dict[int, np.ndarray]] = {}
    for t in targets:
        moved.setdefault(t.point, {})[t.image_id] = _stored(t.data)
    out = BatchTables()
    truth: dict[Unit, tuple[list[ImageTargets], list[ImageDetections]]] = {}
    stable: dict[Unit, tuple[list[ImageTargets], list[ImageDetections]]] = {}
    for (model, key), by_id in rows.items():
        ids = sorted(by_id)
        detections = detections_of({i: by_id[i] for i in ids})
        if plan.dataset.labelled:
            if key == CLEAN or not points[key].geometric:
                truth[(model, key)] = [plan.dataset.targets[i] for i in ids], detections
            elif all(i in moved.get(key, {}) for i in ids):
                truth[(model, key)] = moved_targets(plan, ids, moved[key]), detections
            else:
                out.lost_truth.add((model, key))
        if key in consistency:
            clean = rows.get((model, CLEAN), {})
            if all(i in clean for i in ids):
                stable[(model, key)] = pseudo_targets(detections_of({i: clean[i] for i in ids}), detections), detections
            else:
                out.lost_consistency.add((model, key))
    out.truth = _build_apart(truth, category_ids)
    out.consistency = _build_apart(stable, category_ids)
    return out


def _build_apart(
    sets: dict[Unit, tuple[list[ImageTargets], list[ImageDetections]]], category_ids: list[int] | None
) -> dict[Unit, MatchTables]:
    """Each unit's match tables, from one ``build_match_tables`` call over all units' images (renumbered
    unit after unit, in id order) cut apart again with ``take_images``."""
    if not sets:
        return {}
    width = max(len(gt) for gt, _ in sets.values())
    all_gt: list[ImageTargets] = []
    all_dt: list[ImageDetections] = []
    for k, (gt, dt) in enumerate(sets.values()):  # each unit's images are in id order
        all_gt += [replace(t, image_id=k * width + j) for j, t in enumerate(gt)]
        all_dt += [ImageDetections(k * width + j, d.boxes, d.scores, d.labels) for j, d in enumerate(dt)]
    if category_ids is None:  # every category the batch holds
        labels = np.concatenate([t.labels for t in all_gt] + [d.labels for d in all_dt] + [np.zeros(0, np.int64)])
        category_ids = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    tables = build_match_tables(all_gt, all_dt, category_ids=category_ids, max_dets=MAX_DETS)
    out, start = {}, 0
    for unit, (gt, _) in sets.items():
        out[unit] = take_images(tables, start, start + len(gt), image_ids=[t.image_id for t in gt])
        start += len(gt)
    return out


def _lower_priority() -> None:
    """Nice the calling thread (Linux: per thread) so its work takes idle cores, not the models' or the decoder's."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + _NICE))
    except (AttributeError, OSError):  # not Linux or not allowed: the thread runs at the run's priority
        pass


class _Pieces:
    """A unit's tables as they arrive, merged like a binary counter (each entry copied O(log batches) times)."""

    def __init__(self) -> None:
        self.stack: list[MatchTables] = []
        self.broken = False  # an image came twice (a batch committed again): left to the store

    def add(self, tables: MatchTables) -> None:
        if self.broken:
            return
        self.stack.append(tables)
        while len(self.stack) >= 2 and self.stack[-1].n_images >= self.stack[-2].n_images:
            self._merge_top(2)

    def merged(self) -> MatchTables | None:
        if len(self.stack) > 1:
            self._merge_top(len(self.stack))
        return None if self.broken or not self.stack else self.stack[0]

    def _merge_top(self, k: int) -> None:
        top = self.stack[-k:]
        del self.stack[-k:]
        try:
            self.stack.append(merge_match_tables(top))
        except DataError:  # the same image in two pieces
            self.broken, self.stack = True, []


class StreamingEvaluator:
    """Builds each committed batch's match tables on a background thread while execution goes on.

    Use as a context manager around execution: ``attach(store)``, run the executor, then ``finish()``
    for the merged tables (``Streamed``). Leaving the block by an exception stops the thread at once.
    ``depth`` bounds the batches waiting in the queue: memory stays flat, and a commit waits only
    when the thread is that far behind.
    """

    def __init__(self, plan: TestPlan, *, depth: int = 4) -> None:
        self.plan = plan
        self._category_ids = sorted(plan.dataset.classes) or None
        self._consistency = {p.key for p in plan.points if measured_at(get_metric("consistency"), plan, p)}
        # classification has no per-image work worth a thread; detection needs labels or consistency to match against
        self.enabled = plan.spec.task == "detection" and bool(plan.points) and (plan.dataset.labelled or bool(self._consistency))
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._truth: dict[Unit, _Pieces] = {}
        self._stable: dict[Unit, _Pieces] = {}
        self._lost_truth: set[Unit] = set()
        self._lost_consistency: set[Unit] = set()
        self._detach: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def attach(self, store: ResultStore) -> "StreamingEvaluator":
        """Listen to ``store``'s commits and start the thread (nothing to do for classification)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._consume, name="fieldready-evaluate", daemon=True)
            self._thread.start()
            self._detach = store.add_listener(self.on_commit)
        return self

    def __enter__(self) -> "StreamingEvaluator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # after ``finish`` the thread has ended; otherwise (an error, an interrupt) it is stopped

    # the executor's side ------------------------------------------------------------------------
    def on_commit(self, predictions: list[PredictionRow], targets: list[TargetRow]) -> None:
        """The store's listener: queue the batch (waiting while the queue is full); raise the thread's error."""
        while True:
            self._raise_if_failed()
            if self._stop.is_set():
                return
            try:
                self._queue.put((predictions, targets), timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> Streamed:
        """Wait for the queued batches, raise the thread's error if any, and return the merged tables."""
        self._stop_listening()
        if self._thread is None:
            return Streamed()
        while self._thread.is_alive():  # the end mark, behind the batches still queued
            self._raise_if_failed()
            try:
                self._queue.put(_DONE, timeout=0.1)
                break
            except queue.Full:
                continue
        while self._thread.is_alive():
            self._thread.join(timeout=0.1)
        self._raise_if_failed()
        out = Streamed()
        for found, pieces, lost in ((out.tables, self._truth, self._lost_truth),
                                    (out.consistency, self._stable, self._lost_consistency)):
            for unit, p in pieces.items():
                merged = p.merged()
                if merged is not None and unit not in lost:
                    found[unit] = merged
        return out

    def close(self) -> None:
        """Stop the thread without waiting for its queue (a failed or interrupted run); idempotent."""
        self._stop_listening()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)  # at most the batch in hand; the thread is a daemon either way

    def _stop_listening(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # the thread ---------------------------------------------------------------------------------
    def _consume(self) -> None:
        _lower_priority()
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            try:
                self._add(*item)
            except BaseException as exc:  # noqa: BLE001 — handed to the executor's thread, never swallowed
                self._error = exc
                self._stop.set()
                return

    def _add(self, predictions: list[PredictionRow], targets: list[TargetRow]) -> None:
        built = batch_tables(self.plan, predictions, targets, category_ids=self._category_ids, consistency=self._consistency)
        self._lost_truth |= built.lost_truth
        self._lost_consistency |= built.lost_consistency
        for unit, t in built.truth.items():
            self._truth.setdefault(unit, _Pieces()).add(t)
        for unit, t in built.consistency.items():
            self._stable.setdefault(unit, _Pieces()).add(t)

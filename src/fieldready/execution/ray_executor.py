"""execute(plan) on a Ray cluster: actors corrupt and predict, the driver alone writes the store.

Each actor compiles the same spec file on its node (so plugins and python model entry points are
imported there, from the paths the spec names) and refuses to work unless its plan hash and the
identity of every model and plugin equal the driver's: a node that sees other files computes
nothing. It loads the models once and then runs whole batches (``runner.run_batch``: decode,
corrupt on its device, predict) and returns host rows; the driver commits each returned batch in one
transaction, exactly as the local executor does, so a killed driver resumes with ``fieldready run``
(either executor) and an actor that dies is restarted by Ray and its batch retried. An actor per GPU
when the cluster has GPUs and the run may use CUDA, CPU actors otherwise.

Workers must see the spec's files (dataset, models, plugins) at the same paths: a shared filesystem,
or the same checkout on every node; Ray's ``runtime_env`` carries the spec directory's Python path.
"""

from __future__ import annotations

import os
import time
from typing import Any

import cv2
import torch

from fieldready.errors import FieldreadyError, ModelError, PlanError
from fieldready.execution.device import Threads, choose_threads
from fieldready.execution.models.adapter import load_model
from fieldready.execution.runner import Batch, RunStats, _Targets, pending, progress_bar, run_batch
from fieldready.execution.store import ResultStore
from fieldready.plan import TestPlan, compile_plan
from fieldready.spec.loader import load_spec

__all__ = ["execute_ray", "require_ray"]

_IN_FLIGHT = 2  # batches queued per actor: the next one starts while the driver commits the last
_RETRIES = 3  # restarts of a dead actor, and retries of its batch


def require_ray() -> Any:
    """The ``ray`` module, or a PlanError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise PlanError(
            "run.executor is 'ray' but Ray is not installed; pip install 'fieldready[ray]' (or use executor: local)"
        ) from None
    return ray


class BatchWorker:
    """A Ray actor's state: the plan compiled on its node, its models loaded once, its device."""

    def __init__(self, spec_path: str, identity: dict, models: list[str], device: str, threads: int) -> None:
        # A fieldready error here is kept and raised by ``run``: an actor whose constructor raises
        # would be restarted in vain, and Ray reports it as a death, not as the error it was.
        self.error: FieldreadyError | None = None
        try:
            self._load(spec_path, identity, models, device, threads)
        except FieldreadyError as exc:
            self.error = exc

    def _load(self, spec_path: str, identity: dict, models: list[str], device: str, threads: int) -> None:
        torch.set_num_threads(threads)
        cv2.setNumThreads(1)
        plan = compile_plan(load_spec(spec_path))
        if plan.identity() != identity:
            differs = _differences(identity, plan.identity())
            raise PlanError(
                f"a Ray worker on {os.uname().nodename} compiles {spec_path} differently from the driver "
                f"({', '.join(differs)} differ); give every node the same files (a shared filesystem or the same checkout)"
            )
        self.plan = plan
        self.device = torch.device(device)
        self.adapters = [
            load_model(m.spec, plan.loaded.root, self.device, plan.spec.task, dataset=plan.dataset)
            for m in plan.models
            if m.name in models
        ]
        self.targets = _Targets.of(plan, self.device)
        self.records = {r.image_id: r for r in plan.dataset.records}

    def where(self) -> str:
        """Node and process of this actor (for messages and tests)."""
        return f"{os.uname().nodename}:{os.getpid()}"

    def run(self, key: str, image_ids: list[int], models: list[str]) -> tuple[str, list, list, float]:
        """One batch: its key, prediction rows, moved-target rows and seconds spent."""
        if self.error is not None:
            raise self.error
        t0 = time.perf_counter()
        batch = Batch(key, [self.records[i] for i in image_ids])
        adapters = [a for a in self.adapters if a.name in models]
        predictions, targets = run_batch(self.plan, batch, adapters, self.targets, self.device)
        return key, predictions, targets, time.perf_counter() - t0


def _differences(driver: dict, worker: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identity dicts (the deepest that differ)."""
    out = []
    for key in sorted(set(driver) | set(worker)):
        a, b = driver.get(key), worker.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out[:4]


def _connect(ray: Any, address: str | None) -> bool:
    """Join ``address`` (or RAY_ADDRESS, else start a local cluster); True when this call started Ray."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise PlanError(
            f"cannot connect to the Ray cluster at {address!r} ({str(exc).strip().splitlines()[0]}); "
            "check --address / run.address / RAY_ADDRESS, or omit them to start a local cluster"
        ) from None
    return True


def _actors(ray: Any, device: torch.device, threads: int, batches: int) -> tuple[int, dict]:
    """How many actors and the resources of each: one per GPU, else as many CPU actors as cores allow."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and device.type == "cuda":
        return min(gpus, batches), {"num_gpus": 1, "num_cpus": 1}
    cpus = max(1, int(resources.get("CPU", 1)))
    per_actor = max(1, min(threads, cpus))
    return max(1, min(cpus // per_actor, batches)), {"num_cpus": per_actor}


def execute_ray(
    plan: TestPlan,
    store: ResultStore,
    *,
    device: torch.device,
    address: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> RunStats:
    """Run the plan's missing batches on Ray actors and commit each returned batch into ``store``.

    ``threads`` are torch threads per CPU actor (default: one, so actors fill the cluster's cores).
    """
    ray = require_ray()
    store.claim(plan.plan_hash, plan.identity())
    work = pending(plan, store)
    if not work.batches:
        return RunStats(0, work.resumed, 0.0, str(device))
    started = _connect(ray, address)
    chosen = Threads(threads, 1, "run.threads") if threads else Threads(1, 1, "ray")
    models = [m.name for m in plan.models if work.missing[m.name]]
    count, resources = _actors(ray, device, chosen.torch, len(work.batches))
    gpu = resources.get("num_gpus", 0) > 0
    path = os.pathsep.join(filter(None, [str(plan.loaded.root), os.environ.get("PYTHONPATH")]))
    remote = ray.remote(BatchWorker).options(
        max_restarts=_RETRIES, max_task_retries=_RETRIES, runtime_env={"env_vars": {"PYTHONPATH": path}}, **resources
    )
    actors = [
        remote.remote(str(plan.loaded.path), plan.identity(), models, "cuda" if gpu else "cpu", chosen.torch)
        for _ in range(count)
    ]
    bar = progress_bar(plan, work, len(models), progress=progress)
    by_key = {b.key: b for b in work.batches}
    queue = list(work.batches)
    in_flight: dict[Any, Any] = {}
    start = time.perf_counter()
    try:
        for actor in actors:
            for _ in range(_IN_FLIGHT):
                _submit(actor, queue, in_flight, work.missing)
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            ref = done[0]
            actor = in_flight.pop(ref)
            key, predictions, targets, seconds = _result(ray, ref)
            batch = by_key[key]
            store.commit_batch(
                key,
                images=len(batch.records),
                seconds=seconds,
                predictions=[p for p in predictions if p.image_id in work.missing[p.model]],
                targets=targets,
            )
            bar.update(len(batch.records) * max(len(plan.points), 1))  # the bar counts images × points
            _submit(actor, queue, in_flight, work.missing)
    finally:
        bar.close()
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    return RunStats(len(work.batches), work.resumed, time.perf_counter() - start, "ray:" + ("cuda" if gpu else "cpu"))


def _submit(actor: Any, queue: list, in_flight: dict, missing: dict[str, set[int]]) -> None:
    if not queue:
        return
    batch = queue.pop(0)
    ids = [r.image_id for r in batch.records]
    models = [name for name, todo in missing.items() if todo & set(ids)]
    in_flight[actor.run.remote(batch.key, ids, models)] = actor


def _result(ray: Any, ref: Any) -> tuple:
    """A batch's result; a fieldready error raised on a worker is raised here as itself, one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, FieldreadyError):
            raise cause from None
        raise ModelError(f"a Ray worker failed: {str(cause or exc).strip().splitlines()[-1]}; finished batches are saved") from None
    except ray.exceptions.RayActorError as exc:
        cause = getattr(exc, "cause", None) or exc
        if isinstance(cause, FieldreadyError):
            raise cause from None
        raise ModelError(
            f"a Ray actor died {_RETRIES + 1} times ({str(cause).strip().splitlines()[0]}); finished batches are saved — "
            "run the same command again to resume"
        ) from None

"""execute(plan) on a Ray cluster: actors corrupt and predict, the driver alone writes the store.

The driver ships each actor the compiled plan and the spec's code and model files through Ray's
object store (``package``): every plugin's and ``python`` entry point's source, every model file
and every file a model's ``options`` name, when the spec gives them by a relative path. The actor
writes them into a private folder of its node that mirrors the driver's layout (``unpack``), hashes
them again exactly as ``compile_plan`` did, and refuses to work unless every model's and plugin's
identity equals the driver's (and its fieldready version too). It loads them from that folder with
``fieldready.usercode`` (never by putting a folder on ``sys.path``: Ray's ``working_dir`` and
``py_modules`` put theirs first on ``PYTHONPATH``, ahead of the standard library, so they are not used), loads the models once and then runs
whole batches (``runner.run_batch``: decode, corrupt on its device, predict) and returns host rows.
The driver commits each returned batch in one transaction, exactly as the local executor does, so a
killed driver resumes with ``fieldready run`` (either executor) and an actor that dies is restarted
by Ray and its batch retried.

An actor per GPU when the cluster has GPUs and ``run.device`` allows CUDA, CPU actors otherwise.
With ``run.batch_size: auto`` each actor chooses its batch size (a CUDA actor from its free device
memory, ``cuda_batch_size``; a CPU actor as the plan does) and the driver cuts each actor's batches
to that size; predictions are stored by (model, point, image), so sizes never change what is stored.

Images travel with their batch: the driver reads each batch's files and the actor decodes those
bytes in memory with the local reader's decoder (``decode.decode_rgb``), so workers need no copy of
the dataset and write no image to disk. Files the spec names by an absolute path are not shipped:
every node must hold them at that path (they are hashed there like the others).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
import uuid
from itertools import groupby
from pathlib import Path
from typing import Any

import cv2
import torch

from fieldready import __version__
from fieldready.errors import DataError, FieldreadyError, ModelError, PlanError
from fieldready.execution.device import Threads, select_device
from fieldready.execution.models.adapter import load_model
from fieldready.execution.models.kinds import get_kind
from fieldready.execution.runner import Batch, RunStats, _Targets, batches, pending, progress_bar, run_batch
from fieldready.execution.store import ResultStore
from fieldready.plan import TestPlan
from fieldready.plan.plan import model_entry, option_files, plugin_entry
from fieldready.usercode import UserCodeError, load_plugin, source_files

__all__ = ["execute_ray", "require_ray", "driver_device", "package", "unpack", "cuda_batch_size", "actor_layout", "sweep_folders"]

_IN_FLIGHT = 2  # batches queued per actor: the next one starts while the driver commits the last
_RETRIES = 3  # restarts of a dead actor, and retries of its batch
_COPIES = 32  # float32 copies of an image a CUDA batch may hold at once (decoded, corrupted, activations)
_MAX_BATCH = 256
_FOLDER = "fieldready-ray-"  # an actor's folder: fieldready-ray-<run>-<pid>-<random>, in its node's temp dir


def require_ray() -> Any:
    """The ``ray`` module, or a PlanError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise PlanError(
            "run.executor is 'ray' but Ray is not installed; pip install 'fieldready[ray]' (or use executor: local)"
        ) from None
    return ray


def driver_device(setting: str) -> torch.device:
    """The driver's own device under Ray (failure gallery, repeated captures) for ``run.device``.

    CUDA when the setting allows it and this machine has it, else the CPU: the GPUs a spec asks for
    may be on the workers, where each actor takes its own (``execute_ray`` checks that the cluster has one).
    """
    if _allows_cuda(setting) and not torch.cuda.is_available():
        return torch.device("cpu")
    return select_device(setting)


def _allows_cuda(setting: str) -> bool:
    """Whether ``run.device`` lets the actors take GPUs (``auto``, ``cuda``, ``cuda:N``)."""
    return setting == "auto" or setting.startswith("cuda")


def cuda_batch_size(largest_pixels: int, free_memory: int) -> int:
    """``batch_size: auto`` on a CUDA device: half its free memory over ``_COPIES`` float32 copies of the largest image.

    Pure, so it is tested without a GPU: ``free_memory`` in bytes (``torch.cuda.mem_get_info``), 1..256.

    >>> cuda_batch_size(224 * 224, 16 * 2**30), cuda_batch_size(1920 * 1080, 16 * 2**30)
    (256, 10)
    """
    per_image = 3 * 4 * max(int(largest_pixels), 1) * _COPIES
    return int(max(1, min(_MAX_BATCH, (int(free_memory) // 2) // per_image)))


def _shipped(plan: TestPlan) -> list[Path]:
    """The files the spec names by a relative path that workers need: code, model files, option files."""
    loaded, files = plan.loaded, []
    for entry in loaded.spec.plugins:
        if not Path(entry).expanduser().is_absolute():  # an absolute one is loaded from that path on the node
            files += source_files(loaded.root, entry)
    for model in plan.models:
        spec = model.spec
        if get_kind(spec.kind).entrypoint and spec.entrypoint:
            files += source_files(loaded.root, str(spec.entrypoint).partition(":")[0])
        if spec.path is not None and not Path(spec.path).expanduser().is_absolute():
            files.append(loaded.resolve(spec.path))
        files += [path for _, path in option_files(loaded, spec.options)]
    return sorted({Path(os.path.abspath(f)) for f in files if Path(f).is_file()})


def package(plan: TestPlan) -> dict[str, bytes]:
    """The files workers need (``_shipped``), by absolute path on the driver, with their bytes."""
    out = {}
    for path in _shipped(plan):
        try:
            out[path.as_posix()] = path.read_bytes()
        except OSError as exc:
            raise PlanError(f"{path}: cannot read it to ship it to the Ray workers ({exc.strerror or exc}); check the file") from None
    return out


def unpack(bundle: dict[str, bytes], folder: Path, root: Path) -> Path:
    """Write ``bundle`` under ``folder`` mirroring the driver's paths; the mirror of the driver's spec folder ``root``."""
    for name, data in bundle.items():
        target = _mirror(folder, Path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    mirrored = _mirror(folder, Path(os.path.abspath(root)))
    mirrored.mkdir(parents=True, exist_ok=True)
    return mirrored


def _mirror(folder: Path, path: Path) -> Path:
    return folder / path.relative_to(path.anchor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def sweep_folders(temp: Path, *, run: str | None = None) -> list[Path]:
    """Delete the actor folders in ``temp`` of ``run`` (all of them), or of every run whose actor process is gone.

    A killed actor cannot delete its own folder: the actor that replaces it on a node sweeps the dead
    ones, and the driver sweeps its run's when the run ends. The owner's pid is in the folder's name,
    so a folder being created is never taken for a dead one. Returns the folders deleted.
    """
    gone = []
    for folder in Path(temp).glob(f"{_FOLDER}*"):
        parts = folder.name[len(_FOLDER):].split("-")
        if len(parts) != 3 or not parts[1].isdigit() or not folder.is_dir() or folder.is_symlink():
            continue
        if parts[0] == run if run is not None else not _alive(int(parts[1])):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone


class BatchWorker:
    """A Ray actor's state: the shipped plan and files in its own folder, its models loaded once, its device."""

    def __init__(self, plan: TestPlan, bundle: dict[str, bytes], version: str, models: list[str], device: str,
                 threads: int, run: str = "") -> None:
        # A fieldready error here is kept and raised by ``run``: an actor whose constructor raises
        # would be restarted in vain, and Ray reports it as a death, not as the error it was.
        self.error: FieldreadyError | None = None
        sweep_folders(Path(tempfile.gettempdir()))  # those of actors that died on this node (killed, or restarted)
        # Owned by the actor: deleted by ``close``, or when the actor's process exits normally.
        self._temp = tempfile.TemporaryDirectory(prefix=f"{_FOLDER}{run or uuid.uuid4().hex[:12]}-{os.getpid()}-",
                                                 ignore_cleanup_errors=True)
        self.folder = Path(self._temp.name)
        self.size = plan.batch_size
        try:
            self._load(plan, bundle, version, models, device, threads)
        except FieldreadyError as exc:
            self.error = exc

    def _load(self, plan: TestPlan, bundle: dict[str, bytes], version: str, models: list[str], device: str,
              threads: int) -> None:
        torch.set_num_threads(threads)
        cv2.setNumThreads(1)
        node = os.uname().nodename
        if version != __version__:
            raise PlanError(f"a Ray worker on {node} has fieldready {__version__}, the driver {version}; "
                            "install the same version on every node")
        root = unpack(bundle, self.folder, plan.loaded.root)
        loaded = dataclasses.replace(plan.loaded, path=root / plan.loaded.path.name)
        mine = _identity(plan, loaded, self.folder)
        wanted = _driver_identity(plan)
        if mine != wanted:
            raise PlanError(
                f"a Ray worker on {node} hashes the shipped files of {plan.loaded.path.name} differently from the driver "
                f"({', '.join(_differences(wanted, mine))} differ); a file changed while the run started, or a file given "
                "by an absolute path differs on that node — give every node the same files"
            )
        for entry in loaded.spec.plugins:
            try:
                load_plugin(root, entry)
            except UserCodeError as exc:
                raise PlanError(f"a Ray worker on {node} cannot import plugin {entry!r}: {exc.message}") from None
        self.plan = dataclasses.replace(plan, loaded=loaded)
        self.device = torch.device(device)
        self.adapters = [
            load_model(m.spec, root, self.device, plan.spec.task, dataset=plan.dataset)
            for m in plan.models
            if m.name in models
        ]
        self.targets = _Targets.of(plan, self.device)
        self.records = {r.image_id: r for r in plan.dataset.records}
        if plan.spec.run.batch_size == "auto" and self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            self.size = cuda_batch_size(max(r.width * r.height for r in plan.dataset.records), free)

    def where(self) -> str:
        """Node and process of this actor (for messages and tests)."""
        return f"{os.uname().nodename}:{os.getpid()}"

    def batch_size(self) -> int:
        """The batch size this actor wants (``run.batch_size``, or chosen for its device when ``auto``)."""
        return self.size

    def sources(self) -> list[str]:
        """The files its plugins and python models were imported from (they lie in its own folder)."""
        return sorted(str(getattr(m, "__file__", "")) for name, m in list(sys.modules.items())
                      if name.startswith("_fieldready_user_") and str(getattr(m, "__file__", "")).startswith(str(self.folder)))

    def home(self) -> str:
        """This actor's folder (the driver sweeps its run's folders there when the run ends)."""
        return str(self.folder)

    def close(self) -> None:
        """Delete the folder the shipped files were written to."""
        self._temp.cleanup()

    def run(self, key: str, image_ids: list[int], models: list[str],
            images: list[bytes] | None = None) -> tuple[str, list, list, float]:
        """One batch: its key, prediction rows, moved-target rows and seconds spent.

        ``images`` are the batch's image files as the driver read them, decoded from memory by the
        local reader's decoder (``decode_rgb``: the same bytes give the same pixels, and errors name
        the driver's path); None reads them at their paths.
        """
        if self.error is not None:
            raise self.error
        t0 = time.perf_counter()
        records = [self.records[i] for i in image_ids]
        if images is not None:
            records = [dataclasses.replace(r, data=data) for r, data in zip(records, images)]
        adapters = [a for a in self.adapters if a.name in models]
        predictions, targets = run_batch(self.plan, Batch(key, records), adapters, self.targets, self.device)
        return key, predictions, targets, time.perf_counter() - t0


def _identity(plan: TestPlan, loaded: Any, folder: Path) -> dict:
    """Each model's and plugin's hash and hashed files, hashed again from the files under ``loaded.root``.

    A file outside the spec folder is named by its absolute path: the mirror's prefix is taken off so
    that it reads as on the driver, and then that model's hash (which covers the names) is the
    driver's exactly when every file's digest is.
    """
    prefix = str(folder)
    models = {}
    for m in plan.models:
        entry = model_entry(loaded, m.spec)
        parts = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in entry.parts.items()}
        renamed = parts != entry.parts
        models[m.name] = {"hash": m.file_hash if renamed and parts == m.parts else entry.file_hash, "parts": parts}
    plugins = {}
    for module in loaded.spec.plugins:
        entry = plugin_entry(loaded, module)
        plugins[module] = {"hash": entry.hash, "parts": dict(entry.parts)}
    return {"models": models, "plugins": plugins}


def _driver_identity(plan: TestPlan) -> dict:
    """The same fields as ``_identity`` from the driver's plan."""
    return {"models": {m.name: {"hash": m.file_hash, "parts": dict(m.parts)} for m in plan.models},
            "plugins": {p.module: {"hash": p.hash, "parts": dict(p.parts)} for p in plan.plugins}}


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


def actor_layout(resources: dict, *, allow_cuda: bool, threads: int, batches: int) -> tuple[int, dict]:
    """How many actors and the resources of each: one per GPU (``num_gpus``), else as many CPU actors as cores allow.

    ``resources`` is ``ray.cluster_resources()``; ``allow_cuda`` whether ``run.device`` permits CUDA.
    """
    gpus = int(resources.get("GPU", 0))
    if gpus and allow_cuda:
        return max(1, min(gpus, batches)), {"num_gpus": 1, "num_cpus": 1}
    cpus = max(1, int(resources.get("CPU", 1)))
    per_actor = max(1, min(threads, cpus))
    return max(1, min(cpus // per_actor, batches)), {"num_cpus": per_actor}


class _Feed:
    """The pending images, grouped by size in id order, cut into batches of whatever size the asking actor wants.

    With one size for every actor the batches are exactly ``runner.batches(records, size)``.
    """

    def __init__(self, pending_batches: list[Batch]) -> None:
        records = [r for b in pending_batches for r in b.records]
        self.groups = [list(g) for _, g in groupby(records, key=lambda r: (r.height, r.width))]

    def take(self, size: int) -> Batch | None:
        while self.groups and not self.groups[0]:
            self.groups.pop(0)
        if not self.groups:
            return None
        chunk, self.groups[0] = self.groups[0][:size], self.groups[0][size:]
        return batches(chunk, len(chunk))[0]


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
    bundle = package(plan)  # read before Ray starts: a missing file stops the run with nothing started
    started = _connect(ray, address)
    chosen = Threads(threads, 1, "run.threads") if threads else Threads(1, 1, "ray")
    models = [m.name for m in plan.models if work.missing[m.name]]
    setting = str(plan.spec.run.device)
    cluster = ray.cluster_resources()
    if setting.startswith("cuda") and not int(cluster.get("GPU", 0)):
        if started:
            ray.shutdown()
        raise PlanError(
            f"run.device is {setting!r} but the Ray cluster has no GPU ({int(cluster.get('CPU', 0))} CPUs); "
            "use device: auto (the GPUs when the cluster has them, else CPUs) or cpu, or join a cluster with GPUs"
        )
    count, resources = actor_layout(cluster, allow_cuda=_allows_cuda(setting), threads=chosen.torch, batches=len(work.batches))
    gpu = resources.get("num_gpus", 0) > 0
    remote = ray.remote(BatchWorker).options(max_restarts=_RETRIES, max_task_retries=_RETRIES, **resources)
    shared_plan, shared_bundle = ray.put(plan), ray.put(bundle)  # once in the object store, not once per actor
    run = uuid.uuid4().hex[:12]  # names this run's actor folders, so the driver can sweep them at the end
    actors = [
        remote.remote(shared_plan, shared_bundle, __version__, models, "cuda" if gpu else "cpu", chosen.torch, run)
        for _ in range(count)
    ]
    temps = {Path(tempfile.gettempdir())}
    bar = progress_bar(plan, work, len(models), progress=progress)
    feed = _Feed(work.batches)
    in_flight: dict[Any, tuple[Any, Batch]] = {}
    computed = 0
    start = time.perf_counter()
    try:
        sizes = {actor: size for actor, size in zip(actors, _results(ray, [a.batch_size.remote() for a in actors]))}
        temps |= {Path(home).parent for home in _results(ray, [a.home.remote() for a in actors])}
        for actor in actors:
            for _ in range(_IN_FLIGHT):
                _submit(actor, sizes[actor], feed, in_flight, work.missing)
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            actor, batch = in_flight.pop(done[0])
            key, predictions, targets, seconds = _result(ray, done[0])
            store.commit_batch(
                key,
                images=len(batch.records),
                seconds=seconds,
                predictions=[p for p in predictions if p.image_id in work.missing[p.model]],
                targets=targets,
            )
            computed += 1
            bar.update(len(batch.records) * max(len(plan.points), 1))  # the bar counts images × points
            _submit(actor, sizes[actor], feed, in_flight, work.missing)
    finally:
        bar.close()
        try:
            ray.get([a.close.remote() for a in actors], timeout=10)
        except Exception:  # noqa: BLE001 — a dead actor's folder is swept below, or by the next actor on its node
            pass
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()  # a local cluster: its workers have stopped, so nothing writes into the folders swept next
        for temp in temps:  # on a local cluster the actors' temp dirs are this machine's; elsewhere nothing matches
            sweep_folders(temp, run=run)
    return RunStats(computed, work.resumed, time.perf_counter() - start, "ray:" + ("cuda" if gpu else "cpu"))


def _submit(actor: Any, size: int, feed: _Feed, in_flight: dict, missing: dict[str, set[int]]) -> None:
    batch = feed.take(size)
    if batch is None:
        return
    ids = [r.image_id for r in batch.records]
    models = [name for name, todo in missing.items() if todo & set(ids)]
    in_flight[actor.run.remote(batch.key, ids, models, _image_bytes(batch))] = (actor, batch)


def _image_bytes(batch: Batch) -> list[bytes]:
    """The batch's image files as they are on the driver (workers need no copy of the dataset)."""
    out = []
    for record in batch.records:
        try:
            out.append(Path(record.path).read_bytes())
        except OSError as exc:
            raise DataError(f"{record.path}: cannot read image ({exc.strerror or exc}); fix or remove it from the dataset") from None
    return out


def _results(ray: Any, refs: list) -> list:
    return [_result(ray, ref) for ref in refs]


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

"""The device a run computes on (``run.device``, ``auto`` → CUDA or CPU) and the CPU threads it uses.

Threads are chosen together so that they never oversubscribe the cores: the run has two busy
threads of its own (the prefetch thread that decodes and corrupts the next batch, the main thread
that runs the models), so torch's intra-op pool gets the physical cores this process may use, less
the one the prefetch thread needs and less the cores other processes are keeping busy (load
average); OpenCV gets one thread (its calls run inside the prefetch and decode threads). OpenMP
workers spin while waiting for a core, so on a shared machine more threads than free cores made the
ImageNet-C grid 3× slower than one thread. ``run.threads``, ``--threads`` or ``OMP_NUM_THREADS``
override the choice.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from fieldready.errors import PlanError

__all__ = ["select_device", "Threads", "choose_threads", "physical_cores", "use_threads"]


def select_device(setting: str) -> torch.device:
    """The device for ``run.device``: auto → CUDA when present, else CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise PlanError(f"run.device is {setting!r} but no CUDA device is available; use device: auto or cpu")
    return torch.device(setting)


@dataclass(frozen=True)
class Threads:
    """Thread counts of a run and where they came from (``run.threads``, ``OMP_NUM_THREADS`` or ``auto``)."""

    torch: int
    opencv: int
    source: str

    def __str__(self) -> str:
        return f"{self.torch} torch thread(s), {self.opencv} OpenCV ({self.source})"


def _cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int] | None = None) -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads of one core count once)."""
    cpus = _cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def choose_threads(setting: int | None = None, *, load: float | None = None) -> Threads:
    """Torch and OpenCV threads for a run: ``setting`` when given, else ``OMP_NUM_THREADS``, else free cores − 1.

    ``load`` is the number of cores other processes keep busy (default: the 1-minute load average);
    the choice is never below one thread.
    """
    if setting is not None:
        return Threads(max(1, int(setting)), 1, "run.threads")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return Threads(int(env), 1, "OMP_NUM_THREADS")
    cpus = _cpus()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # pragma: no cover - not available
            load = 0.0
    free = min(physical_cores(cpus), len(cpus) - math.floor(load))
    return Threads(max(1, free - 1), 1, "auto")


@contextmanager
def use_threads(threads: Threads) -> Iterator[Threads]:
    """Set torch's and OpenCV's thread counts for the body and restore the previous ones after."""
    import cv2

    before = (torch.get_num_threads(), cv2.getNumThreads())
    torch.set_num_threads(threads.torch)
    cv2.setNumThreads(threads.opencv)
    try:
        yield threads
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])

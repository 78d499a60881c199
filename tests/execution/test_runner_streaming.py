"""Threads chosen to fit the free cores, and the prefetching runner: same predictions, errors where they belong."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.errors import DataError
from fieldready.execution.device import choose_threads, physical_cores, use_threads
from fieldready.execution.models.adapter import load_model
from fieldready.execution.runner import _Targets, batches, execute, run_batch
from fieldready.execution.store import ResultStore
from fieldready.plan import compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project


def test_threads_leave_a_core_for_prefetch_and_for_other_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = physical_cores()
    assert choose_threads(load=0.0).torch == max(1, cores - 1)
    assert choose_threads(load=float(cores)).torch == 1  # a busy machine: one thread, never zero
    assert choose_threads(load=0.0).opencv == 1
    assert choose_threads(3, load=100.0).torch == 3  # run.threads / --threads win
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(load=100.0).torch == 2
    assert choose_threads(load=100.0).source == "OMP_NUM_THREADS"


def test_use_threads_restores_the_previous_counts() -> None:
    before = (torch.get_num_threads(), cv2.getNumThreads())
    with use_threads(choose_threads(2)):
        assert torch.get_num_threads() == 2
        assert cv2.getNumThreads() == 1
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before


def test_prefetching_runner_stores_what_one_thread_computes(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=7)
    plan = compile_plan(load_spec(spec))
    cpu = torch.device("cpu")
    with ResultStore(tmp_path / "run") as store:
        execute(plan, store, device=cpu, progress=False, threads=choose_threads(1))
        stored = {(m, p): store.predictions(m, p) for m, p in plan.units}
    adapters = [load_model(m.spec, plan.loaded.root, cpu, plan.spec.task, dataset=plan.dataset) for m in plan.models]
    targets = _Targets.of(plan, cpu)
    seen = 0
    for batch in batches(plan.dataset.records, plan.batch_size):
        rows, _ = run_batch(plan, batch, adapters, targets, cpu)
        for row in rows:
            assert (row.data == stored[(row.model, row.point)][row.image_id]).all()
            seen += 1
    assert seen == len(plan.units) * len(plan.dataset.records)


def test_undecodable_image_is_named_after_the_batches_before_it_are_saved(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=7)
    spec.write_text(spec.read_text().replace("batch_size: 5", "batch_size: 2"))
    plan = compile_plan(load_spec(spec))
    order = batches(plan.dataset.records, 2)
    bad = order[2].records[0]
    Path(bad.path).write_bytes(b"not an image")
    with ResultStore(tmp_path / "run") as store:
        with pytest.raises(DataError, match=Path(bad.path).name):
            execute(plan, store, device=torch.device("cpu"), progress=False)
        assert store.batch_count() == 2


def test_threads_option_and_bad_values_on_the_command_line(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    bad = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "x"), "--threads", "0"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "--threads" in bad.output
    spec.write_text(spec.read_text().replace("run: {device: cpu,", "run: {threads: 0, device: cpu,"))
    bad = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "y")])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "threads" in bad.output

"""The Ray executor on a local 2-CPU cluster: the local executor's numbers, a dead actor retried, a killed driver
resumed, the spec's code and model files shipped to the workers, batch sizes chosen per actor."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner

from fieldready import __version__, corruptions
from fieldready.cli import cli
from fieldready.errors import DataError, PlanError
from fieldready.execution.ray_executor import (
    BatchWorker,
    _Feed,
    actor_layout,
    cuda_batch_size,
    driver_device,
    package,
    sweep_folders,
)
from fieldready.execution.runner import batches
from fieldready.execution.store import ResultStore
from fieldready.plan import compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project
from tests.test_plugins import PLUGIN

FLAKY_MODEL = '''\
import os
import time
from pathlib import Path

import torch


def load(flag="", delay=0.0):
    flag = flag and flag + ".flag"  # the option itself names no file: existing files in options are hashed
    model = torch.jit.load(str(Path(__file__).parent / "models" / "a.pt"))

    def predict(images):
        if flag and not os.path.exists(flag):  # the first call anywhere kills its process, once
            Path(flag).write_text(str(os.getpid()))
            os._exit(1)
        time.sleep(delay)
        return model(images)

    return predict
'''


@pytest.fixture(scope="module")
def worker_temp() -> Path:
    """The TMPDIR of the module's Ray workers: its own folder, so a test can see what they leave there."""
    return Path(tempfile.mkdtemp(prefix="frtest-ray-"))  # short: not inside pytest's long tmp paths


@pytest.fixture(scope="module")
def cluster(worker_temp: Path) -> str:
    """A local Ray cluster of 2 CPUs for the module (its workers' TMPDIR ``worker_temp``); its GCS address."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TMPDIR", str(worker_temp))  # inherited by the cluster's processes, not by this one's tempfile
        env.setenv("RAY_TMPDIR", "/tmp")  # Ray's own session files stay where they always are
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(worker_temp, ignore_errors=True)


def _project(root: Path, options: str, *, n_images: int = 8) -> Path:
    """The tiny detection project with model-b a python entry point taking ``options``, batches of 2."""
    spec = make_detection_project(root, n_images=n_images)
    (root / "flaky.py").write_text(FLAKY_MODEL)
    text = spec.read_text().replace(
        "  - {name: model-b, kind: torchscript, path: models/b.pt}",
        f"  - {{name: model-b, kind: python, entrypoint: 'flaky:load', options: {options}}}",
    )
    spec.write_text(text.replace("batch_size: 5", "batch_size: 2").replace("bootstrap: 200", "bootstrap: 50"))
    return spec


def _run(spec: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet", "--threads", "1", *extra])
    assert result.exit_code == 0, result.output


def _numbers(run_dir: Path) -> dict:
    data = json.loads((run_dir / "results.json").read_text())
    data.pop("provenance")
    return data


def _stored(run_dir: Path) -> dict:
    with sqlite3.connect(run_dir / "results.sqlite") as con:
        return {(m, p, i): bytes(d) for m, p, i, d in con.execute("SELECT model, point, image_id, data FROM predictions")}


def _done_batches(run_dir: Path) -> int:
    try:
        with sqlite3.connect(run_dir / "results.sqlite", timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_ray_gives_the_local_numbers_and_a_dead_actor_is_retried(cluster: str, tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", f"{{flag: '{tmp_path / 'died'}'}}")
    flag = tmp_path / "died.flag"
    _run(spec, tmp_path / "ray", "--executor", "ray")
    assert flag.exists(), "the flaky model never killed its actor"
    assert int(flag.read_text()) != os.getpid()  # it died in an actor, not in the driver
    _run(spec, tmp_path / "local", "--executor", "local")
    assert _numbers(tmp_path / "ray") == _numbers(tmp_path / "local")
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "local")  # every prediction, bit for bit
    plan = compile_plan(load_spec(spec))
    assert len(_stored(tmp_path / "ray")) == len(plan.units) * len(plan.dataset.records)


@pytest.mark.parametrize("kill", [False, True], ids=["completed", "killed-worker"])
def test_a_ray_run_leaves_no_folders_in_the_workers_temp_dir(cluster: str, worker_temp: Path, tmp_path: Path,
                                                             kill: bool) -> None:
    spec = _project(tmp_path / "p", f"{{flag: '{tmp_path / 'died'}'}}" if kill else "{delay: 0.0}", n_images=4)
    _run(spec, tmp_path / "run", "--executor", "ray")
    assert (tmp_path / "died.flag").exists() == kill  # with kill, an actor died mid-batch and was replaced
    assert sorted(p.name for p in worker_temp.iterdir() if p.name.startswith("fieldready")) == []


def test_sweep_deletes_the_folders_of_dead_actors_and_of_one_run(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = [f"fieldready-ray-aaa-{dead.pid}-x1", f"fieldready-ray-aaa-{os.getpid()}-x2",
             f"fieldready-ray-bbb-{os.getpid()}-x3", "fieldready-ray-k4p1x", "other"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.pt").write_bytes(b"model")
    assert [p.name for p in sweep_folders(tmp_path)] == [names[0]]  # its process is gone
    assert [p.name for p in sweep_folders(tmp_path, run="bbb")] == [names[2]]  # the run has ended
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:2] + names[3:])


def test_a_closed_worker_leaves_no_folder(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    plan = compile_plan(load_spec(spec))
    worker = BatchWorker(plan, package(plan), __version__, ["model-a"], "cpu", 1, "r1")
    folder = worker.folder
    assert folder.is_dir() and folder.name.startswith(f"fieldready-ray-r1-{os.getpid()}-")
    worker.close()
    assert not folder.exists()


def test_device_cuda_on_a_cluster_without_gpus_is_one_line_naming_the_setting(cluster: str, tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    spec.write_text(spec.read_text().replace("device: cpu", "device: cuda"))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet", "--executor", "ray"])
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and isinstance(result.exception, SystemExit), result.exception
    assert len(out.strip().splitlines()) == 1, out
    assert "run.device is 'cuda'" in out and "the Ray cluster has no GPU" in out and "device: auto" in out, out
    assert not (tmp_path / "run" / "results.json").exists()


def test_device_auto_runs_on_the_cpu_cluster(cluster: str, tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    spec.write_text(spec.read_text().replace("device: cpu", "device: auto"))
    _run(spec, tmp_path / "run", "--executor", "ray")
    assert json.loads((tmp_path / "run" / "results.json").read_text())["provenance"]["device"] == "cpu"


def test_the_driver_needs_no_cuda_under_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [driver_device(s).type for s in ("cuda", "cuda:1", "auto", "cpu")] == ["cpu"] * 4  # the GPUs may be on the workers
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert driver_device("cuda:1") == torch.device("cuda:1") and driver_device("cpu") == torch.device("cpu")


def test_killed_ray_driver_resumes(cluster: str, tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", "{delay: 0.3}", n_images=12)
    total = len(batches(compile_plan(load_spec(spec)).dataset.records, 2))
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "fieldready.cli", "run", str(spec), "-o", str(killed), "--quiet",
           "--threads", "1", "--executor", "ray", "--address", cluster]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _done_batches(killed) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _done_batches(killed)
    assert 1 <= partial < total, f"kill landed at {partial}/{total} batches"

    resumed = CliRunner().invoke(cli, ["run", str(spec), "-o", str(killed), "--quiet", "--threads", "1", "--executor", "ray"])
    assert resumed.exit_code == 0, resumed.output
    assert f"resumed: {partial} batches" in resumed.output
    _run(spec, tmp_path / "local")
    assert _numbers(killed) == _numbers(tmp_path / "local")
    assert _stored(killed) == _stored(tmp_path / "local")


def test_executor_ray_without_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "out"), "--executor", "ray"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "fieldready[ray]" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.sqlite").exists()  # nothing started


def test_a_worker_whose_shipped_files_differ_refuses_to_compute(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    plan = compile_plan(load_spec(spec))
    (tmp_path / "p" / "models" / "b.pt").write_bytes((tmp_path / "p" / "models" / "a.pt").read_bytes())  # edited after hashing
    worker = BatchWorker(plan, package(plan), __version__, ["model-a", "model-b"], "cpu", 1)
    try:
        with pytest.raises(PlanError, match=r"models\.model-b\.hash"):
            worker.run("any", [1], ["model-a"])
    finally:
        worker.close()
    other = BatchWorker(plan, package(plan), "0.0.0", ["model-a"], "cpu", 1)  # another fieldready on the node
    try:
        with pytest.raises(PlanError, match="the driver 0.0.0"):
            other.run("any", [1], ["model-a"])
    finally:
        other.close()


def test_an_undecodable_shipped_image_is_named_by_the_drivers_path(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    plan = compile_plan(load_spec(spec))
    worker = BatchWorker(plan, package(plan), __version__, ["model-a"], "cpu", 1)
    record = plan.dataset.records[0]
    try:
        with pytest.raises(DataError) as caught:
            worker.run("k", [record.image_id], ["model-a"], [b"not an image"])
    finally:
        worker.close()
    assert record.path in str(caught.value) and "fieldready-ray-" not in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_worker_decodes_shipped_images_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    plan = compile_plan(load_spec(spec))
    records = plan.dataset.records
    images = [Path(r.path).read_bytes() for r in records]
    ids = [r.image_id for r in records]
    worker = BatchWorker(plan, package(plan), __version__, ["model-a"], "cpu", 1)
    try:
        from_files = worker.run("k", ids, ["model-a"])[1]
        (tmp_path / "p" / "images").rename(tmp_path / "gone")  # only the shipped bytes are left
        written: list[Path] = []
        monkeypatch.setattr(Path, "write_bytes", lambda self, data: written.append(self))
        from_bytes = worker.run("k", ids, ["model-a"], images)[1]
        monkeypatch.undo()
    finally:
        worker.close()
    assert written == []  # nothing went through the disk
    assert [(r.point, r.image_id, r.data.tobytes()) for r in from_bytes] == \
        [(r.point, r.image_id, r.data.tobytes()) for r in from_files]


SHIPPED_MODEL = '''\
import os
from pathlib import Path

import torch


def load(report=""):
    if report:  # where this module was imported from, one file per process
        Path(f"{report}.{os.getpid()}").write_text(__file__)
    model = torch.jit.load(str(Path(__file__).parent / "models" / "a.pt"))
    return lambda images: model(images)
'''


@pytest.fixture
def lens_dirt():
    """Unregister the plugin's corruption that this process loaded (the driver compiles the spec too)."""
    yield
    if "lens_dirt" in corruptions.names():
        corruptions.unregister("lens_dirt")


def _plugin_project(root: Path, report: Path) -> Path:
    """The tiny project with a plugin corruption and model-b a python entry point (``shipped.py``), batches of 2."""
    spec = make_detection_project(root, n_images=6)
    (root / "dirt.py").write_text(PLUGIN)
    (root / "shipped.py").write_text(SHIPPED_MODEL)
    text = spec.read_text().replace("baseline: model-a\n", "baseline: model-a\nplugins: [dirt]\n")
    text = text.replace("conditions:\n", "conditions:\n  - {corruption: lens_dirt, severity: {levels: [2, 5]}, frequency: 0.1}\n")
    text = text.replace(
        "  - {name: model-b, kind: torchscript, path: models/b.pt}",
        f"  - {{name: model-b, kind: python, entrypoint: 'shipped:load', options: {{report: '{report}'}}}}",
    )
    spec.write_text(text.replace("batch_size: 5", "batch_size: 2").replace("bootstrap: 200", "bootstrap: 50"))
    return spec


def test_shipped_plugin_and_python_model_give_the_local_numbers(cluster: str, tmp_path: Path, lens_dirt: None) -> None:
    project = tmp_path / "p"
    spec = _plugin_project(project, tmp_path / "where")
    _run(spec, tmp_path / "ray", "--executor", "ray")
    imported = [Path(f.read_text()) for f in tmp_path.glob("where.*")]
    assert imported and all(int(f.suffix[1:]) != os.getpid() for f in tmp_path.glob("where.*"))  # loaded in actors
    assert all(p.name == "shipped.py" and project not in p.parents and "fieldready-ray-" in str(p) for p in imported)
    _run(spec, tmp_path / "local", "--executor", "local")
    assert _numbers(tmp_path / "ray") == _numbers(tmp_path / "local")
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "local")
    assert any(point.startswith("lens_dirt") for _, point, _ in _stored(tmp_path / "ray"))


def test_workers_use_the_shipped_copies_when_the_originals_are_gone(cluster: str, tmp_path: Path, lens_dirt: None) -> None:
    project = tmp_path / "p"
    spec = _plugin_project(project, tmp_path / "where")
    _run(spec, tmp_path / "local", "--executor", "local")
    plan = compile_plan(load_spec(spec))
    bundle = package(plan)
    assert {Path(name).name for name in bundle} == {"dirt.py", "shipped.py", "a.pt"}
    records = plan.dataset.records[:2]
    images = [Path(r.path).read_bytes() for r in records]  # what the driver sends with a batch
    for name in ("dirt.py", "shipped.py", "models", "images"):  # nothing of the code, models or images is left
        (project / name).rename(tmp_path / f"gone-{name}")
    actor = ray.remote(BatchWorker).remote(ray.put(plan), bundle, __version__, ["model-a", "model-b"], "cpu", 1)
    try:
        ids = [r.image_id for r in records]
        _, rows, _, _ = ray.get(actor.run.remote("k", ids, ["model-a", "model-b"], images))
        sources = ray.get(actor.sources.remote())
    finally:
        ray.kill(actor)
    assert sorted(Path(s).name for s in sources) == ["dirt.py", "shipped.py"]
    assert all(project not in Path(s).parents for s in sources)
    with ResultStore(tmp_path / "local") as store:
        for row in rows:
            assert row.data.tobytes() == store.predictions(row.model, row.point, [row.image_id])[row.image_id].tobytes()
    assert {row.point for row in rows} == {p.key for p in plan.points}


def test_ray_resumes_a_store_filled_at_another_batch_size(cluster: str, tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", "{delay: 0.0}", n_images=7)
    _run(spec, tmp_path / "local")  # batches of 2
    partial = tmp_path / "partial"
    shutil.copytree(tmp_path / "local", partial)
    with sqlite3.connect(partial / "results.sqlite") as con:  # as if killed after the images 1..3
        con.execute("DELETE FROM predictions WHERE image_id > 3")
        con.execute("DELETE FROM targets WHERE image_id > 3")
    spec.write_text(spec.read_text().replace("batch_size: 2", "batch_size: 3"))  # the actors cut batches of 3
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(partial), "--quiet", "--threads", "1", "--executor", "ray"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(partial / "results.sqlite") as con:
        sizes = {n for (n,) in con.execute("SELECT images FROM batches")}
    assert 3 in sizes and 2 in sizes  # both sizes were committed into the one store
    assert _stored(partial) == _stored(tmp_path / "local")
    resumed, local = _numbers(partial), _numbers(tmp_path / "local")
    assert resumed.pop("spec_hash") != local.pop("spec_hash")  # the spec's text changed (batch_size), nothing else
    assert resumed == local


def test_cuda_batch_size_follows_free_memory_and_image_size() -> None:
    small, large, gib = 224 * 224, 1920 * 1080, 2**30
    sizes = [cuda_batch_size(large, m * gib) for m in (1, 2, 4, 8, 16, 32)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # more memory, larger batches
    assert cuda_batch_size(small, 8 * gib) > cuda_batch_size(large, 8 * gib)
    assert cuda_batch_size(small, 80 * gib) == 256  # capped
    assert cuda_batch_size(large, 1) == 1  # never zero
    # the chosen batch's images, times the copies allowed for, fit in half the free memory
    assert cuda_batch_size(large, 8 * gib) * large * 3 * 4 * 32 <= 4 * gib


def test_actor_layout_places_one_actor_per_gpu_else_fills_the_cpus() -> None:
    gpus = {"CPU": 16.0, "GPU": 4.0}
    assert actor_layout(gpus, allow_cuda=True, threads=1, batches=100) == (4, {"num_gpus": 1, "num_cpus": 1})
    assert actor_layout(gpus, allow_cuda=True, threads=1, batches=2)[0] == 2  # never more actors than batches
    assert actor_layout(gpus, allow_cuda=False, threads=2, batches=100) == (8, {"num_cpus": 2})
    assert actor_layout({"CPU": 2.0}, allow_cuda=True, threads=4, batches=100) == (1, {"num_cpus": 2})


def test_feed_cuts_each_actor_its_own_size_and_every_image_once(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    plan = compile_plan(load_spec(spec))
    base = plan.dataset.records[0]
    records = [dataclasses.replace(base, image_id=i, width=64 if i % 3 else 32, height=64) for i in range(1, 15)]
    same = _Feed(batches(records, 4))
    assert [b.key for b in iter(lambda: same.take(4), None)] == [b.key for b in batches(records, 4)]
    mixed, cut = _Feed(batches(records, 4)), []
    for size in (3, 5, 1, 8, 2, 8):
        batch = mixed.take(size)
        if batch is not None:
            assert len(batch.records) <= size and len({(r.width, r.height) for r in batch.records}) == 1
            cut.append(batch)
    assert mixed.take(8) is None
    assert sorted(r.image_id for b in cut for r in b.records) == list(range(1, 15))

"""The Ray executor on a local 2-CPU cluster: the local executor's numbers, a dead actor retried, a killed driver resumed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.errors import PlanError
from fieldready.execution.ray_executor import BatchWorker
from fieldready.execution.runner import batches
from fieldready.plan import compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project

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
def cluster() -> str:
    """A local Ray cluster of 2 CPUs for the module; its GCS address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


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


def test_a_worker_that_sees_other_files_refuses_to_compute(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    identity = compile_plan(load_spec(spec)).identity()
    (tmp_path / "p" / "models" / "b.pt").write_bytes((tmp_path / "p" / "models" / "a.pt").read_bytes())  # the node's copy differs
    worker = BatchWorker(str(spec), identity, ["model-a", "model-b"], "cpu", 1)
    with pytest.raises(PlanError, match=r"models\.model-b\.hash"):
        worker.run("any", [1], ["model-a"])

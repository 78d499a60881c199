"""The runner: resumable after kill -9, batch-size independent, and clear about bad models."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.execution.runner import batches, execute
from fieldready.execution.store import ResultStore
from fieldready.plan import compile_plan
from fieldready.spec import load_spec
from tests._project import make_detection_project

SLOW_MODEL = '''\
import time
import torch
from pathlib import Path

def load(delay=0.0, nan_after=None, boom=False):
    model = torch.jit.load(str(Path(__file__).parent / "models" / "a.pt"))
    calls = {"n": 0}

    def predict(images):
        calls["n"] += 1
        if boom:
            raise RuntimeError("CUDA out of memory (simulated)")
        time.sleep(delay)
        out = model(images)
        if nan_after is not None and calls["n"] > nan_after:
            out[0]["scores"] = out[0]["scores"] * float("nan")
        return out

    return predict
'''


def _python_model_project(tmp_path: Path, options: str, *, n_images: int = 16) -> Path:
    spec = make_detection_project(tmp_path, n_images=n_images)
    (tmp_path / "slowmodel.py").write_text(SLOW_MODEL)
    text = spec.read_text().replace(
        "  - {name: model-b, kind: torchscript, path: models/b.pt}",
        f"  - {{name: model-b, kind: python, entrypoint: 'slowmodel:load', options: {options}}}",
    )
    spec.write_text(text.replace("batch_size: 5", "batch_size: 2"))
    return spec


def _numbers(results_json: Path) -> dict:
    data = json.loads(results_json.read_text())
    data.pop("provenance")
    return data


def _done_batches(run_dir: Path) -> int:
    db = run_dir / "results.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_resume_after_sigkill_gives_the_same_numbers(tmp_path: Path) -> None:
    spec = _python_model_project(tmp_path / "p", "{delay: 0.05}")
    total = len(batches(compile_plan(load_spec(spec)).dataset.records, 2))
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "fieldready.cli", "run", str(spec), "-o", str(killed), "--quiet"]
    # the same thread count as the in-process runs below, so float sums agree bit for bit
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while _done_batches(killed) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _done_batches(killed)
    assert 2 <= partial < total, f"kill landed at {partial}/{total} batches"
    assert not (killed / "results.json").exists()

    resumed = CliRunner().invoke(cli, ["run", str(spec), "-o", str(killed), "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert f"resumed: {partial} batches" in resumed.output
    fresh = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "fresh"), "--quiet"])
    assert fresh.exit_code == 0, fresh.output
    assert _numbers(killed / "results.json") == _numbers(tmp_path / "fresh" / "results.json")
    with sqlite3.connect(killed / "results.sqlite") as con:
        rows = con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    plan = compile_plan(load_spec(spec))
    assert rows == len(plan.units) * len(plan.dataset.records)  # nothing counted twice


def test_predictions_do_not_depend_on_batch_size(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=7)
    stored = []
    for size in (7, 3):
        spec.write_text(spec.read_text().replace("batch_size: 5", f"batch_size: {size}").replace("batch_size: 7", f"batch_size: {size}"))
        plan = compile_plan(load_spec(spec))
        with ResultStore(tmp_path / f"run{size}") as store:
            execute(plan, store, device=__import__("torch").device("cpu"), progress=False)
            stored.append({(m, p): store.predictions(m, p) for m, p in plan.units})
    assert stored[0].keys() == stored[1].keys()
    for key in stored[0]:
        for image_id, pred in stored[0][key].items():
            np.testing.assert_array_equal(pred, stored[1][key][image_id])


def test_model_returning_nan_is_named_and_work_is_kept(tmp_path: Path) -> None:
    spec = _python_model_project(tmp_path / "p", "{nan_after: 12}")
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "model 'model-b' returned NaN" in result.output and ".png" in result.output
    assert _done_batches(tmp_path / "out") >= 1


def test_model_that_raises_gives_one_message(tmp_path: Path) -> None:
    spec = _python_model_project(tmp_path / "p", "{boom: true}")
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert "model 'model-b' raised RuntimeError" in result.output and "Traceback" not in result.output


def test_run_dir_of_another_plan_is_refused(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=4)
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"]).exit_code == 0
    spec.write_text(spec.read_text().replace("seed: 0,", "seed: 3,"))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 2 and "holds a run of another plan" in result.output


def test_ctrl_c_keeps_finished_batches_and_says_how_to_resume(tmp_path: Path) -> None:
    spec = _python_model_project(tmp_path / "p", "{delay: 0.05}")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fieldready.cli", "run", str(spec), "-o", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while _done_batches(out) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "run the same command again" in err and "Traceback" not in err
    kept = _done_batches(out)
    assert kept >= 2
    resumed = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert resumed.exit_code == 0 and f"resumed: {kept} batches" in resumed.output

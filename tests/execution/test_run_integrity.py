"""A run's numbers come from one set of models: a model whose code or weights changed is computed again
(alone), another batch size resumes exactly, a changed plugin, a second process or a damaged store is
refused with one message (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fieldready import corruptions
from fieldready.cli import cli
from fieldready.execution.runner import execute
from fieldready.execution.store import ResultStore
from fieldready.plan import compile_plan
from fieldready.spec import load_spec
from tests._project import BrightBoxDetector, make_detection_project

# A python model whose weights file is named in options. It stops (raises) after STOP's number of
# calls when a STOP file sits beside it: an interrupted run, without touching what the plan hashes.
STOPPABLE = '''\
import time
import torch
from pathlib import Path

HERE = Path(__file__).parent


def load(weights, delay=0.0):
    model = torch.jit.load(str(HERE / weights))
    calls = {"n": 0}

    def predict(images):
        calls["n"] += 1
        stop = HERE / "STOP"
        if stop.exists() and calls["n"] > int(stop.read_text()):
            raise RuntimeError("stopped for the test")
        time.sleep(delay)
        return model(images)

    return predict
'''

CPU = torch.device("cpu")


def _project(root: Path, *, n_images: int = 8, batch_size: int = 2, delay: float = 0.0) -> Path:
    spec = make_detection_project(root, n_images=n_images)
    (root / "stoppable.py").write_text(STOPPABLE)
    text = spec.read_text().replace(
        "  - {name: model-b, kind: torchscript, path: models/b.pt}",
        f"  - {{name: model-b, kind: python, entrypoint: 'stoppable:load', options: {{weights: models/b.pt, delay: {delay}}}}}",
    )
    spec.write_text(text.replace("batch_size: 5", f"batch_size: {batch_size}"))
    return spec


def _run(spec: Path, out: Path, *extra: str):  # noqa: ANN202 - click Result
    return CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet", *extra])


def _count(db: Path, table: str = "predictions") -> int:
    with sqlite3.connect(db) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _numbers(run_dir: Path) -> dict:
    data = json.loads((run_dir / "results.json").read_text())
    data.pop("provenance")
    return data


def _refused(result, *needles: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project (8 images, batches of 2) whose run stopped after 2 batches: model-b raised on the 3rd."""
    root = tmp_path_factory.mktemp("interrupted")
    spec = _project(root / "p")
    plan = compile_plan(load_spec(spec))
    (root / "p" / "STOP").write_text(str(2 * len(plan.points)))
    result = _run(spec, root / "run")
    _refused(result, "model 'model-b' raised RuntimeError")
    (root / "p" / "STOP").unlink()
    assert _count(root / "run" / "results.sqlite", "batches") == 2
    return spec, root / "run"


def _copy(interrupted: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, int]:
    spec, run = interrupted
    shutil.copytree(spec.parent, tmp_path / "p")
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "p" / spec.name, tmp_path / "run", _count(run / "results.sqlite")


def test_resume_with_another_batch_size_gives_the_uninterrupted_numbers(interrupted, tmp_path: Path) -> None:
    spec, run, before = _copy(interrupted, tmp_path)
    spec.write_text(spec.read_text().replace("batch_size: 2", "batch_size: 3"))
    resumed = _run(spec, run)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed: 2 batches" in resumed.output
    plan = compile_plan(load_spec(spec))
    assert 0 < before < _count(run / "results.sqlite") == len(plan.units) * len(plan.dataset.records)
    fresh = _run(spec, tmp_path / "fresh")
    assert fresh.exit_code == 0, fresh.output
    assert _numbers(run) == _numbers(tmp_path / "fresh")


def test_resume_with_auto_batch_size_is_not_a_crash(interrupted, tmp_path: Path) -> None:
    spec, run, _ = _copy(interrupted, tmp_path)
    spec.write_text(spec.read_text().replace("batch_size: 2", "batch_size: auto"))
    plan = compile_plan(load_spec(spec))
    with ResultStore(run) as store:
        stats = execute(plan, store, device=CPU, progress=False)
        assert (stats.resumed, stats.computed) == (2, 1)  # 4 images left: one batch of auto size
        everything = {r.image_id for r in plan.dataset.records}
        assert store.done_by_model(len(plan.points)) == {"model-a": everything, "model-b": everything}


def _rowids(db: Path, model: str) -> set[tuple]:
    with sqlite3.connect(db) as con:
        return set(con.execute("SELECT rowid, point, image_id FROM predictions WHERE model = ?", (model,)))


def test_edited_model_code_is_computed_again_alone(interrupted, tmp_path: Path) -> None:
    spec, run, before = _copy(interrupted, tmp_path)
    kept = _rowids(run / "results.sqlite", "model-a")
    module = spec.parent / "stoppable.py"
    module.write_text(module.read_text().replace("return model(images)", "return model(images * 0.9)"))
    result = _run(spec, run)
    assert result.exit_code == 0, result.output
    assert "model 'model-b' changed since this run directory was started (stoppable.py (entry point source) differs)" in result.output
    assert "were dropped and are computed again" in result.output and "Traceback" not in result.output
    plan = compile_plan(load_spec(spec))
    db = run / "results.sqlite"
    assert _count(db) == len(plan.units) * len(plan.dataset.records)
    assert kept <= _rowids(db, "model-a")  # model-a's finished rows were kept, not recomputed
    fresh = _run(spec, tmp_path / "fresh")
    assert fresh.exit_code == 0, fresh.output
    assert _numbers(run) == _numbers(tmp_path / "fresh")  # no old model-b prediction mixed in
    provenance = json.loads((run / "results.json").read_text())["provenance"]
    assert provenance["model_hashes"] == {m.name: m.file_hash for m in plan.models}


@pytest.mark.parametrize("changed", ["weights named in options", "torchscript file", "input settings"])
def test_a_changed_model_loses_only_its_own_predictions(interrupted, tmp_path: Path, changed: str) -> None:
    spec, run, _ = _copy(interrupted, tmp_path)
    if changed == "weights named in options":
        torch.jit.script(BrightBoxDetector(bias=2.0)).save(str(spec.parent / "models" / "b.pt"))
        name, what = "model-b", "models/b.pt (options.weights) differs"
    elif changed == "torchscript file":
        torch.jit.script(BrightBoxDetector(bias=3.0)).save(str(spec.parent / "models" / "a.pt"))
        name, what = "model-a", "models/a.pt (model file) differs"
    else:
        spec.write_text(spec.read_text().replace("path: models/a.pt}", "path: models/a.pt, input: {size: [48, 48]}}"))
        name, what = "model-a", "its input settings differ"
    other = ({"model-a", "model-b"} - {name}).pop()
    kept = _rowids(run / "results.sqlite", other)
    plan = compile_plan(load_spec(spec))
    with ResultStore(run) as store:
        notes = store.claim(plan.plan_hash, plan.identity())
        assert len(notes) == 1 and f"model {name!r} changed" in notes[0] and what in notes[0]
        assert store.done_by_model(len(plan.points)).get(name, set()) == set()
        execute(plan, store, device=CPU, progress=False)
        assert store.claim(plan.plan_hash, plan.identity()) == []
    assert _rowids(run / "results.sqlite", other) >= kept
    assert _count(run / "results.sqlite") == len(plan.units) * len(plan.dataset.records)


def test_model_hash_covers_source_package_and_option_files(tmp_path: Path) -> None:
    spec = _project(tmp_path)

    def hashes() -> dict[str, str]:
        return {m.name: m.file_hash for m in compile_plan(load_spec(spec)).models}

    first = hashes()
    (tmp_path / "unrelated.txt").write_text("not part of any model")
    assert hashes() == first
    torch.jit.script(BrightBoxDetector(bias=4.0)).save(str(tmp_path / "models" / "b.pt"))
    second = hashes()
    assert second["model-b"] != first["model-b"] and second["model-a"] == first["model-a"]
    # a package entry point: a sibling module of the package is part of the model
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "entry.py").write_text(STOPPABLE)
    (tmp_path / "pkg" / "helpers.py").write_text("SCALE = 1.0\n")
    spec.write_text(spec.read_text().replace("'stoppable:load'", "'pkg.entry:load'"))
    in_package = hashes()
    (tmp_path / "pkg" / "helpers.py").write_text("SCALE = 2.0\n")
    assert hashes()["model-b"] != in_package["model-b"]
    plan = compile_plan(load_spec(spec))
    files = plan.summary()["models"][1]["files"]
    assert {"pkg/__init__.py (entry point source)", "pkg/entry.py (entry point source)",
            "pkg/helpers.py (entry point source)", "models/b.pt (options.weights)"} == set(files)


def test_provenance_shows_the_true_model_hashes(tmp_path: Path) -> None:
    spec = _project(tmp_path, n_images=3)
    plan = compile_plan(load_spec(spec))
    result = _run(spec, tmp_path / "run")
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "run" / "results.json").read_text())["provenance"]
    assert provenance["model_hashes"] == {m.name: m.file_hash for m in plan.models}
    (tmp_path / "stoppable.py").write_text(STOPPABLE + "\n# edited\n")
    assert compile_plan(load_spec(spec)).models[1].file_hash != provenance["model_hashes"]["model-b"]


PLUGIN = '''\
from fieldready.corruptions import register


@register("dimmer", family="field", unit="factor", valid_range=(0.0, 1.0), levels=(0.1, 0.2, 0.3, 0.4, 0.5),
          identity=0.0)
def dimmer(images, severity, rng, *, spatial_scale=1.0):
    return images * (1 - severity)
'''


@pytest.fixture
def plugin_cleanup():
    yield
    if "dimmer" in corruptions.names():
        corruptions.unregister("dimmer")
    sys.modules.pop("dimplugin", None)


def test_edited_plugin_is_refused_and_its_hash_is_in_the_provenance(tmp_path: Path, plugin_cleanup: None) -> None:
    spec = make_detection_project(tmp_path, n_images=3)
    (tmp_path / "dimplugin.py").write_text(PLUGIN)
    text = spec.read_text().replace("baseline: model-a\n", "baseline: model-a\nplugins: [dimplugin]\n")
    spec.write_text(text.replace("conditions:\n", "conditions:\n  - {corruption: dimmer, severity: 0.3}\n"))
    plan = compile_plan(load_spec(spec))
    assert [p["module"] for p in plan.summary()["plugins"]] == ["dimplugin"]
    result = _run(spec, tmp_path / "run")
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "run" / "results.json").read_text())["provenance"]
    assert provenance["plugin_hashes"] == {"dimplugin": plan.plugins[0].hash}
    (tmp_path / "dimplugin.py").write_text(PLUGIN.replace("1 - severity", "1 - 2 * severity"))
    before = _count(tmp_path / "run" / "results.sqlite")
    _refused(_run(spec, tmp_path / "run"), "plugin 'dimplugin' changed", "dimplugin.py (plugin source) differs")
    assert _count(tmp_path / "run" / "results.sqlite") == before


INPLACE = '''\
import torch
from pathlib import Path


def load(weights):
    model = torch.jit.load(str(Path(__file__).parent / weights))

    def predict(images):
        out = model(images)
        images.mul_(0)  # a model that scribbles over its input
        return out

    return predict
'''


def test_a_model_writing_into_its_input_does_not_change_the_next_models(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=4)
    (tmp_path / "scribbler.py").write_text(INPLACE)
    scribbler = "  - {{name: {}, kind: python, entrypoint: 'scribbler:load', options: {{weights: models/a.pt}}}}\n"
    plain = compile_plan(load_spec(spec))
    models = "  - {name: model-a, kind: torchscript, path: models/a.pt}\n  - {name: model-b, kind: torchscript, path: models/b.pt}\n"
    # the scribbler runs first and last, so it would spoil both the other model's and later points' input
    spec.write_text(spec.read_text().replace(models, scribbler.format("first") + models + scribbler.format("last")))
    hostile = compile_plan(load_spec(spec))
    stored = []
    for name, plan in (("plain", plain), ("hostile", hostile)):
        with ResultStore(tmp_path / name) as store:
            execute(plan, store, device=CPU, progress=False)
            stored.append({(m, p.key): store.predictions(m, p.key) for m in ("model-a", "model-b") for p in plan.points})
        if name == "hostile":
            with ResultStore(tmp_path / name) as store:
                for m in ("first", "last"):  # the scribblers themselves saw the same pixels as model-a
                    for p in plan.points:
                        got, want = store.predictions(m, p.key), stored[0][("model-a", p.key)]
                        assert all((got[i] == want[i]).all() for i in want), (m, p.key)
    assert stored[0].keys() == stored[1].keys()
    for key, rows in stored[0].items():
        for image_id, pred in rows.items():
            assert (pred == stored[1][key][image_id]).all(), key


def test_a_second_run_on_the_same_directory_is_refused_at_once(tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", n_images=12, delay=0.15)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fieldready.cli", "run", str(spec), "-o", str(out), "--quiet"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None:
            try:
                if (out / "results.sqlite").exists() and _count(out / "results.sqlite", "batches") >= 1:
                    break
            except sqlite3.Error:  # the store is still being created
                pass
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        t0 = time.time()
        second = _run(spec, out)
        _refused(second, "another fieldready process", f"pid {first.pid}", str(out))
        assert time.time() - t0 < 10  # refused at once, not after computing
        _refused(CliRunner().invoke(cli, ["report", str(out)]), "another fieldready process")
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    plan = compile_plan(load_spec(spec))
    assert _count(out / "results.sqlite") == len(plan.units) * len(plan.dataset.records)
    assert (out / "report.pdf").exists()
    assert _run(spec, out).exit_code == 0  # the lock went with the first process


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("finished")
    spec = make_detection_project(root / "p", n_images=4)
    plan = compile_plan(load_spec(spec))
    with ResultStore(root / "run") as store:  # the predictions are all a re-run needs
        execute(plan, store, device=CPU, progress=False)
    return spec, root / "run"


@pytest.mark.parametrize("damage", ["flipped payload", "undecodable blob", "not sqlite", "broken pages"])
def test_damaged_store_is_one_message_and_moving_it_aside_recovers(finished, tmp_path: Path, damage: str) -> None:
    spec, run = finished
    shutil.copytree(run, tmp_path / "run")
    db = tmp_path / "run" / "results.sqlite"
    if damage in ("flipped payload", "undecodable blob"):
        with sqlite3.connect(db) as con:
            where = "model = 'model-b' AND point = 'clean' AND image_id = 3"
            blob = bytearray(con.execute(f"SELECT data FROM predictions WHERE {where}").fetchone()[0])
            blob[-2] ^= 0x04
            con.execute(f"UPDATE predictions SET data = ? WHERE {where}", (bytes(blob) if damage == "flipped payload" else b"\x00",))
    elif damage == "not sqlite":
        db.write_bytes(os.urandom(8192))
    else:
        page = 4096
        data = bytearray(db.read_bytes())
        for start in range(page, len(data), page):
            data[start] ^= 0xFF
        db.write_bytes(bytes(data))
    result = _run(spec, tmp_path / "run")
    _refused(result, f"{db} is damaged", "move it aside")
    if damage in ("flipped payload", "undecodable blob"):
        assert "model 'model-b'" in result.output and "image 3" in result.output
    assert "\n" not in result.output.strip()  # one line
    db.rename(db.with_name("results.sqlite.damaged"))
    recovered = _run(spec, tmp_path / "run")
    assert recovered.exit_code == 0, recovered.output

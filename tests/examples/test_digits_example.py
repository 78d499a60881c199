"""The bundled digits example (examples/digits): committed data, models and numbers agree with the scripts.

Fast checks only (a few seconds): nothing here trains a model or runs the fieldready pipeline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits example needs scikit-learn (the `test` extra)")
torch = pytest.importorskip("torch")

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"
MODEL_NAMES = ["baseline", "cnn-small", "cnn-aug"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_test_digits_{name}", DIGITS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train():
    return _load("train")


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((DIGITS / "models" / "metrics.json").read_text())


@pytest.fixture(scope="module")
def eval_data(train):
    return train.load_imagefolder(DIGITS / "data")


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.png"))
    }


def test_prepare_regenerates_the_committed_data(tmp_path: Path) -> None:
    out = tmp_path / "data"
    subprocess.run([sys.executable, str(DIGITS / "prepare.py"), "--out", str(out)], check=True, capture_output=True)
    committed, regenerated = _hashes(DIGITS / "data"), _hashes(out)
    assert len(committed) == 360
    assert sorted(committed) == sorted(regenerated), "the split (file names) differs from the committed one"
    differ = [name for name in committed if committed[name] != regenerated[name]]
    assert not differ, f"{len(differ)} regenerated PNGs differ from the committed ones, e.g. {differ[:3]}"


def test_committed_data_layout(eval_data) -> None:
    images, labels, paths = eval_data
    assert sorted(p.name for p in (DIGITS / "data").iterdir()) == [str(c) for c in range(10)]
    assert tuple(images.shape) == (360, 3, 32, 32)
    assert images.dtype == torch.float32 and 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    counts = np.bincount(labels.numpy(), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified
    # each file is named after its row in load_digits, and its folder is that row's label
    from sklearn.datasets import load_digits

    target = load_digits().target
    for path in paths:
        folder, stem = path.split("/")[0], Path(path).stem
        assert target[int(stem)] == int(folder)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_torchscript_model_honours_the_contract(name: str) -> None:
    path = DIGITS / "models" / f"{name}.pt"
    assert path.stat().st_size < 1_000_000
    model = torch.jit.load(str(path)).eval()
    gen = torch.Generator().manual_seed(0)
    for n in (1, 7):
        x = torch.rand(n, 3, 32, 32, generator=gen)
        with torch.no_grad():
            logits = model(x)
        assert tuple(logits.shape) == (n, 10)
        assert logits.dtype == torch.float32
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_files_are_the_ones_measured(name: str, train, metrics: dict) -> None:
    model = torch.jit.load(str(DIGITS / "models" / f"{name}.pt"))
    assert train.weights_sha256(model) == metrics["models"][name]["weights_sha256"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_clean_top1_matches_the_recorded_numbers(name: str, train, metrics: dict, eval_data) -> None:
    images, labels, _ = eval_data
    model = torch.jit.load(str(DIGITS / "models" / f"{name}.pt")).eval()
    measured = train.top1(train.predict(model, images), labels)
    recorded = metrics["models"][name]["clean_top1"]
    assert measured == pytest.approx(recorded, abs=1e-6)
    # TRAINING.md shows the same number (6 decimals, with the count)
    row = re.search(rf"^\| {re.escape(name)} \| \d+ \| \d+ \| ([0-9.]+) \((\d+)/360\)", (DIGITS / "TRAINING.md").read_text(), re.M)
    assert row, f"no table row for {name} in TRAINING.md"
    assert float(row.group(1)) == pytest.approx(measured, abs=1e-6)
    assert int(row.group(2)) == metrics["models"][name]["clean_correct"]


def test_spec_matches_the_training_script(train) -> None:
    """spec.yaml's models, data and conditions are the ones train.py built and estimated thresholds on."""
    from ruamel.yaml import YAML

    text = (DIGITS / "spec.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schema/fieldready-spec.schema.json\n")
    spec = YAML(typ="safe").load(text)
    assert [m["name"] for m in spec["models"]] == MODEL_NAMES
    for m in spec["models"]:
        assert (DIGITS / m["path"]).is_file()
    assert spec["baseline"] == "baseline"
    assert (DIGITS / spec["dataset"]["images"]).is_dir()

    from fieldready.corruptions import get

    declared = {}
    for cond in spec["conditions"]:
        sev = cond["severity"]
        if "levels" in sev:
            values = [get(cond["corruption"]).level(level) for level in sev["levels"]]
        elif "values" in sev:
            values = [float(v) for v in sev["values"]]
        else:
            values = [float(v) for v in np.linspace(sev["min"], sev["max"], sev["steps"])]
        declared[cond["corruption"]] = (float(cond["frequency"]), values)
    expected = {c: (f, [float(v) for v in s]) for c, (f, s) in train.SPEC_CONDITIONS.items()}
    assert list(declared) == list(expected)
    for c in expected:
        assert declared[c][0] == pytest.approx(expected[c][0])
        assert declared[c][1] == pytest.approx(expected[c][1])

"""Models that break the contract: one message naming the model, the images, what was expected and what came back.

Each case runs the real CLI on a tiny project with one broken TorchScript (or Python) model and checks
exit 2, no traceback, and that the failure is raised on the first batch the model sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import Tensor

from fieldready.cli import cli
from fieldready.execution.models.adapter import exception_cause
from tests._project import make_detection_project


class Logits(torch.nn.Module):
    """``[N, k]`` logits; ``poison`` puts NaN (1) or +inf (2) into the second image's row; ``boom`` raises."""

    def __init__(self, k: int, poison: int = 0, boom: bool = False) -> None:
        super().__init__()
        self.k = k
        self.poison = poison
        self.boom = boom

    def forward(self, images: Tensor) -> Tensor:
        if self.boom:
            raise RuntimeError("boom")
        out = images.mean(dim=(1, 2, 3))[:, None].repeat(1, self.k)
        if self.poison == 1:
            out[1] = float("nan")
        if self.poison == 2:
            out[1, 0] = float("inf")
        return out


class BadDetector(torch.nn.Module):
    """One detection per image, broken according to ``mode``."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        n = images.shape[0]
        out: list[dict[str, Tensor]] = []
        for i in range(n):
            boxes = torch.tensor([[4.0, 4.0, 20.0, 20.0]])
            scores = torch.tensor([0.9])
            labels = torch.tensor([1])
            if self.mode == "boxes5":
                boxes = torch.tensor([[4.0, 4.0, 20.0, 20.0, 0.9]])
            if self.mode == "label7" and i == 1:
                labels = torch.tensor([7])
            if self.mode == "nan" and i == 1:
                boxes = torch.tensor([[4.0, float("nan"), 20.0, 20.0]])
            if self.mode == "lengths":
                scores = torch.tensor([0.9, 0.8])
            if self.mode == "view":
                boxes = boxes.view(3, 7)
            out.append({"boxes": boxes, "scores": scores, "labels": labels})
        if self.mode == "short":
            return out[:-1]
        return out


CLASSIFICATION = """\
fieldready: 1
name: bad-classifier
task: classification
dataset: {format: imagefolder, images: images}
models:
  - {name: good, kind: torchscript, path: models/good.pt}
  - MODEL
conditions:
  - {corruption: gaussian_noise, severity: {levels: [1]}}
criteria:
  - {metric: top1, on: clean, at_least: 0.0}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 0}
"""

COUNTING = '''\
import sys
from pathlib import Path

import torch

CALLS = Path(__file__).with_name("calls.txt")


def load(mode="exit"):
    def predict(images):
        with CALLS.open("a") as f:
            f.write("call\\n")
        if mode == "exit":
            sys.exit(3)
        if mode == "list":
            return [torch.zeros(2)] * images.shape[0]
        return torch.zeros(images.shape[0], 2)

    return predict
'''


def _classification_project(root: Path, model: torch.nn.Module | None, entry: str = "") -> Path:
    for label, value in (("cat", 40), ("dog", 200)):
        (root / "images" / label).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((16, 16, 3), value + i, np.uint8)).save(root / "images" / label / f"{label}{i}.png")
    (root / "models").mkdir()
    torch.jit.script(Logits(2)).save(str(root / "models" / "good.pt"))
    if model is not None:
        torch.jit.script(model).save(str(root / "models" / "bad.pt"))
        entry = "{name: bad, kind: torchscript, path: models/bad.pt}"
    (root / "badmodel.py").write_text(COUNTING)
    spec = root / "spec.yaml"
    spec.write_text(CLASSIFICATION.replace("MODEL", entry))
    return spec


def _detection_project(root: Path, mode: str) -> Path:
    spec = make_detection_project(root, n_images=6)
    torch.jit.script(BadDetector(mode)).save(str(root / "models" / "b.pt"))
    spec.write_text(spec.read_text().replace("name: model-b", "name: bad"))
    return spec


def _fails(spec: Path, out: Path) -> str:
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.exception
    assert "model 'bad'" in result.output, result.output
    return result.output


FIRST_CLASSIFICATION_BATCH = "images 0, 1, 2, … (4 images) (cat0.png, cat1.png, cat2.png, …)"

CLASSIFICATION_CASES = [
    ("ten-logits", Logits(10), ["on clean images", FIRST_CLASSIFICATION_BATCH, "shape [4, 10]", "expected logits [4, 2]",
                                "0: cat, 1: dog"]),
    ("zero-logits", Logits(0), ["on clean images", "shape [4, 0]", "expected logits [4, 2]"]),
    ("nan-logits", Logits(2, poison=1), ["NaN or infinite logits", "image 1 (cat1.png)", "on clean images", "expected finite logits"]),
    ("inf-logits", Logits(2, poison=2), ["NaN or infinite logits", "image 1 (cat1.png)", "expected finite logits"]),
    ("torchscript-raises", Logits(2, boom=True), ["raised RuntimeError: boom on clean images", FIRST_CLASSIFICATION_BATCH]),
]


@pytest.mark.parametrize("case", CLASSIFICATION_CASES, ids=[c[0] for c in CLASSIFICATION_CASES])
def test_bad_classifier_is_named_on_its_first_batch(case, tmp_path: Path) -> None:  # noqa: ANN001
    _, model, expected = case
    out = _fails(_classification_project(tmp_path / "p", model), tmp_path / "run")
    for text in expected:
        assert text in out, (text, out)
    assert "TorchScript interpreter" not in out and "HERE" not in out


def test_model_calling_sys_exit_is_caught_on_the_first_call(tmp_path: Path) -> None:
    spec = _classification_project(tmp_path / "p", None, "{name: bad, kind: python, entrypoint: 'badmodel:load'}")
    out = _fails(spec, tmp_path / "run")
    assert "called sys.exit(3) on clean images" in out and FIRST_CLASSIFICATION_BATCH in out
    assert (tmp_path / "p" / "calls.txt").read_text().count("call") == 1  # not after all the compute


def test_python_model_returning_a_list_for_classification(tmp_path: Path) -> None:
    entry = "{name: bad, kind: python, entrypoint: 'badmodel:load', options: {mode: list}}"
    out = _fails(_classification_project(tmp_path / "p", None, entry), tmp_path / "run")
    assert "returned a list" in out and "expected logits [4, 2]" in out
    assert (tmp_path / "p" / "calls.txt").read_text().count("call") == 1


DETECTION_CASES = [
    ("boxes-k-by-5", "boxes5", ["boxes [1, 5]", "image 1 (img000.png)", "on clean images", "expected tensors boxes [K, 4]"]),
    ("label-outside-categories", "label7", ["labels 7", "image 2 (img001.png)", "1: square, 2: other"]),
    ("nan-box", "nan", ["NaN or infinite boxes or scores (1 of 1 detections)", "image 2 (img001.png)", "expected finite"]),
    ("mismatched-lengths", "lengths", ["boxes [1, 4], scores [2], labels [1]", "image 1 (img000.png)", "of one length K"]),
    ("too-few-dicts", "short", ["returned a list of 4", "expected a list of 5 dicts", "images 1, 2, 3, …"]),
    ("torchscript-shape-error", "view", ["raised RuntimeError: shape '[3, 7]' is invalid for input of size 4", "on clean images"]),
]


@pytest.mark.parametrize("case", DETECTION_CASES, ids=[c[0] for c in DETECTION_CASES])
def test_bad_detector_is_named_on_its_first_batch(case, tmp_path: Path) -> None:  # noqa: ANN001
    _, mode, expected = case
    out = _fails(_detection_project(tmp_path / "p", mode), tmp_path / "run")
    for text in expected:
        assert text in out, (text, out)
    assert "TorchScript interpreter" not in out and "HERE" not in out


def test_torchscript_cause_is_the_last_exception_line() -> None:
    scripted = torch.jit.script(Logits(2, boom=True))
    with pytest.raises(Exception) as caught:
        scripted(torch.zeros(1, 3, 4, 4))
    assert "TorchScript" in str(caught.value)  # the raw message starts with the interpreter's traceback
    assert exception_cause(caught.value) == "RuntimeError: boom"
    assert exception_cause(ValueError("first line\nsecond")) == "ValueError: first line"
    assert exception_cause(SystemExit(3)) == "called sys.exit(3)"

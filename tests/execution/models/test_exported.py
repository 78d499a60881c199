"""The ``exported`` kind on real ``.pt2`` files from ``torch.export.save``: same outputs as the eager model.

Programs exported with a fixed batch, a bounded one and a dynamic one are fed in chunks that fit;
a torchvision-style program (one dict per image) and a YOLO-layout one with its own ImageNet
normalisation go through the declared conventions, and the rectangle lands where it was drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter
from torch import Tensor, nn

from fieldready.errors import ModelError
from fieldready.execution.models.convention_spec import InputConvention, OutputConvention, resolve_labels
from fieldready.execution.models.conventions import decode_output, prepare_input
from fieldready.execution.models.kinds.exported import load_exported
from tests.execution.models._models import BrightBoxYolo, scene

CLASSES = {1: "person", 2: "helmet", 3: "vest"}
BOXES = [(40, 20, 100, 70), (0, 30, 50, 89), (110, 5, 160, 45), (60, 60, 120, 90), (5, 5, 40, 40)]  # on 160 × 90
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
OUTPUT = TypeAdapter(OutputConvention)


class TorchvisionStyle(nn.Module):
    """A detector that speaks torchvision's convention: one dict per image, its rectangle's box in xyxy pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.yolo = BrightBoxYolo(3, mean=MEAN, std=STD)

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        anchor = self.yolo(x)[:, :, -1]  # the rectangle's anchor: cx cy w h, 3 class scores
        xyxy = torch.cat([anchor[:, :2] - anchor[:, 2:4] / 2, anchor[:, :2] + anchor[:, 2:4] / 2], 1)
        scores, labels = anchor[:, 4:].max(1)
        return [{"boxes": xyxy[i : i + 1], "scores": scores[i : i + 1], "labels": labels[i : i + 1]} for i in range(x.shape[0])]


class TwoInputs(nn.Module):
    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x.mean((1, 2, 3)) * mask


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[nn.Module, Path]]:
    root = tmp_path_factory.mktemp("pt2")
    yolo = BrightBoxYolo(3, mean=MEAN, std=STD).eval()
    example = torch.rand(2, 3, 64, 64)
    batch = torch.export.Dim("batch", max=3)
    cases = {
        "fixed": (yolo, (example,), None),
        "bounded": (yolo, (example,), ({0: batch},)),
        "dynamic": (yolo, (example,), ({0: torch.export.Dim.DYNAMIC},)),
        "torchvision": (TorchvisionStyle().eval(), (example,), None),
        "two_inputs": (TwoInputs(), (example, torch.ones(2)), None),
    }
    out = {}
    for name, (model, args, dynamic) in cases.items():
        path = root / f"{name}.pt2"
        torch.export.save(torch.export.export(model, args, dynamic_shapes=dynamic), str(path))
        out[name] = (model, path)
    return out


class _Counting:
    """Wraps a module and notes the batch of every call."""

    def __init__(self, module: object) -> None:
        self.module = module
        self.batches: list[int] = []

    def __call__(self, x: Tensor) -> object:
        self.batches.append(x.shape[0])
        return self.module(x)  # type: ignore[operator]


@pytest.mark.parametrize("name, bounds, batches", [("fixed", (2, 2), [2, 2, 2]), ("bounded", (1, 3), [3, 2]),
                                                    ("dynamic", (1, None), [5])])
def test_batches_fit_the_program_and_outputs_equal_eager(programs: dict, name: str, bounds: tuple, batches: list,
                                                         device: str) -> None:
    model, path = programs[name]
    loaded = load_exported(path, device=torch.device(device))
    assert (loaded.min_batch, loaded.max_batch) == bounds
    loaded.module = _Counting(loaded.module)
    x = torch.rand(5, 3, 64, 64)
    out = loaded(x.to(device))
    assert loaded.module.batches == batches
    with torch.no_grad():
        torch.testing.assert_close(out.cpu(), model(x), atol=1e-5, rtol=1e-5)


def _images() -> Tensor:
    return torch.stack([scene(90, 160, box, seed=i) for i, box in enumerate(BOXES)])


def test_exported_yolo_lands_on_the_original_through_its_declared_normalisation(programs: dict, device: str) -> None:
    loaded = load_exported(programs["fixed"][1], device=torch.device(device))
    declared = InputConvention(size=(64, 64), resize="letterbox", mean=MEAN, std=STD)
    x, transform = prepare_input(_images().to(device), declared)
    spec = OUTPUT.validate_python({"format": "yolo", "labels": {1: "helmet"}})
    mapping = resolve_labels(spec.labels, CLASSES, classification=False)
    dets = decode_output(loaded(x), spec, transform, classes=CLASSES, mapping=mapping)
    assert set(dets.labels.tolist()) == {2}  # classes 0 and 2 of the model are not mapped: dropped
    for i, box in enumerate(BOXES):
        best = (dets.index == i) & (dets.scores > 0.5)
        assert int(best.sum()) == 1
        np.testing.assert_allclose(dets.boxes[best][0].cpu().numpy(), box, atol=2.6)
    # without the declared mean/std the model does not see the rectangle where it is
    x, transform = prepare_input(_images().to(device), declared.model_copy(update={"mean": None, "std": None}))
    wrong = decode_output(loaded(x), spec, transform, classes=CLASSES, mapping=mapping)
    for i, box in enumerate(BOXES):
        found = wrong.boxes[(wrong.index == i) & (wrong.scores > 0.5)].cpu()
        assert not bool(((found - torch.tensor(box)).abs().amax(1) < 2.6).any())


def test_torchvision_style_program_in_fixed_batches(programs: dict, device: str) -> None:
    model, path = programs["torchvision"]
    loaded = load_exported(path, device=torch.device(device))
    x, transform = prepare_input(_images().to(device), InputConvention(size=(64, 64), resize="letterbox", mean=MEAN, std=STD))
    out = loaded(x)
    assert isinstance(out, list) and len(out) == 5  # three calls of 2, the last padded and cut
    with torch.no_grad():
        eager = model(x.cpu())
    for ours, theirs in zip(out, eager):
        torch.testing.assert_close(ours["boxes"].cpu(), theirs["boxes"], atol=1e-5, rtol=1e-5)
    spec = OUTPUT.validate_python({"format": "torchvision", "labels": ["vest", "helmet", "person"]})
    dets = decode_output(out, spec, transform, classes=CLASSES, mapping=resolve_labels(spec.labels, CLASSES, classification=False))
    assert dets.index.tolist() == [0, 1, 2, 3, 4] and dets.labels.tolist() == [2] * 5
    np.testing.assert_allclose(dets.boxes.cpu().numpy(), np.array(BOXES, dtype=np.float32), atol=2.6)


def test_exported_errors_name_the_file_and_the_fix(programs: dict, tmp_path: Path) -> None:
    cpu = torch.device("cpu")
    with pytest.raises(ModelError, match=r"two_inputs.pt2: the exported program takes 2 input\(s\) \(x \[2, 3, 64, 64\], mask \[2\]\)"):
        load_exported(programs["two_inputs"][1], device=cpu)
    with pytest.raises(ModelError, match=r"nothing.pt2: exported program not found"):
        load_exported(tmp_path / "nothing.pt2", device=cpu)
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match=r"bad.pt2: not a loadable torch.export program .*torch.export.save"):
        load_exported(bad, device=cpu)
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(nn.Linear(2, 2)).save(str(scripted))
    with pytest.raises(ModelError, match=r"scripted.pt: not a loadable torch.export program"):
        load_exported(scripted, device=cpu)
    loaded = load_exported(programs["dynamic"][1], device=cpu)
    with pytest.raises(ModelError, match=r"takes float32 input, fieldready prepared uint8; declare input: \{dtype: float32\}"):
        loaded(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_a_broken_pt2_prints_one_line_not_torch_s_logged_traceback(tmp_path: Path) -> None:
    """torch.export.load logs a failed load's traceback as a warning; the user sees only the cause, in one line."""
    import subprocess
    import sys

    bad = tmp_path / "broken.pt2"
    bad.write_bytes(b"not a zip at all")
    code = ("import torch; from fieldready.execution.models.kinds.exported import load_exported\n"
            f"load_exported({str(bad)!r}, device=torch.device('cpu'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "ModelError" in proc.stderr and "broken.pt2: not a loadable torch.export program" in proc.stderr
    assert "PytorchStreamReader" in proc.stderr  # the logged cause, not "check the warnings above"
    assert "warnings above" not in proc.stderr and proc.stderr.count("Traceback") == 1  # only the uncaught ModelError's

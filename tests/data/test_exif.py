"""EXIF-rotated JPEGs: sizes read at indexing time and the decoded pixels agree (orientation applied)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fieldready.cli import cli
from fieldready.data.dataset import load_dataset
from fieldready.data.decode import decode_images
from fieldready.errors import DataError
from tests._project import MeanClassifier, make_detection_project

ROTATE_90_CW = 6  # EXIF orientation: the stored image must be turned 90° clockwise to be upright


def _rotated_jpeg(path: Path, *, stored_wh: tuple[int, int], value: int = 200) -> None:
    """A JPEG stored ``stored_wh`` wide×high that is upright only after its EXIF orientation tag."""
    w, h = stored_wh
    pixels = np.full((h, w, 3), value, np.uint8)
    pixels[: h // 4] = 20  # a dark band on the stored top edge, so the orientation is visible
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90_CW
    Image.fromarray(pixels).save(path, exif=exif, quality=95)


CLASSIFICATION = """\
fieldready: 1
name: exif-folder
task: classification
dataset: {format: imagefolder, images: images}
models:
  - {name: mean, kind: torchscript, path: mean.pt}
conditions:
  - {corruption: gaussian_noise, severity: {levels: [1]}}
criteria:
  - {metric: top1, on: clean, at_least: 0.0}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 0}
"""


def test_imagefolder_with_rotated_jpeg_runs(tmp_path: Path) -> None:
    for label, value in (("dark", 30), ("light", 220)):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((64, 48, 3), value, np.uint8)).save(tmp_path / "images" / label / f"{i}.png")
        _rotated_jpeg(tmp_path / "images" / label / "rotated.jpg", stored_wh=(64, 48), value=value)
    torch.jit.script(MeanClassifier()).save(str(tmp_path / "mean.pt"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(CLASSIFICATION)

    dataset = load_dataset(format="imagefolder", images=tmp_path / "images", task="classification")
    rotated = [r for r in dataset.records if r.path.endswith("rotated.jpg")]
    assert [(r.width, r.height) for r in rotated] == [(48, 64), (48, 64)]  # upright, as decoded
    batch = decode_images(rotated, torch.device("cpu"))
    assert tuple(batch.shape) == (2, 3, 64, 48)
    assert batch[0, :, :, -12:].mean() < batch[0, :, :, :12].mean()  # the stored top band is now on the right

    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "annotations" not in result.output


def test_imagefolder_image_changed_after_indexing_does_not_blame_annotations(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    dataset = load_dataset(format="imagefolder", images=tmp_path, task="classification")
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    with pytest.raises(DataError) as caught:
        decode_images(dataset.records, torch.device("cpu"))
    message = str(caught.value)
    assert "x.png" in message and "annotations" not in message and "10x8" in message


def _coco_with_rotated_image(tmp_path: Path, size_in_annotations: tuple[int, int]) -> tuple[Path, Path]:
    spec = make_detection_project(tmp_path / "p", n_images=2)
    _rotated_jpeg(tmp_path / "p" / "images" / "rotated.jpg", stored_wh=(64, 48))
    ann = tmp_path / "p" / "val.json"
    doc = json.loads(ann.read_text())
    w, h = size_in_annotations
    doc["images"].append({"id": 50, "file_name": "rotated.jpg", "width": w, "height": h})
    doc["annotations"].append({"id": 50, "image_id": 50, "category_id": 1, "bbox": [4, 4, 16, 16]})
    ann.write_text(json.dumps(doc))
    return spec, ann


def test_coco_size_of_the_upright_image_is_accepted(tmp_path: Path) -> None:
    spec, _ = _coco_with_rotated_image(tmp_path, (48, 64))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output


def test_coco_size_of_the_stored_image_names_exif(tmp_path: Path) -> None:
    spec, ann = _coco_with_rotated_image(tmp_path, (64, 48))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "rotated.jpg" in result.output and "EXIF orientation" in result.output
    assert str(ann) in result.output and "image id 50" in result.output and "48x64" in result.output

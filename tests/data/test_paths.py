"""Annotation files cannot make a run read images outside the dataset's folder: `..` and absolute paths are
refused (exit 2, the file and entry named) in COCO, VOC and YOLO lists; sub-folders and the user's symlinks work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.paths import within
from tests._project import DETECTION_SPEC, make_detection_project
from tests.data._formats import write_voc, write_yolo


def _secret(tmp_path: Path) -> Path:
    """An image outside the project, of the dataset's size: without the check a run would read it."""
    secret = tmp_path / "secret.png"
    shutil.copy(tmp_path / "p" / "images" / "img000.png", secret)
    return secret


def _coco(tmp_path: Path, name: str) -> tuple[Path, Path]:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    ann = tmp_path / "p" / "val.json"
    doc = json.loads(ann.read_text())
    doc["images"][0]["file_name"] = name
    ann.write_text(json.dumps(doc))
    return spec, ann


def _voc(tmp_path: Path, name: str) -> tuple[Path, Path]:
    root = tmp_path / "p"
    make_detection_project(root, n_images=3)
    folder = write_voc(root / "val.json", root / "voc")
    xml = folder / "img000.xml"
    xml.write_text(xml.read_text().replace("<filename>img000.png</filename>", f"<filename>{name}</filename>"))
    spec = root / "voc.yaml"
    spec.write_text(DETECTION_SPEC.replace("dataset: {format: coco, images: images, annotations: val.json}",
                                           "dataset: {format: voc, images: images, annotations: voc}"))
    return spec, xml


def _yolo(tmp_path: Path, name: str) -> tuple[Path, Path]:
    root = tmp_path / "p"
    make_detection_project(root, n_images=3)
    data = write_yolo(root / "val.json", root / "images")
    listing = root / "val.txt"
    listing.write_text(f"./images/img001.png\n{name}\n")
    data.write_text("val: val.txt\nnames: [square, other]\n")
    spec = root / "yolo.yaml"
    spec.write_text(DETECTION_SPEC.replace("dataset: {format: coco, images: images, annotations: val.json}",
                                           "dataset: {format: yolo, data: data.yaml}"))
    return spec, listing


FORMATS = {"coco": _coco, "voc": _voc, "yolo": _yolo}
# (format, entry relative to the file's folder or "{secret}" for the outside image's absolute path)
HOSTILE = [
    ("coco", "../../secret.png"), ("coco", "{secret}"), ("coco", "sub/../../../secret.png"),
    ("voc", "../../secret.png"), ("voc", "{secret}"),
    ("yolo", "../secret.png"), ("yolo", "{secret}"), ("yolo", "./images/../../secret.png"),
]


@pytest.mark.parametrize(("fmt", "entry"), HOSTILE, ids=[f"{f}-{'absolute' if e == '{secret}' else e}" for f, e in HOSTILE])
def test_an_entry_outside_the_dataset_is_refused_by_validate_and_run(fmt: str, entry: str, tmp_path: Path) -> None:
    entry = entry.format(secret=tmp_path / "secret.png")
    spec, culprit = FORMATS[fmt](tmp_path, entry)
    _secret(tmp_path)
    for args in (["validate", str(spec)], ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"]):
        result = CliRunner().invoke(cli, args)
        out = result.output
        assert result.exit_code == 2, out
        assert "Traceback" not in out and isinstance(result.exception, SystemExit), result.exception
        assert len(out.strip().splitlines()) == 1, out
        assert str(culprit) in out and repr(entry) in out, out  # the annotation file and the entry
        assert ("absolute path" if entry.startswith("/") else "'..'") in out, out
        assert "only images inside" in out  # what to do
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_sub_folders_and_the_users_symlinks_inside_the_folder_are_read(fmt: str, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    entry = {"coco": "sub/link.png", "voc": "sub/../sub/link.png", "yolo": "images/sub/link.png"}[fmt]
    spec, _ = FORMATS[fmt](tmp_path, entry)
    shutil.copy(tmp_path / "p" / "images" / "img000.png", outside / "real.png")
    (tmp_path / "p" / "images" / "sub").mkdir()
    (tmp_path / "p" / "images" / "sub" / "link.png").symlink_to(outside / "real.png")  # the user's choice
    if fmt == "yolo":  # the label of the linked image lies where Ultralytics looks for it
        (tmp_path / "p" / "labels" / "sub").mkdir()
        shutil.copy(tmp_path / "p" / "labels" / "img000.txt", tmp_path / "p" / "labels" / "sub" / "link.txt")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output


def test_an_absolute_list_entry_inside_the_yolo_root_is_read(tmp_path: Path) -> None:
    spec, listing = _yolo(tmp_path, str(tmp_path / "p" / "images" / "img002.png"))  # as Ultralytics lists often are
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output


def test_within_judges_the_path_as_written() -> None:
    assert within("imgs", "a/../b.png") == Path("imgs/a/../b.png")  # stays inside: kept as written
    assert within("imgs", "..") is None and within("imgs", "a/../../b.png") is None
    assert within("imgs", "/etc/x.png") is None
    assert within("imgs", "..hidden.png") == Path("imgs/..hidden.png")  # a name, not a parent

"""YOLO datasets: Ultralytics' data.yaml and label rules, and one clear line (exit 2) for every bad file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.dataset import load_dataset
from fieldready.data.yolo import label_path, load_yolo
from tests._project import DETECTION_SPEC, make_detection_project
from tests.data._formats import write_yolo
from tests.spec.test_no_torch import _probe

YOLO_DATASET = "dataset: {format: yolo, data: data.yaml}"


def _project(tmp_path: Path, n_images: int = 3) -> tuple[Path, Path]:
    """The tiny project with its COCO labels written as YOLO files, and a spec reading them."""
    root = tmp_path / "p"
    make_detection_project(root, n_images=n_images)
    data = write_yolo(root / "val.json", root / "images")
    spec = root / "yolo.yaml"
    spec.write_text(DETECTION_SPEC.replace("dataset: {format: coco, images: images, annotations: val.json}", YOLO_DATASET))
    return spec, data


def _boxes(data: Path, **kwargs: object) -> dict[int, list[list[float]]]:
    dataset = load_yolo(data, **kwargs)  # type: ignore[arg-type]
    return {i: t.xywh.tolist() for i, t in dataset.targets.items()}


def _assert_one_clear_line(result, culprit: Path, expected: list[str]) -> None:  # noqa: ANN001
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and isinstance(result.exception, SystemExit), result.exception
    assert str(culprit) in out, out
    for text in expected:
        assert text in out, (text, out)
    assert len(out.strip().splitlines()) == 1, out


# --- hostile label files ------------------------------------------------------------------------

LABEL = "0 0.5 0.5 0.25 0.25"
# (case id, content of labels/img000.txt, strings the one-line message must contain)
LABEL_CASES: list[tuple[str, bytes, list[str]]] = [
    ("four-values", b"0 0.5 0.5 0.25\n", [":1:", "4 values", "class cx cy w h"]),
    ("six-values-confidence", b"0 0.5 0.5 0.25 0.25 0.9\n", [":1:", "6 values", "confidence"]),
    ("even-polygon", b"0 0.1 0.1 0.2 0.1 0.2 0.2 0.3\n", [":1:", "8 values", "polygon"]),
    ("second-line", f"{LABEL}\n\n0 0.5 abc 0.25 0.25\n".encode(), [":3:", "cy 'abc' is not a number"]),
    ("class-out-of-range", b"2 0.5 0.5 0.25 0.25\n", [":1:", "class 2 is out of range", "2 classes", "0: square"]),
    ("negative-class", b"-1 0.5 0.5 0.25 0.25\n", [":1:", "class -1 is out of range"]),
    ("fractional-class", b"0.5 0.5 0.5 0.25 0.25\n", [":1:", "class '0.5' is not a class index"]),
    ("word-class", b"square 0.5 0.5 0.25 0.25\n", [":1:", "class 'square' is not a class index"]),
    ("pixel-coordinates", b"0 32 32 16 16\n", [":1:", "cx 32 is outside [0, 1]", "pixel values"]),
    ("nan", b"0 nan 0.5 0.25 0.25\n", [":1:", "cx is nan"]),
    ("infinite", b"0 0.5 0.5 inf 0.25\n", [":1:", "w is inf"]),
    ("negative-width", b"0 0.5 0.5 -0.005 0.25\n", [":1:", "w -0.005 is outside [0, 1]"]),
    ("beyond-tolerance", b"0 0.5 1.02 0.25 0.25\n", [":1:", "cy 1.02 is outside [0, 1]"]),
    ("polygon-point-outside", b"0 0.1 0.1 1.5 0.1 0.2 0.2\n", [":1:", "x2 1.5 is outside [0, 1]"]),
    ("not-utf8", b"0 0.5 0.5 0.25 0.25\n0 \xff\xfe\n", [":2:", "not UTF-8"]),
]


@pytest.mark.parametrize("case", LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_bad_label_file_is_named_by_validate_and_run(case, tmp_path: Path) -> None:  # noqa: ANN001
    _, content, expected = case
    spec, data = _project(tmp_path)
    label = data.parent / "labels" / "img000.txt"
    label.write_bytes(content)
    _assert_one_clear_line(CliRunner().invoke(cli, ["validate", str(spec)]), label, expected)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    _assert_one_clear_line(result, label, expected)


# --- hostile data.yaml --------------------------------------------------------------------------

GOOD_YAML = "val: images\nnames:\n  0: square\n  1: other\n"
# (case id, data.yaml text, strings the message must contain)
YAML_CASES: list[tuple[str, str, list[str]]] = [
    ("no-names", "val: images\n", [":1:1:", "missing 'names'"]),
    ("no-val", "train: images\nnames: [square, other]\n", ["no 'val:' entry", "dataset.split"]),
    ("names-gap", "val: images\nnames: {0: square, 2: other}\n", [":2:8: names:", "indices must be 0..1", "0, 2"]),
    ("names-word-index", "val: images\nnames: {zero: square}\n", ["names.zero", "'zero' is not an integer"]),
    ("names-scalar", "val: images\nnames: square\n", ["names must be a list"]),
    ("names-empty", "val: images\nnames: []\n", ["names is empty"]),
    ("names-null-entry", "val: images\nnames: [square, null]\n", ["names[1]", "non-empty string"]),
    ("names-twice", "val: images\nnames: [square, square]\n", ["names[1]", "'square' is used twice"]),
    ("nc-mismatch", "val: images\nnc: 3\nnames: [square, other]\n", [":2:5: nc:", "nc is 3 but names lists 2"]),
    ("nc-word", "val: images\nnc: two\n", ["nc must be a positive integer"]),
    ("val-missing-folder", "val: nowhere/images\nnames: [square, other]\n", [":1:6: val:", "'nowhere/images': no such folder"]),
    ("val-number", "val: 3\nnames: [square, other]\n", ["val must be a folder"]),
    ("path-number", "path: 3\nval: images\nnames: [square, other]\n", ["path must be the dataset's root folder"]),
    ("path-nul", 'path: "da\\0ta"\nval: images\nnames: [square, other]\n', [":1:7: path:", "path must be the dataset's root folder"]),
    ("val-nul", 'val: ["ima\\0ges"]\nnames: [square, other]\n', ["val[0]", "contains a NUL character"]),
    ("top-level-list", "- val\n- images\n", ["YAML mapping with 'names' and 'val'"]),
    ("python-tag", "val: images\nnames: !!python/object/apply:os.system [echo hi]\n", ["tag", "not allowed in a data.yaml"]),
    ("alias", "val: &v images\ntest: *v\nnames: [square, other]\n", ["anchor", "not allowed in a data.yaml"]),
    ("syntax", "val: [images\nnames: [square]\n", ["YAML syntax error"]),
    ("empty", "  \n", ["data.yaml is empty"]),
]


@pytest.mark.parametrize("case", YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_bad_data_yaml_is_named_by_validate_and_run(case, tmp_path: Path) -> None:  # noqa: ANN001
    _, text, expected = case
    spec, data = _project(tmp_path)
    data.write_text(text)
    _assert_one_clear_line(CliRunner().invoke(cli, ["validate", str(spec)]), data, expected)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    _assert_one_clear_line(result, data, expected)


def test_image_list_with_a_missing_image_names_its_line(tmp_path: Path) -> None:
    spec, data = _project(tmp_path)
    listing = data.parent / "val.txt"
    listing.write_text("./images/img000.png\n\n./images/img009.png\n")
    data.write_text("val: val.txt\nnames: [square, other]\n")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    _assert_one_clear_line(result, listing, [f"{listing}:3:", "img009.png not found"])


def test_an_image_listed_twice_is_refused(tmp_path: Path) -> None:
    spec, data = _project(tmp_path)
    (data.parent / "val.txt").write_text("images/img001.png\n")
    data.write_text("val: [images, val.txt]\nnames: [square, other]\n")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    _assert_one_clear_line(result, data.parent / "images" / "img001.png", ["listed twice", "val.txt:1"])


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("{format: yolo}", "a yolo dataset needs data: path/to/data.yaml"),
        ("{format: yolo, data: data.yaml, images: images}", "takes its images, labels and class names from data.yaml; remove images"),
        ("{format: yolo, data: data.yaml, classes: [a]}", "remove classes"),
        ("{format: coco, images: images, annotations: val.json, split: test}", "data and split are for format: yolo"),
        ("{format: yolo, data: data.yaml, split: holdout}", "dataset.split"),
        ("{format: yolo, data: missing.yaml}", "dataset.data: file not found"),
    ],
)
def test_spec_keys_of_a_yolo_dataset(dataset: str, expected: str, tmp_path: Path) -> None:
    spec, _ = _project(tmp_path)
    spec.write_text(spec.read_text().replace(YOLO_DATASET, f"dataset: {dataset}"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert expected in result.output, result.output


def test_criteria_classes_are_checked_against_the_data_yaml(tmp_path: Path) -> None:
    spec, _ = _project(tmp_path)
    spec.write_text(spec.read_text().replace("class: square", "class: squares"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert "unknown class 'squares'; did you mean 'square'? known: square, other" in result.output


# --- what a dataset reads as --------------------------------------------------------------------


def test_class_index_i_is_category_id_i_plus_1_with_names_as_list_or_mapping(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    (data.parent / "labels" / "img000.txt").write_text("1 0.5 0.5 0.25 0.25\n0 0.25 0.25 0.125 0.125\n")
    as_mapping = load_yolo(data)
    data.write_text("val: images\nnames: [square, other]\n")
    as_list = load_yolo(data)
    for dataset in (as_mapping, as_list):
        assert dataset.classes == {1: "square", 2: "other"}
        assert dataset.targets[1].labels.tolist() == [2, 1]
    data.write_text("val: images\nnc: 2\n")
    assert load_yolo(data).classes == {1: "class_0", 2: "class_1"}


def test_boxes_are_pixels_of_the_image_and_polygons_become_their_bounding_box(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    label = data.parent / "labels" / "img001.txt"
    label.write_text("0 0.5 0.25 0.25 0.125\n1 0.125 0.25 0.5 0.0625 0.375 0.75\n")
    got = _boxes(data)[2]
    assert got == [[24.0, 12.0, 16.0, 8.0], [8.0, 4.0, 24.0, 44.0]]


def test_images_without_a_label_file_or_with_an_empty_one_have_no_objects(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    (data.parent / "labels" / "img000.txt").unlink()
    (data.parent / "labels" / "img001.txt").write_text("\n  \n")
    dataset = load_yolo(data)
    assert [len(dataset.targets[i].labels) for i in (1, 2, 3)] == [0, 0, 1]
    assert [r.image_id for r in dataset.records] == [1, 2, 3]  # every image of the split is evaluated


def test_values_within_ultralytics_tolerance_are_kept_as_written(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    (data.parent / "labels" / "img000.txt").write_text("0 1.005 0.5 0.25 0.25\n")
    assert _boxes(data)[1] == [[(1.005 - 0.125) * 64, 24.0, 16.0, 16.0]]


def test_label_files_follow_the_last_images_folder(tmp_path: Path) -> None:
    assert label_path("/d/images/a/images/x.v2.png").as_posix() == "/d/images/a/labels/x.v2.txt"
    assert label_path("/d/flat/x.jpg").as_posix() == "/d/flat/x.txt"  # no /images/: the label sits beside it
    root = tmp_path / "ds"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "val" / "a.png"), np.zeros((32, 48, 3), np.uint8))
    (root / "labels" / "val" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("path: .\nval: images/val\nnames: [thing]\n")
    dataset = load_yolo(root / "data.yaml")
    assert (dataset.records[0].width, dataset.records[0].height) == (48, 32)
    assert dataset.targets[1].xywh.tolist() == [[12.0, 8.0, 24.0, 16.0]]


def test_path_root_lists_and_the_dotdot_fallback(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    root = data.parent
    expected = _boxes(data)
    elsewhere = tmp_path / "configs"
    elsewhere.mkdir()
    variants = {
        "absolute path": f"path: {root}\nval: images\nnames: [square, other]\n",
        "relative path": "path: ../p\nval: images\nnames: [square, other]\n",
        "dotdot fallback": f"path: {root}\nval: ../images\nnames: [square, other]\n",  # Roboflow exports
        "txt list": f"path: {root}\nval: val.txt\nnames: [square, other]\n",
        "list of entries": f"path: {root}\nval: [val_a.txt, images/img002.png]\nnames: [square, other]\n",
        "validation key": f"path: {root}\nvalidation: images\nnames: [square, other]\n",
    }
    (root / "val.txt").write_text("./images/img002.png\nimages/img000.png\n" + f"{root / 'images' / 'img001.png'}\n")
    (root / "val_a.txt").write_text("./images/img000.png\n./images/img001.png\n")
    for name, text in variants.items():
        (elsewhere / "data.yaml").write_text(text)
        assert _boxes(elsewhere / "data.yaml") == expected, name


def test_a_symlink_loop_in_the_image_folder_lists_each_image_once(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    (data.parent / "images" / "loop").symlink_to("..")
    (data.parent / "images" / ".cache").mkdir()
    cv2.imwrite(str(data.parent / "images" / ".cache" / "thumb.png"), np.zeros((4, 4, 3), np.uint8))
    assert [Path(r.path).name for r in load_yolo(data).records] == ["img000.png", "img001.png", "img002.png"]


def test_split_chooses_the_entry(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    (data.parent / "test.txt").write_text("./images/img002.png\n")
    data.write_text(data.read_text() + "test: test.txt\n")
    assert [Path(r.path).name for r in load_yolo(data, split="test").records] == ["img002.png"]
    assert len(load_dataset(format="yolo", data=data).records) == 3  # val by default


def test_sizes_follow_exif_orientation(tmp_path: Path) -> None:
    from tests.data.test_exif import _rotated_jpeg

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    _rotated_jpeg(root / "images" / "r.jpg", stored_wh=(64, 48))
    (root / "labels").mkdir()
    (root / "labels" / "r.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("val: images\nnames: [thing]\n")
    dataset = load_yolo(root / "data.yaml")
    assert (dataset.records[0].width, dataset.records[0].height) == (48, 64)  # upright, as decoded
    assert dataset.targets[1].xywh.tolist() == [[12.0, 16.0, 24.0, 32.0]]


def test_the_annotation_digest_follows_every_label(tmp_path: Path) -> None:
    _, data = _project(tmp_path)
    labels = data.parent / "labels"
    digests = [load_yolo(data).annotation_digest]
    (labels / "img000.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # a label changed
    digests.append(load_yolo(data).annotation_digest)
    (labels / "img002.txt").unlink()  # image 3 without objects
    digests.append(load_yolo(data).annotation_digest)
    (labels / "img001.txt").rename(labels / "img002.txt")  # the same label on another image
    digests.append(load_yolo(data).annotation_digest)
    data.write_text(data.read_text().replace("1: other", "1: others"))  # a class renamed
    digests.append(load_yolo(data).annotation_digest)
    assert len(set(digests)) == len(digests)


def test_validate_and_plan_of_a_yolo_spec_do_not_import_torch(tmp_path: Path) -> None:
    spec, _ = _project(tmp_path)
    for command in ("validate", "plan"):
        stdout, stderr, probe = _probe(command, str(spec))
        assert probe["exit"] in ("0", "None"), stderr
        assert "torch" not in probe["heavy"].split(","), f"{command} imported torch: {probe}"


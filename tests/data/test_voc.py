"""Pascal VOC datasets: box convention, difficult → crowd, safe XML, and one clear line (exit 2) per bad file."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.voc import MAX_XML_BYTES, load_voc
from tests._project import DETECTION_SPEC, make_detection_project
from tests.data._formats import write_voc
from tests.spec.test_no_torch import _probe

VOC_DATASET = "dataset: {format: voc, images: images, annotations: voc}"


def _project(tmp_path: Path, n_images: int = 3) -> tuple[Path, Path]:
    """The tiny project with its COCO labels written as VOC XML files, and a spec reading them."""
    root = tmp_path / "p"
    make_detection_project(root, n_images=n_images)
    folder = write_voc(root / "val.json", root / "voc")
    spec = root / "voc.yaml"
    spec.write_text(DETECTION_SPEC.replace("dataset: {format: coco, images: images, annotations: val.json}", VOC_DATASET))
    return spec, folder


def _xml(*objects: str, size: str = "<size><width>64</width><height>64</height><depth>3</depth></size>",
         filename: str = "<filename>img000.png</filename>") -> str:
    return f"<annotation>\n{filename}\n{size}\n" + "\n".join(objects) + "\n</annotation>\n"


def _obj(name: str = "square", box: tuple = (5, 6, 20, 21), difficult: str = "0", extra: str = "") -> str:
    xmin, ymin, xmax, ymax = box
    return (f"<object>\n<name>{name}</name>\n<difficult>{difficult}</difficult>{extra}\n"
            f"<bndbox>\n<xmin>{xmin}</xmin>\n<ymin>{ymin}</ymin>\n<xmax>{xmax}</xmax>\n<ymax>{ymax}</ymax>\n</bndbox>\n</object>")


def _assert_one_clear_line(result, culprit: Path, expected: list[str]) -> None:  # noqa: ANN001
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and isinstance(result.exception, SystemExit), result.exception
    assert str(culprit) in out, out
    for text in expected:
        assert text in out, (text, out)
    assert len(out.strip().splitlines()) == 1, out


LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n<annotation><filename>&lol9;</filename></annotation>\n"
)

# (case id, content of voc/img000.xml, strings the one-line message must contain)
XML_CASES: list[tuple[str, bytes, list[str]]] = [
    ("unclosed-tag", _xml(_obj()).replace("</bndbox>", "").encode(), ["not well-formed XML", "mismatched tag"]),
    ("not-xml", b"class x y w h\n", [":1:1:", "not well-formed XML"]),
    ("empty-file", b"", ["not well-formed XML", "no element found"]),
    ("billion-laughs", LAUGHS.encode(), [":2:", "a DOCTYPE declaration is not allowed"]),
    ("billion-laughs-utf16", LAUGHS.replace('"1.0"?', '"1.0" encoding="UTF-16"?').encode("utf-16"), ["DOCTYPE declaration is not allowed"]),
    ("external-entity", b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<annotation><filename>&x;</filename></annotation>',
     [":2:", "DOCTYPE declaration is not allowed"]),
    ("undeclared-entity", _xml(_obj(name="&x;")).encode(), ["not well-formed XML", "undefined entity"]),
    ("wrong-root", b"<voc><object/></voc>", [":1:", "root element is <voc>"]),
    ("no-name", _xml(_obj(name="")).encode(), [":4:", "object[0] has no <name>"]),
    ("no-bndbox", _xml(_obj(), "<object><name>square</name></object>").encode(), [":14:", "object[1] ('square'): missing <bndbox>"]),
    ("no-xmax", _xml(_obj().replace("<xmax>20</xmax>", "")).encode(), ["object[0] ('square'): bndbox/xmax is missing"]),
    ("word-ymin", _xml(_obj(box=(5, "six", 20, 21))).encode(), [":9:", "bndbox/ymin is 'six', not a number"]),
    ("nan-xmin", _xml(_obj(box=("nan", 6, 20, 21))).encode(), ["bndbox/xmin is 'nan', not a number"]),
    ("xmax-below-xmin", _xml(_obj(box=(10, 6, 3, 21))).encode(), [":7:", "bndbox xmax 3 < xmin 10"]),
    ("ymax-below-ymin", _xml(_obj(box=(5, 30, 20, 21))).encode(), ["bndbox ymax 21 < ymin 30"]),
    ("difficult-word", _xml(_obj(difficult="maybe")).encode(), ["object[0] ('square'): difficult must be 0 or 1, got 'maybe'"]),
    ("zero-width", _xml(_obj(), size="<size><width>0</width><height>64</height></size>").encode(),
     [":3:", "size/width must be a positive integer, got '0'"]),
    ("size-without-height", _xml(_obj(), size="<size><width>64</width></size>").encode(), ["size/height must be a positive integer, got missing"]),
    ("missing-image", _xml(_obj(), filename="<filename>nope.png</filename>").encode(), [":2:", "filename 'nope.png'", "not found"]),
    ("same-image-twice", _xml(_obj(), filename="<filename>img001.png</filename>").encode(), ["also annotated by", "img001.xml"]),
    ("unknown-class-in-list", _xml(_obj(name="dog")).encode(), [":4:", "class 'dog' is not in dataset.classes (square, other)"]),
]


@pytest.mark.parametrize("case", XML_CASES, ids=[c[0] for c in XML_CASES])
def test_bad_xml_is_named_by_validate_and_run(case, tmp_path: Path) -> None:  # noqa: ANN001
    _, content, expected = case
    spec, folder = _project(tmp_path)
    spec.write_text(spec.read_text().replace(VOC_DATASET, VOC_DATASET.replace("}", ", classes: [square, other]}")))
    xml = folder / "img000.xml"
    xml.write_bytes(content)
    start = time.perf_counter()
    _assert_one_clear_line(CliRunner().invoke(cli, ["validate", str(spec)]), xml, expected)
    assert time.perf_counter() - start < 30  # nothing expanded
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    _assert_one_clear_line(result, xml, expected)


def test_an_oversized_xml_file_is_refused_unread(tmp_path: Path) -> None:
    spec, folder = _project(tmp_path)
    xml = folder / "img000.xml"
    xml.write_bytes(b"<annotation>" + b" " * MAX_XML_BYTES + b"</annotation>")
    _assert_one_clear_line(CliRunner().invoke(cli, ["validate", str(spec)]), xml, ["larger than 4 MiB"])


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("{format: voc, images: images}", "a voc dataset needs annotations: path/to/folder/of/xml/files"),
        ("{format: voc, annotations: voc}", "a voc dataset needs images"),
        ("{format: voc, images: images, annotations: val.json}", "dataset.annotations: folder not found"),
        ("{format: voc, images: images, annotations: nowhere}", "dataset.annotations: folder not found"),
        ("{format: voc, images: images, annotations: voc, data: x.yaml}", "data and split are for format: yolo"),
    ],
)
def test_spec_keys_of_a_voc_dataset(dataset: str, expected: str, tmp_path: Path) -> None:
    spec, _ = _project(tmp_path)
    spec.write_text(spec.read_text().replace(VOC_DATASET, f"dataset: {dataset}"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert expected in result.output, result.output


def test_an_empty_annotation_folder_is_named(tmp_path: Path) -> None:
    spec, folder = _project(tmp_path)
    for xml in folder.iterdir():
        xml.unlink()
    _assert_one_clear_line(CliRunner().invoke(cli, ["validate", str(spec)]), folder, ["no .xml files found"])


def test_criteria_classes_are_checked_against_the_xml_names(tmp_path: Path) -> None:
    spec, _ = _project(tmp_path)
    spec.write_text(spec.read_text().replace("class: square", "class: sqare"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert "unknown class 'sqare'; did you mean 'square'? known: square" in result.output  # 'other' has no object


# --- what a dataset reads as --------------------------------------------------------------------


def _folder(tmp_path: Path, files: dict[str, str], images: dict[str, tuple[int, int]]) -> tuple[Path, Path]:
    (tmp_path / "ann").mkdir()
    (tmp_path / "img").mkdir()
    for name, text in files.items():
        (tmp_path / "ann" / name).write_text(text)
    for name, (w, h) in images.items():
        cv2.imwrite(str(tmp_path / "img" / name), np.zeros((h, w, 3), np.uint8))
    return tmp_path / "ann", tmp_path / "img"


def test_one_based_inclusive_corners_become_coco_xywh(tmp_path: Path) -> None:
    whole = _obj(box=(1, 1, 64, 48))
    pixel = _obj(box=(10, 20, 10, 20))
    fractional = _obj(box=(10.5, 20.25, 30.5, 40.25))
    ann, img = _folder(tmp_path, {"a.xml": _xml(whole, pixel, fractional, filename="<filename>a.png</filename>",
                                                  size="<size><width>64</width><height>48</height></size>")},
                       {"a.png": (64, 48)})
    targets = load_voc(ann, img).targets[1]
    assert targets.xywh.tolist() == [[0.0, 0.0, 64.0, 48.0], [9.0, 19.0, 1.0, 1.0], [9.5, 19.25, 21.0, 21.0]]
    assert targets.boxes.tolist()[0] == [0.0, 0.0, 64.0, 48.0]  # the whole image
    assert targets.area.tolist() == [64.0 * 48.0, 1.0, 441.0]


def test_difficult_objects_are_crowd_regions_and_truncated_ones_are_objects(tmp_path: Path) -> None:
    objects = [_obj(), _obj(difficult="1"), _obj(extra="<truncated>1</truncated><occluded>1</occluded>"), _obj(difficult="")]
    ann, img = _folder(tmp_path, {"a.xml": _xml(*objects, filename="<filename>a.png</filename>")}, {"a.png": (64, 64)})
    targets = load_voc(ann, img).targets[1]
    assert targets.iscrowd.tolist() == [False, True, False, False]
    assert targets.labels.tolist() == [1, 1, 1, 1]


def test_class_names_from_the_spec_list_or_sorted_from_the_files(tmp_path: Path) -> None:
    files = {
        "a.xml": _xml(_obj("zebra"), _obj("ant"), filename="<filename>a.png</filename>"),
        "b.xml": _xml(_obj("moth"), filename="<filename>b.png</filename>"),
    }
    ann, img = _folder(tmp_path, files, {"a.png": (64, 64), "b.png": (64, 64)})
    found = load_voc(ann, img)
    assert found.classes == {1: "ant", 2: "moth", 3: "zebra"}
    assert found.targets[1].labels.tolist() == [3, 1]
    given = load_voc(ann, img, classes=["zebra", "moth", "ant", "bee"])
    assert given.classes == {1: "zebra", 2: "moth", 3: "ant", 4: "bee"}
    assert given.targets[1].labels.tolist() == [1, 3] and given.targets[2].labels.tolist() == [2]
    assert found.annotation_digest != given.annotation_digest  # the ids differ, so the plan must


def test_image_by_xml_name_size_from_the_image_and_part_boxes_ignored(tmp_path: Path) -> None:
    part = "<part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>"
    files = {"000007.xml": _xml(_obj(extra=part), filename="", size="")}
    ann, img = _folder(tmp_path, files, {"000007.jpg": (40, 30), "000008.png": (8, 8)})
    dataset = load_voc(ann, img)
    [record] = dataset.records  # images without an XML file are not part of the dataset
    assert (Path(record.path).name, record.width, record.height, record.source) == ("000007.jpg", 40, 30, None)
    assert dataset.targets[1].xywh.tolist() == [[4.0, 5.0, 16.0, 16.0]]


def test_sizes_without_size_element_follow_exif_orientation(tmp_path: Path) -> None:
    from tests.data.test_exif import _rotated_jpeg

    ann, img = _folder(tmp_path, {"r.xml": _xml(_obj(), filename="<filename>r.jpg</filename>", size="")}, {})
    _rotated_jpeg(img / "r.jpg", stored_wh=(64, 48))
    record = load_voc(ann, img).records[0]
    assert (record.width, record.height) == (48, 64)  # upright, as decoded


def test_a_size_that_disagrees_with_the_image_blames_the_xml_at_run_time(tmp_path: Path) -> None:
    spec, folder = _project(tmp_path)
    xml = folder / "img001.xml"
    xml.write_text(xml.read_text().replace("<width>64</width>", "<width>80</width>"))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    _assert_one_clear_line(result, xml, ["image is 64x64", "says 80x64"])


def test_validate_and_plan_of_a_voc_spec_do_not_import_torch(tmp_path: Path) -> None:
    spec, _ = _project(tmp_path)
    for command in ("validate", "plan"):
        stdout, stderr, probe = _probe(command, str(spec))
        assert probe["exit"] in ("0", "None"), stderr
        assert "torch" not in probe["heavy"].split(","), f"{command} imported torch: {probe}"

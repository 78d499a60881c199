"""Malformed COCO files: `validate` and `run` both end in one line naming the file, record and field, exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.coco import load_coco
from tests._project import make_detection_project

Doc = dict


def _set(section: str, index: int, key: str, value: object) -> Callable[[Doc], object]:
    def edit(doc: Doc) -> Doc:
        doc[section][index][key] = value
        return doc

    return edit


def _drop(section: str, index: int, key: str) -> Callable[[Doc], object]:
    def edit(doc: Doc) -> Doc:
        del doc[section][index][key]
        return doc

    return edit


# (case id, edit of the tiny project's val.json, strings the one-line message must contain)
CASES: list[tuple[str, Callable[[Doc], object], list[str]]] = [
    ("missing-width", _drop("images", 1, "width"), ["images[1] (id 2)", "missing 'width'"]),
    ("missing-height", _drop("images", 2, "height"), ["images[2] (id 3)", "missing 'height'"]),
    ("missing-file-name", _drop("images", 0, "file_name"), ["images[0] (id 1)", "missing 'file_name'"]),
    ("null-width", _set("images", 1, "width", None), ["images[1] (id 2)", "'width'", "null"]),
    ("zero-height", _set("images", 1, "height", 0), ["images[1] (id 2)", "'height'", "positive"]),
    ("string-image-id", _set("images", 1, "id", "2"), ['images[1] (id "2")', "'id' must be an integer", "string"]),
    ("missing-image-id", _drop("images", 1, "id"), ["images[1]", "missing 'id'"]),
    ("duplicate-image-id", _set("images", 2, "id", 1), ["images[2] (id 1)", "also the id of images[0]"]),
    ("images-of-strings", lambda d: {**d, "images": ["img000.png", "img001.png"]}, ["images[0]", "got a JSON string"]),
    ("images-not-a-list", lambda d: {**d, "images": {"a": 1}}, ["'images' list", "object"]),
    ("top-level-list", lambda d: [d], ["JSON object", "got a JSON list"]),
    ("missing-bbox", _drop("annotations", 1, "bbox"), ["annotations[1] (id 2)", "missing 'bbox'"]),
    ("bbox-length-5", _set("annotations", 1, "bbox", [1, 2, 3, 4, 5]), ["annotations[1] (id 2)", "'bbox' must be a list of 4 numbers"]),
    ("bbox-strings", _set("annotations", 1, "bbox", ["1", "2", "3", "4"]), ["annotations[1] (id 2)", "'bbox'"]),
    ("bbox-object", _set("annotations", 1, "bbox", {"x": 1}), ["annotations[1] (id 2)", "'bbox'", "object"]),
    ("bbox-nan", _set("annotations", 2, "bbox", [1.0, float("nan"), 3.0, 4.0]), ["annotations[2] (id 3)", "NaN"]),
    ("bbox-overflowing", _set("annotations", 2, "bbox", [1e308, 0, 1e308, 4]), ["annotations[2] (id 3)", "infinite"]),
    ("bbox-negative", _set("annotations", 2, "bbox", [10, 10, -4, 8]), ["annotations[2] (id 3)", "negative width or height"]),
    ("missing-category-id", _drop("annotations", 0, "category_id"), ["annotations[0] (id 1)", "missing 'category_id'"]),
    ("string-category-id", _set("annotations", 0, "category_id", "1"), ["annotations[0] (id 1)", "'category_id'", "string"]),
    ("unknown-category-id", _set("annotations", 0, "category_id", 7), ["annotations[0] (id 1)", "category_id 7"]),
    ("missing-image-id-of-ann", _drop("annotations", 2, "image_id"), ["annotations[2] (id 3)", "missing 'image_id'"]),
    ("unknown-image-id", _set("annotations", 2, "image_id", 99), ["annotations[2] (id 3)", "image_id 99"]),
    ("category-without-id", _drop("categories", 1, "id"), ["categories[1]", "missing 'id'"]),
    ("category-without-name", _drop("categories", 1, "name"), ["categories[1] (id 2)", "missing 'name'"]),
    ("duplicate-category-id", _set("categories", 1, "id", 1), ["categories[1] (id 1)", "also the id of categories[0]"]),
    ("negative-area", _set("annotations", 0, "area", -3), ["annotations[0] (id 1)", "'area'"]),
]


def _project(tmp_path: Path, edit: Callable[[Doc], object]) -> tuple[Path, Path]:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    ann = tmp_path / "p" / "val.json"
    ann.write_text(json.dumps(edit(json.loads(ann.read_text()))))  # NaN is written as the bare token NaN
    return spec, ann


def _assert_one_clear_line(result, ann: Path, expected: list[str]) -> None:  # noqa: ANN001
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and isinstance(result.exception, SystemExit), result.exception
    assert str(ann) in out, out
    for text in expected:
        assert text in out, (text, out)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_coco_is_named_by_validate_and_run(case, tmp_path: Path) -> None:  # noqa: ANN001
    _, edit, expected = case
    spec, ann = _project(tmp_path, edit)
    _assert_one_clear_line(CliRunner().invoke(cli, ["validate", str(spec)]), ann, expected)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    _assert_one_clear_line(result, ann, expected)


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    spec, ann = _project(tmp_path, lambda d: d)
    ann.write_text('{"images": [\n  {"id": 1,, }]}')
    for args in (["validate", str(spec)], ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"{ann}:2:" in result.output and "not valid JSON" in result.output


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    spec, ann = _project(tmp_path, lambda d: d)
    ann.write_text("[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output and str(ann) in result.output


def test_boxes_keep_float64_from_the_file(tmp_path: Path) -> None:
    box = [10.123456789012345, 20.000000000000004, 16.5, 16.25]
    spec, ann = _project(tmp_path, _set("annotations", 0, "bbox", box))
    dataset = load_coco(ann, tmp_path / "p" / "images")
    got = dataset.targets[1].boxes[0]
    assert got.dtype == np.float64
    assert got.tolist() == [box[0], box[1], box[0] + box[2], box[1] + box[3]]
    assert dataset.targets[1].area[0] == 256.0  # the file's area, not the box's


def test_integral_float_sizes_are_accepted(tmp_path: Path) -> None:
    spec, ann = _project(tmp_path, _set("images", 0, "width", 64.0))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output

"""Catalogue helpers the CLI calls: table, image round trip, corrupt_file, preview grid, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from fieldready.corruptions import names
from fieldready.corruptions.catalogue import (
    catalogue_rows,
    corrupt_file,
    format_catalogue,
    load_image,
    preview_grid,
    save_image,
)
from fieldready.errors import DataError

from conftest import photos


def test_rows_and_table_cover_the_registry() -> None:
    rows = catalogue_rows()
    assert sorted(r["name"] for r in rows) == names()
    assert {"name", "family", "unit", "valid_range", "levels", "geometric", "spatial", "description"} <= set(rows[0])
    table = format_catalogue()
    assert all(n in table for n in names()) and "scales with size" in table


def test_image_round_trip_and_corrupt_file(tmp_path: Path) -> None:
    src = save_image(photos(1, 40), tmp_path / "in.png")
    img = load_image(src)
    assert img.shape == (1, 3, 40, 40)
    torch.testing.assert_close(img, photos(1, 40), atol=0.5 / 255 + 1e-6, rtol=0)
    out = corrupt_file(src, tmp_path / "out" / "blur.png", "gaussian_blur", severity=2.0)
    assert load_image(out).shape == (1, 3, 40, 40)


def test_preview_grid_layout(tmp_path: Path) -> None:
    src = save_image(photos(1, 64), tmp_path / "in.png")
    grid = cv2.imread(str(preview_grid(src, tmp_path / "grid.png", names=["fog", "rotate"], tile=64)))
    assert grid.shape == (2 * 64, 6 * 64, 3)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="junk.png"):
        load_image(tmp_path / "junk.png")
    with pytest.raises(DataError, match="out.unknownext") as err:
        save_image(photos(1, 8), tmp_path / "out.unknownext")
    assert "\n" not in str(err.value), "one line, not OpenCV's multi-line trace"

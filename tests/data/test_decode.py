"""One decoder for files and shipped bytes: ``decode_rgb`` gives exactly ``read_rgb``'s pixels and errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from fieldready.data.decode import decode_images, decode_rgb, read_rgb
from fieldready.data.types import ImageRecord
from fieldready.errors import DataError

ROTATE_90_CW = 6


def _files(folder: Path) -> list[Path]:
    """Images whose decoding is not trivial: EXIF-rotated JPEG and TIFF, 16-bit, grey, RGBA, WebP."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    pixels[:5] = 10  # a band on the stored top edge, so a rotation changes the array
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90_CW
    Image.fromarray(pixels).save(folder / "rotated.jpg", exif=exif, quality=90)
    Image.fromarray(pixels).save(folder / "rotated.tiff", exif=exif)
    Image.fromarray(pixels).save(folder / "plain.webp")
    cv2.imwrite(str(folder / "grey16.png"), rng.integers(0, 65536, (12, 9)).astype(np.uint16))
    cv2.imwrite(str(folder / "colour16.png"), rng.integers(0, 65536, (12, 9, 3)).astype(np.uint16))
    cv2.imwrite(str(folder / "rgba.png"), rng.integers(0, 256, (12, 9, 4)).astype(np.uint8))
    cv2.imwrite(str(folder / "grey.png"), rng.integers(0, 256, (12, 9)).astype(np.uint8))
    return sorted(folder.iterdir())


def test_bytes_decode_to_the_pixels_of_the_file(tmp_path: Path) -> None:
    for path in _files(tmp_path):
        from_file = read_rgb(path)
        from_bytes = decode_rgb(path.read_bytes(), path)
        assert from_bytes.dtype == np.uint8 and from_bytes.shape[2] == 3, path.name
        assert np.array_equal(from_file, from_bytes), path.name
    upright = read_rgb(tmp_path / "rotated.jpg")
    assert upright.shape[:2] == (30, 20)  # EXIF orientation applied: stored 30 wide, 20 high
    assert upright[:, -5:].mean() < upright[:, :5].mean()  # the stored top band is now on the right


def test_a_record_carrying_its_bytes_decodes_as_its_file(tmp_path: Path) -> None:
    paths = [p for p in _files(tmp_path) if p.suffix == ".png"]  # 16-bit, grey and RGBA, all 9x12
    records = [ImageRecord(i, str(p), 9, 12) for i, p in enumerate(paths)]
    from_files = decode_images(records, torch.device("cpu"))
    carried = [dataclasses.replace(r, path=str(tmp_path / "gone" / Path(r.path).name), data=Path(r.path).read_bytes())
               for r in records]  # no file at the path: only the bytes can be decoded
    assert torch.equal(decode_images(carried, torch.device("cpu")), from_files)
    assert carried[0] == dataclasses.replace(carried[0], data=None)  # the bytes are not part of a record's identity


def test_corrupt_bytes_name_the_image_as_a_corrupt_file_does(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError) as from_file:
        read_rgb(bad)
    with pytest.raises(DataError) as from_bytes:
        decode_rgb(bad.read_bytes(), bad)
    assert str(from_file.value) == str(from_bytes.value)
    assert str(bad) in str(from_bytes.value) and "cannot be decoded" in str(from_bytes.value)
    with pytest.raises(DataError, match="empty.png: image cannot be decoded"):
        decode_rgb(b"", "empty.png")
    with pytest.raises(DataError, match="missing.png: image not found"):
        read_rgb(tmp_path / "missing.png")


def test_a_carried_rotated_image_with_the_stored_size_names_exif(tmp_path: Path) -> None:
    _files(tmp_path)
    path = tmp_path / "rotated.jpg"
    record = ImageRecord(3, str(tmp_path / "elsewhere.jpg"), 30, 20, source="val.json", data=path.read_bytes())
    with pytest.raises(DataError) as caught:
        decode_images([record], torch.device("cpu"))
    message = str(caught.value)
    assert "elsewhere.jpg" in message and "EXIF orientation" in message and "val.json" in message

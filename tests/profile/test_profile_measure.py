"""Reading frames from folders and videos, and measuring them at the reference's scale."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fieldready.errors import DataError
from fieldready.profile.measure import frame_files, measure_image, read_frames, read_video, reference_frames

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "examples" / "shapes"


def _image(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 90, np.uint8)
    cv2.rectangle(img, (10, 10), (50, 60), tuple(int(v) for v in rng.integers(120, 255, 3)), -1)
    return img


def write_video(path: Path, frames: int, fps: float, size: int = 64) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    assert writer.isOpened()
    for i in range(frames):
        img = _image(i, size)
        writer.write(img)
    writer.release()


def test_folder_of_images_and_a_video(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _image(0))
    cv2.imwrite(str(tmp_path / "b.jpg"), _image(1), [cv2.IMWRITE_JPEG_QUALITY, 40])
    (tmp_path / "sub").mkdir()
    write_video(tmp_path / "sub" / "clip.avi", frames=20, fps=10.0)
    (tmp_path / "notes.txt").write_text("not a frame")
    frames = list(read_frames(tmp_path, sample_fps=2.0))
    kinds = [f.kind for f in frames]
    assert kinds[:2] == ["lossless", "jpeg"] and kinds[2:] == ["video"] * 4  # 20 frames at 10 fps, 2 per second
    assert frames[1].jpeg is not None and frames[0].jpeg is None
    assert frames[2].name.endswith("clip.avi@0.00s") and frames[3].name.endswith("clip.avi@0.50s")
    m = measure_image(frames[1].image, name=frames[1].name, kind=frames[1].kind, jpeg=frames[1].jpeg)
    assert m.jpeg_quality == 40 and m.kind == "jpeg"


def test_a_jpeg_is_read_as_one_whatever_its_name(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", _image(2), [cv2.IMWRITE_JPEG_QUALITY, 60])
    (tmp_path / "frame.png").write_bytes(buf.tobytes())
    (frame,) = read_frames(tmp_path)
    assert frame.kind == "jpeg"


def test_large_frames_are_measured_at_the_reference_scale() -> None:
    big = cv2.resize(_image(3, 96), (384, 384), interpolation=cv2.INTER_CUBIC)
    m = measure_image(big, short_side=96)
    assert m.scale == pytest.approx(0.25) and (m.width, m.height) == (384, 384)
    # a 4× upscale is 4× blurrier in its own pixels; at the reference's scale it is sharp again
    assert m.blur is not None and m.blur < measure_image(big).blur  # type: ignore[operator]
    assert measure_image(_image(3, 96), short_side=96).scale == 1.0


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no images or videos found"):
        frame_files(tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        frame_files(tmp_path / "nope")


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match=r"broken\.png: image cannot be decoded"):
        list(read_frames(tmp_path))


def test_corrupt_video_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 500)
    with pytest.raises(DataError, match=r"bad\.mp4: (video cannot be opened|no frame could be decoded)"):
        list(read_video(tmp_path / "bad.mp4", sample_fps=1.0))


def test_bad_sample_rate(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _image(0))
    with pytest.raises(DataError, match="sample rate"):
        list(read_frames(tmp_path, sample_fps=0.0))


def test_reference_from_a_spec_is_its_dataset() -> None:
    frames, description = reference_frames(SHAPES / "spec.yaml")
    first = next(iter(frames))
    assert "160 images" in description
    assert first.image.shape == (128, 128, 3) and first.kind == "lossless"

"""Repeated captures: groups from subfolders, videos sampled at a rate, and every hostile folder one clear error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.data.captures import load_captures, stream_captures
from fieldready.errors import DataError
from tests._project import make_detection_project


def write_video(path: Path, frames: list[np.ndarray], fps: float = 8.0) -> Path:
    """An MJPG .avi of RGB ``frames`` (MJPG is in every OpenCV build, headless too)."""
    h, w = frames[0].shape[:2] if frames else (24, 32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _grey(value: int, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    return np.full((*size, 3), value, dtype=np.uint8)


def _captures(root: Path, groups: dict[str, int], video_frames: int = 16) -> Path:
    for name, n in groups.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            cv2.imwrite(str(root / name / f"c{k}.png"), _grey(40 * k + 10))
    if video_frames:
        write_video(root / "belt.avi", [_grey(8 * k) for k in range(video_frames)])
    return root


def test_groups_and_a_sampled_video(tmp_path: Path) -> None:
    root = _captures(tmp_path / "caps", {"part-a": 3, "part-b": 2})
    caps = load_captures(root, fps=4.0)  # the video runs at 8 fps: every second frame
    assert [(g.name, g.kind, len(g.captures)) for g in caps.groups] == [("part-a", "group", 3), ("part-b", "group", 2),
                                                                        ("belt.avi", "video", 8)]
    video = caps.groups[2]
    assert [c.frame for c in video.captures] == [0, 2, 4, 6, 8, 10, 12, 14]
    assert video.captures[1].name == "belt.avi@0.25s"
    ids = [c.image_id for c in caps.captures]
    assert len(set(ids)) == len(ids) and max(ids) < 0  # never an id of a labelled image
    assert caps.sample_size("repeatability") == (2, 2)
    assert caps.sample_size("agreement") == (2, 3 + 1)  # pairs within groups
    assert caps.sample_size("video_flip_rate") == (1, 7)


def test_stream_reads_only_the_wanted_captures_in_order(tmp_path: Path) -> None:
    caps = load_captures(_captures(tmp_path / "caps", {"part-a": 2}), fps=2.0)
    video = caps.groups[1].captures
    wanted = {caps.groups[0].captures[1].image_id, video[1].image_id, video[2].image_id}
    got = list(stream_captures(caps, wanted))
    assert [c.image_id for c, _ in got] == [caps.groups[0].captures[1].image_id, video[1].image_id, video[2].image_id]
    assert int(got[0][1].mean()) == 50  # c1.png is grey 50
    assert abs(float(got[1][1].mean()) - 8 * video[1].frame) < 3  # the frame it names, not another


def test_the_digest_follows_the_bytes_and_the_rate(tmp_path: Path) -> None:
    root = _captures(tmp_path / "caps", {"part-a": 2}, video_frames=0)
    before = load_captures(root).digest
    assert load_captures(root, fps=3.0).digest != before
    cv2.imwrite(str(root / "part-a" / "c0.png"), _grey(99))
    assert load_captures(root).digest != before


@pytest.mark.parametrize(
    "make, culprit, says",
    [
        (lambda r: (r / "part-empty").mkdir(), "part-empty", "group folder has no images"),
        (lambda r: cv2.imwrite(str(r / "part-one" / "c0.png"), _grey(5)) if (r / "part-one").mkdir() is None else None,
         "part-one", "only one capture"),
        (lambda r: (r / "broken.avi").write_bytes(b"not a video at all" * 50), "broken.avi", "cannot be opened"),
        (lambda r: write_video(r / "empty.avi", []), "empty.avi", "no frames"),
        (lambda r: write_video(r / "short.avi", [_grey(10)]), "short.avi", "only one frame"),
        (lambda r: cv2.imwrite(str(r / "loose.png"), _grey(5)), "loose.png", "not inside a group folder"),
    ],
)
def test_hostile_capture_folders_are_one_line_errors(tmp_path: Path, make, culprit: str, says: str) -> None:  # noqa: ANN001
    root = _captures(tmp_path / "caps", {"part-a": 2}, video_frames=0)
    make(root)
    with pytest.raises(DataError) as err:
        load_captures(root)
    assert culprit in str(err.value) and says in str(err.value)


def test_missing_or_empty_captures_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="captures folder not found"):
        load_captures(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no capture groups or videos"):
        load_captures(tmp_path / "empty")


@pytest.mark.parametrize(
    "make, culprit",
    [
        (lambda r: (r / "part-empty").mkdir(), "part-empty"),
        (lambda r: (r / "broken.avi").write_bytes(b"\x00garbage" * 100), "broken.avi"),
        (lambda r: write_video(r / "zero.avi", []), "zero.avi"),
    ],
)
def test_cli_names_the_bad_capture_and_exits_2(tmp_path: Path, make, culprit: str) -> None:  # noqa: ANN001
    spec = make_detection_project(tmp_path, n_images=2)
    root = _captures(tmp_path / "caps", {"part-a": 2}, video_frames=0)
    make(root)
    spec.write_text(spec.read_text().replace("report:", "repeatability: {dataset: {images: caps}}\nreport:"))
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and culprit in lines[0], result.output

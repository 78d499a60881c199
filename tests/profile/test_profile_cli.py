"""`fieldready profile` end to end: the shapes example's images with known corruptions on known shares, and bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from ruamel.yaml import YAML

from fieldready.cli import cli
from fieldready.corruptions import corrupt
from fieldready.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "examples" / "shapes"
SPEC = SHAPES / "spec.yaml"
SHARES = {"gaussian_blur": 0.20, "jpeg_compression": 0.10, "gaussian_noise": 0.10}


def _corrupted(bgr: np.ndarray, name: str, severity: float, seed: int) -> np.ndarray:
    rgb = torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255.0
    out = corrupt(rgb, name, severity=severity, seed=seed).images[0].permute(1, 2, 0).numpy()
    return cv2.cvtColor(np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def build_frames(folder: Path) -> dict[str, int]:
    """The example's 160 images, 20 % blurred (σ 2 px), 10 % saved as JPEG quality 30, 10 % noisy (σ 0.08)."""
    folder.mkdir(parents=True)
    files = sorted((SHAPES / "data" / "images").glob("*.png"))
    order = np.random.default_rng(0).permutation(len(files))
    counts = {name: round(share * len(files)) for name, share in SHARES.items()}
    plan: dict[int, str] = {}
    start = 0
    for name, n in counts.items():
        for j in order[start : start + n]:
            plan[int(j)] = name
        start += n
    for j, path in enumerate(files):
        bgr = cv2.imread(str(path))
        condition = plan.get(j)
        if condition == "jpeg_compression":
            cv2.imwrite(str(folder / f"{path.stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 30])
            continue
        if condition == "gaussian_blur":
            bgr = _corrupted(bgr, "gaussian_blur", 2.0, j)
        elif condition == "gaussian_noise":
            bgr = _corrupted(bgr, "gaussian_noise", 0.08, j)
        cv2.imwrite(str(folder / path.name), bgr)
    return counts


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("profile")
    build_frames(root / "frames")
    result = CliRunner().invoke(cli, ["profile", str(root / "frames"), "--spec", str(SPEC), "-o", str(root / "out")])
    assert result.exit_code == 0, result.output
    return root / "out", result.output


def _conditions(out: Path) -> dict[str, dict]:
    data = YAML(typ="safe").load((out / "suggested-conditions.yaml").read_text())
    return {c.get("name") or c.get("corruption") or c.get("preset"): c for c in data["conditions"]}


def test_suggests_the_applied_frequencies_and_severities(profiled: tuple[Path, str]) -> None:
    out, _ = profiled
    got = _conditions(out)
    assert got["gaussian_blur"]["frequency"] == pytest.approx(0.20, abs=0.04)
    assert all(1.4 <= v <= 2.6 for v in got["gaussian_blur"]["severity"]["values"])
    assert got["jpeg_compression"]["frequency"] == pytest.approx(0.10, abs=0.01)
    assert got["jpeg_compression"]["severity"]["values"] == [30]
    assert got["gaussian_noise"]["frequency"] == pytest.approx(0.10, abs=0.04)
    assert all(0.06 <= v <= 0.10 for v in got["gaussian_noise"]["severity"]["values"])
    # conditions the frames do not show and the example declares: kept, measured at (about) zero
    assert got["night"]["frequency"] <= 0.02
    assert got["translate"]["frequency"] == 0.05 and got["vflip"]["frequency"] == 0.02  # not measurable: as declared


def test_suggested_block_validates_when_pasted_into_the_example_spec(profiled: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = profiled
    lines = SPEC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("conditions:"))
    end = next(i for i, line in enumerate(lines) if line.startswith("criteria:"))
    pasted = lines[:start] + (out / "suggested-conditions.yaml").read_text().splitlines() + lines[end:]
    text = "\n".join(pasted) + "\n"
    for rel in ("data/images", "data/val.json", "models/"):  # the copy lives elsewhere: absolute paths
        text = text.replace(f" {rel}", f" {SHAPES / rel}{'/' if rel.endswith('/') else ''}".replace("//", "/"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    loaded = load_spec(spec)
    names = [c.name or c.corruption or c.preset for c in loaded.spec.conditions]
    assert {"gaussian_blur", "jpeg_compression", "gaussian_noise", "night", "vflip"} <= set(names)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output


def test_side_by_side_with_the_spec(profiled: tuple[Path, str]) -> None:
    out, output = profiled
    assert "declared 20 % gaussian_blur" in output
    assert "blurrier than the blurriest 5 % of the reference" in output
    assert "declared 5 % night" in output and "both darker and noisier" in output
    assert "translate cannot be measured on frames; kept as declared" in output
    import json

    data = json.loads((out / "profile.json").read_text())
    rows = {r["name"]: r for r in data["comparison"]}
    assert rows["gaussian_blur"]["declared_frequency"] == 0.2 and rows["gaussian_blur"]["measured"]
    assert rows["jpeg_compression"]["frequency"] == pytest.approx(0.10, abs=0.01)
    assert data["frames"]["count"] == 160 and data["frames"]["kinds"] == {"lossless": 144, "jpeg": 16}
    assert data["reference"]["count"] == 160
    html = (out / "profile.html").read_text()
    assert "Declared in the spec beside the frames" in html and html.count("<svg") == 7


def test_reference_folder_and_video_without_a_spec(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    writer = cv2.VideoWriter(str(frames / "cam.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (128, 128))
    images = sorted((SHAPES / "data" / "images").glob("*.png"))[:40]
    for i, path in enumerate(images):
        bgr = cv2.imread(str(path))
        writer.write(_corrupted(bgr, "exposure", -2.5, i) if i % 2 else bgr)  # every other frame underexposed
    writer.release()
    result = CliRunner().invoke(
        cli, ["profile", str(frames), "--reference", str(SHAPES / "data" / "images"), "-o", str(tmp_path / "out"), "--sample-fps", "10"]
    )
    assert result.exit_code == 0, result.output
    got = _conditions(tmp_path / "out")
    assert got["underexposed"]["frequency"] == pytest.approx(0.5, abs=0.12)
    assert got["underexposed"]["corruption"] == "exposure"
    assert "underexposed" in result.output


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("empty", "no images or videos found"),
        ("broken-image", "broken.png: image cannot be decoded"),
        ("broken-video", "bad.mp4:"),
        ("missing", "folder not found"),
        ("tiny", "tiny.png: 1×1 px is too small to measure"),
        ("sliver", "sliver.png: 20000×1 px is too small to measure"),
    ],
)
def test_bad_frames_exit_2_with_one_message(tmp_path: Path, setup: str, expected: str) -> None:
    frames = tmp_path / "frames"
    if setup != "missing":
        frames.mkdir()
    if setup == "broken-image":
        cv2.imwrite(str(frames / "good.png"), np.full((32, 32, 3), 100, np.uint8))
        (frames / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    if setup in ("tiny", "sliver"):  # the estimators' filters need an inside: 1 px frames raised IndexError
        cv2.imwrite(str(frames / f"{setup}.png"), np.zeros((1, 1 if setup == "tiny" else 20000, 3), np.uint8))
    if setup == "broken-video":
        (frames / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 500)
    result = CliRunner().invoke(cli, ["profile", str(frames), "--reference", str(SHAPES / "data" / "images"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_no_reference_and_bad_spec_exit_2(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((32, 32, 3), 100, np.uint8))
    result = CliRunner().invoke(cli, ["profile", str(frames), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--reference" in result.output and "Traceback" not in result.output
    bad = tmp_path / "spec.yaml"
    bad.write_text("fieldready: 1\nname: x\ntask: detection\nconditions: [{corruption: nosuch, severity: 1}]\n")
    result = CliRunner().invoke(cli, ["profile", str(frames), "--spec", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and str(bad) in result.output and "Traceback" not in result.output


def test_output_that_is_a_file_exits_2(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((32, 32, 3), 100, np.uint8))
    (tmp_path / "out").write_text("a file")
    result = CliRunner().invoke(cli, ["profile", str(frames), "--reference", str(frames), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "out" in result.output and "Traceback" not in result.output

"""Repeatability on real captures end to end: grouped captures and a video → figures with intervals, criteria, report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import torch
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.execution.store import ResultStore
from tests._project import MeanClassifier, make_detection_project
from tests.data.test_captures import write_video

SPEC = """\
fieldready: 1
name: parts
task: classification
dataset: {format: imagefolder, images: data}
models:
  - {name: mean, kind: torchscript, path: models/mean.pt}
repeatability: {dataset: {images: captures, fps: 4}}
criteria:
  - {metric: top1, on: clean, at_least: 0.5}
  - {id: same-answer, metric: repeatability, at_least: 0.98}
  - {metric: video_flip_rate, at_most: 0.9, severity: warning}
run: {device: cpu, seed: 0, batch_size: 8, bootstrap: 200}
"""


def _grey(value: float, size: int = 8) -> np.ndarray:
    return np.full((size, size, 3), int(round(value * 255)), dtype=np.uint8)


def _classification_project(root: Path) -> Path:
    """MeanClassifier answers 1 when the mean brightness is above 0.5: groups of 0.2/0.8 agree, 0.45 + 0.55 do not."""
    for label, value in (("dark", 0.2), ("bright", 0.8)):
        (root / "data" / label).mkdir(parents=True)
        for k in range(3):
            cv2.imwrite(str(root / "data" / label / f"{k}.png"), _grey(value + 0.01 * k))
    (root / "models").mkdir()
    torch.jit.script(MeanClassifier()).save(str(root / "models" / "mean.pt"))
    caps = root / "captures"
    for g in range(20):  # 10 steady groups, 10 that straddle the decision boundary
        values = (0.2 + 0.02 * (g % 3), 0.22 + 0.02 * (g % 3)) if g < 10 else (0.45, 0.55)
        (caps / f"part-{g:02d}").mkdir(parents=True)
        for k, v in enumerate(values):
            cv2.imwrite(str(caps / f"part-{g:02d}" / f"c{k}.png"), _grey(v))
    # a static scene whose answer flips twice: dark, dark, bright, bright, dark (4 fps, every frame sampled)
    write_video(caps / "belt.avi", [_grey(v, 16) for v in (0.2, 0.2, 0.8, 0.8, 0.2)], fps=4.0)
    spec = root / "spec.yaml"
    spec.write_text(SPEC)
    return spec


def test_grouped_captures_and_a_video_give_figures_criteria_and_a_gallery(tmp_path: Path) -> None:
    spec = _classification_project(tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    model = json.loads((out / "results.json").read_text())["models"][0]
    rep = model["repeatability"]
    assert (rep["groups"], rep["videos"], rep["captures"]) == (20, 1, 45)
    figures = rep["figures"]
    assert figures["repeatability"]["value"] == 0.5  # 10 of 20 groups
    assert figures["agreement"]["value"] == 0.5  # one pair per group
    assert figures["video_flip_rate"]["value"] == 0.5  # 2 flips in 4 transitions
    for f in figures.values():
        lo, hi = f["ci"]
        assert 0.0 <= lo <= f["value"] <= hi <= 1.0 and hi - lo > 0
    assert figures["repeatability"]["n"] == 20 and figures["video_flip_rate"]["n"] == 1
    crit = {c["id"]: c for c in model["criteria"]}
    same = crit["same-answer"]
    assert same["value"] == 0.5 and same["scope"] == "repeated captures"
    assert same["ci"][1] < 0.98 and same["passed"] is False  # 20 groups decide it
    assert model["verdict"] == "NO-GO"
    flip = crit["c3"]
    assert flip["value"] == 0.5 and flip["passed"] in (True, None) and not flip["blocking"]
    disagreeing = {g["name"] for g in rep["disagreeing"]}
    assert disagreeing == {f"part-{g:02d}" for g in range(10, 20)} | {"belt.avi"}
    answers = {c["answer"] for g in rep["disagreeing"] for c in g["shown"]}
    assert answers == {"bright", "dark"}
    html = (out / "report.html").read_text()
    section = html[html.index('<section id="repeatability">'):]
    section = section[: section.index("</section>")]
    assert "part-10" in section and "belt.avi@0.50s" in section and "part-00" not in section
    assert len(re.findall(r'src="data:image/png', section)) == sum(len(g["shown"]) for g in rep["disagreeing"])


def test_a_repeatability_run_resumes_without_recomputing(tmp_path: Path) -> None:
    spec = _classification_project(tmp_path)
    out = tmp_path / "run"
    assert CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"]).exit_code == 0
    first = json.loads((out / "results.json").read_text())["models"][0]["repeatability"]
    with ResultStore(out) as store:
        batches = store.batch_count()
        predictions = store.predictions("mean", "repeatability")
    assert len(predictions) == 45
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    with ResultStore(out) as store:
        assert store.batch_count() == batches
    assert json.loads((out / "results.json").read_text())["models"][0]["repeatability"]["figures"] == first["figures"]


def test_detection_captures_at_the_operating_point(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=3)
    caps = tmp_path / "caps"
    img = cv2.imread(str(tmp_path / "images" / "img000.png"))
    for g, shifts in enumerate([(0, 1), (0, 2)]):
        (caps / f"part-{g}").mkdir(parents=True)
        for k, dx in enumerate(shifts):
            cv2.imwrite(str(caps / f"part-{g}" / f"c{k}.png"), np.roll(img, dx, axis=1))
    write_video(caps / "line.avi", [cv2.cvtColor(np.roll(img, k, axis=0), cv2.COLOR_BGR2RGB) for k in range(6)], fps=6.0)
    text = spec.read_text().replace("report:", "repeatability: {dataset: {images: caps, fps: 6}}\nreport:")
    spec.write_text(text.replace("criteria:\n", "criteria:\n  - {metric: agreement, at_least: 0.5, severity: warning}\n"))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    for model in json.loads((out / "results.json").read_text())["models"]:
        rep = model["repeatability"]
        point = model["operating_point"]["score_threshold"]  # chosen on the clean images (max F1)
        assert rep["threshold"] == f"detections with score ≥ {point:.3g} (the model's operating point)"
        assert (rep["groups"], rep["videos"]) == (2, 1)
        for name in ("repeatability", "agreement", "video_flip_rate"):
            f = rep["figures"][name]
            assert f["value"] is not None and 0.0 <= f["value"] <= 1.0 and f["ci"] is not None
        agreement = next(c for c in model["criteria"] if c["metric"] == "agreement")
        assert agreement["value"] == rep["figures"]["agreement"]["value"]
        assert agreement["description"].startswith("agreement on the repeated captures ≥ 0.5")


def test_repeatability_criteria_need_the_captures_and_a_plain_threshold(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    spec.write_text(spec.read_text().replace("criteria:\n", "criteria:\n  - {metric: repeatability, at_least: 0.9}\n"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "criteria[0].metric: metric 'repeatability' is measured on repeated captures" in result.output
    spec.write_text(spec.read_text().replace("{metric: repeatability, at_least: 0.9}",
                                             "{metric: repeatability, on: translate, max_drop: 0.1}")
                    .replace("report:", "repeatability: {dataset: {images: images}}\nreport:"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "remove on" in result.output and "use at_least or at_most" in result.output


def test_a_criterion_on_captures_the_folder_does_not_have_stops_the_plan(tmp_path: Path) -> None:
    """repeatability over a folder of only videos (or video_flip_rate without a video) would be judged on nothing."""
    spec = _classification_project(tmp_path)
    (tmp_path / "captures" / "belt.avi").unlink()
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "criteria[2]: video_flip_rate needs video files" in result.output and "captures" in result.output
    for part in (tmp_path / "captures").iterdir():
        for f in part.iterdir():
            f.unlink()
        part.rmdir()
    write_video(tmp_path / "captures" / "belt.avi", [_grey(v, 16) for v in (0.2, 0.8, 0.2)], fps=4.0)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "criteria[1]: repeatability needs part subfolders" in result.output

"""Failure mining and the gallery: the largest changes vs clean, spread over conditions; one file set per model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.evaluation.evaluate import detections_of, targets_of
from fieldready.evaluation.metrics.failures import change_scores
from fieldready.execution.store import ResultStore
from fieldready.judge.failures import _aligned, _stem, failure_gallery, mine_failures, operating_point_of
from fieldready.judge.results import ModelResult, OperatingPointResult, Results
from fieldready.plan import CLEAN, TestPlan
from tests._project import executed_plan, make_detection_project


def test_stems_differ_for_names_that_slugify_alike() -> None:
    names = ["Model A", "model-a", "model a", "model_a", "MODEL_A", "modèle a"]
    stems = [_stem(n).lower() for n in names]  # lower: a case-insensitive disk must keep them apart too
    assert len(set(stems)) == len(names)
    assert all(s.replace("-", "").replace("_", "").isalnum() for s in stems)


def test_models_named_alike_get_their_own_gallery_files(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=4)
    text = spec.read_text().replace("name: model-a,", "name: model a,").replace("name: model-b,", "name: model_a,")
    spec.write_text(text.replace("baseline: model-a", "baseline: model a"))
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    files = {m["name"]: {f for g in m["gallery"] for f in (g["clean_png"], g["corrupted_png"])} for m in results["models"]}
    assert files["model a"] and files["model_a"]
    assert not files["model a"] & files["model_a"]
    for name in files["model a"] | files["model_a"]:
        assert (tmp_path / "run" / name).stat().st_size > 0
    assert not [p for p in (tmp_path / "run" / "gallery").iterdir() if p.suffix != ".png"]  # no temp files left


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestPlan, Path]:
    root = tmp_path_factory.mktemp("mine")
    return executed_plan(make_detection_project(root / "p", n_images=6), root / "run"), root / "run"


def test_mining_picks_distinct_images_the_worst_of_each_condition_first(executed: tuple[TestPlan, Path]) -> None:
    plan, run_dir = executed
    with ResultStore(run_dir) as store:
        failures = mine_failures(plan, store, "model-a", top=4)
        # every candidate's score, recomputed here from the store: clean (moved with a geometric point) vs each point
        clean = detections_of(store.predictions("model-a", CLEAN))
        scores = {}
        for p in plan.points[1:]:
            before = _aligned(plan, p, clean, torch.device("cpu")) if p.geometric else clean
            for d, s in zip(clean, change_scores(before, detections_of(store.predictions("model-a", p.key)))):
                scores[(d.image_id, p.key)] = s
    assert 0 < len(failures) <= 4
    assert len({f.image_id for f in failures}) == len(failures)
    assert all(f.score > 0 and f.score == scores[(f.image_id, f.point)] for f in failures)
    condition = {p.key: p.condition for p in plan.points}
    firsts = []
    for f in failures:  # the first failures come from different conditions, each that condition's worst
        if condition[f.point] in {condition[g.point] for g in firsts}:
            break
        firsts.append(f)
    for f in firsts:
        worst = max(s for (i, k), s in scores.items() if condition[k] == condition[f.point])
        assert f.score == worst


def test_the_gallery_has_two_panels_per_item_with_the_runs_pixels(executed: tuple[TestPlan, Path]) -> None:
    plan, run_dir = executed
    results = Results.model_construct(models=[ModelResult.model_construct(name=m.name, gallery=[]) for m in plan.models])
    with ResultStore(run_dir) as store:
        out, panels = failure_gallery(plan, store, results, device=torch.device("cpu"))
    items = [g for m in out.models for g in m.gallery]
    assert items and len(panels) == 2 * len(items)
    assert [p.path for p in panels] == [path for g in items for path in (g.clean_png, g.corrupted_png)]
    assert all(p.image.dtype == np.uint8 and p.image.shape[2] == 3 and p.boxes is not None for p in panels)
    assert all(m.gallery == [] for m in results.models)  # the judge returns new results, it does not mutate


def test_gallery_at_the_operating_point_distinct_changes_and_no_box_below_it(executed: tuple[TestPlan, Path]) -> None:
    plan, run_dir = executed
    with ResultStore(run_dir) as store:
        clean_scores = np.concatenate([r[:, 4] for r in store.predictions("model-a", CLEAN).values()])
        threshold = float(np.median(clean_scores))  # some clean boxes are below it, so some must not be drawn
        op = OperatingPointResult(score_threshold=threshold, source="declared")
        results = Results.model_construct(models=[ModelResult.model_construct(name="model-a", gallery=[], operating_point=op),
                                                  ModelResult.model_construct(name="model-b", gallery=[], operating_point=None)])
        out, panels = failure_gallery(plan, store, results, device=torch.device("cpu"))
        items = out.models[0].gallery
        assert len(items) >= 2
        scores = [g.score for g in items]
        assert len(set(scores)) == len(scores), scores  # a continuous change score: no ties among the picks
        assert all(s > 0 for s in scores)
        shown = [p for p in panels if p.path.startswith("gallery/model-a")]
        assert all((p.scores >= threshold).all() for p in shown)
        hidden = 0
        for g, (clean_panel, corrupted_panel) in zip(items, zip(shown[::2], shown[1::2])):
            for key, panel in ((CLEAN, clean_panel), (next(p.key for p in plan.points if p.label == g.label
                                                          and p.condition == g.condition), corrupted_panel)):
                stored = store.predictions("model-a", key, [g.image_id])[g.image_id]
                assert len(panel.scores) == int(np.count_nonzero(stored[:, 4] >= threshold))
                hidden += int(np.count_nonzero(stored[:, 4] < threshold))
        assert hidden > 0  # the test saw boxes below the threshold and they were not drawn
        # the picks are the largest changes at that threshold (recomputed), not the lowest image ids
        mined = mine_failures(plan, store, "model-a", operating_point=operating_point_of(plan, op))
        assert [f.score for f in mined] == pytest.approx(scores, abs=1e-6)


def test_a_geometric_point_moves_the_clean_boxes_with_the_image(executed: tuple[TestPlan, Path]) -> None:
    plan, run_dir = executed
    point = next(p for p in plan.points if p.geometric)
    with ResultStore(run_dir) as store:
        clean = detections_of(store.predictions("model-a", CLEAN))
        moved = _aligned(plan, point, clean, torch.device("cpu"))
        targets = {t.image_id: t for t in targets_of(plan, store, point.key)}
    original = plan.dataset.targets
    checked = 0
    for before, after in zip(clean, moved):
        # the clean boxes move as the ground truth moved: by the same offset (boxes inside the frame)
        if len(after.boxes) and len(targets[after.image_id].boxes):
            shift = targets[after.image_id].boxes[0] - original[after.image_id].boxes[0]
            np.testing.assert_allclose(after.boxes[0], before.boxes[0] + shift, atol=1e-3)
            checked += abs(shift).sum() > 0
    assert checked

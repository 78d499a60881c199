"""Evaluation streamed beside execution: the numbers of the end-of-run evaluation, errors surfaced, nothing left hanging."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import fieldready.evaluation.metrics.detection as detection
import fieldready.evaluation.stream as stream
from fieldready.cli import cli
from fieldready.errors import DataError
from fieldready.evaluation.evaluate import evaluate
from fieldready.evaluation.stream import StreamingEvaluator, batch_tables
from fieldready.execution.runner import execute
from fieldready.execution.store import PredictionRow, ResultStore, TargetRow
from fieldready.judge.build import build_results
from fieldready.judge.results import results_json
from fieldready.pipeline import _provenance
from fieldready.plan import CLEAN, TestPlan, compile_plan
from fieldready.spec import load_spec
from tests._project import MeanClassifier, make_detection_project

CPU = torch.device("cpu")
CONSISTENCY = "  - {metric: consistency, on: translate, at_least: 0.1, severity: warning}\n"


@pytest.fixture
def tables_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the match tables built at the end of the run (the streaming evaluator's own builds are not counted)."""
    calls: list[int] = []
    original = detection.build_match_tables

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(detection, "build_match_tables", counted)
    return calls


def _spec(root: Path, *, n_images: int = 7, criteria: str = CONSISTENCY) -> Path:
    """The tiny detection project (a geometric condition among its points), with a consistency criterion."""
    spec = make_detection_project(root, n_images=n_images)
    text = spec.read_text().replace("report:", criteria + "report:", 1)
    spec.write_text(text.replace("batch_size: 5", "batch_size: 3").replace("bootstrap: 200", "bootstrap: 40"))
    return spec


def _results(plan: TestPlan, store: ResultStore, streamed: stream.Streamed | None) -> dict:
    """results.json's numbers (provenance aside) from the store, with or without the streamed tables."""
    evaluation = evaluate(plan, store, streamed=streamed)
    data = json.loads(results_json(build_results(plan, evaluation, _provenance(plan, store, "cpu", evaluate_seconds=0.0))))
    data.pop("provenance")
    return data


def _execute_streaming(plan: TestPlan, store: ResultStore) -> stream.Streamed:
    with StreamingEvaluator(plan).attach(store) as evaluator:
        execute(plan, store, device=CPU, progress=False)
        return evaluator.finish()


def _text(numbers: dict) -> bytes:
    return json.dumps(numbers, sort_keys=True).encode()


def test_a_streamed_run_writes_the_results_of_evaluating_its_store_afterwards(tmp_path: Path, tables_built: list[int]) -> None:
    spec = _spec(tmp_path / "p")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert tables_built == []  # every unit's tables (truth and consistency) came from the stream
    streamed = json.loads((out / "results.json").read_text())
    assert any(c["metrics"].get("consistency") is not None for c in streamed["models"][0]["conditions"])
    # the same directory again: nothing to execute, so everything is evaluated from the store
    again = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet", "--threads", "1"])
    assert again.exit_code == 0, again.output
    assert tables_built  # this time built at the end
    from_store = json.loads((out / "results.json").read_text())
    streamed.pop("provenance"), from_store.pop("provenance")
    assert _text(streamed) == _text(from_store)


def test_a_resumed_run_gives_the_numbers_of_an_uninterrupted_one(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "p")
    plan = compile_plan(load_spec(spec))

    class Killed(Exception):
        pass

    def kill_after_two(predictions: list[PredictionRow], targets: list[TargetRow], seen: list[int] = []) -> None:  # noqa: B006
        seen.append(1)
        if len(seen) == 2:
            raise Killed

    with ResultStore(tmp_path / "resumed") as store:
        store.add_listener(kill_after_two)
        with pytest.raises(Killed):
            execute(plan, store, device=CPU, progress=False)
        assert store.batch_count() == 2
    with ResultStore(tmp_path / "resumed") as store:
        streamed = _execute_streaming(plan, store)
        assert streamed.tables and streamed.consistency  # the batches of this process were streamed ...
        resumed = _results(plan, store, streamed)  # ... but no unit has all its images there: built from the store
        assert resumed == _results(plan, store, None)
    with ResultStore(tmp_path / "fresh") as store:
        fresh = _results(plan, store, _execute_streaming(plan, store))
    assert _text(resumed) == _text(fresh)


def test_a_changed_model_is_streamed_and_the_kept_one_read_from_the_store(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "p")
    with ResultStore(tmp_path / "run") as store:
        _execute_streaming(compile_plan(load_spec(spec)), store)
    torch.jit.script(MeanShiftedBox()).save(str(tmp_path / "p" / "models" / "b.pt"))  # model-b changes
    plan = compile_plan(load_spec(spec))
    with ResultStore(tmp_path / "run") as store:
        assert store.claim(plan.plan_hash, plan.identity())  # model-b's predictions dropped
        streamed = _execute_streaming(plan, store)
        assert {m for m, _ in streamed.tables} == {"model-b"}
        units = evaluate(plan, store, streamed=streamed).units
        for model, point in plan.units:
            coco = units[(model, point)].source.coco
            assert (coco.match_tables() is streamed.tables.get((model, point))) == (model == "model-b")
        assert _results(plan, store, streamed) == _results(plan, store, None)


class MeanShiftedBox(torch.nn.Module):
    """A detector whose box follows the image's brightest column band (another model-b)."""

    def forward(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        col = images.mean(dim=(1, 2)).argmax(dim=1).float()
        boxes = torch.stack([col, col, col + 16, col + 16], dim=1)
        scores = images.mean(dim=(1, 2, 3)).clamp(0.01, 1)
        return [{"boxes": boxes[i : i + 1], "scores": scores[i : i + 1], "labels": torch.ones(1, dtype=torch.int64)}
                for i in range(images.shape[0])]


def test_unlabelled_images_stream_their_consistency(tmp_path: Path) -> None:
    """No class list: each batch's tables hold the labels it sees, cut to the final categories at the end."""
    make_detection_project(tmp_path, n_images=6)
    spec = tmp_path / "raw.yaml"
    spec.write_text("""\
fieldready: 1
name: raw-production-frames
task: detection
dataset: {format: images, images: images}
models:
  - {name: model-a, kind: torchscript, path: models/a.pt}
conditions:
  - {corruption: translate, severity: {values: [2, 6]}}
  - {corruption: gaussian_noise, severity: {values: [0.1]}}
criteria:
  - {metric: consistency, on: translate, at_least: 0.5}
run: {device: cpu, seed: 0, batch_size: 4, bootstrap: 40}
""")
    plan = compile_plan(load_spec(spec))
    with ResultStore(tmp_path / "run") as store:
        streamed = _execute_streaming(plan, store)
        assert len(streamed.consistency) == len(plan.points) - 1 and not streamed.tables  # not measured on clean
        units = evaluate(plan, store, streamed=streamed).units
        for key, tables in streamed.consistency.items():
            assert units[key].source.consistency.match_tables() is tables
        assert _results(plan, store, streamed) == _results(plan, store, None)


def test_a_classification_run_gives_the_same_numbers_and_starts_no_thread(tmp_path: Path) -> None:
    for label, value in (("dark", 0.3), ("bright", 0.7)):
        (tmp_path / "data" / label).mkdir(parents=True)
        for k in range(4):
            cv2.imwrite(str(tmp_path / "data" / label / f"{k}.png"), np.full((16, 16, 3), int(255 * (value + 0.04 * k)), np.uint8))
    torch.jit.script(MeanClassifier()).save(str(tmp_path / "mean.pt"))
    spec = tmp_path / "spec.yaml"
    spec.write_text("""\
fieldready: 1
name: grey
task: classification
dataset: {format: imagefolder, images: data}
models:
  - {name: mean, kind: torchscript, path: mean.pt}
conditions:
  - {corruption: brightness, severity: {values: [-0.2, 0.2]}}
criteria:
  - {metric: top1, on: clean, at_least: 0.5}
run: {device: cpu, seed: 0, batch_size: 3, bootstrap: 40}
""")
    plan = compile_plan(load_spec(spec))
    before = threading.active_count()
    with ResultStore(tmp_path / "run") as store:
        evaluator = StreamingEvaluator(plan).attach(store)
        assert threading.active_count() == before and not evaluator.enabled
        execute(plan, store, device=CPU, progress=False)
        streamed = evaluator.finish()
        assert _results(plan, store, streamed) == _results(plan, store, None)


def test_an_error_in_the_stream_stops_the_run_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path / "p")

    def refuse(*args: object, **kwargs: object) -> object:
        raise DataError("detections contain NaN or infinite boxes or scores; check the model adapter's output")

    monkeypatch.setattr(stream, "build_match_tables", refuse)
    before = {t.name for t in threading.enumerate()}
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet", "--threads", "1"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "detections contain NaN or infinite boxes" in result.output
    assert not (tmp_path / "run" / "results.json").exists()
    with ResultStore(tmp_path / "run") as store:
        assert store.batch_count() >= 1  # the batches committed before the error are kept, for a resume
    assert "fieldready-evaluate" not in {t.name for t in threading.enumerate()} - before


def test_the_threads_error_reaches_the_next_commit_and_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = compile_plan(load_spec(_spec(tmp_path / "p")))
    failed = threading.Event()

    def refuse(*args: object, **kwargs: object) -> object:
        failed.set()
        raise DataError("refused")

    monkeypatch.setattr(stream, "build_match_tables", refuse)
    rows = [PredictionRow(m.name, CLEAN, 1, np.zeros((0, 6), np.float32)) for m in plan.models]
    with ResultStore(tmp_path / "run") as store:
        evaluator = StreamingEvaluator(plan).attach(store)
        evaluator.on_commit(rows, [])
        assert failed.wait(10)
        with pytest.raises(DataError, match="refused"):
            for _ in range(100):  # until the thread has handed the error over
                evaluator.on_commit(rows, [])
                threading.Event().wait(0.05)
        with pytest.raises(DataError, match="refused"):
            evaluator.finish()


def test_close_does_not_wait_for_a_busy_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted run leaves at once: the queue is dropped, the thread stops after the batch in hand."""
    plan = compile_plan(load_spec(_spec(tmp_path / "p")))
    release, started = threading.Event(), threading.Event()

    def slow(*args: object, **kwargs: object) -> object:
        started.set()
        release.wait(30)
        raise DataError("never reached in time")

    monkeypatch.setattr(stream, "build_match_tables", slow)
    rows = [PredictionRow("model-a", CLEAN, 1, np.zeros((0, 6), np.float32))]
    with ResultStore(tmp_path / "run") as store:
        evaluator = StreamingEvaluator(plan, depth=1).attach(store)
        evaluator.on_commit(rows, [])
        assert started.wait(10)
        evaluator.on_commit(rows, [])  # fills the queue of one
        with pytest.raises(KeyboardInterrupt):
            with evaluator:
                raise KeyboardInterrupt
        evaluator.on_commit(rows, [])  # after close: dropped, never blocks on the full queue
        release.set()


def test_a_geometric_point_without_its_moved_boxes_is_left_to_the_store(tmp_path: Path) -> None:
    plan = compile_plan(load_spec(_spec(tmp_path / "p")))
    geometric = next(p.key for p in plan.points if p.geometric)
    other = next(p.key for p in plan.points if p.key != CLEAN and not p.geometric)
    box = np.array([[4, 4, 20, 20, 0.9, 1]], np.float32)
    rows = [PredictionRow("model-a", key, i, box) for key in (CLEAN, geometric, other) for i in (1, 2)]
    moved = [TargetRow(geometric, 1, np.array([[5, 5, 21, 21, 1, 256]], np.float32))]  # image 2's is missing
    built = batch_tables(plan, rows, moved, category_ids=sorted(plan.dataset.classes), consistency={geometric})
    assert set(built.truth) == {("model-a", CLEAN), ("model-a", other)}
    assert built.lost_truth == {("model-a", geometric)}
    assert set(built.consistency) == {("model-a", geometric)}  # against the clean boxes of the same commit
    assert built.truth[("model-a", CLEAN)].image_ids == [1, 2]
    without_clean = batch_tables(plan, rows[2:], moved + [TargetRow(geometric, 2, np.zeros((0, 6)))],
                                 category_ids=sorted(plan.dataset.classes), consistency={geometric})
    assert ("model-a", geometric) in without_clean.truth and without_clean.lost_consistency == {("model-a", geometric)}


def test_an_image_streamed_twice_leaves_its_unit_to_the_store(tmp_path: Path) -> None:
    """A batch committed again in one process (its rows replaced): the unit's tables are built from the store."""
    plan = compile_plan(load_spec(_spec(tmp_path / "p")))
    box = np.array([[4, 4, 20, 20, 0.9, 1]], np.float32)
    first = [PredictionRow(m.name, CLEAN, i, box) for m in plan.models for i in (1, 2)]
    again = [PredictionRow("model-a", CLEAN, 2, box * 0.5)]
    with ResultStore(tmp_path / "run") as store:
        evaluator = StreamingEvaluator(plan).attach(store)
        evaluator.on_commit(first, [])
        evaluator.on_commit(again, [])
        streamed = evaluator.finish()
    assert set(streamed.tables) == {("model-b", CLEAN)}
    assert streamed.tables[("model-b", CLEAN)].image_ids == [1, 2]

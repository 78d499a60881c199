"""The result store: keyed by image and unit, damage is named (never evaluated), one process per run dir."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fieldready.errors import StoreError
from fieldready.execution.store import PredictionRow, ResultStore, RunLock, TargetRow, write_atomic


def _rows(ids: list[int], units: list[tuple[str, str]]) -> list[PredictionRow]:
    return [PredictionRow(m, p, i, np.full(3, i + len(m) + len(p), np.float32)) for m, p in units for i in ids]


UNITS = [("a", "clean"), ("a", "noise|x=1"), ("b", "clean"), ("b", "noise|x=1")]


def test_batches_of_another_size_resume_without_duplicates(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.commit_batch("first", images=2, seconds=1.0, predictions=_rows([1, 2], UNITS))
        assert store.done_by_model(2) == {"a": {1, 2}, "b": {1, 2}}
        # a resume cut into other batches may meet an image again: replaced, never a UNIQUE crash
        store.commit_batch("second", images=3, seconds=1.0, predictions=_rows([2, 3, 4], UNITS))
        assert store.done_by_model(2) == {"a": {1, 2, 3, 4}, "b": {1, 2, 3, 4}}
        assert store.batch_count() == 2
        assert sorted(store.predictions("b", "noise|x=1")) == [1, 2, 3, 4]
    with sqlite3.connect(tmp_path / ResultStore.FILENAME) as con:
        assert con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 4 * len(UNITS)


def test_an_image_missing_a_point_is_not_done_for_that_model(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.commit_batch("x", images=2, seconds=0.1, predictions=_rows([1, 2], UNITS) + _rows([3], UNITS[:1]))
        assert store.done_by_model(2) == {"a": {1, 2}, "b": {1, 2}}


def test_round_trip_keeps_arrays_and_targets(tmp_path: Path) -> None:
    det = np.arange(12, dtype=np.float32).reshape(2, 6)
    with ResultStore(tmp_path) as store:
        store.commit_batch(
            "x", images=1, seconds=0.1,
            predictions=[PredictionRow("a", "clean", 7, det)],
            targets=[TargetRow("translate|t=2", 7, det[:1])],
        )
        np.testing.assert_array_equal(store.predictions("a", "clean")[7], det)
        np.testing.assert_array_equal(store.targets("translate|t=2", [7])[7], det[:1])


def _flip_blob_byte(db: Path, where: str, position: int) -> None:
    with sqlite3.connect(db) as con:
        blob = bytearray(con.execute(f"SELECT data FROM predictions WHERE {where}").fetchone()[0])
        blob[position] ^= 0x10
        con.execute(f"UPDATE predictions SET data = ? WHERE {where}", (bytes(blob),))


@pytest.mark.parametrize("position", [-1, 5])  # a payload byte, a header byte
def test_a_flipped_bit_in_a_blob_is_named_not_evaluated(tmp_path: Path, position: int) -> None:
    with ResultStore(tmp_path) as store:
        store.commit_batch("x", images=2, seconds=0.1, predictions=_rows([1, 2], UNITS))
    _flip_blob_byte(tmp_path / ResultStore.FILENAME, "model = 'b' AND point = 'noise|x=1' AND image_id = 2", position)
    with ResultStore(tmp_path) as store:
        assert sorted(store.predictions("a", "clean")) == [1, 2]  # undamaged rows still read
        with pytest.raises(StoreError, match=r"damaged .*model 'b' at 'noise' for image 2.*move it aside"):
            store.predictions("b", "noise|x=1")


def test_a_row_moved_to_another_image_fails_its_checksum(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.commit_batch("x", images=1, seconds=0.1, predictions=_rows([1], UNITS))
    with sqlite3.connect(tmp_path / ResultStore.FILENAME) as con:
        con.execute("UPDATE predictions SET image_id = 9 WHERE model = 'a' AND point = 'clean'")
    with ResultStore(tmp_path) as store, pytest.raises(StoreError, match="for image 9: checksum mismatch"):
        store.predictions("a", "clean")


def test_undecodable_blob_is_a_store_error(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.commit_batch("x", images=1, seconds=0.1, predictions=_rows([1], UNITS))
    with sqlite3.connect(tmp_path / ResultStore.FILENAME) as con:
        con.execute("UPDATE predictions SET data = ? WHERE model = 'a' AND point = 'clean'", (b"\x05\x00[1,2",))
        con.execute("UPDATE predictions SET data = 'text' WHERE model = 'b' AND point = 'clean'")
    with ResultStore(tmp_path) as store:
        with pytest.raises(StoreError, match="image 1: unreadable array"):
            store.predictions("a", "clean")
        with pytest.raises(StoreError, match="a str where an array was stored"):
            store.predictions("b", "clean")


def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    (tmp_path / ResultStore.FILENAME).write_bytes(b"%PDF-1.7 this is not a database" * 100)
    with pytest.raises(StoreError, match=r"results.sqlite is damaged \(not an SQLite file\).*move it aside"):
        ResultStore(tmp_path)


def test_a_damaged_page_is_found_on_open(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.commit_batch("x", images=200, seconds=0.1, predictions=_rows(list(range(200)), UNITS))
    db = tmp_path / ResultStore.FILENAME
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    assert len(data) > 4 * page
    for start in range(page, len(data), page):  # every b-tree page header after the first page
        data[start] = 0x7F  # not a valid page type
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"results.sqlite is damaged .*run the same command again"):
        with ResultStore(tmp_path) as store:
            store.predictions("a", "clean")


def test_second_lock_on_a_run_dir_is_refused_and_freed_on_exit(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(StoreError, match=rf"another fieldready process \(pid {os.getpid()}\) is using"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released: the next run may go
        pass


def test_write_atomic_leaves_the_old_file_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, "newer")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp file left behind


def test_random_bit_flips_are_either_harmless_or_named(tmp_path: Path) -> None:
    """Flipped bits anywhere in the file: reads give the stored numbers or a StoreError, never anything else."""
    base = tmp_path / "base"
    with ResultStore(base) as store:
        for b in range(4):
            store.commit_batch(f"b{b}", images=20, seconds=0.1, predictions=_rows(list(range(b * 20, b * 20 + 20)), UNITS))
        expected = {u: store.predictions(*u) for u in UNITS}
    data = (base / ResultStore.FILENAME).read_bytes()
    rng = np.random.default_rng(0)
    outcomes = {"same": 0, "named": 0}
    for trial in range(60):
        damaged = bytearray(data)
        for pos in rng.integers(0, len(data), size=int(rng.choice([1, 3, 10]))):
            damaged[pos] ^= 1 << int(rng.integers(0, 8))
        run = tmp_path / f"t{trial}"
        run.mkdir()
        (run / ResultStore.FILENAME).write_bytes(bytes(damaged))
        try:
            with ResultStore(run) as store:
                store.claim("plan")
                store.done_by_model(2)
                for unit, rows in expected.items():
                    got = store.predictions(*unit)
                    assert all(np.array_equal(got[i], rows[i]) for i in got if i in rows), (trial, unit)
                    assert set(got) <= set(rows), (trial, unit)
            outcomes["same"] += 1
        except StoreError as exc:
            assert "is damaged" in str(exc) or "another plan" in str(exc), exc
            outcomes["named"] += 1
    assert outcomes["named"] > 0


def _identity(core: str = "core", **hashes: str) -> dict:
    models = {"a": "a1", "b": "b1", **hashes}
    return {
        "core": core,
        "models": {m: {"hash": h, "input": {}, "parts": {f"{m}.py (entry point source)": h}} for m, h in models.items()},
        "plugins": {"plug": {"hash": "p1", "parts": {"plug.py (plugin source)": "p1"}}},
    }


def test_claim_drops_only_the_changed_models_predictions(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        assert store.claim("plan1", _identity()) == []
        store.commit_batch("x", images=2, seconds=0.1, predictions=_rows([1, 2], UNITS))
        notes = store.claim("plan2", _identity(b="b2"))
        assert notes == [
            "model 'b' changed since this run directory was started (b.py (entry point source) differs): its stored "
            "predictions were dropped and are computed again; the other models' are kept"
        ]
        assert store.done_by_model(2) == {"a": {1, 2}}
        assert store.claim("plan2", _identity(b="b2")) == []  # bound to the new plan now


def test_claim_refuses_a_changed_plugin_or_another_plan(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.claim("plan1", _identity())
        store.commit_batch("x", images=1, seconds=0.1, predictions=_rows([1], UNITS))
        plugin = _identity(core="core2")
        plugin["plugins"]["plug"] = {"hash": "p2", "parts": {"plug.py (plugin source)": "p2"}}
        with pytest.raises(StoreError, match=r"plugin 'plug' changed \(plug.py \(plugin source\) differs\).*new run directory"):
            store.claim("plan2", plugin)
        with pytest.raises(StoreError, match="holds a run of another plan"):
            store.claim("plan3", _identity(core="core3", b="b2"))  # the model changed, but so did the rest
        assert store.done_by_model(2) == {"a": {1}, "b": {1}}  # nothing dropped by a refusal


def test_listeners_see_each_committed_batch_after_its_transaction(tmp_path: Path) -> None:
    seen: list[tuple[int, int, int]] = []
    with ResultStore(tmp_path) as store:
        def listener(predictions: list[PredictionRow], targets: list[TargetRow]) -> None:
            stored = store.predictions(predictions[0].model, predictions[0].point)  # committed before the call
            seen.append((len(predictions), len(targets), len(stored)))

        remove = store.add_listener(listener)
        rows = iter(_rows([1, 2], UNITS))  # a generator is read once, for the store and the listener alike
        target = TargetRow("noise|x=1", 1, np.zeros((1, 6), np.float32))
        store.commit_batch("first", images=2, seconds=0.1, predictions=rows, targets=iter([target]))
        remove()
        store.commit_batch("second", images=1, seconds=0.1, predictions=_rows([3], UNITS))
    assert seen == [(2 * len(UNITS), 1, 2)]


def test_a_failing_listener_reaches_the_caller_after_the_batch_is_stored(tmp_path: Path) -> None:
    def listener(predictions: list[PredictionRow], targets: list[TargetRow]) -> None:
        raise StoreError("the listener refused")

    with ResultStore(tmp_path) as store:
        store.add_listener(listener)
        with pytest.raises(StoreError, match="listener refused"):
            store.commit_batch("x", images=1, seconds=0.1, predictions=_rows([1], UNITS))
        assert store.done_batches() == {"x"}
        assert sorted(store.predictions("a", "clean")) == [1]

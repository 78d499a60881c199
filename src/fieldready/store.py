"""The result store: one SQLite file per run directory, one transaction per finished batch.

A batch's predictions for every (model, point) and its moved ground truth are written in a single
transaction together with the batch's ``done`` row, so a run killed at any moment (kill -9, power
loss: WAL with synchronous=FULL) holds only whole batches and a restart skips exactly those.
Predictions are stored, never images.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldready.errors import StoreError

__all__ = ["ResultStore", "PredictionRow", "TargetRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (batch TEXT PRIMARY KEY, images INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS predictions (
    model TEXT NOT NULL, point TEXT NOT NULL, image_id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (model, point, image_id)
);
CREATE TABLE IF NOT EXISTS targets (
    point TEXT NOT NULL, image_id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (point, image_id)
);
"""


@dataclass(frozen=True)
class PredictionRow:
    """One image's prediction for one unit: a float32 array (detections ``[K, 6]`` or logits ``[C]``)."""

    model: str
    point: str
    image_id: int
    data: np.ndarray


@dataclass(frozen=True)
class TargetRow:
    """One image's ground truth after a geometric point: ``[M, 6]`` = xyxy, label, area (invalid rows dropped)."""

    point: str
    image_id: int
    data: np.ndarray


def _encode(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.float32)
    header = json.dumps(list(array.shape)).encode()
    return len(header).to_bytes(2, "little") + header + array.tobytes()


def _decode(blob: bytes) -> np.ndarray:
    n = int.from_bytes(blob[:2], "little")
    shape = json.loads(blob[2 : 2 + n])
    return np.frombuffer(blob[2 + n :], dtype=np.float32).reshape(shape)


class ResultStore:
    """The SQLite file of a run directory (``DIR/results.sqlite``)."""

    FILENAME = "results.sqlite"

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / self.FILENAME
        try:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the result store ({exc}); check the run directory") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            hint = "free disk space and run the same command again" if "full" in str(exc) else "check the run directory"
            raise StoreError(f"{self.path}: write failed ({exc}); finished batches are kept — {hint}") from None

    # meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, values: dict[str, str]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def claim(self, plan_hash: str) -> bool:
        """Bind the store to ``plan_hash``; True if it already held a (partial) run of this plan."""
        held = self.get_meta("plan_hash")
        if held is None:
            self.set_meta({"plan_hash": plan_hash})
            return False
        if held != plan_hash:
            raise StoreError(
                f"{self.path.parent}: holds a run of another plan (hash {held[:12]}…, this spec gives {plan_hash[:12]}…); "
                "use a new output directory with -o, or delete this one"
            )
        return True

    # batches ----------------------------------------------------------------------------------
    def done_batches(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT batch FROM batches")}

    def commit_batch(
        self,
        batch: str,
        *,
        images: int,
        seconds: float,
        predictions: Iterable[PredictionRow],
        targets: Iterable[TargetRow] = (),
    ) -> None:
        """Write one batch's predictions and targets and mark it done, atomically."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO predictions VALUES (?, ?, ?, ?)",
                [(p.model, p.point, p.image_id, _encode(p.data)) for p in predictions],
            )
            db.executemany(
                "INSERT OR REPLACE INTO targets VALUES (?, ?, ?)",
                [(t.point, t.image_id, _encode(t.data)) for t in targets],
            )
            db.execute("INSERT INTO batches VALUES (?, ?, ?)", (batch, images, seconds))

    def seconds(self) -> float:
        """Compute time of all stored batches (resumed runs add up)."""
        return float(self._db.execute("SELECT COALESCE(SUM(seconds), 0) FROM batches").fetchone()[0])

    # reading ----------------------------------------------------------------------------------
    def predictions(self, model: str, point: str, image_ids: list[int] | None = None) -> dict[int, np.ndarray]:
        """Image id → prediction array of one unit (all its images, or only ``image_ids``)."""
        return self._read("predictions", "model = ? AND point = ?", (model, point), image_ids)

    def targets(self, point: str, image_ids: list[int] | None = None) -> dict[int, np.ndarray]:
        """Image id → moved ground truth of a geometric point (empty for other points)."""
        return self._read("targets", "point = ?", (point,), image_ids)

    def _read(self, table: str, where: str, args: tuple, image_ids: list[int] | None) -> dict[int, np.ndarray]:
        if image_ids is not None:
            where += f" AND image_id IN ({','.join('?' * len(image_ids))})"
            args = (*args, *image_ids)
        rows = self._db.execute(f"SELECT image_id, data FROM {table} WHERE {where} ORDER BY image_id", args)
        return {int(i): _decode(blob) for i, blob in rows}

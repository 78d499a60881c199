"""The result store: one SQLite file per run directory, one transaction per finished batch.

A batch's predictions for every (model, point) and its moved ground truth are written in a single
transaction together with the batch's ``done`` row, so a run killed at any moment (kill -9, power
loss: WAL with synchronous=FULL) holds only whole images and a restart skips exactly those.
Predictions are keyed by (model, point, image), never by batch, so a resume may cut its batches
differently (another ``run.batch_size``). Each blob carries a CRC of its key and bytes, so a flipped
bit is reported, not evaluated. Predictions are stored, never images.

Also here: ``RunLock`` (one process per run directory) and ``write_atomic`` (temp file + rename) for
the files a run writes beside the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldready.errors import StoreError
from fieldready.plan import condition_of

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, as before
    fcntl = None  # type: ignore[assignment]

__all__ = ["ResultStore", "PredictionRow", "TargetRow", "CommitListener", "RunLock", "write_atomic"]

_SQLITE_MAGIC = b"SQLite format 3\x00"

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


#: Called with a batch's prediction and target rows once its transaction has committed (``ResultStore.add_listener``).
CommitListener = Callable[[list[PredictionRow], list[TargetRow]], None]


class _BadBlob(ValueError):
    """A stored array whose header, size or checksum does not hold."""


def _crc(key: tuple, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32("\x1f".join(map(str, key)).encode()))


def _encode(array: np.ndarray, key: tuple) -> bytes:
    """Shape header (JSON) + float32 bytes; the header holds a CRC-32 of the row's key and the bytes."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    payload = array.tobytes()
    header = json.dumps({"shape": list(array.shape), "crc": _crc(key, payload)}).encode()
    return len(header).to_bytes(2, "little") + header + payload


def _decode(blob: bytes, key: tuple) -> np.ndarray:
    """The array of a blob; _BadBlob when it is damaged (stores written before the CRC decode unchecked)."""
    try:
        n = int.from_bytes(blob[:2], "little")
        header = json.loads(blob[2 : 2 + n])
        shape, crc = (header["shape"], header["crc"]) if isinstance(header, dict) else (header, None)
        payload = blob[2 + n :]
        array = np.frombuffer(payload, dtype=np.float32).reshape(shape)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise _BadBlob(f"unreadable array ({type(exc).__name__})") from None
    if crc is not None and _crc(key, payload) != crc:
        raise _BadBlob("checksum mismatch")
    return array


def _damaged(path: Path, detail: str) -> StoreError:
    detail = " ".join(detail.split())  # one line, whatever SQLite reported
    return StoreError(
        f"{path} is damaged ({detail}), so its predictions cannot be trusted; move it aside "
        f"(e.g. mv {path} {path}.damaged) and run the same command again to recompute them, "
        "or use a new run directory with -o"
    )


class ResultStore:
    """The SQLite file of a run directory (``DIR/results.sqlite``)."""

    FILENAME = "results.sqlite"

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / self.FILENAME
        self._listeners: list[CommitListener] = []
        try:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            existed = self.path.is_file() and self.path.stat().st_size > 0
            if existed:
                with open(self.path, "rb") as f:
                    if f.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                        raise _damaged(self.path, "not an SQLite file")
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the result store ({exc}); check the run directory") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the result store ({exc}); check the run directory") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if existed:
                problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
                if problems != ["ok"]:
                    lines = [ln for p in problems for ln in p.splitlines() if ln.strip() and not ln.startswith("***")]
                    raise _damaged(self.path, "; ".join(lines[:3]) or "integrity check failed")
            self._db.executescript(_SCHEMA)
        except StoreError:
            self._db.close()
            raise
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise StoreError(f"{self.path}: cannot open the result store ({exc}); check the run directory") from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # "file is not a database", "malformed", bad schema text
            self._db.close()
            raise _damaged(self.path, str(exc)) from None

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
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, str(exc)) from None

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """All rows of a read; a damaged file is a StoreError that says what to do."""
        try:
            return self._db.execute(sql, args).fetchall()
        except UnicodeDecodeError:  # a flipped bit in a text column
            raise _damaged(self.path, "a text column is not valid UTF-8") from None
        except sqlite3.OperationalError as exc:
            if "decode" in str(exc):
                raise _damaged(self.path, str(exc)) from None
            raise StoreError(f"{self.path}: cannot read the result store ({exc}); check the run directory") from None
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, str(exc)) from None

    # meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, values: dict[str, str]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def claim(self, plan_hash: str, identity: dict | None = None) -> list[str]:
        """Bind the store to ``plan_hash``; return a note per model whose stored predictions were dropped.

        ``identity`` (``TestPlan.identity()``) is kept with the hash. When a later plan differs only
        in some models (their files, code or input settings changed), those models' predictions are
        deleted — they are computed again, never mixed — and the other models' are kept. Any other
        difference is refused, naming a changed plugin when that is the cause.
        """
        held = self.get_meta("plan_hash")
        ident = json.dumps(identity, sort_keys=True) if identity is not None else None
        if held is None:
            self.set_meta({"plan_hash": plan_hash, **({"identity": ident} if ident else {})})
            return []
        if held == plan_hash:
            if ident and self.get_meta("identity") != ident:
                self.set_meta({"identity": ident})
            return []
        before = _loads(self.get_meta("identity"))
        changed = _changed_models(before, identity)
        if changed:
            names = [name for name, _ in changed]
            with self._transaction() as db:
                db.execute(f"DELETE FROM predictions WHERE model IN ({','.join('?' * len(names))})", names)
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("plan_hash", plan_hash), ("identity", ident)])
            return [
                f"model {name!r} changed since this run directory was started ({what}): its stored predictions "
                "were dropped and are computed again; the other models' are kept"
                for name, what in changed
            ]
        plugin = _changed_plugin(before, identity)
        if plugin:
            raise StoreError(
                f"{self.path.parent}: {plugin} since this run directory was started; its stored predictions "
                "come from the old version and are never mixed with new ones — restore the old plugin to "
                "resume, or use a new run directory with -o"
            )
        raise StoreError(
            f"{self.path.parent}: holds a run of another plan (hash {held[:12]}…, this spec gives {plan_hash[:12]}…); "
            "use a new output directory with -o, or delete this one"
        )

    # batches ----------------------------------------------------------------------------------
    def done_batches(self) -> set[str]:
        return {row[0] for row in self._query("SELECT batch FROM batches")}

    def batch_count(self) -> int:
        """How many batches were committed (by this and earlier runs)."""
        return int(self._query("SELECT COUNT(*) FROM batches")[0][0])

    def done_by_model(self, points: int) -> dict[str, set[int]]:
        """Model → images that hold its prediction at each of the plan's ``points``.

        A batch commits every unit of its images at once, so a model's images are done or absent;
        a model whose predictions were dropped (it changed) has none.
        """
        rows = self._query("SELECT model, image_id FROM predictions GROUP BY model, image_id HAVING COUNT(*) >= ?", (points,))
        done: dict[str, set[int]] = {}
        for model, image_id in rows:
            done.setdefault(str(model), set()).add(self._image_id(image_id))
        return done

    def commit_batch(
        self,
        batch: str,
        *,
        images: int,
        seconds: float,
        predictions: Iterable[PredictionRow],
        targets: Iterable[TargetRow] = (),
    ) -> None:
        """Write one batch's predictions and targets and mark it done, atomically.

        Rows are keyed by (model, point, image): a row already there (same plan, so the same
        numbers) is replaced, never duplicated.
        """
        predictions, targets = list(predictions), list(targets)
        pred_rows = [(p.model, p.point, p.image_id, _encode(p.data, (p.model, p.point, p.image_id))) for p in predictions]
        target_rows = [(t.point, t.image_id, _encode(t.data, ("target", t.point, t.image_id))) for t in targets]
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?)", pred_rows)
            db.executemany("INSERT OR REPLACE INTO targets VALUES (?, ?, ?)", target_rows)
            db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?)", (batch, images, seconds))
        for listener in list(self._listeners):
            listener(predictions, targets)

    def add_listener(self, listener: CommitListener) -> Callable[[], None]:
        """Call ``listener(predictions, targets)`` after each ``commit_batch`` commits; returns its remover.

        Both executors commit through the driver's store, so a listener sees every batch of this process
        (e.g. the streaming evaluator) without touching them. An exception of a listener propagates to
        the committing caller, after the batch is safely stored.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def seconds(self) -> float:
        """Compute time of all stored batches (resumed runs add up)."""
        return float(self._query("SELECT COALESCE(SUM(seconds), 0) FROM batches")[0][0])

    # reading ----------------------------------------------------------------------------------
    def predictions(self, model: str, point: str, image_ids: list[int] | None = None) -> dict[int, np.ndarray]:
        """Image id → prediction array of one unit (all its images, or only ``image_ids``)."""
        rows = self._read("predictions", "model = ? AND point = ?", (model, point), image_ids)
        return {i: self._array(blob, (model, point, i), f"model {model!r}") for i, blob in rows}

    def targets(self, point: str, image_ids: list[int] | None = None) -> dict[int, np.ndarray]:
        """Image id → moved ground truth of a geometric point (empty for other points)."""
        rows = self._read("targets", "point = ?", (point,), image_ids)
        return {i: self._array(blob, ("target", point, i), "ground truth") for i, blob in rows}

    def _read(self, table: str, where: str, args: tuple, image_ids: list[int] | None) -> list[tuple[int, bytes]]:
        if image_ids is not None:
            where += f" AND image_id IN ({','.join('?' * len(image_ids))})"
            args = (*args, *image_ids)
        rows = self._query(f"SELECT image_id, data FROM {table} WHERE {where} ORDER BY image_id", args)
        return [(self._image_id(i), blob) for i, blob in rows]

    def _image_id(self, value: object) -> int:
        if not isinstance(value, int):  # SQLite keeps a flipped type byte: the id became text or bytes
            raise _damaged(self.path, f"an image id stored as {type(value).__name__}")
        return value

    def _array(self, blob: object, key: tuple, what: str) -> np.ndarray:
        try:
            if not isinstance(blob, bytes):
                raise _BadBlob(f"a {type(blob).__name__} where an array was stored")
            return _decode(blob, key)
        except _BadBlob as exc:
            raise _damaged(self.path, f"the stored {what} at {condition_of(key[1])!r} for image {key[2]}: {exc}") from None


def _loads(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _what_changed(old: dict, new: dict) -> str:
    """'a.py differs; w.pt is new' for two identity entries of one model or plugin."""
    a, b = old.get("parts", {}), new.get("parts", {})
    what = [f"{p} differs" for p in b if p in a and a[p] != b[p]]
    what += [f"{p} is new" for p in b if p not in a] + [f"{p} is gone" for p in a if p not in b]
    if old.get("input", new.get("input")) != new.get("input"):
        what.append("its input settings differ")
    return "; ".join(what) or "its entry point or options differ"


def _changed_models(before: dict, identity: dict | None) -> list[tuple[str, str]]:
    """(model, what changed) when two plans differ only in those models; empty when anything else differs."""
    if not identity or not before.get("core") or before.get("core") != identity.get("core"):
        return []
    old, new = before.get("models", {}), identity.get("models", {})
    if set(old) != set(new):
        return []
    return [
        (name, _what_changed(old[name], new[name]))
        for name in new
        if (old[name].get("hash"), old[name].get("input")) != (new[name].get("hash"), new[name].get("input"))
    ]


def _changed_plugin(before: dict, identity: dict | None) -> str:
    """"plugin 'x' changed (x.py differs)" for the first plugin whose hash moved; '' if none did."""
    old, new = before.get("plugins", {}), (identity or {}).get("plugins", {})
    for name in new:
        if name in old and old[name].get("hash") != new[name].get("hash"):
            return f"plugin {name!r} changed ({_what_changed(old[name], new[name])})"
    return ""


class RunLock:
    """An exclusive lock on a run directory for one process's lifetime (``fcntl.flock``, freed on exit or kill)."""

    FILENAME = ".fieldready.lock"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / self.FILENAME
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.run_dir}: cannot use this run directory ({exc.strerror or exc}); check the path and permissions") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise StoreError(
                    f"{self.run_dir}: another fieldready process{who} is using this run directory; wait for it "
                    "to finish, or use another directory with -o"
                ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only a courtesy for the message above
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing frees the flock
            self._fd = None


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``path`` through a temp file in the same folder and ``os.replace``: readers see old or new, never half.

    Raises OSError (the caller names what the file is).
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

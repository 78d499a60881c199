"""Ultralytics YOLO detection datasets: ``data.yaml`` + images + ``labels/*.txt`` → records and targets.

Read the way Ultralytics reads them (``ultralytics/data/utils.py``: ``check_det_dataset``,
``img2label_paths``, ``verify_image_label``), every problem named at its file, line and field:

- ``data.yaml``: ``names`` (a list, or an ``{index: name}`` mapping with indices 0..C-1; with only
  ``nc`` the classes are ``class_0``...), the split (``val`` by default, ``validation`` accepted),
  an optional ``path`` root. A split is an image folder (searched recursively), a ``.txt`` list of
  image paths, or a list of those; relative entries are relative to ``path``, and a relative
  ``path`` (or none) is relative to the data.yaml's own folder. A ``.txt`` list's entries are
  relative to the list's folder (or absolute) and must lie inside the dataset root: an entry outside
  it, absolute or leading out with ``..``, is refused (Ultralytics would read it). Read with the
  spec's screened YAML reader: no tags, anchors or aliases, 64 KiB at most.
- Label files: the image path with its last ``/images/`` replaced by ``/labels/`` and its suffix by
  ``.txt``; an image without one has no objects. A line is ``class cx cy w h`` normalised to
  [0, 1] (within Ultralytics' tolerance of 0.01), or a polygon ``class x1 y1 x2 y2 ...``
  (segmentation labels), which becomes its bounding box. Each line is read on its own.
- Category ids: class index i is category id i + 1 — Ultralytics' own COCO-style predictions JSON
  uses the same ids for non-COCO data — so the dataset written as COCO with ids 1..C gives identical
  metrics, and a model answers with the same category ids either way.
- Image ids are 1..N in sorted path order; sizes are read from the image files exactly as the
  decoder reads them (EXIF orientation applied).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from fieldready.data.decode import image_size
from fieldready.data.paths import outside_hint
from fieldready.data.types import IMAGE_SUFFIXES, Dataset, ImageRecord, ImageTargets
from fieldready.errors import DataError, SpecError
from fieldready.yaml_positions import MAX_BYTES, load_located

__all__ = ["load_yolo", "yolo_classes", "label_path", "COORDINATE_TOLERANCE"]

#: Normalised coordinates may stray this far outside [0, 1] (Ultralytics' verify_image_label allows 1 %).
COORDINATE_TOLERANCE = 0.01
_MAX_TEXT_BYTES = 64 * 2**20  # a label file or image list; a dense polygon file is a few MB
_LINE_HELP = "a YOLO label line is 'class cx cy w h' (5 values normalised to [0, 1]) or a polygon 'class x1 y1 x2 y2 ...'"


def label_path(image: str | Path) -> Path:
    """The label file of an image: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``.

    >>> label_path("/data/images/val/a.jpg").as_posix()
    '/data/labels/val/a.txt'
    """
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(str(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def yolo_classes(data_yaml: Path) -> dict[int, str]:
    """Category id → name of a data.yaml (class index i is id i + 1), or DataError naming the key."""
    located = _read_yaml(Path(data_yaml))
    return {i + 1: name for i, name in enumerate(_names(located))}


def load_yolo(data_yaml: Path, *, split: str = "val") -> Dataset:
    """Read the ``split`` of a YOLO dataset: every image found, every label line checked."""
    data_yaml = Path(data_yaml)
    located = _read_yaml(data_yaml)
    names = _names(located)
    images, lists = _split_images(located, data_yaml, split)
    digest = hashlib.sha256(data_yaml.read_bytes())
    digest.update(f"\x1f{split}\n".encode())
    for listed in lists:
        digest.update(f"{listed}\x1f".encode() + listed.read_bytes())
    records: list[ImageRecord] = []
    targets: dict[int, ImageTargets] = {}
    for i, path in enumerate(images):
        width, height = image_size(path)
        record = ImageRecord(i + 1, str(path), width, height)
        label = label_path(path)
        boxes, labels, raw = _read_labels(label, names, width, height) if label.is_file() else ([], [], None)
        digest.update(f"{i}\x1f".encode() + (hashlib.sha256(raw).hexdigest().encode() if raw is not None else b"-") + b"\n")
        xywh = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        targets[record.image_id] = ImageTargets(
            image_id=record.image_id,
            boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
            labels=np.array(labels, dtype=np.int64),
            iscrowd=np.zeros(len(labels), dtype=bool),
            area=xywh[:, 2] * xywh[:, 3],
            width=width,
            height=height,
            xywh=xywh,
        )
        records.append(record)
    classes = {i + 1: name for i, name in enumerate(names)}
    return Dataset("detection", records, classes, targets, list(images), digest.hexdigest())


# --- data.yaml ----------------------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    """The data.yaml as located YAML (a mapping), refused as a spec would be: no tags, aliases or anchors."""
    if not path.is_file():
        state = "is not a file" if path.exists() else "not found"
        raise DataError(f"{path}: data.yaml {state}; check dataset.data (the Ultralytics dataset YAML)")
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise DataError(f"{path}: cannot read the data.yaml ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise DataError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a data.yaml is a short YAML file")
    if not raw.strip():
        raise DataError(f"{path}: the data.yaml is empty; it needs 'names' and 'val' (Ultralytics' dataset YAML)")
    try:
        located = load_located(path)
    except SpecError as exc:
        message = exc.message.replace("a spec", "a data.yaml").replace("the spec", "the data.yaml")
        if exc.line is None and "mapping" in exc.message:
            raise DataError(f"{path}: a data.yaml is a YAML mapping with 'names' and 'val' keys; this one is not") from None
        where = f"{path}:{exc.line}:{exc.col}" if exc.line is not None else str(path)
        raise DataError(f"{where}: {message}") from None
    return located


def _error(located: Any, key: tuple, message: str) -> DataError:
    """A DataError at ``file:line:col: key:`` of the data.yaml."""
    return DataError(located.error(key, message).format())


def _names(located: Any) -> list[str]:
    """Class names in index order: ``names`` as a list or an {index: name} mapping, or ``nc`` alone."""
    data = located.data
    names, nc = data.get("names"), data.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise _error(located, ("nc",), f"nc must be a positive integer (the number of classes), got {nc!r}")
    if names is None:
        if nc is None:
            raise _error(located, (), "missing 'names': the class names, as a list or as {index: name}")
        return [f"class_{i}" for i in range(nc)]
    if isinstance(names, list):
        entries = [(("names", i), value) for i, value in enumerate(names)]
    elif isinstance(names, dict):
        entries = []
        for key, value in names.items():
            if not key.strip().lstrip("-").isdigit():
                raise _error(located, ("names", key), f"class index {key!r} is not an integer; write names as {{0: first, 1: second}}")
            entries.append((("names", key), value))
        indices = sorted(int(key[1]) for key, _ in entries)
        if indices != list(range(len(indices))):
            raise _error(
                located, ("names",),
                f"class indices must be 0..{len(indices) - 1}, each once; got {', '.join(str(i) for i in indices)}",
            )
        entries.sort(key=lambda e: int(e[0][1]))
    else:
        raise _error(located, ("names",), f"names must be a list of class names or {{index: name}}, got {names!r}")
    if not entries:
        raise _error(located, ("names",), "names is empty; list the class names")
    out: list[str] = []
    for key, value in entries:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            raise _error(located, key, f"a class name must be a non-empty string, got {value!r}")
        name = str(value)
        if name in out:
            raise _error(located, key, f"class name {name!r} is used twice (index {out.index(name)} and {len(out)}); names must be unique")
        out.append(name)
    if nc is not None and nc != len(out):
        raise _error(located, ("nc",), f"nc is {nc} but names lists {len(out)} classes; they must agree")
    return out


def _split_images(located: Any, data_yaml: Path, split: str) -> tuple[list[Path], list[Path]]:
    """The split's images (sorted, each once) and the .txt lists read for them."""
    data = located.data
    key = "validation" if split == "val" and not data.get("val") and data.get("validation") else split
    value = data.get(key)
    if not value:
        raise _error(
            located, (key,) if key in data else (),
            f"no '{split}:' entry: the images to evaluate (a folder, a .txt list of images, or a list of those); "
            f"add it to {data_yaml.name} or choose another dataset.split",
        )
    if isinstance(value, str):
        entries = [((key,), value)]
    elif isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        entries = [((key, i), v) for i, v in enumerate(value)]
    else:
        raise _error(located, (key,), f"{key} must be a folder, a .txt list or a list of those (strings), got {value!r}")
    for keypath, entry in entries:
        if "\x00" in entry:
            raise _error(located, keypath, f"{entry!r} contains a NUL character; give a folder or file path")
    root = _root(located, data_yaml)
    found: dict[str, str] = {}
    lists: list[Path] = []
    for keypath, entry in entries:
        target = (root / entry).resolve()
        if not target.exists() and entry.startswith("../"):  # Ultralytics' fallback for exported datasets
            target = (root / entry[3:]).resolve()
        if target.is_dir():
            listed = [(p, f"{target}") for p in _folder_images(target)]
        elif target.is_file() and target.suffix.lower() in IMAGE_SUFFIXES:
            listed = [(str(target), str(located.file))]
        elif target.is_file():
            listed = _image_list(target, root)
            lists.append(target)
        else:
            raise _error(located, keypath, f"{entry!r}: no such folder or file ({target}); paths are relative to {root}")
        for path, source in listed:
            if path in found:
                raise DataError(f"{path}: image listed twice ({found[path]} and {source}); list each image once")
            found[path] = source
    if not found:
        raise _error(located, (key,), f"no images found in {value!r} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return [Path(p) for p in sorted(found)], lists


def _folder_images(folder: Path) -> list[str]:
    """Image files below ``folder``, as Ultralytics' ``glob('**/*.*')`` finds them (hidden names skipped,
    symlinked folders followed), but each folder visited once, so a symlink loop cannot repeat images."""
    out: list[str] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES and os.path.isfile(path):
                out.append(path)
    return out


def _root(located: Any, data_yaml: Path) -> Path:
    """The dataset root: ``path`` (relative to the data.yaml's folder), or that folder itself."""
    raw = located.data.get("path")
    if raw is None or raw == "":
        return data_yaml.parent.resolve()
    if not isinstance(raw, str) or "\x00" in raw:
        raise _error(located, ("path",), f"path must be the dataset's root folder, got {raw!r}")
    root = Path(raw).expanduser()
    return (root if root.is_absolute() else data_yaml.parent / root).resolve()


def _image_list(path: Path, root: Path) -> list[tuple[str, str]]:
    """Images named by a .txt list, one per line, relative to the list's folder; each must exist inside ``root``.

    An entry outside the dataset root (absolute, or leading out of it with ``..``) is refused: the list
    comes with the data and must not make a run read files elsewhere. Absolute paths inside the root
    are accepted, as Ultralytics lists often hold them.
    """
    lines = _text(path, what="image list").split("\n")
    out: list[tuple[str, str]] = []
    top = os.path.normpath(root)
    for lineno, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry:
            continue
        where = f"{path}:{lineno}"
        image = Path(entry).expanduser()
        image = image if image.is_absolute() else path.parent / (entry[2:] if entry.startswith("./") else entry)
        if os.path.commonpath([top, os.path.normpath(image)]) != top:
            raise DataError(f"{where}: {outside_hint(entry, root, absolute_inside=True)}")
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{where}: {entry!r} is not an image fieldready reads ({', '.join(IMAGE_SUFFIXES)})")
        if not image.is_file():
            raise DataError(f"{where}: image {image} not found; list paths relative to {path.parent}")
        out.append((os.path.normpath(image.absolute()), where))
    return out


def _text(path: Path, *, what: str) -> str:
    """A text file's content as UTF-8 (a BOM allowed), bounded; DataError naming the file and line."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(raw) > _MAX_TEXT_BYTES:
        raise DataError(f"{path}: the {what} is larger than {_MAX_TEXT_BYTES >> 20} MiB; is this the right file?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: the {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8") from None


# --- label files --------------------------------------------------------------------------------


def _read_labels(path: Path, names: list[str], width: int, height: int) -> tuple[list[list[float]], list[int], bytes]:
    """Pixel ``[x, y, w, h]`` boxes and category ids (index + 1) of one label file, and its bytes."""
    text = _text(path, what="label file")
    boxes: list[list[float]] = []
    labels: list[int] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        n = len(fields)
        if n == 6:
            raise DataError(
                f"{where}: 6 values; {_LINE_HELP} — a 6th column such as a confidence (predictions saved with "
                "save_conf) does not belong in a label file"
            )
        if n < 5 or (n > 6 and (n < 7 or n % 2 == 0)):
            raise DataError(f"{where}: {n} values; {_LINE_HELP} (a polygon: the class and 3 or more x y pairs)")
        index = _class_index(fields[0], where, names)
        if n == 5:
            cx, cy = (_coordinate(fields[k], name, where) for k, name in ((1, "cx"), (2, "cy")))
            w, h = (_coordinate(fields[k], name, where, low=0.0) for k, name in ((3, "w"), (4, "h")))
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
        else:
            xs = [_coordinate(v, f"x{k + 1}", where) for k, v in enumerate(fields[1::2])]
            ys = [_coordinate(v, f"y{k + 1}", where) for k, v in enumerate(fields[2::2])]
            box = [min(xs) * width, min(ys) * height, (max(xs) - min(xs)) * width, (max(ys) - min(ys)) * height]
        boxes.append(box)
        labels.append(index + 1)
    return boxes, labels, text.encode()


def _class_index(text: str, where: str, names: list[str]) -> int:
    """The class column: an integer index into ``names`` (``2`` or ``2.0``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value.is_integer():
        raise DataError(f"{where}: class {text!r} is not a class index (an integer 0..{len(names) - 1}); {_LINE_HELP}")
    if not 0 <= value < len(names):
        shown = ", ".join(f"{i}: {n}" for i, n in enumerate(names[:8])) + (", ..." if len(names) > 8 else "")
        raise DataError(f"{where}: class {int(value)} is out of range; the data.yaml names {len(names)} classes ({shown})")
    return int(value)


def _coordinate(text: str, name: str, where: str, *, low: float = -COORDINATE_TOLERANCE) -> float:
    """A normalised coordinate: a finite number in [low, 1 + tolerance]."""
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {name} {text!r} is not a number; {_LINE_HELP}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {name} is {text}; coordinates must be finite numbers in [0, 1]")
    if not low <= value <= 1 + COORDINATE_TOLERANCE:
        hint = " — pixel values? YOLO labels are divided by the image width and height" if value > 1 else ""
        raise DataError(f"{where}: {name} {text} is outside [0, 1]{hint}")
    return value

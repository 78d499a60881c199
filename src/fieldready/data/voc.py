"""Pascal VOC detection datasets: a folder of XML annotations + an image folder → records and targets.

- One ``.xml`` file per image, sorted by path; image ids are 1..N in that order. The image is the
  file ``<filename>`` names in the images folder or, without ``<filename>``, the image with the XML's
  own name. Images without an XML file are not part of the dataset. A ``<filename>`` that is absolute
  or leads out of the images folder with ``..`` is refused (``paths.within``); ``<path>`` (the
  annotator's own absolute path) and ``<folder>`` are not read.
- ``<size>`` gives the width and height, checked against the decoded image (EXIF orientation
  applied) when it is read, as COCO's are; without ``<size>`` they are read from the image.
- Boxes: ``bndbox`` ``xmin ymin xmax ymax`` are 1-based, inclusive pixel indices. As Detectron2's VOC
  loader reads them, the box covers ``[xmin − 1, xmax] × [ymin − 1, ymax]``, so in COCO's terms
  ``[x, y, w, h] = [xmin − 1, ymin − 1, xmax − xmin + 1, ymax − ymin + 1]`` — the VOC devkit's
  inclusive widths. (mmdetection's VOC→COCO converter makes each box one pixel narrower and lower.)
- ``difficult`` objects become COCO crowd regions (``iscrowd = 1``), as mmdetection's converter does:
  a detection on one is neither a true nor a false positive, and missing one is no miss — VOC's
  devkit ignores difficult objects the same way, though COCO measures the overlap with a crowd
  region over the detection's own area. ``truncated`` and ``occluded`` objects are ordinary objects.
- Class names: the spec's ``classes`` (category id = position + 1; any other name is an error), or
  every name the files use, sorted.
- XML is parsed with expat directly: a DOCTYPE or an entity declaration is refused as soon as it is
  met, before anything could expand (no "billion laughs", no external entities); a file is at most
  4 MiB.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

import numpy as np

from fieldready.data.decode import image_size
from fieldready.data.paths import outside_hint, within
from fieldready.data.types import IMAGE_SUFFIXES, Dataset, ImageRecord, ImageTargets
from fieldready.errors import DataError

__all__ = ["load_voc", "voc_classes", "MAX_XML_BYTES"]

#: A VOC annotation is a few kB; one with thousands of objects is still far below this.
MAX_XML_BYTES = 4 * 2**20
_BOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class _Object:
    name: str
    difficult: bool
    xywh: tuple[float, float, float, float]
    where: str


@dataclass(frozen=True)
class _Annotation:
    """One parsed XML file: its image, the size it declares (if any) and its objects."""

    xml: Path
    image: Path
    size: tuple[int, int] | None
    objects: list[_Object]
    digest: str


def voc_classes(annotations: Path, classes: list[str] | None = None) -> dict[int, str]:
    """Category id → name: ``classes`` in order, or every object name of the files sorted."""
    if classes:
        return _given_classes(classes)
    return {i + 1: name for i, name in enumerate(sorted({o.name for a in _read_folder(Path(annotations), None) for o in a.objects}))}


def load_voc(annotations: Path, images: Path, *, classes: list[str] | None = None) -> Dataset:
    """Read every XML file of ``annotations`` (with its image in ``images``), every object checked."""
    annotations, images = Path(annotations), Path(images)
    if not images.is_dir():
        raise DataError(f"{images}: image folder not found; check dataset.images")
    parsed = _read_folder(annotations, images)
    if classes:
        id_of = {name: cid for cid, name in _given_classes(classes).items()}
        for ann in parsed:
            for obj in ann.objects:
                if obj.name not in id_of:
                    raise DataError(
                        f"{obj.where}: class {obj.name!r} is not in dataset.classes ({', '.join(id_of)}); "
                        "add it there or fix the name"
                    )
    else:
        id_of = {name: i + 1 for i, name in enumerate(sorted({o.name for a in parsed for o in a.objects}))}
    digest = hashlib.sha256("\x1f".join(id_of).encode() + b"\n")
    records: list[ImageRecord] = []
    targets: dict[int, ImageTargets] = {}
    for i, ann in enumerate(parsed):
        width, height = ann.size if ann.size is not None else image_size(ann.image)
        record = ImageRecord(i + 1, str(ann.image), width, height, source=str(ann.xml) if ann.size else None)
        xywh = np.array([o.xywh for o in ann.objects], dtype=np.float64).reshape(-1, 4)
        targets[record.image_id] = ImageTargets(
            image_id=record.image_id,
            boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
            labels=np.array([id_of[o.name] for o in ann.objects], dtype=np.int64),
            iscrowd=np.array([o.difficult for o in ann.objects], dtype=bool),
            area=xywh[:, 2] * xywh[:, 3],
            width=width,
            height=height,
            xywh=xywh,
        )
        records.append(record)
        digest.update(f"{ann.xml.relative_to(annotations).as_posix()}\x1f{ann.digest}\n".encode())
    classes_by_id = {cid: name for name, cid in id_of.items()}
    return Dataset("detection", records, classes_by_id, targets, [a.image for a in parsed], digest.hexdigest())


def _given_classes(classes: list[str]) -> dict[int, str]:
    seen: list[str] = []
    for name in classes:
        if name in seen:
            raise DataError(f"dataset.classes lists {name!r} twice; class names must be unique")
        seen.append(name)
    return {i + 1: name for i, name in enumerate(seen)}


def _read_folder(annotations: Path, images: Path | None) -> list[_Annotation]:
    """Every XML file below ``annotations``, parsed and checked, sorted by relative path."""
    if not annotations.is_dir():
        state = "is a file, not a folder" if annotations.is_file() else "not found"
        raise DataError(f"{annotations}: annotation folder {state}; dataset.annotations is the folder of VOC .xml files")
    files = sorted(annotations.rglob("*.xml"), key=lambda p: p.relative_to(annotations).as_posix())
    files = [f for f in files if f.is_file()]
    if not files:
        raise DataError(f"{annotations}: no .xml files found; dataset.annotations is the folder of VOC .xml files")
    parsed = [_read_annotation(f, annotations, images) for f in files]
    if images is not None:
        owner: dict[Path, Path] = {}
        for ann in parsed:
            if ann.image in owner:
                raise DataError(f"{ann.xml}: image {ann.image} is also annotated by {owner[ann.image]}; one XML file per image")
            owner[ann.image] = ann.xml
    return parsed


# --- one XML file -------------------------------------------------------------------------------


class _Refused(Exception):
    """A DOCTYPE or entity declaration, stopped by its expat handler before it takes effect."""


def _parse(path: Path) -> tuple[ET.Element, dict[int, int], bytes]:
    """The XML's root element, each element's line (by ``id``), and the file's bytes."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_XML_BYTES + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the annotation file ({exc.strerror or exc})") from None
    if len(raw) > MAX_XML_BYTES:
        raise DataError(f"{path}: larger than {MAX_XML_BYTES >> 20} MiB; a VOC annotation is a few kB — is this the right file?")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    lines: dict[int, int] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        lines[id(builder.start(tag, attrs))] = parser.CurrentLineNumber

    def refuse(what: str):  # noqa: ANN202 - an expat handler
        def handler(*_: object) -> None:
            raise _Refused(what)

        return handler

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = refuse("an entity declaration")
    parser.ExternalEntityRefHandler = refuse("an external entity")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(raw, True)
    except _Refused as exc:
        raise DataError(
            f"{path}:{parser.CurrentLineNumber}: {exc} is not allowed in a VOC annotation (entities could "
            "expand without bound); remove it"
        ) from None
    except expat.ExpatError as exc:
        raise DataError(
            f"{path}:{exc.lineno}:{exc.offset + 1}: not well-formed XML ({expat.ErrorString(exc.code)}); fix the annotation file"
        ) from None
    return builder.close(), lines, raw


def _read_annotation(path: Path, annotations: Path, images: Path | None) -> _Annotation:
    """Parse and check one VOC XML file; every problem names the file, line and element."""
    root, lines, raw = _parse(path)

    def at(el: ET.Element) -> str:
        return f"{path}:{lines.get(id(el), 1)}"

    if root.tag != "annotation":
        raise DataError(f"{at(root)}: the root element is <{root.tag}>; a Pascal VOC file is one <annotation>")
    filename = _text(root.find("filename"))
    size = _size(root.find("size"), at)
    objects = [_object(i, obj, at) for i, obj in enumerate(root.findall("object"))]
    named = root.find("filename")
    image = _image(images, path.relative_to(annotations), filename, at(named if named is not None else root)) if images else path
    return _Annotation(path, image, size, objects, hashlib.sha256(raw).hexdigest())


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _size(el: ET.Element | None, at) -> tuple[int, int] | None:  # noqa: ANN001 - the element locator
    """``<size>``'s width and height (positive integers), or None without ``<size>``."""
    if el is None:
        return None
    out = []
    for key in ("width", "height"):
        child = el.find(key)
        text = _text(child)
        value = _number(text)
        if child is None or value is None or not value.is_integer() or value <= 0:
            got = "missing" if child is None else f"{text!r}"
            raise DataError(
                f"{at(child if child is not None else el)}: size/{key} must be a positive integer, got {got}; "
                "fix it, or remove <size> to read the size from the image"
            )
        out.append(int(value))
    return out[0], out[1]


def _object(i: int, obj: ET.Element, at) -> _Object:  # noqa: ANN001 - the element locator
    """One ``<object>``: class name, difficult flag and the box as COCO ``[x, y, w, h]``."""
    name = _text(obj.find("name"))
    if not name:
        raise DataError(f"{at(obj)}: object[{i}] has no <name> (its class name)")
    where = f"{at(obj)}: object[{i}] ({name!r})"
    difficult_el = obj.find("difficult")
    difficult = _number(_text(difficult_el)) if _text(difficult_el) else 0.0
    if difficult not in (0.0, 1.0):
        raise DataError(f"{at(difficult_el)}: object[{i}] ({name!r}): difficult must be 0 or 1, got {_text(difficult_el)!r}")
    box = obj.find("bndbox")
    if box is None:
        raise DataError(f"{where}: missing <bndbox> (xmin ymin xmax ymax)")
    values = []
    for key in _BOX_FIELDS:
        child = box.find(key)
        value = _number(_text(child))
        if child is None or value is None:
            got = "missing" if child is None else f"{_text(child)!r}, not a number"
            raise DataError(f"{at(child if child is not None else box)}: object[{i}] ({name!r}): bndbox/{key} is {got}")
        values.append(value)
    xmin, ymin, xmax, ymax = values
    for lo, hi in (("xmin", "xmax"), ("ymin", "ymax")):
        a, b = values[_BOX_FIELDS.index(lo)], values[_BOX_FIELDS.index(hi)]
        if b < a:
            raise DataError(f"{at(box)}: object[{i}] ({name!r}): bndbox {hi} {b:g} < {lo} {a:g}; a VOC box is xmin ymin xmax ymax with {hi} ≥ {lo}")
    # 1-based inclusive pixel indices → continuous [xmin − 1, xmax] (Detectron2's reading).
    xywh = (xmin - 1.0, ymin - 1.0, xmax - xmin + 1.0, ymax - ymin + 1.0)
    return _Object(name, difficult == 1.0, xywh, where)


def _number(text: str) -> float | None:
    """A finite number written in the XML, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _image(images: Path, rel: Path, filename: str, where: str) -> Path:
    """The image an XML file describes: ``<filename>`` in ``images``, else the image named like the XML."""
    if filename:
        path = within(images, filename)
        if path is None:
            raise DataError(f"{where}: <filename> {outside_hint(filename, images)}")
        if path.is_file():
            return path
        if not Path(filename).suffix:
            found = [path.with_name(path.name + s) for s in IMAGE_SUFFIXES if path.with_name(path.name + s).is_file()]
            if len(found) == 1:
                return found[0]
        raise DataError(f"{where}: filename {filename!r}: image {path} not found; check dataset.images")
    stem = images / rel.with_suffix("")
    found = [stem.with_name(stem.name + s) for s in IMAGE_SUFFIXES if stem.with_name(stem.name + s).is_file()]
    if not found:
        found = [stem.with_name(stem.name + s.upper()) for s in IMAGE_SUFFIXES if stem.with_name(stem.name + s.upper()).is_file()]
    if len(found) != 1:
        problem = "no image" if not found else f"{len(found)} images ({', '.join(p.name for p in found)})"
        raise DataError(f"{where}: no <filename>, and {problem} named {stem.name}.* in {stem.parent}; add <filename>")
    return found[0]

"""Write a COCO dataset of the tiny test project again as YOLO and Pascal VOC files, box for box.

The conversions are the documented ones: YOLO class index = category id − 1 with cx cy w h divided by
the image size; VOC ``xmin = x + 1, xmax = x + w`` (1-based inclusive pixels), ``difficult`` =
``iscrowd``. With integer boxes on 64-pixel images every value is a dyadic fraction, exact in
float64 and in its shortest decimal text, so the three forms must give identical targets.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape


def _by_image(coco: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {img["id"]: [] for img in coco["images"]}
    for ann in coco["annotations"]:
        out[ann["image_id"]].append(ann)
    return out


def write_yolo(coco_json: Path, images: Path, *, polygons: bool = False, empty_label_files: bool = True) -> Path:
    """``data.yaml`` beside ``images/`` and ``labels/<stem>.txt``; returns the data.yaml path.

    Images without annotations get an empty label file when ``empty_label_files`` is true for the
    first such image only, and no file for the others (both mean "no objects"). With ``polygons``,
    every second box is written as its four-corner polygon (a segmentation line).
    """
    coco = json.loads(coco_json.read_text())
    root = images.parent
    labels = root / "labels"
    labels.mkdir(exist_ok=True)
    names = {c["id"] - 1: c["name"] for c in coco["categories"]}
    assert sorted(names) == list(range(len(names))), "category ids must be 1..C for the YOLO form"
    anns = _by_image(coco)
    empty_written = not empty_label_files
    for img in coco["images"]:
        w, h = img["width"], img["height"]
        lines = []
        for k, ann in enumerate(anns[img["id"]]):
            assert not ann.get("iscrowd"), "YOLO has no crowd regions"
            x, y, bw, bh = ann["bbox"]
            if polygons and k % 2 == 1:
                corners = [(x, y), (x + bw, y), (x + bw, y + bh), (x, y + bh)]
                lines.append(" ".join([str(ann["category_id"] - 1)] + [f"{px / w!r} {py / h!r}" for px, py in corners]))
            else:
                lines.append(f"{ann['category_id'] - 1} {(x + bw / 2) / w!r} {(y + bh / 2) / h!r} {bw / w!r} {bh / h!r}")
        stem = Path(img["file_name"]).stem
        if lines:
            (labels / f"{stem}.txt").write_text("\n".join(lines) + "\n")
        elif not empty_written:
            (labels / f"{stem}.txt").write_text("")
            empty_written = True
    data = root / "data.yaml"
    listed = "\n".join(f"  {i}: {n}" for i, n in sorted(names.items()))
    data.write_text(f"# written from {coco_json.name}\ntrain: images\nval: images\nnames:\n{listed}\n")
    return data


def write_voc(coco_json: Path, folder: Path, *, with_size: bool = True) -> Path:
    """One Pascal VOC XML per image in ``folder``; ``difficult`` from ``iscrowd``; returns ``folder``."""
    coco = json.loads(coco_json.read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    folder.mkdir(parents=True, exist_ok=True)
    anns = _by_image(coco)
    for img in coco["images"]:
        objects = []
        for ann in anns[img["id"]]:
            x, y, bw, bh = ann["bbox"]
            objects.append(
                f"  <object>\n    <name>{escape(names[ann['category_id']])}</name>\n    <pose>Unspecified</pose>\n"
                f"    <truncated>0</truncated>\n    <difficult>{int(bool(ann.get('iscrowd')))}</difficult>\n"
                f"    <bndbox><xmin>{x + 1}</xmin><ymin>{y + 1}</ymin><xmax>{x + bw}</xmax><ymax>{y + bh}</ymax></bndbox>\n"
                "  </object>\n"
            )
        size = f"  <size><width>{img['width']}</width><height>{img['height']}</height><depth>3</depth></size>\n" if with_size else ""
        (folder / f"{Path(img['file_name']).stem}.xml").write_text(
            f"<annotation>\n  <folder>images</folder>\n  <filename>{escape(img['file_name'])}</filename>\n{size}{''.join(objects)}</annotation>\n"
        )
    return folder

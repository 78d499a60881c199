"""``fieldready init``: look at a dataset and model files, write a commented starter spec that validates and runs.

The dataset's format is recognised from its files (a COCO instances JSON, an Ultralytics data.yaml,
Pascal VOC XML files, class-per-folder images or a plain folder of images) and read by the same
loaders a run uses, so the task, the classes and the image sizes are the ones fieldready will see.
A model's kind follows its extension (``.onnx``, ``.pt2``, TorchScript ``.pt``/``.ts``/``.pth``); its
input size comes from the file, and its output format from one call on a blank image of that size —
a deserialised graph, never the user's Python code. Conditions are scaled to the images' size,
criteria are relative (drops against clean and against the baseline) with how to choose each in a
comment, and the sample-size warnings of the data at hand are written at the top.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fieldready.data.dataset import DatasetSource, load_source
from fieldready.data.types import IMAGE_SUFFIXES, Dataset
from fieldready.errors import FieldreadyError
from fieldready.execution.models.kinds.exported import load_exported
from fieldready.execution.models.kinds.onnx import load_onnx
from fieldready.plan.samplesize import needed, sample_size_warnings
from fieldready.spec import load_spec
from fieldready.spec.models import Spec

__all__ = ["DetectedData", "DetectedModel", "StarterError", "detect_dataset", "detect_model", "starter_spec", "write_starter"]

TORCHSCRIPT_SUFFIXES = {".pt", ".ts", ".pth", ".torchscript"}


class StarterError(FieldreadyError):
    """``fieldready init`` cannot read the dataset or a model, or refuses to overwrite the output."""


@dataclass
class DetectedData:
    """A dataset as ``init`` found it: the spec's ``dataset:`` block (paths absolute) and what the loader read."""

    format: str
    task: str
    block: dict[str, str]
    dataset: Dataset

    @property
    def classes(self) -> list[str]:
        return [self.dataset.classes[k] for k in sorted(self.dataset.classes)]

    @property
    def side(self) -> int:
        """The median shorter image side in pixels: what the default severities are scaled to."""
        return int(statistics.median(min(r.width, r.height) for r in self.dataset.records))


@dataclass
class DetectedModel:
    """A model file as ``init`` read it: kind, input size (height, width) when fixed, output block, notes."""

    path: Path
    kind: str
    size: tuple[int, int] | None = None
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- data


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _is_coco(path: Path) -> bool:
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(head, dict) and {"images", "annotations", "categories"} <= set(head)


def _is_yolo(path: Path) -> bool:
    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and "names" in data


def _unreadable(path: Path) -> str | None:
    """Why a .json/.yaml file of the dataset's folder cannot be parsed at all (None when it parses)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            json.loads(text)
        else:
            YAML(typ="safe", pure=True).load(text)
    except (OSError, YAMLError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{type(exc).__name__}: {first[:200]}"
    return None


def _coco_images(annotations: Path, root: Path) -> Path:
    """The folder holding a COCO file's images: ``images/`` beside it or under the root, else where the first one is."""
    first = json.loads(annotations.read_text(encoding="utf-8"))["images"]
    name = first[0].get("file_name") if isinstance(first, list) and first and isinstance(first[0], dict) else None
    if not isinstance(name, str) or not name or "\x00" in name:
        name = None  # a malformed record: the COCO loader names the record and field once the folder is chosen
    for folder in (annotations.parent / "images", root / "images", annotations.parent, root,
                   annotations.parent.parent / "images"):
        if folder.is_dir() and (name is None or (folder / name).is_file()):
            return folder
    raise StarterError(f"{annotations}: cannot find the folder of its images ({name}); put them in images/ beside it")


def detect_dataset(path: Path, *, task: str | None = None) -> DetectedData:
    """Recognise the dataset at ``path`` (a folder, a COCO JSON or a data.yaml) and read it with fieldready's loader."""
    path = Path(path)
    if not path.exists():
        raise StarterError(f"{path}: no such file or folder; give the dataset's folder, COCO JSON or data.yaml")
    root = path if path.is_dir() else path.parent
    if path.is_file():
        candidates = [path]
    else:
        candidates = sorted([*path.glob("*.json"), *path.glob("annotations/*.json"), *path.glob("*.yaml"), *path.glob("*.yml")])
    for file in candidates:
        if file.suffix == ".json" and _is_coco(file):
            return _read("coco", task or "detection", {"images": str(_coco_images(file, root)), "annotations": str(file)})
        if file.suffix in (".yaml", ".yml") and _is_yolo(file):
            return _read("yolo", task or "detection", {"data": str(file)})
    if path.is_file():
        why = _unreadable(path)
        if why is not None:
            raise StarterError(f"{path}: cannot be parsed ({why}); fix the file, or give the dataset's folder instead")
        raise StarterError(f"{path}: neither a COCO instances JSON (images, annotations, categories) nor an Ultralytics "
                           "data.yaml (names); give the dataset's folder instead")
    for xml_dir in (path / "Annotations", path / "annotations", path):
        if xml_dir.is_dir() and any(xml_dir.glob("*.xml")):
            images = next((d for d in (path / "JPEGImages", path / "images", path) if _images_in(d)), path)
            return _read("voc", task or "detection", {"images": str(images), "annotations": str(xml_dir)})
    # a broken annotation file must not turn a labelled dataset into class folders or unlabelled images
    for file in candidates:
        why = _unreadable(file)
        if why is not None:
            raise StarterError(f"{file}: cannot be parsed ({why}); fix it if it is the dataset's annotations "
                               "(COCO JSON or data.yaml), or move it out of the dataset's folder")
    subfolders = [d for d in sorted(path.iterdir()) if d.is_dir() and _images_in(d)]
    if subfolders and not _images_in(path):
        if task == "detection":
            raise StarterError(f"{path}: class-per-folder images have no boxes; a detection dataset needs COCO, YOLO or VOC labels")
        return _read("imagefolder", "classification", {"images": str(path)})
    if _images_in(path):
        return _read("images", task or "detection", {"images": str(path)})
    raise StarterError(f"{path}: found no COCO JSON, data.yaml, VOC XML, class folders or images; see the README's data formats")


def _read(fmt: str, task: str, block: dict[str, str]) -> DetectedData:
    source = DatasetSource(format=fmt, task=task, **{k: Path(v) for k, v in block.items()})
    dataset = load_source(source)
    if not dataset.records:
        raise StarterError(f"{next(iter(block.values()))}: the {fmt} dataset has no images")
    if dataset.task != task:  # e.g. --task classification on VOC/YOLO boxes: the spec would validate, then not run
        where = block.get("annotations") or block.get("data") or block["images"]
        raise StarterError(f"{where}: a {fmt} dataset is for {dataset.task}, not {task}; "
                           f"drop --task or give a {task} dataset")
    return DetectedData(fmt, task, {"format": fmt, **block}, dataset)


# ---------------------------------------------------------------------------------------------- models


def detect_model(path: Path, *, task: str, num_classes: int, fallback_size: int) -> DetectedModel:
    """Kind by extension, input size from the file, output format from one call on a blank image (no user code)."""
    path = Path(path)
    if not path.is_file():
        raise StarterError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _onnx(path, task, num_classes, fallback_size)
    if suffix == ".pt2":
        return _exported(path, task, num_classes, fallback_size)
    if suffix in TORCHSCRIPT_SUFFIXES:
        return _torchscript(path, task, num_classes, fallback_size)
    raise StarterError(f"{path}: unknown model file type {suffix!r}; init reads .onnx, .pt2 and TorchScript .pt/.ts — "
                       "for other models write a kind: python entry by hand (see the README's model kinds)")


def _onnx(path: Path, task: str, num_classes: int, fallback: int) -> DetectedModel:
    import torch  # heavy: only when a model file is read

    model = load_onnx(path, device=torch.device("cpu"), threads=1)
    h, w = model.input_size
    size = (h or fallback, w or fallback)
    found = DetectedModel(path, "onnx", size=size if (h and w) else None)
    if model.input_dtype != "float32":
        found.input["dtype"] = model.input_dtype
        if model.input_dtype == "uint8":
            found.input["value_range"] = 255
    dtype = {"float32": torch.float32, "float16": torch.float16, "uint8": torch.uint8}[model.input_dtype]
    batch = model.batch or 1
    _probe(found, lambda: model(torch.zeros(batch, 3, *size, dtype=dtype)), size, task, num_classes, batch)
    return found


def _exported(path: Path, task: str, num_classes: int, fallback: int) -> DetectedModel:
    import torch  # heavy: only when a model file is read

    model = load_exported(path, device=torch.device("cpu"))
    program = torch.export.load(str(path))
    examples = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    shape = examples[0].shape
    size = tuple(int(s) for s in shape[2:]) if all(isinstance(s, int) for s in shape[2:]) else None
    found = DetectedModel(path, "exported", size=size)  # type: ignore[arg-type]
    if size is None:
        found.notes.append("its input size is dynamic: set input.size to the size it was trained at")
    batch, probe = model.min_batch, size or (fallback, fallback)
    with torch.no_grad():
        _probe(found, lambda: model(torch.zeros(batch, 3, *probe, dtype=model.input_dtype)), probe, task, num_classes, batch)
    return found


def _torchscript(path: Path, task: str, num_classes: int, fallback: int) -> DetectedModel:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # torch raises RuntimeError/ValueError variants for files that are not TorchScript
        raise StarterError(f"{path}: not a TorchScript file ({type(exc).__name__}); a checkpoint or pickled module needs a "
                           "kind: python entry point (see the README's model kinds)") from None
    found = DetectedModel(path, "torchscript")
    found.notes.append("TorchScript keeps no input size: fed at the images' own size; set input.size if it was trained at another")
    with torch.no_grad():
        _probe(found, lambda: module(torch.zeros(1, 3, fallback, fallback)), (fallback, fallback), task, num_classes, 1)
    return found


def _probe(found: DetectedModel, call: Any, size: tuple[int, int], task: str, num_classes: int, n: int) -> None:
    """Call the model once on a blank image and read its output format; a model that refuses it gets a note, not a crash."""
    try:
        out = call()
    except FieldreadyError:
        raise
    except Exception as exc:  # the model's own check (a size guard, a TorchScript raise): say it, let the user declare
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        cause = (lines[-1] if lines and lines[-1].startswith("builtins.") else lines[0] if lines else "")[:200]
        found.notes.append(f"one call on a blank {size[0]}×{size[1]} image failed ({type(exc).__name__}: {cause}); "
                           "set input.size to the size it was trained at and declare output.format")
        return
    _read_output(found, out, task, num_classes, n)


def _read_output(found: DetectedModel, out: Any, task: str, num_classes: int, n: int) -> None:
    """Set ``found.output`` (None: fieldready's own convention) from one output, or say what to declare."""
    import torch

    if isinstance(out, (list, tuple)) and out and all(isinstance(d, dict) and "boxes" in d for d in out):
        return  # torchvision's convention: no output block
    if isinstance(out, dict) and "logits" in out and "pred_boxes" in out:
        found.output = {"format": "detr", "labels": "from_dataset"}
        classes = out["logits"].shape[-1] - 1
        if classes != num_classes:
            found.notes.append(f"it has {classes} classes, the dataset {num_classes}: map them with output.labels")
        return
    tensor = out if isinstance(out, torch.Tensor) else next(iter(out.values()), None) if isinstance(out, dict) else None
    if not isinstance(tensor, torch.Tensor):
        found.notes.append(f"its output ({type(out).__name__}) is none of the known formats: declare output.format")
        return
    shape = list(tensor.shape)
    if task == "classification" and len(shape) == 2:
        probabilities = bool(((tensor >= 0) & (tensor <= 1)).all()) and torch.allclose(tensor.float().sum(1), torch.ones(n), atol=1e-3)
        found.output = {"format": "probabilities" if probabilities else "logits", "labels": "from_dataset"}
        if shape[1] != num_classes:
            found.notes.append(f"it outputs {shape[1]} classes, the dataset has {num_classes}: map them with output.labels")
        return
    if task == "detection" and len(shape) == 3:
        if shape[1] < shape[2]:  # [N, 4 + C, anchors]: YOLOv8 and later
            found.output = {"format": "yolo", "layout": "v8", "labels": "from_dataset"}
            classes = shape[1] - 4
        else:  # [N, anchors, 5 + C]: YOLOv5 with objectness
            found.output = {"format": "yolo", "layout": "v5", "labels": "from_dataset"}
            classes = shape[2] - 5
        if found.size is not None:
            found.input.update({"resize": "letterbox", "pad_value": 114})
        if classes != num_classes:
            found.notes.append(f"its head has {classes} classes, the dataset {num_classes}: map them with output.labels "
                               "{model index: dataset class name}")
        return
    found.notes.append(f"its output {shape} is none of the known {task} formats: declare output.format")


# ---------------------------------------------------------------------------------------------- the spec


def _flow(value: Any) -> str:
    """A value as one line of YAML flow style (JSON is YAML; keys unquoted where plain)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str) and value.replace("_", "").replace("-", "").replace(".", "").replace("/", "").isalnum():
        return value
    return json.dumps(value)


def _comment(text: str) -> str:
    """Text safe on one YAML comment line: a line break in a class name must not start a key of the spec."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _severities(side: int, task: str) -> list[tuple[dict, str]]:
    """The default conditions, in physical units scaled to the images' shorter side, each with its reason."""
    px = lambda fraction: round(max(0.5, side * fraction), 1)  # noqa: E731 - a length in pixels
    conditions = [
        ({"corruption": "gaussian_noise", "severity": {"values": [0.03, 0.08]}, "frequency": 0.15},
         "σ on [0, 1]: sensor gain in low light (0.03 is grain you notice, 0.08 a night frame)"),
        ({"corruption": "gaussian_blur", "severity": {"values": [px(0.004), px(0.012)]}, "frequency": 0.15},
         f"σ in px, ≈0.4 % and 1.2 % of the {side} px side: slight defocus, vibration"),
        ({"corruption": "jpeg_compression", "severity": {"values": [40, 15]}, "frequency": 0.1},
         "quality: a tight uplink's re-encoding (15 is visibly blocky)"),
        ({"corruption": "brightness", "severity": {"values": [-0.25, 0.25]}, "frequency": 0.1},
         "ΔV in HSV: under- and over-exposure by about a third of the range"),
        ({"corruption": "contrast", "severity": {"values": [0.5]}, "frequency": 0.05},
         "factor: haze, glare, a dirty window"),
    ]
    if task == "detection":
        conditions.append(({"corruption": "translate", "severity": {"values": [px(0.01), px(0.03)]}, "frequency": 0.05},
                           f"px, ≈1 % and 3 % of the side: mount shake — boxes move with the image"))
    else:
        conditions.append(({"corruption": "rotate", "severity": {"values": [3, 8]}, "frequency": 0.05},
                           "degrees: a tilted camera or document"))
    return conditions


def starter_spec(data: DetectedData, models: list[DetectedModel], *, spec_dir: Path, name: str) -> str:
    """The commented starter spec's text, paths relative to ``spec_dir`` (where it will be written)."""
    rel = lambda p: Path(os.path.relpath(Path(p).resolve(), spec_dir.resolve())).as_posix()  # noqa: E731
    task = data.task
    primary = "map" if task == "detection" else "top1"
    labelled = data.format != "images"
    n = len(data.dataset.records)
    widths = sorted(r.width for r in data.dataset.records)
    heights = sorted(r.height for r in data.dataset.records)
    lines = [
        f"# Starter spec written by `fieldready init` from {n} images ({data.format}, {task}; "
        f"{widths[0]}–{widths[-1]} × {heights[0]}–{heights[-1]} px).",
        "# Every number below is a default to argue with: each comment says how to choose it. Check it with",
        "# `fieldready validate`, see what it costs with `fieldready plan`, then `fieldready run SPEC -o DIR`.",
        "fieldready: 1",
        f"name: {_flow(name)}",
        f"task: {task}",
        "dataset: " + _flow({k: (rel(v) if k != "format" else v) for k, v in data.block.items()}) + "   # paths relative to this spec",
    ]
    if data.classes:
        shown = ", ".join(data.classes[:12]) + (f", … ({len(data.classes)} in all)" if len(data.classes) > 12 else "")
        lines.append(f"# classes: {_comment(shown)}")
    lines.append("models:")
    names: list[str] = []
    for m in models:
        base = "".join(c if c.isalnum() or c in "-_." else "-" for c in m.path.stem)[:60].strip("-.") or "model"
        model_name = base if base not in names else f"{base}-{len(names) + 1}"
        names.append(model_name)
        entry: dict[str, Any] = {"name": model_name, "kind": m.kind, "path": rel(m.path)}
        inp = dict(m.input)
        if m.size is not None:
            inp = {"size": list(m.size), **inp}
        lines.append(f"  - name: {_flow(model_name)}")
        lines.append(f"    kind: {m.kind}")
        lines.append(f"    path: {_flow(rel(m.path))}")
        if inp:
            lines.append(f"    input: {_flow(inp)}   # read from the file; add mean/std, color: bgr, value_range: 255 if it was trained so")
        if m.output is not None:
            lines.append(f"    output: {_flow(m.output)}   # labels: from_dataset = model class i is dataset class i; "
                         "else {index: class name}")
        for note in m.notes:
            lines.append(f"    # note: {_comment(note)}")
    if len(names) > 1:
        lines.append(f"baseline: {_flow(names[0])}   # the model in production today: candidates are compared with it")
    lines.append("conditions:")
    lines.append("  # frequency: the share of production images expected to meet the condition; measure it on real frames")
    lines.append("  # with `fieldready profile FRAMES --spec THIS` instead of trusting these guesses.")
    lines.append(f"  # Severities are in each corruption's physical unit, scaled to the {data.side} px shorter side;")
    lines.append("  # `fieldready corruptions --preview IMAGE -o grid.png` shows what each looks like.")
    conditions = _severities(data.side, task)
    for condition, why in conditions:
        lines.append(f"  - {_flow(condition)}   # {why}")
    lines.append("criteria:")
    criteria: list[tuple[dict, str]] = []
    if labelled:
        criteria += [
            ({"metric": primary, "on": "gaussian_blur", "max_drop": 0.15},
             "relative: (clean − blurred) / clean over the condition's severities; 0.15 = keeps 85 % of its clean score. "
             "Set it from the loss the product can absorb."),
            ({"metric": primary, "on": "gaussian_noise", "max_drop": 0.15}, "the same rule for sensor noise"),
            ({"metric": "rpc", "at_least": 0.8},
             "mean corrupted / clean score over all conditions; 0.8 is a common bar for a model meant to leave the lab"),
            ({"metric": "production_score", "max_drop_vs_baseline": 0.05} if len(names) > 1 else
             {"metric": primary, "on": "jpeg_compression", "max_drop": 0.1, "severity": "warning"},
             "frequency-weighted score under the mix above may fall at most 5 % below the baseline's (a release must "
             "not regress the field)" if len(names) > 1 else "compression: a warning, not a blocker, until measured"),
        ]
        lines.append(f"  # Add an absolute floor once you know the clean score you need, e.g. {{metric: {primary}, on: clean, at_least: X}}.")
    else:
        label_free = "consistency" if task == "detection" else "flip_rate"
        threshold = {"at_least": 0.7} if task == "detection" else {"at_most": 0.1}
        criteria.append(({"metric": label_free, "on": "gaussian_blur", **threshold},
                         "unlabelled images: agreement with the model's own clean answers"))
    for crit, why in criteria:
        lines.append(f"  - {_flow(crit)}   # {why}")
    lines.append("report: {title: " + _flow(f"{name} release readiness") + ", signoff: [{role: ML lead}]}")
    lines.append("run: {device: auto, seed: 0, batch_size: auto}")
    return "\n".join(lines) + "\n"


def with_warnings(text: str, spec: Spec, data: DetectedData) -> tuple[str, list[str]]:
    """The plan's sample-size warnings for this spec on this data, written as comments above ``fieldready: 1``."""
    n = len(data.dataset.records)
    warnings = sample_size_warnings(spec, data.dataset)
    if n < needed(0.05, 0.95):
        warnings.append(f"{n} images; reading a score to ±0.05 at 95 % confidence needs about {needed(0.05, 0.95)} — "
                        "verdicts near a threshold will be INCONCLUSIVE")
    head, _, rest = text.partition("fieldready: 1\n")
    return head + "".join(f"# sample size: {_comment(w)}\n" for w in warnings) + "fieldready: 1\n" + rest, warnings


def write_starter(data_path: Path, models: list[Path], out: Path, *, force: bool = False, task: str | None = None) -> str:
    """Detect, write ``out`` and validate it as ``fieldready validate`` would; the text written."""
    out = Path(out)
    if out.is_dir():
        raise StarterError(f"{out} is a folder; -o is the spec file to write, e.g. {out / 'spec.yaml'}")
    if out.exists() and not force:
        raise StarterError(f"{out} exists; choose another -o or pass --force to replace it")
    data = detect_dataset(data_path, task=task)
    found = [detect_model(p, task=data.task, num_classes=len(data.dataset.classes), fallback_size=data.side) for p in models]
    if not found:
        raise StarterError("init needs at least one --model FILE (.onnx, .pt2 or TorchScript .pt/.ts)")
    out.parent.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in out.stem) or "starter"
    text = starter_spec(data, found, spec_dir=out.parent, name=name)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=out.parent, delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
    try:
        # the written spec must validate as `fieldready validate` checks it; a failure is a bug of init
        text, _ = with_warnings(text, load_spec(tmp.name).spec, data)
        Path(tmp.name).write_text(text, encoding="utf-8")
        os.replace(tmp.name, out)
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return text

"""The declared ``input:`` and ``output:`` conventions of a model, as pydantic models (no torch here).

A model file rarely speaks fieldready's contract (float RGB in [0, 1] in, torchvision dicts out); these
blocks say what it speaks instead, so no wrapper code is needed. The spec stage validates them and
resolves ``labels`` against the dataset without importing torch; ``conventions.py`` applies them.

    input:  {size: [640, 640], resize: letterbox, pad_value: 114, color: rgb, value_range: 1, dtype: float32}
    output: {format: yolo, layout: v8, iou_threshold: 0.7, score_threshold: 0.001, labels: {0: person, 1: helmet}}
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fieldready.errors import SpecError

__all__ = [
    "InputConvention",
    "BoxEncoding",
    "Labels",
    "TorchvisionOutput",
    "YoloOutput",
    "DetrOutput",
    "LogitsOutput",
    "ProbabilitiesOutput",
    "OutputConvention",
    "DETECTION_FORMATS",
    "CLASSIFICATION_FORMATS",
    "resolve_labels",
]

_MAX_SIDE = 16384  # pixels; a larger resize target cannot be held as a batch in memory
Side = Annotated[int, Field(gt=0, le=_MAX_SIDE)]
BoxEncoding = Literal["xyxy", "xywh", "cxcywh"]
#: ``from_dataset`` (model class i is the dataset's i-th class by category id), a list (model class i is
#: the entry i: a class name or a category id) or a dict (model class index → class name or category id).
Labels = Union[Literal["from_dataset"], list[Union[str, int]], dict[int, Union[str, int]]]

DETECTION_FORMATS = ("torchvision", "yolo", "detr")
CLASSIFICATION_FORMATS = ("logits", "probabilities")


class _Strict(BaseModel):
    # NaN and ±inf are refused: every number here scales, pads or thresholds pixels and scores.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class InputConvention(_Strict):
    """What the model takes: fieldready turns its float RGB ``[N, 3, H, W]`` in [0, 1] into this.

    Applied in this order: resize to ``size`` (``[height, width]``; omitted: the image's own size) by
    ``stretch`` or ``letterbox`` (keep the aspect ratio, pad the rest with ``pad_value`` on a 0–255
    scale, centred as Ultralytics does), reorder channels to ``color``, scale to ``value_range``
    (1: [0, 1], 255: [0, 255]), normalise ``(x - mean) / std`` (in the units of ``value_range``, in the
    model's channel order), cast to ``dtype``.
    """

    size: tuple[Side, Side] | None = None
    resize: Literal["stretch", "letterbox"] = "stretch"
    pad_value: float = Field(default=114.0, ge=0.0, le=255.0)
    color: Literal["rgb", "bgr"] = "rgb"
    value_range: Literal[1, 255] = 1
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    dtype: Literal["float32", "float16", "uint8"] = "float32"

    @field_validator("std")
    @classmethod
    def _std_positive(cls, std: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        if std is not None and min(std) <= 0:
            raise ValueError(f"std values divide the image, so each must be > 0, got {list(std)}")
        return std

    @model_validator(mode="after")
    def _consistent(self) -> "InputConvention":
        if (self.mean is None) != (self.std is None):
            raise ValueError("give mean and std together (x' = (x - mean) / std, in the units of value_range)")
        if self.resize == "letterbox" and self.size is None:
            raise ValueError("letterbox needs size: [height, width] (the model's input size, e.g. [640, 640])")
        if self.dtype == "uint8":
            if self.value_range != 255:
                raise ValueError("dtype uint8 holds pixel values 0..255: set value_range: 255")
            if self.mean is not None:
                raise ValueError("dtype uint8 cannot hold normalised values: remove mean and std (the model normalises itself)")
        return self


class _Labelled(_Strict):
    labels: Labels = "from_dataset"

    @field_validator("labels")
    @classmethod
    def _indices_non_negative(cls, labels: Labels) -> Labels:
        if isinstance(labels, dict):
            negative = sorted(k for k in labels if k < 0)
            if negative:
                raise ValueError(f"model class indices start at 0, got {negative[0]}")
            if not labels:
                raise ValueError("labels: {} maps no class; give {index: class name} pairs or from_dataset")
        if isinstance(labels, list) and not labels:
            raise ValueError("labels: [] maps no class; list the model's class names in its order, or use from_dataset")
        return labels


class _Boxes(_Labelled):
    boxes: BoxEncoding = "xyxy"
    normalized: bool = False


class TorchvisionOutput(_Boxes):
    """torchvision's detection convention: one dict per image with ``boxes`` [K, 4], ``scores``, ``labels``."""

    format: Literal["torchvision"] = "torchvision"


class YoloOutput(_Boxes):
    """The raw head of an Ultralytics export, decoded and followed by class-aware NMS.

    ``layout: v8`` (YOLOv8/v11 and later): one tensor ``[N, 4 + C, A]``, boxes then class scores.
    ``layout: v5`` (YOLOv5/v7): ``[N, A, 5 + C]`` with objectness at index 4 (score = objectness × class).
    Defaults are Ultralytics' validation settings (score 0.001, IoU 0.7, 300 detections per image).
    """

    format: Literal["yolo"] = "yolo"
    layout: Literal["v8", "v5"] = "v8"
    boxes: BoxEncoding = "cxcywh"
    iou_threshold: float = Field(default=0.7, gt=0.0, le=1.0)
    score_threshold: float = Field(default=0.001, ge=0.0, lt=1.0)
    max_detections: int = Field(default=300, gt=0, le=100_000)


class DetrOutput(_Boxes):
    """Hugging Face DETR-family outputs: ``logits [N, Q, C + 1]`` (last = no object), ``pred_boxes [N, Q, 4]``.

    Scores are the softmax without the no-object class; boxes are normalised cx cy w h of the model input.
    """

    format: Literal["detr"] = "detr"
    boxes: BoxEncoding = "cxcywh"
    normalized: bool = True
    score_threshold: float = Field(default=0.0, ge=0.0, lt=1.0)
    max_detections: int = Field(default=100, gt=0, le=100_000)


class LogitsOutput(_Labelled):
    """A classifier's unnormalised scores ``[N, C]`` (or a dict/tuple whose ``logits`` or first item they are)."""

    format: Literal["logits"] = "logits"


class ProbabilitiesOutput(_Labelled):
    """A classifier's probabilities ``[N, C]`` (softmax already applied); fieldready uses their logarithm."""

    format: Literal["probabilities"] = "probabilities"


OutputConvention = Annotated[
    Union[TorchvisionOutput, YoloOutput, DetrOutput, LogitsOutput, ProbabilitiesOutput],
    Field(discriminator="format"),
]


def _class_list(classes: dict[int, str], limit: int = 8) -> str:
    items = [f"{i}: {name}" for i, name in sorted(classes.items())]
    return ", ".join(items[:limit]) + (f", … ({len(items)} in all)" if len(items) > limit else "")


def resolve_labels(
    labels: Labels,
    classes: dict[int, str],
    *,
    classification: bool,
    key: str = "output.labels",
    file: str | None = None,
) -> dict[int, int] | None:
    """Model class index → dataset category id, checked against the dataset's ``classes`` (id → name).

    ``from_dataset`` returns None: model class i is the i-th dataset class by category id, and the
    class count is checked once the model's output shows it. A classifier must cover every dataset
    class exactly once (its logits become the dataset's columns); a detector may map a subset, and its
    unmapped classes are dropped. A name or id the dataset lacks is a SpecError naming both sides.
    """
    if labels == "from_dataset":
        return None
    pairs = list(enumerate(labels)) if isinstance(labels, list) else sorted(labels.items())
    by_name: dict[str, list[int]] = {}
    for cid, name in classes.items():
        by_name.setdefault(name, []).append(cid)
    mapping: dict[int, int] = {}
    for index, target in pairs:
        if isinstance(target, bool):  # YAML yes/no: neither a name nor an id
            target = str(target).lower()
        if isinstance(target, int):
            if target not in classes:
                raise SpecError(f"model class {index} maps to category id {target}, which the dataset does not have; "
                                f"the dataset's classes are {_class_list(classes)}", key=key, file=file)
            mapping[index] = target
            continue
        ids = by_name.get(str(target), [])
        if len(ids) != 1:
            problem = "which the dataset does not have" if not ids else f"which names {len(ids)} dataset categories ({ids}); map by id"
            raise SpecError(f"model class {index} maps to {str(target)!r}, {problem}; the dataset's classes are "
                            f"{_class_list(classes)}", key=key, file=file)
        mapping[index] = ids[0]
    if classification:
        targets = list(mapping.values())
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise SpecError(f"a classifier maps each dataset class once, but {_class_list({t: classes[t] for t in twice})} "
                            "is named by several model classes", key=key, file=file)
        missing = sorted(set(classes) - set(targets))
        if missing:
            raise SpecError(f"the model's labels cover no class for {_class_list({t: classes[t] for t in missing})}; a "
                            f"classifier needs one model class per dataset class ({_class_list(classes)})", key=key, file=file)
    return mapping

"""The deployment-readiness spec as pydantic models: what a user may write, with unknown keys refused.

Cross-references (files that must exist, names that must resolve) are checked in ``checks.py``,
which has the dataset and the corruption registry at hand; this module only knows shapes and types.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fieldready.execution.models.convention_spec import InputConvention, OutputConvention

__all__ = [
    "SeverityRange",
    "Step",
    "Condition",
    "Subset",
    "Dataset",
    "CaptureSet",
    "Repeatability",
    "ModelInput",
    "ModelSpec",
    "OperatingPoint",
    "SeverityScope",
    "Criterion",
    "Signoff",
    "ReportSpec",
    "RunSpec",
    "Spec",
    "THRESHOLD_KINDS",
    "MODEL_NAME",
]

THRESHOLD_KINDS = ("at_least", "at_most", "max_drop", "max_drop_vs_baseline")

#: A model name is shown in charts (matplotlib reads ``$`` as mathtext), tables and file names:
#: ASCII letters, digits, space and ``_ - . +``, starting with a letter or digit, not ending with a
#: space, at most 64 characters.
MODEL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 _.+-]{0,62}[A-Za-z0-9_.+-])?$")
_MAX_SIDE = 16384  # pixels; a larger resize target cannot be held as a batch in memory

Side = Annotated[int, Field(gt=0, le=_MAX_SIDE)]


class _Strict(BaseModel):
    # NaN and ±inf (YAML .nan, .inf) are refused everywhere: every number of a spec is compared with
    # something, and a comparison with NaN silently passes or fails.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class SeverityRange(_Strict):
    """Severity points of a condition: an even range, explicit values, or ImageNet-C levels (one form)."""

    min: float | None = None
    max: float | None = None
    steps: int | None = Field(default=None, ge=1, le=50)
    values: list[float] | None = Field(default=None, min_length=1)
    levels: list[int] | None = Field(default=None, min_length=1)

    @field_validator("levels")
    @classmethod
    def _levels_in_range(cls, levels: list[int] | None) -> list[int] | None:
        for level in levels or []:
            if not 1 <= level <= 5:
                raise ValueError(f"ImageNet-C levels are 1..5, got {level}")
        return levels

    @model_validator(mode="after")
    def _one_form(self) -> "SeverityRange":
        forms = [
            name
            for name, given in (
                ("min/max", self.min is not None or self.max is not None),
                ("values", self.values is not None),
                ("levels", self.levels is not None),
            )
            if given
        ]
        if len(forms) != 1:
            raise ValueError("give exactly one of {min, max, steps}, {values: [...]} or {levels: [1..5]}")
        if forms == ["min/max"] and (self.min is None or self.max is None):
            raise ValueError("a range needs both min and max (and optionally steps, default 5)")
        return self


class Step(_Strict):
    """One corruption of a composition, at one severity (physical unit) or ImageNet-C level."""

    corruption: str
    severity: float | None = None
    level: int | None = Field(default=None, ge=1, le=5)

    @model_validator(mode="after")
    def _one_severity(self) -> "Step":
        if (self.severity is None) == (self.level is None):
            raise ValueError("give exactly one of severity (physical unit) or level (1..5)")
        return self


class Condition(_Strict):
    """A production condition: one corruption over severity points, a composition, or a preset."""

    name: str | None = None
    corruption: str | None = None
    severity: SeverityRange | float | None = None
    compose: list[Step] | None = Field(default=None, min_length=1)
    preset: str | None = None
    frequency: float = Field(default=0.0, ge=0.0, le=1.0)
    relative_to: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> "Condition":
        kinds = [k for k in ("corruption", "compose", "preset") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a condition has exactly one of corruption, compose or preset")
        if self.corruption is not None and self.severity is None:
            raise ValueError("a corruption condition needs a severity: {min, max, steps}, {values} or {levels}")
        if self.compose is not None and self.name is None:
            raise ValueError("a composed condition needs a name")
        if self.preset is not None and self.severity is not None:
            raise ValueError("a preset brings its own severities; remove severity")
        return self


class Subset(_Strict):
    """A deterministic random subset of the dataset."""

    size: int = Field(gt=0)
    seed: int = Field(default=0, ge=0)


class Dataset(_Strict):
    """Images and labels: COCO, YOLO or Pascal VOC (detection), class-per-folder (classification), or unlabelled ``images``.

    ``coco``: ``images`` folder + ``annotations`` instances JSON. ``yolo``: ``data``, an Ultralytics
    data.yaml (images and labels come from its ``split`` entry, ``val`` by default). ``voc``:
    ``images`` folder + ``annotations`` folder of XML files, ``classes`` optional. An unlabelled
    folder (raw production images) supports only label-free criteria: flip_rate for classification
    and consistency for detection, both against the model's own clean predictions.
    """

    # Which keys each format needs, for editors that read the JSON schema (the validator below decides).
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"format": {"const": "yolo"}}}, "then": {"required": ["data"]}, "else": {"required": ["images"]}},
        {"if": {"properties": {"format": {"enum": ["coco", "voc"]}}}, "then": {"required": ["annotations"]}},
    ]})

    format: Literal["coco", "yolo", "voc", "imagefolder", "images"]
    images: str | None = None
    annotations: str | None = None
    data: str | None = None
    split: Literal["val", "test", "train"] | None = None
    classes: list[str] | None = None
    subset: Subset | None = None

    @model_validator(mode="after")
    def _fields_of_format(self) -> "Dataset":
        if self.format == "yolo":
            if not self.data:
                raise ValueError("a yolo dataset needs data: path/to/data.yaml (Ultralytics' dataset YAML)")
            given = [k for k in ("images", "annotations", "classes") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"a yolo dataset takes its images, labels and class names from data.yaml; remove {', '.join(given)}")
            return self
        if self.data is not None or self.split is not None:
            raise ValueError("data and split are for format: yolo (an Ultralytics data.yaml)")
        if not self.images:
            raise ValueError(f"a {self.format} dataset needs images: path/to/image/folder")
        if self.format == "coco" and not self.annotations:
            raise ValueError("a coco dataset needs annotations: path/to/instances.json")
        if self.format == "voc" and not self.annotations:
            raise ValueError("a voc dataset needs annotations: path/to/folder/of/xml/files")
        return self


#: How fieldready feeds a model (size, resize mode, colour order, value range, mean/std, dtype); one
#: definition, shared with the execution stage's ``conventions`` (it imports no torch).
ModelInput = InputConvention


class OperatingPoint(_Strict):
    """A detector's score threshold: fixed (one number, or one per class name), or a rule applied once on clean data.

    ``rule: max_f1`` picks the threshold with the highest F1 on the clean images; ``rule:
    min_precision`` with ``precision: x`` the lowest threshold whose clean precision is >= x (the most
    recall at that precision). Omitted on a model: ``rule: max_f1``.
    """

    score_threshold: float | dict[str, float] | None = None
    rule: Literal["max_f1", "min_precision"] | None = None
    precision: float | None = Field(default=None, gt=0.0, le=1.0)

    @field_validator("score_threshold", mode="before")
    @classmethod
    def _fraction(cls, value: object) -> object:
        """A score is in [0, 1]: 1.5 would report nothing and −0.1 everything, silently; true is not 1."""
        def bad(v: object) -> bool:
            return isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0  # NaN fails too

        if isinstance(value, dict):
            wrong = {k: v for k, v in value.items() if bad(v)}
            if wrong:
                name, v = next(iter(wrong.items()))
                raise ValueError(f"score_threshold of class {name!r} must be a number in [0, 1], got {v!r}")
        elif value is not None and bad(value):
            raise ValueError(f"score_threshold must be a number in [0, 1] (a detection score) or {{class: number}}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> "OperatingPoint":
        if (self.score_threshold is None) == (self.rule is None):
            raise ValueError("give exactly one of score_threshold: <number or {class: number}> or rule: max_f1 | min_precision")
        if self.rule == "min_precision" and self.precision is None:
            raise ValueError("rule: min_precision needs precision: <fraction>, e.g. precision: 0.9")
        if self.rule != "min_precision" and self.precision is not None:
            raise ValueError("precision: is read only with rule: min_precision; remove it or set that rule")
        if isinstance(self.score_threshold, dict) and not self.score_threshold:
            raise ValueError("score_threshold per class needs at least one {class name: threshold}")
        return self


class ModelSpec(_Strict):
    """A candidate model of a registered kind: a TorchScript file, a Python entry point ``module:function``, ….

    ``kind`` and ``options`` are checked against the model-kind registry (``fieldready.execution.models.kinds``)
    after the spec's plugins are loaded, since a plugin or an installed package may add a kind.
    """

    name: str = Field(min_length=1, json_schema_extra={"pattern": MODEL_NAME.pattern})
    kind: str = Field(min_length=1)
    path: str | None = None
    entrypoint: str | None = None
    options: dict = Field(default_factory=dict)
    #: detection only: the score threshold the metrics at the operating point, the confusion counts and
    #: the gallery use; omitted: rule max_f1 on the clean images (see ``OperatingPoint``).
    operating_point: OperatingPoint | None = None
    input: InputConvention = Field(default_factory=InputConvention)
    #: What the model returns (``torchvision``, ``yolo``, ``detr``, ``logits``, ``probabilities``) and how its
    #: classes map to the dataset's; omitted: torchvision dicts with category ids, or logits in class order.
    output: OutputConvention | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not MODEL_NAME.fullmatch(name):
            raise ValueError(
                f"model name {name!r} may use only ASCII letters, digits, space and _ - . + (starting with a "
                "letter or digit, at most 64 characters), since it is shown in charts, tables and file names"
            )
        return name


class CaptureSet(_Strict):
    """Unlabelled repeated captures: each subfolder of ``images`` one part or scene, each video one sequence.

    ``groups: folder``: the images of ``images/<group>/`` are captures of the same thing (at least
    two per group). Video files (``.mp4``, ``.avi``, …) anywhere below ``images`` are sampled at
    ``fps`` frames per second; consecutive sampled frames are compared.
    """

    format: Literal["images"] = "images"
    images: str = Field(min_length=1)
    groups: Literal["folder"] = "folder"
    fps: float = Field(default=2.0, gt=0.0, le=1000.0)


class Repeatability(_Strict):
    """Repeatability on real captures: the captures, and the IoU at which two detections are the same object."""

    dataset: CaptureSet
    iou: float = Field(default=0.5, gt=0.0, le=1.0)


class SeverityScope(_Strict):
    """Restricts a criterion to some severity points of its condition."""

    min: float | None = None
    max: float | None = None
    levels: list[int] | None = None


class Criterion(_Strict):
    """An acceptance criterion: a metric on a scope compared with one threshold."""

    id: str | None = None
    description: str | None = None
    metric: str
    on: str = "clean"
    class_: str | None = Field(default=None, alias="class")
    severities: SeverityScope | None = None
    at_least: float | None = None
    at_most: float | None = None
    # Drops are fractions in [0, 1]; checked by a validator (not Field bounds) to hint at percentages.
    max_drop: float | None = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 1})
    max_drop_vs_baseline: float | None = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 1})
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    severity: Literal["blocking", "warning"] = "blocking"

    @field_validator("max_drop", "max_drop_vs_baseline")
    @classmethod
    def _drop_is_fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 1.0:
            hint = f"; write {value / 100:g} for {value:g} %" if 1.0 < value <= 100.0 else ""
            raise ValueError(f"a drop is a fraction in [0, 1], got {value:g}{hint}")
        return value

    @model_validator(mode="after")
    def _one_threshold(self) -> "Criterion":
        given = [k for k in THRESHOLD_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one threshold: {', '.join(THRESHOLD_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in THRESHOLD_KINDS if getattr(self, k) is not None)

    @property
    def threshold(self) -> float:
        return float(getattr(self, self.kind))


class Signoff(_Strict):
    """A sign-off line of the report."""

    role: str
    name: str | None = None


class SignSpec(_Strict):
    """Paths of the signing key and certificate (never secrets inline)."""

    key: str
    cert: str


class ReportSpec(_Strict):
    """How the report looks and who signs it off."""

    title: str | None = None
    signoff: list[Signoff] = Field(default_factory=list)
    page_size: Literal["A4", "Letter"] = "A4"
    template_dir: str | None = None
    sign: SignSpec | None = None


class RunSpec(_Strict):
    """Execution settings: device, seed, batch size, CPU threads and executor (local or a Ray cluster)."""

    device: str = "auto"
    seed: int = Field(default=0, ge=0)  # seeds NumPy's SeedSequence, which takes non-negative integers
    batch_size: int | Literal["auto"] = "auto"
    bootstrap: int = Field(default=1000, ge=0, le=100000)
    # CPU threads of torch's intra-op pool; omitted: the free physical cores less one (execution/device.py)
    threads: int | None = Field(default=None, ge=1, le=1024)
    executor: Literal["local", "ray"] = "local"
    address: str | None = None  # a Ray cluster (ray://host:10001 or auto); omitted: RAY_ADDRESS, else a local cluster

    @field_validator("device")
    @classmethod
    def _device_form(cls, device: str) -> str:
        ok = device in ("auto", "cpu", "cuda", "mps") or (
            device.startswith("cuda:") and device.split(":", 1)[1].isdigit()
        )
        if not ok:
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
        return device

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, batch_size: int | str) -> int | str:
        if isinstance(batch_size, int) and batch_size < 1:
            raise ValueError("batch_size must be a positive integer or 'auto'")
        return batch_size


class Spec(_Strict):
    """A whole deployment-readiness spec (version 1)."""

    fieldready: Literal[1]
    name: str = Field(min_length=1)
    task: Literal["detection", "classification"]
    dataset: Dataset
    models: list[ModelSpec] = Field(min_length=1)
    baseline: str | None = None
    primary_metric: str | None = None
    plugins: list[str] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    criteria: list[Criterion] = Field(default_factory=list)
    repeatability: Repeatability | None = None
    report: ReportSpec = Field(default_factory=ReportSpec)
    run: RunSpec = Field(default_factory=RunSpec)

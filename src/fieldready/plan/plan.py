"""compile_plan: a validated spec → countable units with exact corruption parameters and a stable hash.

A *point* is one severity point of one condition (or ``clean``): the exact list of corruption steps
applied to every image. A *unit* is one model at one point. Per-image seeds are derived from
(plan seed, point key, image id), so a number never depends on batch size, order or the other
points of the plan. ``plan_hash`` covers everything that determines the results: the data hash,
each model's hash (its file; for ``python`` models also the entry point's source and the files its
options name), the plugin modules' source, the points, the seed and the criteria — never paths or
YAML formatting.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from fieldready import __version__, corruptions
from fieldready.data.captures import CaptureSet, load_captures
from fieldready.data.dataset import Dataset, load_spec_dataset
from fieldready.errors import DataError, PlanError, SpecError
from fieldready.evaluation.metrics.registry import PRIMARY
from fieldready.execution.models.kinds import get_kind
from fieldready.plan.samplesize import sample_size_warnings
from fieldready.spec.checks import condition_name
from fieldready.spec.loader import LoadedSpec
from fieldready.spec.models import Condition, ModelSpec
from fieldready.spec.presets import expand_conditions
from fieldready.usercode import source_files

__all__ = [
    "Step",
    "Point",
    "ModelEntry",
    "PluginEntry",
    "ConditionEntry",
    "TestPlan",
    "PlanSummary",
    "compile_plan",
    "point_key",
    "condition_of",
    "spec_dataset",
    "file_sha256",
    "module_files",
    "model_entry",
    "plugin_entry",
    "option_files",
]

CLEAN = "clean"
#: The point key of predictions on the repeated captures of ``repeatability:`` (never corrupted).
REPEAT = "repeatability"


class _Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedModel(_Summary):
    name: str
    kind: str
    hash: str
    files: dict[str, str]


class PlannedPlugin(_Summary):
    module: str
    hash: str
    files: dict[str, str]


class PlannedPoint(_Summary):
    key: str
    label: str
    steps: list[dict[str, Any]]


class PlannedCondition(_Summary):
    name: str
    frequency: float
    family: str
    points: list[PlannedPoint]


class PlannedUnit(_Summary):
    model: str
    point: str


class PlanCost(_Summary):
    forward_passes: int
    corrupted_images: int
    decoded_images: int
    megapixels_corrupted: float


class PlanSummary(_Summary):
    """What ``fieldready plan`` prints (``--json``: this model's JSON)."""

    name: str
    task: str
    plan_hash: str
    spec_hash: str
    data_hash: str
    images: int
    models: list[PlannedModel]
    plugins: list[PlannedPlugin]
    conditions: list[PlannedCondition]
    unit_count: int
    units: list[PlannedUnit]
    seed: int
    batch_size: int
    cost: PlanCost
    warnings: list[str]


@dataclass(frozen=True)
class Step:
    """One corruption at one severity, in the corruption's physical unit."""

    corruption: str
    severity: float
    level: int | None = None


@dataclass(frozen=True)
class Point:
    """A severity point of a condition: the steps every image goes through, and a stable key."""

    key: str
    condition: str
    steps: tuple[Step, ...]
    label: str
    severity: float | None = None
    level: int | None = None
    relative_to: int | None = None

    @property
    def geometric(self) -> bool:
        return any(corruptions.get(s.corruption).geometric for s in self.steps)


@dataclass(frozen=True)
class ModelEntry:
    """A candidate model of the plan with the hash of everything that determines its predictions.

    ``parts`` names each hashed piece (the model file, the entry point's source files, the files its
    options name) with its SHA-256, so a changed model can be explained piece by piece.
    """

    spec: ModelSpec
    file_hash: str
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class PluginEntry:
    """A plugin module of the spec (custom corruptions) with the hash of its source file(s)."""

    module: str
    hash: str
    parts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConditionEntry:
    """A condition of the plan: its name, production frequency, family and points."""

    name: str
    frequency: float
    family: str
    corruptions: tuple[str, ...]
    unit: str
    points: tuple[Point, ...]


@dataclass
class TestPlan:
    """What ``execute`` runs and what ``evaluate`` reads: the compiled, hashed plan."""

    __test__ = False  # not a pytest test class, despite the name

    loaded: LoadedSpec
    dataset: Dataset
    models: list[ModelEntry]
    conditions: list[ConditionEntry]
    points: list[Point]
    seed: int
    batch_size: int
    data_hash: str
    plan_hash: str
    primary_metric: str
    warnings: list[str] = field(default_factory=list)
    plugins: list[PluginEntry] = field(default_factory=list)
    core_hash: str = ""
    captures: CaptureSet | None = None  # the spec's repeatability captures, if any

    @property
    def spec(self):  # noqa: ANN201 - the Spec model
        return self.loaded.spec

    @property
    def units(self) -> list[tuple[str, str]]:
        """(model name, point key) for every evaluation unit."""
        return [(m.name, p.key) for m in self.models for p in self.points]

    def point(self, key: str) -> Point:
        return next(p for p in self.points if p.key == key)

    def identity(self) -> dict:
        """What a result store checks a resume against: the plan's core hash, and per model and plugin
        its hash and hashed files (models also their input settings), to name what changed."""
        return {
            "core": self.core_hash,
            "models": {
                m.name: {"hash": m.file_hash, "input": m.spec.input.model_dump(mode="json"), **_output_identity(m.spec),
                         "parts": dict(m.parts)}
                for m in self.models
            },
            "plugins": {p.module: {"hash": p.hash, "parts": dict(p.parts)} for p in self.plugins},
        }

    def describe(self) -> PlanSummary:
        """The plan as ``fieldready plan`` shows it: counts, conditions, units, cost and warnings."""
        n = len(self.dataset.records)
        pixels = sum(r.width * r.height for r in self.dataset.records)
        corrupted_points = len(self.points) - 1
        return PlanSummary(
            name=self.spec.name,
            task=self.spec.task,
            plan_hash=self.plan_hash,
            spec_hash=self.loaded.spec_hash,
            data_hash=self.data_hash,
            images=n,
            models=[PlannedModel(name=m.name, kind=m.spec.kind, hash=m.file_hash, files=dict(m.parts)) for m in self.models],
            plugins=[PlannedPlugin(module=p.module, hash=p.hash, files=dict(p.parts)) for p in self.plugins],
            conditions=[
                PlannedCondition(
                    name=c.name,
                    frequency=c.frequency,
                    family=c.family,
                    points=[PlannedPoint(key=p.key, label=p.label, steps=[asdict(s) for s in p.steps]) for p in c.points],
                )
                for c in self.conditions
            ],
            unit_count=len(self.units),
            units=[PlannedUnit(model=m, point=p) for m, p in self.units],
            seed=self.seed,
            batch_size=self.batch_size,
            cost=PlanCost(
                forward_passes=n * len(self.points) * len(self.models),
                corrupted_images=n * corrupted_points,
                decoded_images=n,
                megapixels_corrupted=round(pixels * corrupted_points / 1e6, 3),
            ),
            warnings=list(self.warnings),
        )

    def summary(self) -> dict[str, Any]:
        """``describe()`` as plain JSON data (``fieldready plan --json``)."""
        return self.describe().model_dump(mode="json")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def spec_dataset(loaded: LoadedSpec) -> Dataset:
    """The dataset a spec declares (index and labels only; images are decoded by the runner)."""
    return load_spec_dataset(loaded.spec.dataset, task=loaded.spec.task, resolve=loaded.resolve)


def compile_plan(loaded: LoadedSpec) -> TestPlan:
    """Turn a validated spec into a TestPlan (reads the dataset index and hashes data and model files)."""
    spec = loaded.spec
    ds = spec.dataset
    dataset = spec_dataset(loaded)
    if not dataset.records:
        raise PlanError(f"{loaded.resolve(ds.images or ds.data or '.')}: the dataset has no images")
    if dataset.task != spec.task:
        raise SpecError(f"a {ds.format} dataset is for {dataset.task}, but task is {spec.task}", file=loaded.path, key="dataset.format")
    models = [model_entry(loaded, m) for m in spec.models]
    plugins = [plugin_entry(loaded, module) for module in spec.plugins]
    conditions = [_condition_entry(c) for c in expand_conditions(spec.conditions)]
    clean = Point(key=CLEAN, condition=CLEAN, steps=(), label="clean")
    points = [clean] + [p for c in conditions for p in c.points]
    data_hash = _data_hash(loaded, dataset)
    captures = _captures(loaded)
    primary = spec.primary_metric or PRIMARY[spec.task]
    batch_size = _batch_size(spec.run.batch_size, dataset)
    identity = {
        "fieldready_plan": 1,
        "version": __version__.split(".")[0],
        "task": spec.task,
        "data_hash": data_hash,
        "models": [
            {"name": m.name, "hash": m.file_hash, "input": m.spec.input.model_dump(mode="json"), **_output_identity(m.spec)}
            for m in models
        ],
        "plugins": [{"module": p.module, "hash": p.hash} for p in plugins],
        "points": [{"key": p.key, "steps": [asdict(s) for s in p.steps], "relative_to": p.relative_to} for p in points],
        "frequencies": {c.name: c.frequency for c in conditions},
        "criteria": [c.model_dump(mode="json", by_alias=True) for c in spec.criteria],
        "baseline": spec.baseline,
        "primary_metric": primary,
        "seed": spec.run.seed,
        "bootstrap": spec.run.bootstrap,
        **_repeat_identity(spec, captures),
    }
    plan_hash = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    # Everything but the models' own hashes and input settings: two plans with the same core differ
    # only in models, so a store can drop a changed model's predictions and keep the others'.
    core = {**identity, "models": [m.name for m in models]}
    core_hash = hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()
    return TestPlan(
        loaded=loaded,
        dataset=dataset,
        models=models,
        conditions=conditions,
        points=points,
        seed=spec.run.seed,
        batch_size=batch_size,
        data_hash=data_hash,
        plan_hash=plan_hash,
        primary_metric=primary,
        warnings=list(loaded.warnings) + sample_size_warnings(spec, dataset),
        plugins=plugins,
        core_hash=core_hash,
        captures=captures,
    )


def _captures(loaded: LoadedSpec) -> CaptureSet | None:
    """The repeated captures a spec's ``repeatability:`` names (indexed and checked), or None."""
    section = loaded.spec.repeatability
    if section is None:
        return None
    captures = load_captures(loaded.resolve(section.dataset.images), fps=section.dataset.fps)
    # a criterion on figures the captures cannot give would be judged on nothing (INCONCLUSIVE, no reason shown)
    needs = {"repeatability": ("group", "part subfolders with 2 or more captures each"),
             "agreement": ("group", "part subfolders with 2 or more captures each"),
             "video_flip_rate": ("video", "video files")}
    for i, criterion in enumerate(loaded.spec.criteria):
        kind, what = needs.get(criterion.metric, (None, ""))
        if kind is not None and not captures.of_kind(kind):
            raise PlanError(f"criteria[{i}]: {criterion.metric} needs {what}, and {captures.root} has none; "
                            f"add them to repeatability.dataset.images or remove the criterion")
    return captures


def _repeat_identity(spec, captures: CaptureSet | None) -> dict:  # noqa: ANN001 - the Spec model
    """The captures' bytes and the matching IoU as they enter the plan hash; none: nothing (older plans keep their hash)."""
    if captures is None:
        return {}
    return {"repeatability": {"captures": captures.digest, "iou": spec.repeatability.iou}}


def _condition_entry(condition: Condition) -> ConditionEntry:
    name = condition_name(condition)
    if condition.compose is not None:
        steps = tuple(
            Step(s.corruption, s.severity if s.severity is not None else corruptions.get(s.corruption).level(s.level), s.level)
            for s in condition.compose
        )
        label = " + ".join(f"{s.corruption} {_fmt(s.severity)}" for s in steps)
        point = Point(point_key(name, steps), name, steps, label, relative_to=condition.relative_to)
        families = {corruptions.get(s.corruption).family for s in steps}
        family = families.pop() if len(families) == 1 else "composite"
        return ConditionEntry(name, condition.frequency, family, tuple(s.corruption for s in steps), "", (point,))
    corruption = corruptions.get(condition.corruption)  # type: ignore[arg-type]
    sev = condition.severity
    points = []
    for value, level in dict.fromkeys(_severity_points(corruption, sev)):
        steps = (Step(corruption.name, value, level),)
        label = f"level {level}" if level else f"{_fmt(value)}"
        points.append(
            Point(
                point_key(name, steps),
                name,
                steps,
                label,
                severity=value,
                level=level,
                relative_to=condition.relative_to,
            )
        )
    return ConditionEntry(name, condition.frequency, corruption.family, (corruption.name,), corruption.unit, tuple(points))


def _severity_points(corruption: corruptions.Corruption, sev) -> list[tuple[float, int | None]]:  # noqa: ANN001
    if isinstance(sev, (int, float)):
        return [(float(sev), None)]
    if sev.levels is not None:
        return [(corruption.level(level), level) for level in sev.levels]
    if sev.values is not None:
        return [(float(v), None) for v in sev.values]
    steps = sev.steps or 5
    values = np.linspace(sev.min, sev.max, steps) if steps > 1 else np.array([sev.min])
    return [(round(float(v), 10), None) for v in values]


def point_key(condition: str, steps: tuple[Step, ...]) -> str:
    """The stable key of a point (its name in the result store): the condition, then the exact steps.

    >>> point_key("fog", (Step("fog", 0.5),))
    'fog|fog=0.5'
    """
    return f"{condition}{_KEY_SEPARATOR}{_steps_key(steps)}"


def condition_of(key: str) -> str:
    """The condition a point key belongs to (``clean`` for the clean point)."""
    return key.partition(_KEY_SEPARATOR)[0]


_KEY_SEPARATOR = "|"


def _steps_key(steps: tuple[Step, ...]) -> str:
    return "+".join(f"{s.corruption}={s.severity!r}" for s in steps)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _output_identity(model: ModelSpec) -> dict:
    """A declared ``output:`` block as it enters the plan hash (decoding and NMS change the predictions); none: nothing."""
    return {"output": model.output.model_dump(mode="json")} if model.output is not None else {}


def model_entry(loaded: LoadedSpec, model: ModelSpec) -> ModelEntry:
    """Hash a model: its file, and for kinds that run user code (``python``) the entry point's source and the files its options name."""
    if not get_kind(model.kind).entrypoint:  # a model file alone determines the predictions
        digest = _sha256_or_error(loaded.resolve(model.path), f"model {model.name!r}")  # type: ignore[arg-type]
        return ModelEntry(model, digest, {f"{model.path} (model file)": digest})
    module = str(model.entrypoint).partition(":")[0]
    parts = {f"{rel} (entry point source)": digest for rel, digest in _source_hashes(loaded.root, module, f"model {model.name!r}")}
    if model.path is not None:
        parts[f"{model.path} (model file)"] = _sha256_or_error(loaded.resolve(model.path), f"model {model.name!r}")
    for key, path in option_files(loaded, model.options):
        parts[f"{_relative(loaded, path)} (options.{key})"] = _sha256_or_error(path, f"model {model.name!r} (options.{key})")
    ident = {"entrypoint": model.entrypoint, "options": model.options, "parts": parts}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return ModelEntry(model, digest, parts)


def plugin_entry(loaded: LoadedSpec, module: str) -> PluginEntry:
    """Hash a plugin module: every source file it is made of, so an edited plugin is a different run."""
    parts = {f"{rel} (plugin source)": digest for rel, digest in _source_hashes(loaded.root, module, f"plugin {module!r}")}
    digest = hashlib.sha256(json.dumps({"module": module, "parts": parts}, sort_keys=True).encode()).hexdigest()
    return PluginEntry(module, digest, parts)


def module_files(root: Path, module: str) -> list[Path]:
    """The source files of ``module`` (a name or a plugin path) as the spec folder ``root`` provides it.

    Found without importing it, as ``fieldready.usercode`` would load it: a single-file module is its
    ``.py`` file; a module inside a package (or a package) is every ``.py`` file of the top-level
    package folder, since its code may import any of them. Empty for an installed module.
    """
    return source_files(root, module)


def _source_hashes(root: Path, module: str, owner: str) -> list[tuple[str, str]]:
    """(path relative to the spec folder, SHA-256) of a module's source, or of the installed module."""
    files = module_files(root, module)
    if files:
        return [(Path(os.path.relpath(p, root)).as_posix(), _sha256_or_error(p, owner)) for p in files]
    return [(f"installed module {module}", _installed_identity(module))]


def _installed_identity(module: str) -> str:
    """A module found outside the spec folder: its distribution's version and its top-level file's hash."""
    import importlib.metadata
    import importlib.util

    top = module.split(".")[0]
    ident: dict[str, Any] = {"module": module}
    try:
        found = importlib.util.find_spec(top)  # a top-level name: a path search, no code runs
    except (ImportError, ValueError):
        found = None
    if found is not None and found.origin and Path(found.origin).is_file():
        ident["origin"] = file_sha256(Path(found.origin))
    dists = importlib.metadata.packages_distributions().get(top, [])
    ident["distributions"] = {d: importlib.metadata.version(d) for d in sorted(set(dists))}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def option_files(loaded: LoadedSpec, options: Any, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(key path, file) for every option value — nested ones too — that names an existing file."""
    items = options.items() if isinstance(options, dict) else enumerate(options) if isinstance(options, list) else ()
    for key, value in items:
        name = f"{prefix}.{key}" if prefix and isinstance(key, str) else f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, (dict, list)):
            yield from option_files(loaded, value, name)
        elif isinstance(value, str) and value:
            try:
                path = loaded.resolve(value)
                if path.is_file():
                    yield name, path
            except (OSError, ValueError):  # not a path at all (NUL byte, too long): an ordinary string option
                continue


def _relative(loaded: LoadedSpec, path: Path) -> str:
    try:
        return path.relative_to(loaded.root).as_posix()
    except ValueError:
        return str(path)


def _sha256_or_error(path: Path, owner: str) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the file of {owner} ({exc.strerror or exc}); check the path") from None


def _data_hash(loaded: LoadedSpec, dataset: Dataset) -> str:
    """Hash of image bytes (by path relative to the image root), labels and the annotation file."""
    h = hashlib.sha256()
    root = loaded.resolve(loaded.spec.dataset.images or ".")  # yolo: image paths relative to the spec
    for record in dataset.records:
        try:
            rel = Path(record.path).relative_to(root).as_posix()
        except ValueError:
            rel = Path(record.path).name
        try:
            digest = file_sha256(Path(record.path))
        except OSError as exc:
            raise DataError(f"{record.path}: cannot read image ({exc})") from None
        h.update(f"{record.image_id}\x1f{rel}\x1f{record.label}\x1f{digest}\n".encode())
    if dataset.annotation_digest:  # every annotation file the loader read (COCO: the file's SHA-256, as before)
        h.update(dataset.annotation_digest.encode())
    return h.hexdigest()


def _batch_size(setting: int | str, dataset: Dataset) -> int:
    """``auto``: about 16 megapixels of float32 per batch (~200 MB with the corrupted copy), 1..256 images."""
    if isinstance(setting, int):
        return setting
    largest = max(r.width * r.height for r in dataset.records)
    return int(max(1, min(256, (16_000_000 // max(largest, 1)))))

"""Cross-reference checks of a parsed spec: files exist, names resolve, severities are in range.

Runs after the pydantic shape check, with the corruption registry and the dataset's class list at
hand; every problem is located at its key so the user sees ``file:line:col: key: message``.
"""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from fieldready import corruptions
from fieldready.data.dataset import spec_class_names
from fieldready.errors import CorruptionError, DataError, SpecError, SpecErrors
from fieldready.evaluation.metrics.registry import TASKS, MetricDef, lookup, metrics_for
from fieldready.data.coco import coco_classes
from fieldready.execution.models.convention_spec import CLASSIFICATION_FORMATS, DETECTION_FORMATS, resolve_labels
from fieldready.execution.models.kinds import find_kind
from fieldready.execution.models.kinds.registry import unknown_kind
from fieldready.spec.loaded import LoadedSpec
from fieldready.spec.presets import expand_conditions, preset_names
from fieldready.usercode import UserCodeError, load_plugin

__all__ = ["check_spec", "import_plugins", "dataset_classes", "condition_name", "threshold_problem", "unknown_metric"]


def condition_name(condition) -> str:  # noqa: ANN001 - a spec Condition
    """The name a condition is referred to by: its ``name``, else its corruption."""
    return condition.name or condition.corruption or condition.preset or "?"


def import_plugins(loaded: LoadedSpec) -> list[SpecError]:
    """Load the plugin modules the spec lists (custom corruptions), each by its file's path.

    Nothing else beside the spec is imported and the spec's folder never goes in front of
    ``sys.path`` (see ``fieldready.usercode``); a failure is located at its ``plugins`` entry.
    """
    errors = []
    for i, entry in enumerate(loaded.spec.plugins):
        try:
            load_plugin(loaded.root, entry)
        except UserCodeError as exc:
            errors.append(loaded.located.error(("plugins", i), f"cannot import plugin module {entry!r}: {exc.message}"))
    return errors


def dataset_classes(loaded: LoadedSpec) -> list[str] | None:
    """Class names of the dataset, read cheaply by its format's reader; None if unreadable."""
    ds = loaded.spec.dataset
    if ds.classes:
        return list(ds.classes)
    return spec_class_names(ds, task=loaded.spec.task, resolve=loaded.resolve)


def check_spec(loaded: LoadedSpec) -> list[str]:
    """Raise SpecErrors with every cross-reference problem; return warnings (not errors)."""
    spec, loc = loaded.spec, loaded.located
    errors: list[SpecError] = import_plugins(loaded)
    errors += _check_paths(loaded)
    # the built-in labelled formats serve one task; the plan would refuse the mismatch only after validate said ok
    serves = {"coco": "detection", "voc": "detection", "yolo": "detection", "imagefolder": "classification"}.get(spec.dataset.format)
    if serves is not None and serves != spec.task:
        errors.append(loc.error(("dataset", "format"), f"a {spec.dataset.format} dataset is for {serves}, but task is "
                                                       f"{spec.task}; change task or give a {spec.task} dataset"))

    errors += _check_models(loaded)
    errors += _check_outputs(loaded)
    model_names = [m.name for m in spec.models]
    for i, name in enumerate(model_names):
        if name in model_names[:i]:
            errors.append(loc.error(("models", i, "name"), f"model name {name!r} is used twice; names must be unique"))
    if spec.baseline is not None and spec.baseline not in model_names:
        errors.append(loc.error(("baseline",), _unknown("model", spec.baseline, model_names)))

    if spec.primary_metric is not None:
        m = lookup(spec.task, spec.primary_metric)
        if m is None:
            errors.append(loc.error(("primary_metric",), unknown_metric(spec.task, spec.primary_metric)))
        elif m.scope != "unit":
            units = [r.name for r in metrics_for(spec.task, scopes=("unit",), criterion=True)]
            errors.append(loc.error(("primary_metric",), _unknown("metric", spec.primary_metric, units)))

    condition_names = _check_conditions(loaded, errors)
    errors += _check_criteria(loaded, condition_names, model_names)
    if errors:
        raise SpecErrors(errors)
    return []


def _check_models(loaded: LoadedSpec) -> list[SpecError]:
    """Each model's kind is registered, has the fields it needs, and its options fit the kind's schema."""
    loc = loaded.located
    errors = []
    for i, model in enumerate(loaded.spec.models):
        kind = find_kind(model.kind)
        if kind is None:
            errors.append(loc.error(("models", i, "kind"), unknown_kind(model.kind)))
            continue
        errors += _check_operating_point(loaded, i, model)
        problem = kind.field_problem(model)
        if problem is not None:
            errors.append(loc.error(("models", i), problem))
        try:
            kind.options.model_validate(model.options)
        except ValidationError as exc:
            for err in exc.errors():
                where = ("models", i, "options", *err["loc"])
                what = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
                errors.append(loc.error(where, f"{what} for a {kind.name} model" + (
                    f" (it takes {', '.join(kind.options.model_fields)})" if kind.options.model_fields else
                    " (it takes no options)" if err["type"] == "extra_forbidden" else "")))
    return errors


def _check_operating_point(loaded: LoadedSpec, i: int, model) -> list[SpecError]:  # noqa: ANN001 - a spec ModelSpec
    """A model's operating_point: detection only, a rule needs labels, per-class thresholds name every class."""
    op, spec, loc = model.operating_point, loaded.spec, loaded.located
    path = ("models", i, "operating_point")
    if op is None:
        return []
    if spec.task != "detection":
        return [loc.error(path, f"model {model.name!r}: operating_point is for detection models; remove it")]
    if op.rule is not None and spec.dataset.format == "images":
        return [loc.error((*path, "rule"), f"model {model.name!r}: rule {op.rule} chooses the threshold on labelled "
                          "clean images, but dataset.format is 'images' (unlabelled); give score_threshold instead")]
    if isinstance(op.score_threshold, dict):
        classes = dataset_classes(loaded)
        if classes is not None:
            unknown = [c for c in op.score_threshold if c not in classes]
            if unknown:
                return [loc.error((*path, "score_threshold", unknown[0]),
                                  f"model {model.name!r}: " + _unknown("class", unknown[0], classes))]
            missing = [c for c in classes if c not in op.score_threshold]
            if missing:
                return [loc.error((*path, "score_threshold"), f"model {model.name!r}: per-class score_threshold has no "
                                  f"threshold for {', '.join(missing)}; give every class one, or one number for all")]
    return []


def _check_outputs(loaded: LoadedSpec) -> list[SpecError]:
    """Each declared ``output:`` fits the task, and its ``labels`` name classes the dataset has (both sides named)."""
    spec, loc = loaded.spec, loaded.located
    errors: list[SpecError] = []
    classes: dict[int, str] | None = None
    for i, model in enumerate(spec.models):
        output = model.output
        if output is None:
            continue
        allowed = CLASSIFICATION_FORMATS if spec.task == "classification" else DETECTION_FORMATS
        if output.format not in allowed:
            errors.append(loc.error(("models", i, "output", "format"), f"output format {output.format!r} is for "
                                    f"{'detection' if spec.task == 'classification' else 'classification'}; a {spec.task} "
                                    f"model's output is one of {', '.join(allowed)}"))
            continue
        if output.labels == "from_dataset" or spec.dataset.format == "images":
            continue
        if classes is None:
            classes = _dataset_class_ids(loaded) or {}
        if not classes:
            continue  # unreadable dataset: its loader names the problem
        try:
            resolve_labels(output.labels, classes, classification=spec.task == "classification")
        except SpecError as exc:
            errors.append(loc.error(("models", i, "output", "labels"), exc.message))
    return errors


def _dataset_class_ids(loaded: LoadedSpec) -> dict[int, str] | None:
    """The dataset's category id → name as its loader numbers them (COCO's own ids, VOC from 1, others from 0)."""
    names = dataset_classes(loaded)
    if names is None:
        return None
    ds = loaded.spec.dataset
    if ds.format == "coco" and not ds.classes:
        try:
            return coco_classes(loaded.resolve(ds.annotations))  # type: ignore[arg-type]
        except DataError:
            return None
    start = 1 if ds.format == "voc" else 0
    return {start + k: name for k, name in enumerate(names)}


def _check_paths(loaded: LoadedSpec) -> list[SpecError]:
    spec, loc = loaded.spec, loaded.located
    errors = []
    ds = spec.dataset
    for key, kind in (("images", "folder"), ("annotations", "folder" if ds.format == "voc" else "file"), ("data", "file")):
        value = getattr(ds, key)
        found = value is not None and (loaded.resolve(value).is_dir() if kind == "folder" else loaded.resolve(value).is_file())
        if value is not None and not found:
            errors.append(loc.error(("dataset", key), f"{kind} not found: {loaded.resolve(value)}; paths are relative to the spec"))
    for i, model in enumerate(spec.models):
        if model.path is not None and not loaded.resolve(model.path).is_file():
            errors.append(
                loc.error(("models", i, "path"), f"model file not found: {loaded.resolve(model.path)}; paths are relative to the spec")
            )
    for key in ("key", "cert"):
        sign = spec.report.sign
        if sign is not None and not loaded.resolve(getattr(sign, key)).is_file():
            errors.append(loc.error(("report", "sign", key), f"file not found: {loaded.resolve(getattr(sign, key))}"))
    return errors


def _check_conditions(loaded: LoadedSpec, errors: list[SpecError]) -> list[str]:
    spec, loc = loaded.spec, loaded.located
    names: list[str] = []
    total = 0.0
    for i, condition in enumerate(spec.conditions):
        path = ("conditions", i)
        total += condition.frequency
        if condition.preset is not None:
            if condition.preset not in preset_names():
                errors.append(loc.error((*path, "preset"), _unknown("preset", condition.preset, preset_names())))
                continue
            try:
                expanded = expand_conditions([condition])
            except CorruptionError as exc:
                errors.append(loc.error((*path, "preset"), str(exc)))
                continue
            for sub in expanded:
                errors += _check_corruption_condition(loaded, sub, path)
                if condition_name(sub) in names:
                    errors.append(loc.error(path, f"preset {condition.preset!r} adds condition {condition_name(sub)!r}, which the spec already has; name yours differently"))
                names.append(condition_name(sub))
            continue
        if condition.compose is not None:
            for j, step in enumerate(condition.compose):
                given = [step.severity] if step.severity is not None else []
                errors += _check_step(loaded, (*path, "compose", j), step.corruption, given)
        else:
            errors += _check_corruption_condition(loaded, condition, path)
        name = condition_name(condition)
        if name in names or name == "clean":
            errors.append(
                loc.error(path, f"condition name {name!r} is used twice (or is 'clean'); give each condition a distinct name")
            )
        names.append(name)
    if total > 1.0 + 1e-9:
        errors.append(
            loc.error(("conditions",), f"production frequencies sum to {total:g} > 1; they are shares of production images")
        )
    return names


def _check_corruption_condition(loaded: LoadedSpec, condition, path: tuple) -> list[SpecError]:  # noqa: ANN001
    """Check a single-corruption condition's name and the severities it gives in physical units."""
    sev = condition.severity
    values: list[float] = []
    if isinstance(sev, (int, float)):
        values = [float(sev)]
    elif sev is not None and sev.levels is None:
        values = list(sev.values or [v for v in (sev.min, sev.max) if v is not None])
    return _check_step(loaded, path, condition.corruption, values)


def _check_step(loaded: LoadedSpec, path: tuple, name: str, severities: list[float]) -> list[SpecError]:
    """The corruption ``name`` exists and every severity is in its valid range (first problem only)."""
    loc = loaded.located
    try:
        corruption = corruptions.get(name)
        for value in severities:
            corruption.check(value)
    except CorruptionError as exc:
        key = "corruption" if name not in corruptions.names() else "severity"
        return [loc.error((*path, key), str(exc))]
    return []


def _check_criteria(loaded: LoadedSpec, condition_names: list[str], model_names: list[str]) -> list[SpecError]:
    spec, loc = loaded.spec, loaded.located
    errors = []
    classes = dataset_classes(loaded)
    scopes = ["clean", "all", *condition_names]
    for i, crit in enumerate(spec.criteria):
        path = ("criteria", i)
        metric = lookup(spec.task, crit.metric)
        if metric is None:
            errors.append(loc.error((*path, "metric"), unknown_metric(spec.task, crit.metric)))
            continue
        problem = threshold_problem(metric, crit.kind, crit.threshold)
        if problem is not None:
            errors.append(loc.error((*path, crit.kind), problem))
        if spec.dataset.format == "images" and metric.needs_labels:
            label_free = [r.name for r in metrics_for(spec.task, criterion=True) if not r.needs_labels]
            errors.append(
                loc.error(
                    (*path, "metric"),
                    f"metric '{crit.metric}' needs labels, but dataset.format is 'images' (unlabelled); "
                    f"use a label-free metric ({', '.join(label_free)}) or a labelled dataset",
                )
            )
        if crit.on not in scopes:
            errors.append(loc.error((*path, "on"), _unknown("condition", crit.on, scopes)))
        if metric.scope == "class" and crit.class_ is None:
            errors.append(loc.error(path, f"metric '{crit.metric}' is per class; add class: <name>"))
        if crit.class_ is not None:
            if metric.scope != "class" and not metric.per_class:
                per_class = [r.name for r in metrics_for(spec.task, criterion=True) if r.scope == "class" or r.per_class]
                errors.append(loc.error((*path, "class"), f"metric '{crit.metric}' is not per class; use one of "
                                        f"{', '.join(per_class)} or remove class"))
            elif classes is not None and crit.class_ not in classes:
                errors.append(loc.error((*path, "class"), _unknown("class", crit.class_, classes)))
        if metric.scope == "stability" and crit.on in ("clean", "all"):
            errors.append(loc.error((*path, "on"), f"metric '{crit.metric}' compares a condition with clean; set on: <condition>"))
        if metric.scope == "repeatability":
            errors += _repeat_problems(loaded, crit, path)
        if crit.max_drop is not None and (crit.on == "clean" or metric.scope == "aggregate"):
            errors.append(
                loc.error((*path, "max_drop"), "max_drop compares a condition with clean; set on: <condition>, or use max_drop_vs_baseline")
            )
        if crit.max_drop_vs_baseline is not None and spec.baseline is None:
            errors.append(loc.error((*path, "max_drop_vs_baseline"), "max_drop_vs_baseline needs a top-level baseline: <model name>"))
        if metric.needs_baseline and spec.baseline is None:
            errors.append(loc.error((*path, "metric"), f"{crit.metric} is normalised by the baseline; add baseline: <model name>"))
        if metric.scope == "aggregate" and not metric.production_mix and not condition_names:
            errors.append(loc.error((*path, "metric"), f"{crit.metric} needs at least one condition"))
    ids = [c.id for c in spec.criteria if c.id]
    for i, crit in enumerate(spec.criteria):
        if crit.id and ids.count(crit.id) > 1:
            errors.append(loc.error(("criteria", i, "id"), f"criterion id {crit.id!r} is used twice"))
    return errors


def _repeat_problems(loaded: LoadedSpec, crit: Criterion, path: tuple) -> list[SpecError]:
    """A repeatability criterion needs the spec's repeated captures, is read on them alone, with at_least/at_most."""
    loc, out = loaded.located, []
    if loaded.spec.repeatability is None:
        out.append(loc.error((*path, "metric"), f"metric '{crit.metric}' is measured on repeated captures; add "
                             "repeatability: {dataset: {images: <folder of part subfolders and videos>}}"))
    if crit.on != "clean":
        out.append(loc.error((*path, "on"), f"metric '{crit.metric}' is measured on the repeated captures, not on a condition; remove on"))
    if crit.kind not in ("at_least", "at_most"):
        out.append(loc.error((*path, crit.kind), f"metric '{crit.metric}' has no clean reference to drop from; use at_least or at_most"))
    return out


def threshold_problem(metric: MetricDef, kind: str, value: float) -> str | None:
    """Why an ``at_least``/``at_most`` threshold cannot mean what it says (a percentage for a fraction), or None."""
    if kind not in ("at_least", "at_most") or not metric.fraction or 0.0 <= value <= 1.0:
        return None
    hint = f"; write {value / 100:g} for {value:g} %" if 1.0 < value <= 100.0 else ""
    return f"'{metric.name}' is a fraction in [0, 1], got {kind}: {value:g}{hint}"


def unknown_metric(task: str, name: str) -> str:
    """The message for a metric ``task`` lacks: the other task's metric named as such, else a did-you-mean."""
    known = [r.name for r in metrics_for(task, criterion=True)]
    owner = next((t for t in TASKS if t != task and lookup(t, name) is not None), None)
    if owner is not None:
        return f"'{name}' is a {owner} metric; this spec's task is {task} ({task} metrics: {', '.join(known)})"
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {task} metric {name!r}; {hint}known: {', '.join(known)}"


def _unknown(what: str, got: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(got), [str(k) for k in known], n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {what} {got!r}; {hint}known: {', '.join(str(k) for k in known)}"


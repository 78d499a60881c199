"""The one registry of metric definitions: every metric fieldready measures or judges, one row each.

A row (``MetricDef``) says what a metric is — its name, the tasks that have it, its scope, which
direction is better, its display label and unit — and how it is computed: ``value`` and
``replicates`` for a metric measured on one unit (model × point), ``aggregate`` for one computed
across conditions. Spec validation, evaluation, the bootstrap, the criteria and the report's labels
all read the row, so adding a metric is one ``register_metric`` call (plus its test).

Scopes: a *unit* metric is measured on one severity point (a criterion averages it over the
condition's points); a *class* metric is measured per class and needs ``class:``; an *aggregate* is
computed across conditions from the primary metric; a *stability* metric compares a point with the
model's own clean predictions, so it needs no labels; a *repeatability* metric compares a model's
answers on repeated real captures of the same thing (``repeatability.py``), measured once per model.

This module imports no fieldready stage and not torch: ``fieldready validate`` reads it cheaply.
The built-in rows are registered by the metric modules (``detection``, ``classification``,
``stability``, ``robustness``), which ``fieldready.evaluation.metrics`` imports.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fieldready.errors import FieldreadyError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TASKS",
    "PRIMARY",
    "Scope",
    "MetricDef",
    "Resampled",
    "register_metric",
    "unregister_metric",
    "get_metric",
    "lookup",
    "metrics_for",
    "class_metrics",
    "higher_is_better",
    "all_metrics",
]

TASKS: tuple[str, ...] = ("detection", "classification")
#: The metric a task's robustness aggregates and production score use unless the spec names another.
PRIMARY: dict[str, str] = {"detection": "map", "classification": "top1"}

Scope = Literal["unit", "class", "aggregate", "stability", "repeatability"]


class Resampled(Protocol):
    """What evaluation keeps of one unit: it yields any of its metrics' point value and bootstrap replicates.

    ``indices[B, n]`` are image positions drawn with replacement (one row per resample, the same
    matrix for every unit, so replicates are paired); an image drawn k times counts k times.
    """

    def value(self, metric: str, class_id: int | None = None) -> float | None: ...

    def replicates(self, indices: np.ndarray, metric: str, class_id: int | None = None) -> np.ndarray: ...


# (row, unit data, class id or None) → the value on all images (None: no data)
ValueFn = Callable[["MetricDef", Any, "int | None"], "float | None"]
# (row, unit data, indices [B, n], class id or None) → [B] replicates (NaN: no data in that resample)
ReplicatesFn = Callable[["MetricDef", Any, "np.ndarray", "int | None"], "np.ndarray"]
# (aggregate inputs: the model's and the baseline's profiles, the production mix) → float or replicates
AggregateFn = Callable[[Any], Any]


@dataclass(frozen=True)
class MetricDef:
    """One metric, defined once.

    Attributes:
        name: the key in specs, results.json and every table.
        tasks: the tasks that measure it (``detection``, ``classification``).
        scope: unit | class | aggregate | stability (see the module docstring).
        higher_is_better: the direction; it decides what a drop is and which way a threshold reads.
        label: the short display name of tables and charts.
        description: one sentence saying what is measured.
        unit: the display unit ("" for a plain fraction).
        fraction: the value is a fraction in [0, 1], so an ``at_least: 80`` is a percentage mistake.
        rate: the value is a share of images (of a class's images, per class; for detection, of
            non-crowd ground-truth objects), so its interval is never narrower than Clopper–Pearson's
            for that many trials.
        per_class: a unit metric that is also measured per class (the clean per-class table).
        criterion: a criterion may name it (the rest are shown, not judged).
        needs_labels: it compares predictions with ground truth (not on an unlabelled folder).
        needs_baseline: it is normalised by the spec's baseline model.
        on_demand: costly, so measured only when a criterion names it or the data are unlabelled.
        at_clean: measured at the clean point too (a stability metric there is trivially perfect).
        production_mix: an aggregate over the whole production mix, whatever the criterion's ``on``.
        params: what its compute functions read (e.g. which COCO summary slice).
        value, replicates: how a unit metric is computed from a unit's data (see ``Resampled``).
        aggregate: how an aggregate is computed (``robustness.AggregateInputs`` → value).
    """

    name: str
    tasks: tuple[str, ...]
    scope: Scope
    higher_is_better: bool
    label: str
    description: str
    unit: str = ""
    fraction: bool = True
    rate: bool = False
    per_class: bool = False
    criterion: bool = True
    needs_labels: bool = True
    needs_baseline: bool = False
    on_demand: bool = False
    at_clean: bool = True
    production_mix: bool = False
    params: Any = None
    value: ValueFn | None = None
    replicates: ReplicatesFn | None = None
    aggregate: AggregateFn | None = None

    def measure(self, data: Any, class_id: int | None = None) -> float | None:
        """The metric's value on all images of a unit's ``data``."""
        if self.value is None:
            raise FieldreadyError(f"metric {self.name!r} is not measured on a unit (scope {self.scope})")
        return self.value(self, data, class_id)

    def resample(self, data: Any, indices: np.ndarray, class_id: int | None = None) -> np.ndarray:
        """The metric on each resample ``indices[B, n]`` of a unit's ``data``."""
        if self.replicates is None:
            raise FieldreadyError(f"metric {self.name!r} has no bootstrap replicates (scope {self.scope})")
        return self.replicates(self, data, indices, class_id)


_ROWS: dict[str, MetricDef] = {}


def register_metric(row: MetricDef) -> MetricDef:
    """Add a metric; a second row with the same name is refused (names are global across tasks)."""
    if row.name in _ROWS:
        raise FieldreadyError(f"metric {row.name!r} is already registered; choose another name")
    bad = [t for t in row.tasks if t not in TASKS]
    if bad:
        raise FieldreadyError(f"metric {row.name!r}: unknown task(s) {bad}; known: {', '.join(TASKS)}")
    if row.scope == "aggregate" and row.aggregate is None:
        raise FieldreadyError(f"aggregate metric {row.name!r} needs an aggregate function")
    if row.scope != "aggregate" and (row.value is None or row.replicates is None):
        raise FieldreadyError(f"metric {row.name!r} needs value and replicates functions")
    _ROWS[row.name] = row
    return row


def unregister_metric(name: str) -> None:
    """Remove a metric (tests, and plugins that replace a definition)."""
    _ROWS.pop(name, None)


def all_metrics() -> list[MetricDef]:
    """Every registered row, in registration order."""
    return list(_ROWS.values())


def get_metric(name: str) -> MetricDef:
    """The row of ``name``; KeyError listing the known names (with a close match) otherwise."""
    try:
        return _ROWS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_ROWS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise KeyError(f"unknown metric {name!r}; {hint}known: {sorted(_ROWS)}") from None


def lookup(task: str, name: str) -> MetricDef | None:
    """The row of ``name`` if ``task`` has it and a criterion may name it, else None."""
    row = _ROWS.get(name)
    return row if row is not None and task in row.tasks and row.criterion else None


def metrics_for(task: str, *, scopes: Iterable[str] | None = None, criterion: bool | None = None) -> list[MetricDef]:
    """The rows of ``task`` (optionally of some scopes, or only those a criterion may name), in registration order."""
    wanted = set(scopes) if scopes is not None else None
    return [
        r for r in _ROWS.values()
        if task in r.tasks and (wanted is None or r.scope in wanted) and (criterion is None or r.criterion == criterion)
    ]


def class_metrics(task: str) -> list[MetricDef]:
    """What a class's row shows: the class metric first, then the unit metrics also measured per class."""
    return metrics_for(task, scopes=("class",)) + [r for r in metrics_for(task, scopes=("unit",)) if r.per_class]


def higher_is_better(name: str) -> bool:
    """Direction of ``name``; KeyError listing the known names for an unknown one."""
    return get_metric(name).higher_is_better

"""The registry of model kinds: how a spec's ``kind:`` turns into a callable model.

A kind is one module (``torchscript.py``, ``python.py``, or a third party's) that registers a
``ModelKind``: its name, the spec fields it needs (``path``, ``entrypoint``), the pydantic schema of
its ``options:`` and its loader. The spec stage validates ``kind`` and ``options`` against this
registry and generates the JSON Schema from it, so nothing here imports torch: a loader imports it
when it runs. Installed packages add kinds through the ``fieldready.model_kinds`` entry-point group
(the entry point names a ``ModelKind`` object, or a module whose import registers one); a spec's
``plugins:`` module may call ``register_kind`` too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from fieldready.errors import ModelError
from fieldready.usercode import UserCodeError
from fieldready.usercode import load_entry_points as _load_entry_points

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelFields",
    "NoOptions",
    "AnyOptions",
    "ModelKind",
    "register_kind",
    "unregister_kind",
    "get_kind",
    "find_kind",
    "kind_names",
    "all_kinds",
    "load_entry_points",
]

ENTRY_POINT_GROUP = "fieldready.model_kinds"


class ModelFields(Protocol):
    """The fields of a spec's model entry a kind reads (``fieldready.spec.models.ModelSpec`` has them)."""

    name: str
    kind: str
    path: str | None
    entrypoint: str | None
    options: dict


class NoOptions(BaseModel):
    """A kind without options: any key under ``options:`` is refused."""

    model_config = ConfigDict(extra="forbid")


class AnyOptions(BaseModel):
    """A kind whose options are free-form (passed on to the user's code as keyword arguments)."""

    model_config = ConfigDict(extra="allow")


# (model entry, spec folder, torch device) → the callable the adapter runs
Loader = Callable[[Any, Path, Any], Callable]


@dataclass(frozen=True)
class ModelKind:
    """One model kind.

    Attributes:
        name: the value of ``kind:`` in a spec.
        description: one line for the schema and error messages.
        load: ``(model, spec folder, device) → callable``; imports torch (or onnxruntime …) itself.
        options: the pydantic model ``options:`` must validate against.
        path: whether ``path:`` (the model file, relative to the spec) is required, optional or unused.
        entrypoint: needs ``entrypoint: 'module:function'`` (the kind runs the user's Python code,
            whose source the plan hashes with the model).
    """

    name: str
    description: str
    load: Loader
    options: type[BaseModel] = NoOptions
    path: Literal["required", "optional", "unused"] = "required"
    entrypoint: bool = False

    def field_problem(self, model: ModelFields) -> str | None:
        """Why the model entry lacks a field this kind needs (or sets one it does not use), or None."""
        if self.path == "required" and not model.path:
            return f"a {self.name} model needs path: <model file>"
        if self.path == "unused" and model.path:
            return f"a {self.name} model takes no path; remove it"
        if self.entrypoint and (not model.entrypoint or ":" not in model.entrypoint):
            return f"a {self.name} model needs entrypoint: 'module:function'"
        if not self.entrypoint and model.entrypoint:
            return f"a {self.name} model takes no entrypoint; remove it (or use kind: python)"
        return None


_KINDS: dict[str, ModelKind] = {}
_entry_points_loaded = False


def register_kind(kind: ModelKind) -> ModelKind:
    """Add a model kind; a second kind of the same name is refused."""
    if kind.name in _KINDS:
        raise ModelError(f"model kind {kind.name!r} is already registered; choose another name")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a model kind (tests, and plugins that replace one)."""
    _KINDS.pop(name, None)


def load_entry_points() -> list[str]:
    """Register the kinds of the installed ``fieldready.model_kinds`` entry points; the names added.

    Runs once, on the first lookup; call it again after installing a package into a running process.
    """
    global _entry_points_loaded
    _entry_points_loaded = True
    before = set(_KINDS)
    try:
        loaded = _load_entry_points(ENTRY_POINT_GROUP)
    except UserCodeError as exc:
        _entry_points_loaded = False
        raise ModelError(exc.message) from None
    for name, obj in loaded:
        kind = obj if isinstance(obj, ModelKind) else getattr(obj, "KIND", None)
        if isinstance(kind, ModelKind) and kind.name not in _KINDS:
            register_kind(kind)
        elif kind is None and name not in _KINDS:
            raise ModelError(f"entry point {name!r} (group {ENTRY_POINT_GROUP}) is neither a ModelKind nor a module "
                             "that registers one; point it at the kind's ModelKind object")
    return sorted(set(_KINDS) - before)


def _installed() -> dict[str, ModelKind]:
    if not _entry_points_loaded:
        load_entry_points()
    return _KINDS


def find_kind(name: str) -> ModelKind | None:
    """The kind ``name``, or None."""
    return _installed().get(name)


def get_kind(name: str) -> ModelKind:
    """The kind ``name``; a ModelError naming the close and the known kinds otherwise."""
    kind = find_kind(name)
    if kind is None:
        raise ModelError(unknown_kind(name))
    return kind


def unknown_kind(name: str) -> str:
    """The message for a kind nobody registered: a did-you-mean and the known kinds."""
    close = difflib.get_close_matches(str(name), list(_KINDS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown model kind {name!r}; {hint}known: {', '.join(kind_names())}"


def kind_names() -> list[str]:
    """The registered kinds' names, in registration order."""
    return list(_installed())


def all_kinds() -> list[ModelKind]:
    """The registered kinds, in registration order."""
    return list(_installed().values())

"""The public API is exactly what __all__ curates: compared with the module's real attributes (as httpx does).

``dir()`` returns ``__all__`` by construction, so it proves nothing; ``vars()`` holds what the module
really has once every export is resolved — a stray import (``import os``) or a name that resolves to
the wrong object shows up there.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import fieldready


def unlisted_public_names(module: ModuleType) -> set[str]:
    """Public attributes of ``module`` that ``__all__`` does not list (its own submodules aside)."""
    for name in module.__all__:  # resolve the lazy exports, so vars() holds them
        getattr(module, name)
    public = {
        name for name, value in vars(module).items()
        if not name.startswith("_")
        and not (isinstance(value, ModuleType) and value.__name__.startswith(module.__name__ + "."))
    }
    return public ^ {n for n in module.__all__ if not n.startswith("_")}


def test_all_exports_resolve() -> None:
    for name in fieldready.__all__:
        assert getattr(fieldready, name) is not None, name


def test_no_unlisted_public_names() -> None:
    assert unlisted_public_names(fieldready) == set()


def test_each_export_is_the_object_of_its_module() -> None:
    for name, module in fieldready._EXPORTS.items():
        attr = fieldready._RENAMED.get(name, name)
        assert vars(fieldready)[name] is getattr(importlib.import_module(module), attr), name


def test_the_comparison_catches_a_stray_public_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldready, "os", importlib.import_module("os"), raising=False)
    assert unlisted_public_names(fieldready) == {"os"}

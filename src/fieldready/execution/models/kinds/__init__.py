"""Model kinds: the registry (``registry.py``) and the built-in kinds, one module each.

Importing this package registers ``torchscript`` and ``python`` without importing torch; installed
packages add theirs through the ``fieldready.model_kinds`` entry-point group.
"""

from fieldready.execution.models.kinds import python, torchscript
from fieldready.execution.models.kinds.registry import (
    ENTRY_POINT_GROUP,
    AnyOptions,
    ModelFields,
    ModelKind,
    NoOptions,
    all_kinds,
    find_kind,
    get_kind,
    kind_names,
    load_entry_points,
    register_kind,
    unregister_kind,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnyOptions",
    "ModelFields",
    "ModelKind",
    "NoOptions",
    "all_kinds",
    "find_kind",
    "get_kind",
    "kind_names",
    "load_entry_points",
    "register_kind",
    "unregister_kind",
    "python",
    "torchscript",
]

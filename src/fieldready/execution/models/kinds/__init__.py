"""Model kinds: the registry (``registry.py``) and the built-in kinds, one module each.

Importing this package registers ``torchscript``, ``python``, ``onnx`` and ``exported`` without
importing torch or onnxruntime; installed
packages add theirs through the ``fieldready.model_kinds`` entry-point group.
"""

from fieldready.execution.models.kinds import python, torchscript  # isort: skip (registration order: the built-ins first)
from fieldready.execution.models.kinds import exported, onnx  # isort: skip
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
    "exported",
    "onnx",
    "python",
    "torchscript",
]

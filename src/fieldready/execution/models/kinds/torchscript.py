"""The ``torchscript`` model kind: a scripted or traced module file; no Python code of the user runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldready.errors import ModelError
from fieldready.execution.models.kinds.registry import ModelFields, ModelKind, NoOptions, register_kind

__all__ = ["KIND", "load_torchscript"]


def load_torchscript(model: ModelFields, root: Path, device: Any) -> Callable:
    """A TorchScript file, mapped to the device (no Python code of the user runs)."""
    import torch  # heavy: only when a model is loaded, so the spec stage can read this kind

    path = Path(model.path) if Path(model.path).is_absolute() else root / model.path  # type: ignore[arg-type]
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # torch raises RuntimeError/ValueError variants for bad files
        raise ModelError(
            f"{path}: model {model.name!r} is not a loadable TorchScript file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); save it with torch.jit.script(m).save(path)"
        ) from None
    module.eval()
    return module


KIND = register_kind(ModelKind(
    name="torchscript",
    description="a TorchScript file (torch.jit.script or trace, then .save); no Python code of the user runs",
    load=load_torchscript,
    options=NoOptions,
    path="required",
))

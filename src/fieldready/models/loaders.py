"""Loaders by model ``kind``: each turns a spec entry into the user's callable (no fieldready logic).

A registry so that new kinds (ONNX, …) are one function here; ``python`` runs user code and is
used only when the spec asks for it explicitly.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from fieldready.errors import ModelError
from fieldready.spec.models import ModelSpec

__all__ = ["LOADERS", "register_loader"]

Loader = Callable[[ModelSpec, Path, torch.device], Callable]
LOADERS: dict[str, Loader] = {}


def register_loader(kind: str) -> Callable[[Loader], Loader]:
    """Register the loader of a model kind; duplicate kinds are refused."""

    def decorate(fn: Loader) -> Loader:
        if kind in LOADERS:
            raise ModelError(f"model kind {kind!r} already has a loader")
        LOADERS[kind] = fn
        return fn

    return decorate


@register_loader("torchscript")
def load_torchscript(model: ModelSpec, root: Path, device: torch.device) -> Callable:
    """A TorchScript file, mapped to the device (no Python code of the user runs)."""
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


@register_loader("python")
def load_python(model: ModelSpec, root: Path, device: torch.device) -> Callable:
    """Import ``module:function`` (the spec's folder first on sys.path) and call it with ``options``.

    Paths among the options are the user's business; relative ones are relative to the spec folder,
    so the spec folder is the working directory's stand-in via ``spec_dir`` in options when asked.
    """
    module_name, _, func_name = str(model.entrypoint).partition(":")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, func_name)
    except Exception as exc:  # the user's module may raise anything on import
        raise ModelError(
            f"model {model.name!r}: cannot import entrypoint {model.entrypoint!r} ({type(exc).__name__}: {exc}); "
            f"the module must be importable from {root} or the Python path"
        ) from None
    options = {k: (str(root / v) if isinstance(v, str) and k.endswith(("path", "weights")) and not Path(v).is_absolute() else v)
               for k, v in model.options.items()}
    try:
        fn = factory(**options)
    except Exception as exc:
        raise ModelError(f"model {model.name!r}: {model.entrypoint}(**options) raised {type(exc).__name__}: {exc}") from None
    if isinstance(fn, torch.nn.Module):
        fn = fn.to(device).eval()
    if not callable(fn):
        raise ModelError(f"model {model.name!r}: {model.entrypoint} must return a callable (an nn.Module or function)")
    return fn

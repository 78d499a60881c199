"""Loaders by model ``kind``: each turns a spec entry into the user's callable (no fieldready logic).

A registry so that new kinds (ONNX, …) are one function here; ``python`` runs user code, loaded by
its file's path (``fieldready.usercode``), and is used only when the spec asks for it explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from fieldready.errors import ModelError
from fieldready.spec.models import ModelSpec
from fieldready.usercode import UserCodeError, load_module, spec_folder_appended

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
    """Load ``module:function`` by its file's path under the spec folder and call it with ``options``.

    Only this module (and what it imports) runs, and the spec folder is searched after installed
    modules, never before (see ``fieldready.usercode``). Options whose key ends in ``path`` or
    ``weights`` are resolved relative to the spec folder.
    """
    module_name, _, func_name = str(model.entrypoint).partition(":")
    where = f"model {model.name!r} (entrypoint {model.entrypoint!r})"
    options = {k: (str(root / v) if isinstance(v, str) and k.endswith(("path", "weights")) and not Path(v).is_absolute() else v)
               for k, v in model.options.items()}
    try:
        with spec_folder_appended(root):  # for the factory's own imports of sibling files
            module = load_module(root, module_name)
            source = getattr(module, "__file__", None) or module_name
            factory = getattr(module, func_name, None)
            if factory is None:
                raise ModelError(f"{where}: {source} has no function {func_name!r}; define it or fix the entrypoint")
            if not callable(factory):
                raise ModelError(f"{where}: {func_name!r} in {source} is not callable; name a function that returns the model")
            try:
                fn = factory(**options)
            except (Exception, SystemExit) as exc:  # the user's factory may raise anything, or exit
                text = " ".join(str(exc).split())
                raise ModelError(f"{where}: {func_name}(**options) in {source} raised {type(exc).__name__}"
                                 f"{': ' + text if text else ''}") from None
    except UserCodeError as exc:
        raise ModelError(f"{where}: cannot import: {exc.message}") from None
    if isinstance(fn, torch.nn.Module):
        fn = fn.to(device).eval()
    if not callable(fn):
        raise ModelError(f"{where}: {func_name}(**options) in {source} returned {type(fn).__name__}, not a callable "
                         f"(return an nn.Module or a function)")
    return fn

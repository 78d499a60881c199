"""The ``python`` model kind: ``entrypoint: 'module:function'`` called with ``options`` returns the model.

User code loaded by its file's path (``fieldready.usercode``), used only when the spec asks for it
explicitly; ``options`` are free-form keyword arguments of the factory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldready.errors import ModelError
from fieldready.execution.models.kinds.registry import AnyOptions, ModelFields, ModelKind, register_kind
from fieldready.usercode import UserCodeError, load_module, spec_folder_appended

__all__ = ["KIND", "load_python"]


def load_python(model: ModelFields, root: Path, device: Any) -> Callable:
    """Load ``module:function`` by its file's path under the spec folder and call it with ``options``.

    Only this module (and what it imports) runs, and the spec folder is searched after installed
    modules, never before (see ``fieldready.usercode``). Options whose key ends in ``path`` or
    ``weights`` are resolved relative to the spec folder.
    """
    import torch  # heavy: only when a model is loaded, so the spec stage can read this kind

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


KIND = register_kind(ModelKind(
    name="python",
    description="entrypoint: 'module:function' in a file beside the spec, called with options, returns the model",
    load=load_python,
    options=AnyOptions,
    path="optional",
    entrypoint=True,
))

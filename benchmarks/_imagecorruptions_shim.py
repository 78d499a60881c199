"""Import imagecorruptions 1.1.2 unchanged on NumPy 2, setuptools without pkg_resources and scikit-image ≥ 0.21.

A test and benchmark dependency only, never a runtime one. It restores the three names the package
needs (``np.float_``, ``pkg_resources.resource_filename``, skimage's ``multichannel=`` keyword).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
import warnings
from types import ModuleType

INSTALL_HINT = "pip install --no-deps imagecorruptions==1.1.2  (--no-deps: it would pull opencv-python over the headless build)"


def _resource_filename(package: str, path: str) -> str:
    module = sys.modules[package]
    return os.path.join(os.path.dirname(module.__file__ or ""), path)


def load() -> ModuleType:
    """Return the ``imagecorruptions`` module, patched to import; ImportError with the install hint if absent."""
    if importlib.util.find_spec("imagecorruptions") is None:
        raise ImportError(f"imagecorruptions is not installed; {INSTALL_HINT}")
    import numpy as np
    import skimage.filters

    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = _resource_filename  # type: ignore[attr-defined]
            # pytest's monkeypatch.syspath_prepend calls this whenever a pkg_resources module is loaded
            shim.fixup_namespace_packages = lambda *args, **kwargs: None  # type: ignore[attr-defined]
            sys.modules["pkg_resources"] = shim
    gaussian = skimage.filters.gaussian
    if not getattr(gaussian, "_fieldready_shim", False):

        def patched(image, *args, multichannel=None, **kwargs):  # type: ignore[no-untyped-def]
            if multichannel is not None:
                kwargs["channel_axis"] = -1 if multichannel else None
            return gaussian(image, *args, **kwargs)

        patched._fieldready_shim = True  # type: ignore[attr-defined]
        skimage.filters.gaussian = patched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("imagecorruptions")

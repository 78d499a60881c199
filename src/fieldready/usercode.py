"""Load the user's Python code by explicit file path, and only the modules a spec names.

A spec names user code in two places: ``plugins`` (custom corruptions) and ``python`` model entry
points (``module:function``). Neither ever puts the spec's folder in front of ``sys.path``, so a
file beside the spec named like a standard-library or installed module (``json.py``,
``mimetypes.py``, ``numpy/``) is never imported in its place. Instead:

- A name is looked up as a file under the spec's folder, in Python's order: ``a.b`` → ``a/b/__init__.py``
  or ``a/b.py``, its packages (``a/__init__.py``, or a folder ``a/`` without one: a namespace
  package) loaded first. A plugin may also be a path (``plugins/lens.py``, or a package folder).
  Only when the folder holds nothing for the first component is the name imported as an
  installed module (``torchvision.models:resnet18``), normally.
- The file is executed from its path (``importlib.util.spec_from_file_location``) under a private
  name, ``_fieldready_user_<hash of its folder>_<name>``, so it can never replace a module of the
  same name in ``sys.modules``. Loading it again reuses the module (a plugin registers once).
- A package's own modules import each other relatively (``from . import nets``). For absolute
  imports of sibling files (``import helpers``), the spec's folder is *appended* to ``sys.path``,
  after the standard library and site-packages, only while the user's code is executed (its import
  and a model's factory call), then removed: a sibling is found only under a name nothing
  installed provides. (An absolute import of the user's own package from inside it loads a second
  copy under the public name; relative imports avoid that.)

Every failure is a ``UserCodeError`` whose message names the file; callers turn it into a
SpecError or ModelError located at the spec key.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

__all__ = ["PRIVATE_PREFIX", "UserCodeError", "load_module", "load_plugin", "load_entry_points", "module_file",
           "source_files", "spec_folder_appended"]

PRIVATE_PREFIX = "_fieldready_user_"


class UserCodeError(Exception):
    """User code cannot be found or raised while loading; ``message`` names the file and the fix."""

    def __init__(self, message: str, file: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file


@contextmanager
def spec_folder_appended(root: Path) -> Iterator[None]:
    """Append ``root`` to the end of ``sys.path`` for the block (sibling imports), then remove it."""
    entry = str(Path(root).resolve())
    added = entry not in sys.path
    if added:
        sys.path.append(entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def module_file(root: Path, name: str) -> Path | None:
    """What module ``name`` (dotted) resolves to under ``root``; None if ``root`` lacks its first part.

    A ``.py`` file, a package's ``__init__.py``, or a folder without one (a namespace package), in
    Python's order. Raises UserCodeError for a malformed name or a package lacking the submodule.
    """
    base, parts = Path(root).resolve(), _parts(name)
    return _resolve(base, parts)[-1] if _find(base / parts[0]) is not None else None


def source_files(root: Path, entry: str) -> list[Path]:
    """The source files a plugin entry or entry-point module can run, found without importing anything.

    A single-file module is its ``.py`` file; a module in a package (or a package, or a plugin path
    to a package folder) is every ``.py`` file of the top-level package folder, since its code may
    import any of them. Empty when the entry names no file under ``root`` (an installed module).
    Paths are ``root``-based as given (not resolved), so callers can make them relative to ``root``.
    """
    root = Path(root)
    if _is_path(entry):
        path = Path(entry).expanduser()
        top = path if path.is_absolute() else root / path
    else:
        first = entry.split(".")[0]
        if not first.isidentifier():
            return []
        top = root / first
    found = _find(top.with_suffix("") if top.suffix == ".py" else top)
    if found is None:
        return []
    if found.suffix == ".py" and found.name != "__init__.py":
        return [found]
    folder = found if found.is_dir() else found.parent
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts and p.is_file())


def load_module(root: Path, name: str) -> ModuleType:
    """Load module ``name`` from the spec folder ``root`` by path, or else the installed module ``name``."""
    base = Path(root).resolve()
    parts = _parts(name)
    if _find(base / parts[0]) is None:
        return _import_installed(root, name)
    prefix = _private_prefix(base)
    module = None
    for i, found in enumerate(_resolve(base, parts)):  # packages first, so that relative imports resolve
        module = _load_path(prefix + ".".join(parts[: i + 1]), found)
    assert module is not None
    return module


def load_entry_points(group: str) -> list[tuple[str, object]]:
    """Load every installed distribution's entry point of ``group``: (entry point name, loaded object).

    Third-party model kinds (``fieldready.model_kinds``) and corruptions (``fieldready.corruptions``)
    register this way once their package is installed, with no ``plugins:`` line in the spec. An
    entry point that fails to load is a UserCodeError naming it, its distribution and the fix.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
        if (ep.name, ep.value) in seen:  # the same distribution found twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        try:
            out.append((ep.name, ep.load()))
        except (Exception, SystemExit) as exc:  # third-party code may raise anything on import
            dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
            raise UserCodeError(
                f"entry point {ep.name!r} = {ep.value!r} of {dist} (group {group}) raised {_describe(exc)} when "
                f"loaded; fix or uninstall that package", None
            ) from None
    return out


def load_plugin(root: Path, entry: str) -> ModuleType:
    """A ``plugins`` entry: a module name (see ``load_module``) or a path to a ``.py`` file or package folder."""
    if not _is_path(entry):
        return load_module(root, entry)
    path = Path(entry).expanduser()
    path = (path if path.is_absolute() else Path(root) / path).resolve()
    if path.suffix == ".py":
        found = path if path.is_file() else None
    else:
        found = path / "__init__.py" if (path / "__init__.py").is_file() else (path if path.is_dir() else None)
    if found is None:
        raise UserCodeError(f"{path} does not exist; give a .py file or package folder relative to the spec", path)
    stem = path.stem if path.suffix == ".py" else path.name
    if not stem.isidentifier():
        raise UserCodeError(f"{path}: {stem!r} is not a valid Python module name; rename it", path)
    return _load_path(_private_prefix(path.parent) + stem, found)


def _resolve(base: Path, parts: list[str]) -> list[Path]:
    """What each prefix of ``parts`` resolves to under ``base`` (packages, then the module)."""
    out: list[Path] = []
    path = base
    for i, part in enumerate(parts):
        path = path / part
        found = _find(path)
        if found is None:
            raise UserCodeError(f"{path}.py does not exist (nor a package {path}/), so module {'.'.join(parts)!r} "
                                f"cannot be loaded; check the name against the files beside the spec",
                                path.with_name(part + ".py"))
        if i < len(parts) - 1 and found.suffix == ".py" and found.name != "__init__.py":
            raise UserCodeError(f"{found} is a module, not a package: {'.'.join(parts)!r} cannot go below it", found)
        out.append(found)
    return out


def _parts(name: str) -> list[str]:
    parts = name.split(".")
    if not name or not all(p.isidentifier() for p in parts):
        raise UserCodeError(f"{name!r} is neither a module name (letters, digits, '_' and dots) nor a path to a "
                            f".py file")
    return parts


def _is_path(entry: str) -> bool:
    return "/" in entry or "\\" in entry or entry.endswith(".py") or entry.startswith(("~", "."))


def _find(path: Path) -> Path | None:
    """``path/__init__.py``, else ``path.py``, else the folder ``path`` (a namespace package): Python's order."""
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_name(path.name + ".py").is_file():
        return path.with_name(path.name + ".py")
    return path if path.is_dir() else None


def _private_prefix(folder: Path) -> str:
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return f"{PRIVATE_PREFIX}{digest}_"


def _load_path(module_name: str, found: Path) -> ModuleType:
    """Execute ``found`` as module ``module_name``: a ``.py`` file, an ``__init__.py`` or a namespace folder.

    A module already loaded from the same place is reused (a plugin registers its corruptions once).
    """
    loaded = sys.modules.get(module_name)
    if loaded is not None and str(found) in (getattr(loaded, "__file__", None), *getattr(loaded, "__path__", [])[:1]):
        return loaded
    if found.is_dir():  # a namespace package: no code, only a place to find submodules
        spec = importlib.machinery.ModuleSpec(module_name, None, is_package=True)
        spec.submodule_search_locations = [str(found)]
    else:
        is_package = found.name == "__init__.py"
        spec = importlib.util.spec_from_file_location(
            module_name, found, submodule_search_locations=[str(found.parent)] if is_package else None
        )
    if spec is None or (spec.loader is None and not found.is_dir()):
        raise UserCodeError(f"{found} cannot be loaded as a Python module", found)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    if spec.loader is not None:
        try:
            with spec_folder_appended(_top_folder(found, module_name)):
                spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # the user's module may raise anything on import, or exit
            sys.modules.pop(module_name, None)
            raise UserCodeError(f"{found} raised {_describe(exc)} when imported", found) from None
    parent, _, child = module_name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def _top_folder(found: Path, module_name: str) -> Path:
    """The folder holding the top-level module of ``module_name`` (the spec's folder for names)."""
    depth = module_name.count(".") + (1 if found.name == "__init__.py" else 0)
    folder = found.parent
    for _ in range(depth):
        folder = folder.parent
    return folder


def _import_installed(root: Path, name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.split(".")[0] == exc.name:
            raise UserCodeError(f"no module {name!r} in {Path(root).resolve()} (no {name.split('.')[0]}.py or "
                                f"{name.split('.')[0]}/__init__.py) and none installed", None) from None
        raise UserCodeError(f"installed module {name!r} raised {_describe(exc)} when imported", None) from None
    except (Exception, SystemExit) as exc:
        raise UserCodeError(f"installed module {name!r} raised {_describe(exc)} when imported", None) from None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

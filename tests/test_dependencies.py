"""Every third-party module fieldready imports is a declared dependency, so a clean install works.

CI's environment has the test extras (scikit-image pulls SciPy in), so an undeclared import can pass
every other test and still crash a user's first command. Two checks close that gap: the source is
read with ``ast`` and each import is matched to the distributions pyproject.toml's ``dependencies``
bring in (their own requirements included); and every module is imported in a fresh interpreter in
which the installed distributions outside that set cannot be imported, as on a clean machine.
Imports of an optional extra (``onnx``, ``ray``, …) must sit in a ``try`` whose ``except ImportError``
raises a FieldreadyError naming the extra (``pip install 'fieldready[onnx]'``).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

import fieldready.errors

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fieldready"
NOT_RUNTIME_EXTRAS = {"test", "dev", "docs"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_requirements() -> tuple[list[str], dict[str, list[str]]]:
    """pyproject.toml's core ``dependencies`` and its runtime extras (not ``test``)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata carries the same lists
        reqs = metadata.requires("fieldready") or []
        core = [r for r in reqs if "extra ==" not in r]
        extras: dict[str, list[str]] = {}
        for r in reqs:
            m = re.search(r"extra == ['\"]([^'\"]+)['\"]", r)
            if m:
                extras.setdefault(m.group(1), []).append(r.split(";")[0])
    else:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        core, extras = project["dependencies"], project.get("optional-dependencies", {})
    return core, {k: v for k, v in extras.items() if k not in NOT_RUNTIME_EXTRAS}


def closure(requirements: list[str]) -> set[str]:
    """Canonical names of the distributions ``requirements`` install, following each one's own requirements."""
    seen: set[str] = set()
    stack = [(Requirement(r), frozenset()) for r in requirements]
    while stack:
        req, parent_extras = stack.pop()
        envs = [{"extra": e} for e in (parent_extras or {""})]
        if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
            continue
        name = _canonical(req.name)
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            sub = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            sub = []
        stack += [(Requirement(r), frozenset(req.extras)) for r in sub]
    return {k.split("[")[0] for k in seen}


@dataclass(frozen=True)
class Declared:
    """Which distributions may be imported: unconditionally (core closure) or behind an extra."""

    core: set[str]
    extras: dict[str, set[str]]  # distribution (canonical) → extras that bring it, for those outside core

    @classmethod
    def from_project(cls) -> "Declared":
        core_reqs, extra_reqs = _project_requirements()
        core = closure(core_reqs)
        extras: dict[str, set[str]] = {}
        for extra, reqs in extra_reqs.items():
            for dist in closure(reqs) - core:
                extras.setdefault(dist, set()).add(extra)
        return cls(core, extras)


@functools.lru_cache(maxsize=1)
def _installed() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # reads every installed distribution's file list: once


def _distributions(top: str) -> set[str]:
    """Canonical distributions providing import name ``top`` (installed ones, else a same-named one)."""
    return {_canonical(d) for d in _installed().get(top, [])} or {_canonical(top)}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        child, node = node, parents[node]
        if isinstance(node, ast.If) and child in node.body:
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                return True
    return False


FIELDREADY_ERRORS = {
    name for name, obj in vars(fieldready.errors).items()
    if isinstance(obj, type) and issubclass(obj, fieldready.errors.FieldreadyError)
}  # fmt: skip


def _raises_install_hint(handler: ast.ExceptHandler, extras: set[str]) -> bool:
    """The handler catches ImportError and raises a FieldreadyError whose message names one of ``extras``."""
    if handler.type is None:
        names = {"ImportError"}
    else:
        names = {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(handler.type) if isinstance(n, (ast.Name, ast.Attribute))}
    if not names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}:
        return False
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            text = " ".join(c.value for c in ast.walk(node.exc) if isinstance(c, ast.Constant) and isinstance(c.value, str))
            if called in FIELDREADY_ERRORS and any(f"[{e}]" in text for e in extras):
                return True
    return False


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST], extras: set[str]) -> bool:
    while node in parents:
        child, node = node, parents[node]
        if isinstance(node, ast.Try) and child in node.body and any(_raises_install_hint(h, extras) for h in node.handlers):
            return True
    return False


def import_problems(source: str, filename: str, declared: Declared) -> list[str]:
    """Every third-party import of ``source`` that a clean install with the declared dependencies would break."""
    tree = ast.parse(source, filename)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in ("fieldready", "__future__") or _type_checking_only(node, parents):
                continue
            dists = _distributions(top)
            where = f"{filename}:{node.lineno}: import {module}"
            if dists & declared.core:
                continue
            extras = set().union(*(declared.extras.get(d, set()) for d in dists))
            if not extras:
                problems.append(f"{where}: {', '.join(sorted(dists))} is not a declared dependency; add it to pyproject.toml")
            elif not _guarded(node, parents, extras):
                problems.append(
                    f"{where}: {', '.join(sorted(dists))} comes only with the extra(s) {', '.join(sorted(extras))}; import it "
                    "in a try whose except ImportError raises a FieldreadyError naming the extra, e.g. "
                    f"pip install 'fieldready[{sorted(extras)[0]}]'"
                )
    return problems


def test_every_import_is_a_declared_dependency() -> None:
    declared = Declared.from_project()
    problems = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50  # the whole package is read, not an empty glob
    for path in files:
        problems += import_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), declared)
    assert not problems, "\n".join(problems)


def test_the_check_catches_undeclared_and_unguarded_imports() -> None:
    declared = Declared.from_project()
    assert {"torch", "numpy", "pillow"} <= declared.core  # pillow arrives with matplotlib: the closure is transitive
    assert "scipy" not in declared.core
    assert import_problems("import scipy\n", "m.py", declared)
    assert import_problems("def f():\n    from scipy.stats import binom\n", "m.py", declared)
    assert not import_problems("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import scipy\n", "m.py", declared)
    assert not import_problems("import numpy, torch.nn\nfrom PIL import Image\n", "m.py", declared)
    extra, dist = next((e, d) for d, es in sorted(declared.extras.items()) for e in sorted(es))
    top = dist.replace("-", "_")
    assert import_problems(f"import {top}\n", "m.py", declared), "a bare import of an extra must be refused"
    guarded = (
        "from fieldready.errors import ModelError\n"
        "def load():\n"
        "    try:\n"
        f"        import {top}\n"
        "    except ImportError:\n"
        f"        raise ModelError(\"this needs {dist}: pip install 'fieldready[{extra}]'\") from None\n"
    )
    assert not import_problems(guarded, "m.py", declared)
    assert import_problems(guarded.replace(f"[{extra}]", "[nope]"), "m.py", declared), "the hint must name the extra"


# Imports every fieldready module with the installed distributions outside the declared closure made unimportable.
IMPORT_ALL = r"""
import importlib, importlib.abc, importlib.metadata as md, json, pkgutil, sys, traceback
allowed = set(json.loads(sys.argv[1]))
canon = lambda n: n.replace("_", "-").replace(".", "-").lower()
blocked = {top for top, dists in md.packages_distributions().items()
           if top not in sys.stdlib_module_names and not any(canon(d) in allowed for d in dists)}
blocked.discard("fieldready")

class Clean(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not a declared dependency)", name=name)
        return None

sys.meta_path.insert(0, Clean())
import fieldready
failed = {}
names = ["fieldready"] + [m.name for m in pkgutil.walk_packages(fieldready.__path__, "fieldready.")]
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
print(json.dumps({"imported": len(names) - len(failed), "failed": failed, "blocked": sorted(blocked)}))
"""


def test_every_module_imports_with_only_the_declared_dependencies() -> None:
    declared = Declared.from_project()
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, json.dumps(sorted(declared.core))],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["failed"], json.dumps(report["failed"], indent=2)
    assert report["imported"] == len(list(SRC.rglob("*.py")))
    assert "scipy" in report["blocked"] or "scipy" not in _installed()

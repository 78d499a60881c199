"""The import graph, read from the source with ``ast``: data flows one way through the stages.

spec → plan → execution → evaluation → judge → report: a stage imports only earlier stages and the
leaves (errors, rng, usercode, resources, yaml_positions, corruptions, data, and what the spec stage validates
against: the metric registry ``evaluation.metrics``, the model kinds ``execution.models.kinds`` and
the model conventions they use), and a leaf imports no stage. No fieldready module is imported inside a
function (a lazy import there hides a cycle), except by the CLI, whose commands import what they run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fieldready"

STAGES = ("spec", "plan", "execution", "evaluation", "judge", "report")
#: Modules or packages every stage may import; they import no stage themselves. Longest prefix wins,
#: so ``execution.models.kinds`` is a leaf inside the ``execution`` stage. ``__init__`` is the package
#: itself (``__version__`` and the lazy public API, which imports nothing when the package loads).
LEAVES = (
    "__init__",
    "errors",
    "rng",
    "usercode",
    "resources",
    "yaml_positions",
    "progress",
    "corruptions",
    "data",
    "evaluation.metrics",
    "execution.models.kinds",
    "execution.models.batching",
    "execution.models.conventions",
    "execution.models.convention_spec",
)
#: What sequences the stages, and the tools beside them (``profile`` reads a spec to suggest its
#: conditions): may import any stage, at module level; no stage imports them.
ORCHESTRATION = ("pipeline", "cli", "profile", "starter")
LAZY_IMPORTS_ALLOWED = ("cli",)


@dataclass(frozen=True)
class Edge:
    module: str  # importing module, dotted below fieldready ("judge.build")
    target: str  # imported module, dotted below fieldready
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _edges(path: Path) -> list[Edge]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    inside = {id(sub) for f in functions for sub in ast.walk(f) if sub is not f}
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                targets = ["fieldready." + ".".join([*base, *(node.module.split(".") if node.module else [])])]
            elif node.module:
                targets = [node.module]
        if isinstance(node, ast.ImportFrom) and targets:  # from fieldready.x import y: y may be a submodule
            base = targets[0]
            targets = [f"{base}.{a.name}" if _exists(f"{base}.{a.name}") else base for a in node.names]
        for t in targets:
            if t == "fieldready" or t.startswith("fieldready."):
                name = t.removeprefix("fieldready").removeprefix(".") or "__init__"
                out.append(Edge(module, name, node.lineno, id(node) in inside))
    return out


def _exists(dotted: str) -> bool:
    """Whether ``fieldready.a.b`` is a module or package of the source tree."""
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return bool(rel.parts) and ((SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file())


def _kind(name: str) -> tuple[str, str]:
    """('leaf' | 'stage' | 'orchestration', the leaf or stage it belongs to)."""
    leaf = max((lf for lf in LEAVES if name == lf or name.startswith(lf + ".")), key=len, default=None)
    if leaf is not None:
        return "leaf", leaf
    top = name.split(".")[0]
    if top in STAGES:
        return "stage", top
    if top in ORCHESTRATION:
        return "orchestration", top
    return "unknown", top


def _all_edges() -> list[Edge]:
    return [e for p in sorted(SRC.rglob("*.py")) if "__pycache__" not in p.parts for e in _edges(p)]


def test_every_module_belongs_to_a_stage_a_leaf_or_the_orchestration() -> None:
    unknown = sorted({_module_name(p) for p in SRC.rglob("*.py") if _kind(_module_name(p))[0] == "unknown"})
    assert not unknown, f"classify these modules in tests/test_import_graph.py (stage, leaf or orchestration): {unknown}"


def test_no_stage_imports_a_later_stage() -> None:
    bad = []
    for e in _all_edges():
        (src_kind, src), (dst_kind, dst) = _kind(e.module), _kind(e.target)
        if src_kind == "stage" and dst_kind == "stage" and STAGES.index(dst) > STAGES.index(src):
            bad.append(f"{e.module}:{e.line} imports {e.target} ({src} → later stage {dst})")
        if src_kind == "stage" and dst_kind == "orchestration":
            bad.append(f"{e.module}:{e.line} imports {e.target} (a stage importing the orchestration)")
    assert not bad, "\n".join(bad)


def test_leaves_import_no_stage() -> None:
    bad = []
    for e in _all_edges():
        (src_kind, src), (dst_kind, dst) = _kind(e.module), _kind(e.target)
        if src_kind == "leaf" and dst_kind in ("stage", "orchestration"):
            bad.append(f"{e.module}:{e.line} imports {e.target} (leaf {src} → {dst})")
    assert not bad, "\n".join(bad)


def test_no_function_level_imports_of_fieldready_modules() -> None:
    bad = [f"{e.module}:{e.line} imports {e.target} inside a function" for e in _all_edges()
           if e.in_function and e.module not in LAZY_IMPORTS_ALLOWED]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from fieldready.report.render import x\n", "later stage report"),
        ("def f():\n    from fieldready.plan import CLEAN\n", "inside a function"),
    ],
)
def test_the_checks_catch_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str) -> None:
    # A fake source tree whose evaluation stage holds one offending module: the checks above must fail on it.
    fake = tmp_path / "fieldready"
    (fake / "evaluation").mkdir(parents=True)
    (fake / "evaluation" / "__init__.py").write_text("")
    (fake / "evaluation" / "bad.py").write_text(source)
    monkeypatch.setitem(globals(), "SRC", fake)
    with pytest.raises(AssertionError, match=expected):
        test_no_stage_imports_a_later_stage()
        test_no_function_level_imports_of_fieldready_modules()

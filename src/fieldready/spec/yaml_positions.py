"""YAML with positions: plain Python data plus the line and column of every key and value.

ruamel.yaml's round-trip loader keeps positions; we convert its nodes to plain dicts and lists once
and keep a flat ``{key path: (line, col)}`` index (1-based), so error messages can point at
``file:line:col`` without the rest of fieldready knowing about YAML node types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fieldready.errors import SpecError

__all__ = ["Located", "load_located", "KeyPath"]

KeyPath = tuple[str | int, ...]


@dataclass
class Located:
    """Parsed YAML data with the positions of its keys and values."""

    data: Any
    file: str
    text: str
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: KeyPath, *, of_key: bool = False) -> tuple[int, int]:
        """Line and column of ``path`` (its key or its value); falls back to the nearest parent."""
        table = self.keys if of_key else self.values
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            if sub in table:
                return table[sub]
            if sub in self.values:
                return self.values[sub]
        return (1, 1)

    def error(self, path: KeyPath, message: str, *, of_key: bool = False) -> SpecError:
        """A SpecError located at ``path``."""
        line, col = self.position(path, of_key=of_key)
        return SpecError(message, file=self.file, line=line, col=col, key=format_path(path))


def format_path(path: KeyPath) -> str:
    """``('conditions', 2, 'severity')`` → ``conditions[2].severity``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_located(path: Path) -> Located:
    """Read and parse a YAML file, raising SpecError at the syntax error's position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("spec file not found; check the path", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the spec ({exc}); it must be a UTF-8 text file", file=path) from None
    yaml = YAML(typ="rt")
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise SpecError(f"YAML syntax error: {problem}", file=path, line=line, col=col) from None
    except YAMLError as exc:
        raise SpecError(f"YAML syntax error: {exc}", file=path) from None
    located = Located(data=None, file=str(path), text=text)
    located.data = _plain(root, (), located)
    if not isinstance(located.data, dict):
        raise SpecError("the spec must be a YAML mapping (key: value lines), starting with 'fieldready: 1'", file=path)
    return located


def _plain(node: Any, path: KeyPath, located: Located) -> Any:
    """Convert ruamel nodes to dicts/lists/scalars, recording positions on the way."""
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            sub = (*path, str(key))
            kl, kc = node.lc.key(key)
            located.keys[sub] = (kl + 1, kc + 1)
            vl, vc = node.lc.value(key)
            located.values[sub] = (vl + 1, vc + 1)
            out[str(key)] = _plain(value, sub, located)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for i, value in enumerate(node):
            sub = (*path, i)
            line, col = node.lc.item(i)
            located.values[sub] = (line + 1, col + 1)
            located.keys[sub] = (line + 1, col + 1)
            out_list.append(_plain(value, sub, located))
        return out_list
    if hasattr(node, "__float__") and type(node).__name__ == "ScalarFloat":
        return float(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, str):
        return str(node)
    return node

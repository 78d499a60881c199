"""YAML with positions: plain Python data plus the line and column of every key and value.

ruamel.yaml's round-trip loader keeps positions; we convert its nodes to plain dicts and lists once
and keep a flat ``{key path: (line, col)}`` index (1-based), so error messages can point at
``file:line:col`` without the rest of fieldready knowing about YAML node types.

A spec is plain data, and hostile input must end in one located SpecError, not in exponential
work, a RecursionError or an object built from a tag. So the file is at most ``MAX_BYTES`` of
UTF-8, and every parser event is screened as it is produced, before anything is composed or
constructed: anchors and aliases (``&name``/``*name``) and merge keys (``<<:``) are refused
outright (nothing in a spec needs them, and refusing them makes "billion laughs" impossible
rather than bounded); only the core tags (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
``!!null``, ``!!seq``, ``!!map``) are accepted; collections nest at most ``MAX_DEPTH`` levels
(flow brackets are counted by the scanner itself, whose look-ahead grows with open brackets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.parser import RoundTripParser
from ruamel.yaml.scanner import RoundTripScanner

from fieldready.errors import SpecError

__all__ = ["Located", "load_located", "KeyPath"]

KeyPath = tuple[str | int, ...]

# A real spec is a few kB; 64 KiB still holds ImageNet-1k's class names inline. ruamel's round-trip
# parser reads about 10 kB of dense tokens a second here, so the bound also bounds the parse time.
MAX_BYTES = 64 * 1024
MAX_DEPTH = 32  # a real spec nests about 6 levels (conditions[0].compose[0].severity.values)
_YAML_TAG = "tag:yaml.org,2002:"
_CORE_TAGS = frozenset(_YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))
_DEPTH_MESSAGE = (f"the YAML nests deeper than {MAX_DEPTH} levels; a spec is only a few levels deep "
                  f"— check the brackets and indentation")


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
    """Read, screen and parse a YAML spec, raising SpecError at the offending position."""
    text = _read_text(path)
    if not text.strip():
        raise SpecError("the spec file is empty; a spec is a YAML mapping starting with 'fieldready: 1'", file=path)
    try:
        root = _yaml().load(text)
    except _Refused as exc:
        raise SpecError(exc.message, file=path, line=exc.mark.line + 1, col=exc.mark.column + 1) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise SpecError(f"YAML syntax error: {problem}", file=path, line=line, col=col) from None
    except YAMLError as exc:
        raise SpecError(f"YAML syntax error: {_one_line(exc)}", file=path) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer literal longer than Python converts
        raise SpecError(f"a value in the spec cannot be read ({_one_line(exc)}); write plain numbers and strings",
                        file=path) from None
    located = Located(data=None, file=str(path), text=text)
    located.data = _plain(root, (), located)
    if not isinstance(located.data, dict):
        kind = "empty (only comments)" if located.data is None else f"a YAML {_kind(located.data)}"
        raise SpecError(f"the spec is {kind}; it must be a YAML mapping (key: value lines) starting with "
                        f"'fieldready: 1'", file=path)
    return located


def _read_text(path: Path) -> str:
    """The file's text: at most MAX_BYTES, UTF-8 (a bad byte is reported at its line and column)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("spec file not found; check the path", file=path) from None
    except IsADirectoryError:
        raise SpecError("this is a directory; pass the spec's YAML file", file=path) from None
    except OSError as exc:
        raise SpecError(f"cannot read the spec ({exc.strerror or exc}); check the path and permissions", file=path) from None
    if len(raw) > MAX_BYTES:
        raise SpecError(f"the spec is larger than {MAX_BYTES // 1024} KiB; a spec is a short YAML file "
                        f"(keep long lists such as class names in the dataset's files)", file=path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"the spec is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded); "
                        f"save it as UTF-8", file=path, line=line, col=col) from None


class _Refused(Exception):
    """A screened construct (alias, anchor, merge key, tag, deep nesting) at a YAML mark."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _screen(event: Any, open_: list[list[int]]) -> None:
    """Refuse an anchor, alias, merge key, non-core tag or too deep a collection at ``event``.

    ``open_`` holds, per open collection, ``[is_mapping, children seen so far]`` (to tell keys
    from values); called for every event in order, before anything is composed or constructed.
    """
    if isinstance(event, AliasEvent):
        raise _Refused(f"YAML alias '*{event.anchor}' is not allowed in a spec; write the value out in full "
                       f"(anchors, aliases and '<<' merge keys are refused)", event.start_mark)
    if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
        open_.pop()
        return
    if not isinstance(event, (ScalarEvent, MappingStartEvent, SequenceStartEvent)):
        return
    if event.anchor is not None:
        raise _Refused(f"YAML anchor '&{event.anchor}' is not allowed in a spec; write each value out in full "
                       f"(anchors, aliases and '<<' merge keys are refused)", event.start_mark)
    tag = None if event.tag is None else str(getattr(event.tag, "value", event.tag))
    if tag is not None and tag not in _CORE_TAGS:
        shown = "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag
        raise _Refused(f"YAML tag '{shown}' is not allowed in a spec; a spec holds plain values only "
                       f"(remove the tag)", event.start_mark)
    at_key = bool(open_) and open_[-1][0] == 1 and open_[-1][1] % 2 == 0
    if isinstance(event, ScalarEvent) and at_key and event.value == "<<" and event.style is None and tag is None:
        raise _Refused("YAML merge key '<<' is not allowed in a spec; write the keys out in full", event.start_mark)
    if open_:
        open_[-1][1] += 1
    if not isinstance(event, ScalarEvent):
        open_.append([int(isinstance(event, MappingStartEvent)), 0])
        if len(open_) > MAX_DEPTH:
            raise _Refused(_DEPTH_MESSAGE, event.start_mark)


class _ScreeningParser(RoundTripParser):
    """ruamel's round-trip parser with every event screened as the composer takes it.

    The composer takes each event once, through ``get_event``, and builds nodes only from what
    passed; nothing is constructed before the whole document is composed. One pass, no recursion
    past MAX_DEPTH, no alias ever resolved.
    """

    def reset_parser(self) -> None:
        super().reset_parser()
        self._open: list[list[int]] = []

    def get_event(self) -> Any:
        event = super().get_event()
        if event is not None:
            _screen(event, self._open)
        return event


class _BoundedScanner(RoundTripScanner):
    """ruamel's scanner with flow nesting (``[[[…``) bounded as it is read.

    At each open bracket the scanner looks ahead up to 1024 characters to resolve a possible key,
    and checks every open bracket on every token, so thousands of ``[`` cost seconds before the
    parser emits one event; stopping at the bracket itself keeps that cost tiny.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:  # noqa: N803 (ruamel's name)
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(_DEPTH_MESSAGE, self.reader.get_mark())
        super().fetch_flow_collection_start(TokenClass, to_push)


def _yaml() -> YAML:
    """A round-trip (position-keeping) loader that screens its input as it parses."""
    yaml = YAML(typ="rt")
    yaml.Scanner = _BoundedScanner
    yaml.Parser = _ScreeningParser
    return yaml


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    return f"single value ({type(value).__name__})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


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
    if isinstance(node, TaggedScalar):  # ruamel keeps '!!str 1' tagged; the screen let only core tags through
        return str(node.value)
    return node

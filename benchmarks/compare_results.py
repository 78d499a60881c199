"""Compare two ``results.json`` files number by number: a refactor must leave every figure as it was.

Everything is compared exactly (floats with ``==``, so a last-bit change counts), except what
legitimately differs between two runs of the same plan: timestamps, durations, package versions and
the device. Keys only the second file has are listed as additions (a new field), not as changes.
Run ``python benchmarks/compare_results.py BEFORE/results.json AFTER/results.json``; exit 0 when
nothing changed or went missing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["IGNORED", "Comparison", "compare", "compare_files", "main"]

#: Dotted paths (``*`` matches any key or list index) that differ between runs of the same plan.
IGNORED: tuple[str, ...] = (
    "provenance.started",
    "provenance.finished",
    "provenance.duration_s",
    "provenance.versions",
    "provenance.device",
)


@dataclass
class Comparison:
    """Paths whose values differ, paths the second file lacks, and paths only the second file has."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    compared: int = 0

    @property
    def identical(self) -> bool:
        return not self.changed and not self.missing


def _ignored(path: str, ignored: tuple[str, ...]) -> bool:
    parts = path.split(".")
    for pattern in ignored:
        pat = pattern.split(".")
        if len(parts) >= len(pat) and all(p == "*" or p == q for p, q in zip(pat, parts)):
            return True
    return False


def _walk(a: Any, b: Any, path: str, out: Comparison, ignored: tuple[str, ...]) -> None:
    if path and _ignored(path, ignored):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                if not _ignored(sub, ignored):
                    out.missing.append(sub)
                continue
            _walk(a[key], b[key], sub, out, ignored)
        out.added += [f"{path}.{key}" if path else str(key) for key in b if key not in a]
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.changed.append(f"{path}: {len(a)} items, then {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}.{i}", out, ignored)
        return
    out.compared += 1
    same = type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                              and not isinstance(a, bool) and a == b)
    if not same:
        out.changed.append(f"{path}: {a!r} → {b!r}")


def compare(before: Any, after: Any, *, ignored: tuple[str, ...] = IGNORED) -> Comparison:
    """Every difference between two parsed ``results.json`` documents, outside ``ignored`` paths."""
    out = Comparison()
    _walk(before, after, "", out, ignored)
    return out


def compare_files(before: Path, after: Path, *, ignored: tuple[str, ...] = IGNORED) -> Comparison:
    """``compare`` of two ``results.json`` files (or run directories holding one)."""
    def read(p: Path) -> Any:
        p = Path(p)
        return json.loads((p / "results.json" if p.is_dir() else p).read_text(encoding="utf-8"))

    return compare(read(before), read(after), ignored=ignored)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    result = compare_files(args.before, args.after)
    for line in result.changed:
        print(f"changed  {line}")
    for line in result.missing:
        print(f"missing  {line}")
    for line in result.added:
        print(f"added    {line}")
    print(f"{result.compared} values compared: " + ("identical" if result.identical else
          f"{len(result.changed)} changed, {len(result.missing)} missing") + f", {len(result.added)} added")
    return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())

"""A loaded spec: the validated ``Spec`` with where it came from (file, verbatim text, hash, YAML positions)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from fieldready.spec.models import Spec
from fieldready.yaml_positions import Located

__all__ = ["LoadedSpec"]


@dataclass
class LoadedSpec:
    """A validated spec with where it came from: its file, verbatim text, hash and YAML positions."""

    spec: Spec
    path: Path
    text: str
    located: Located
    warnings: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The folder that relative paths in the spec are resolved against."""
        return self.path.parent

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def resolve(self, relative: str) -> Path:
        """A path from the spec, made absolute relative to the spec's folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.root / p)

"""The one exception tree of fieldready: every error a user can cause derives from FieldreadyError.

The CLI catches FieldreadyError, prints its one-line message and exits 2; anything else is a bug.

    FieldreadyError
    ├── SpecError            the spec file is malformed or refers to something that does not exist
    │   │                    (carries file, line, column and key path)
    │   └── SpecErrors       several SpecErrors reported at once
    ├── PlanError            the spec is valid but cannot be compiled (e.g. an empty dataset)
    ├── DataError            an image or annotation file is missing or cannot be decoded
    ├── ModelError           a model cannot be loaded, raises, or returns malformed/NaN output
    ├── CorruptionError      an unknown corruption or a severity outside its valid range
    ├── StoreError           the run directory cannot be written or holds a different plan
    ├── ReportError          the report cannot be rendered or signed
    └── SignatureError       a signed PDF cannot be verified
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FieldreadyError",
    "SpecError",
    "SpecErrors",
    "PlanError",
    "DataError",
    "ModelError",
    "CorruptionError",
    "StoreError",
    "ReportError",
    "SignatureError",
]


class FieldreadyError(Exception):
    """Base of every error a user can cause; its message is one line that says what to do."""


class SpecError(FieldreadyError):
    """A spec problem located at ``file:line:col`` and a dotted key path."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        col: int | None = None,
        key: str = "",
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.col = col
        self.key = key
        super().__init__(self.format())

    def format(self) -> str:
        """Render as ``SPEC:LINE:COL: key.path: message`` (the CLI's contract)."""
        where = self.file or "<spec>"
        where += f":{self.line or 1}:{self.col or 1}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class SpecErrors(SpecError):
    """Several spec problems reported together, one per line."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, col=first.col, key=first.key)

    def format(self) -> str:
        return "\n".join(e.format() for e in getattr(self, "errors", [])) or super().format()


class PlanError(FieldreadyError):
    """The spec validated but cannot be turned into a test plan."""


class DataError(FieldreadyError):
    """A dataset file or image is missing, unreadable or inconsistent."""


class ModelError(FieldreadyError):
    """A model failed to load or produced output that breaks the model contract."""


class CorruptionError(FieldreadyError):
    """An unknown corruption name or a severity outside the corruption's valid range."""


class StoreError(FieldreadyError):
    """The run directory cannot be used (unwritable, full disk, or a different plan)."""


class ReportError(FieldreadyError):
    """The report could not be rendered or signed."""


class SignatureError(FieldreadyError):
    """A report signature could not be checked."""

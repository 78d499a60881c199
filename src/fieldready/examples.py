"""Where the bundled examples live: inside the wheel (``fieldready/_examples``) or in a source checkout."""

from __future__ import annotations

from pathlib import Path

from fieldready.errors import FieldreadyError

__all__ = ["example_dir", "example_spec", "EXAMPLES"]

EXAMPLES = ("shapes", "digits")


def example_dir(name: str) -> Path:
    """The folder of bundled example ``name``."""
    if name not in EXAMPLES:
        raise FieldreadyError(f"unknown example {name!r}; known: {', '.join(EXAMPLES)}")
    here = Path(__file__).resolve().parent
    for candidate in (here / "_examples" / name, here.parent.parent / "examples" / name):
        if (candidate / "spec.yaml").is_file():
            return candidate
    raise FieldreadyError(
        f"the bundled example {name!r} is not installed; reinstall fieldready from its source tree (pip install .)"
    )


def example_spec(name: str) -> Path:
    """The spec file of bundled example ``name``."""
    return example_dir(name) / "spec.yaml"

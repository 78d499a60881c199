"""Where the files fieldready ships beside its code live: examples, specs (presets) and report templates.

In a source checkout or an editable install they are the top-level ``examples/``, ``specs/`` and
``templates/`` folders; a wheel carries them inside the package as ``fieldready/_examples``,
``fieldready/_specs`` and ``fieldready/_templates`` (pyproject's ``force-include``). Every lookup
goes through ``shipped``, so both layouts work and a missing folder is one clear error.
"""

from __future__ import annotations

from pathlib import Path

from fieldready.errors import FieldreadyError

__all__ = ["SHIPPED", "EXAMPLES", "shipped", "example_dir", "example_spec", "presets_dir", "templates_dir"]

#: Top-level folder of a checkout → its name inside an installed wheel.
SHIPPED: dict[str, str] = {"examples": "_examples", "specs": "_specs", "templates": "_templates"}
EXAMPLES = ("shapes", "digits")
_PACKAGE = Path(__file__).resolve().parent


def shipped(folder: str) -> Path:
    """The shipped folder ``folder`` (examples, specs or templates): the wheel's copy, else the checkout's."""
    if folder not in SHIPPED:
        raise FieldreadyError(f"unknown shipped folder {folder!r}; known: {', '.join(SHIPPED)}")
    for candidate in (_PACKAGE / SHIPPED[folder], _PACKAGE.parent.parent / folder):
        if candidate.is_dir():
            return candidate
    raise FieldreadyError(
        f"fieldready's {folder}/ folder is not installed; reinstall fieldready from its source tree (pip install .)"
    )


def example_dir(name: str) -> Path:
    """The folder of bundled example ``name``."""
    if name not in EXAMPLES:
        raise FieldreadyError(f"unknown example {name!r}; known: {', '.join(EXAMPLES)}")
    folder = shipped("examples") / name
    if not (folder / "spec.yaml").is_file():
        raise FieldreadyError(
            f"the bundled example {name!r} is not installed; reinstall fieldready from its source tree (pip install .)"
        )
    return folder


def example_spec(name: str) -> Path:
    """The spec file of bundled example ``name``."""
    return example_dir(name) / "spec.yaml"


def presets_dir() -> Path:
    """The folder of the condition presets (``preset: imagenet-c`` reads ``imagenet-c.yaml`` there)."""
    return shipped("specs") / "presets"


def templates_dir() -> Path:
    """The folder of the report's packaged Jinja2 templates and CSS."""
    return shipped("templates")

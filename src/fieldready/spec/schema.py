"""The spec's JSON Schema, for editor completion (``# yaml-language-server: $schema=...``).

Generated from the pydantic models and from the model-kind registry: ``kind`` lists the registered
kinds, and each kind's fields and ``options`` schema apply when ``kind`` names it (an ``if``/``then``
per kind), so an installed kind's options complete in an editor like the built-in ones.
"""

from __future__ import annotations

import json
from typing import Any

from fieldready.execution.models.kinds import all_kinds
from fieldready.execution.models.kinds.registry import ModelKind
from fieldready.spec.models import Spec

__all__ = ["spec_json_schema", "spec_json_schema_text"]


def _kind_rule(kind: ModelKind) -> dict[str, Any]:
    """``if kind == <name> then <its fields and options>`` for one model kind."""
    options = kind.options.model_json_schema()
    options.pop("title", None)
    options["description"] = f"options of a {kind.name} model"
    then: dict[str, Any] = {"properties": {"options": options}}
    required = (["path"] if kind.path == "required" else []) + (["entrypoint"] if kind.entrypoint else [])
    if required:
        then["required"] = required
    return {"if": {"properties": {"kind": {"const": kind.name}}, "required": ["kind"]}, "then": then}


def spec_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a fieldready spec, keyed by alias (``class``)."""
    schema = Spec.model_json_schema(by_alias=True)
    model = schema["$defs"]["ModelSpec"]
    kinds = all_kinds()
    model["properties"]["kind"] = {
        "title": "Kind",
        "type": "string",
        "enum": [k.name for k in kinds],
        "description": "; ".join(f"{k.name}: {k.description}" for k in kinds),
    }
    model["allOf"] = [_kind_rule(k) for k in kinds]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "fieldready deployment-readiness spec"
    return schema


def spec_json_schema_text() -> str:
    """The schema as stable, pretty JSON text (what ``fieldready schema`` prints)."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"

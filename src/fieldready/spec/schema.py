"""The spec's JSON Schema, for editor completion (``# yaml-language-server: $schema=...``)."""

from __future__ import annotations

import json

from fieldready.spec.models import Spec

__all__ = ["spec_json_schema", "spec_json_schema_text"]


def spec_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a fieldready spec, keyed by alias (``class``)."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "fieldready deployment-readiness spec"
    return schema


def spec_json_schema_text() -> str:
    """The schema as stable, pretty JSON text (what ``fieldready schema`` prints)."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"

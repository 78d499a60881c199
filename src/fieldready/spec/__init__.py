"""The deployment-readiness spec: pydantic models, the YAML-with-positions loader and its JSON Schema."""

from fieldready.spec.loader import LoadedSpec, load_spec
from fieldready.spec.models import Spec
from fieldready.spec.schema import spec_json_schema

__all__ = ["LoadedSpec", "Spec", "load_spec", "spec_json_schema"]

"""The spec stage: pydantic models, the loader (YAML with positions → ``Spec`` → cross-checks), presets, JSON Schema.

The bounded YAML-with-positions parser is ``fieldready.yaml_positions`` (a leaf: data formats that
read YAML use it too); the metric and model-kind vocabularies the checks validate against are the
registries ``fieldready.evaluation.metrics`` and ``fieldready.execution.models.kinds``. Never imports torch.
"""

from fieldready.spec.loader import LoadedSpec, load_spec
from fieldready.spec.models import Spec
from fieldready.spec.schema import spec_json_schema

__all__ = ["LoadedSpec", "Spec", "load_spec", "spec_json_schema"]

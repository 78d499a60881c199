"""The plan stage: a validated spec → a ``TestPlan`` of units, severity points, seeds and hashes.

``plan.py`` compiles the plan (it reads the dataset index and hashes data, models and plugins);
``samplesize.py`` warns when a criterion cannot be decided with the images at hand.
"""

from fieldready.plan.plan import (
    CLEAN,
    REPEAT,
    ConditionEntry,
    ModelEntry,
    PlanSummary,
    PluginEntry,
    Point,
    Step,
    TestPlan,
    compile_plan,
    condition_of,
    file_sha256,
    module_files,
    point_key,
    spec_dataset,
)

__all__ = [
    "CLEAN",
    "REPEAT",
    "Step",
    "Point",
    "ModelEntry",
    "PluginEntry",
    "ConditionEntry",
    "TestPlan",
    "PlanSummary",
    "compile_plan",
    "point_key",
    "condition_of",
    "spec_dataset",
    "file_sha256",
    "module_files",
]

"""The plan stage: a validated spec → a ``TestPlan`` of units, severity points, seeds and hashes.

``plan.py`` compiles the plan (it reads the dataset index and hashes data, models and plugins);
``samplesize.py`` warns when a criterion cannot be decided with the images at hand.
"""

from fieldready.plan.plan import (
    CLEAN,
    ConditionEntry,
    ModelEntry,
    PluginEntry,
    Point,
    Step,
    TestPlan,
    compile_plan,
    file_sha256,
    module_files,
    spec_dataset,
)

__all__ = [
    "CLEAN",
    "Step",
    "Point",
    "ModelEntry",
    "PluginEntry",
    "ConditionEntry",
    "TestPlan",
    "compile_plan",
    "spec_dataset",
    "file_sha256",
    "module_files",
]

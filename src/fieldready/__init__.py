"""fieldready: decide whether a computer-vision model is ready to ship.

The public API mirrors the command line: ``load_spec`` (validate), ``compile_plan`` (plan),
``execute`` (run into a result store), ``evaluate`` and ``build_results`` (metrics and verdicts),
``render_report`` (report), ``run`` (all of it), and ``corrupt`` (one corruption on a batch).
"""

from __future__ import annotations

__version__ = "0.1.0"

from fieldready.corruptions import corrupt, register as register_corruption
from fieldready.errors import (
    CorruptionError,
    DataError,
    FieldreadyError,
    ModelError,
    PlanError,
    ReportError,
    SignatureError,
    SpecError,
    StoreError,
)
from fieldready.evaluate import evaluate
from fieldready.pipeline import run
from fieldready.plan import TestPlan, compile_plan
from fieldready.report import render_report
from fieldready.results import Results
from fieldready.runner import execute
from fieldready.spec import load_spec
from fieldready.store import ResultStore
from fieldready.summary import build_results

__all__ = [
    "__version__",
    "load_spec",
    "compile_plan",
    "execute",
    "evaluate",
    "build_results",
    "render_report",
    "run",
    "corrupt",
    "register_corruption",
    "TestPlan",
    "ResultStore",
    "Results",
    "FieldreadyError",
    "SpecError",
    "PlanError",
    "DataError",
    "ModelError",
    "CorruptionError",
    "StoreError",
    "ReportError",
    "SignatureError",
]

"""fieldready: decide whether a computer-vision model is ready to ship.

The public API mirrors the command line: ``load_spec`` (validate), ``compile_plan`` (plan),
``execute`` (run into a result store), ``evaluate`` and ``build_results`` (metrics and verdicts),
``render_report`` (report), ``run`` (all of it), and ``corrupt`` (one corruption on a batch).
Names load lazily, so ``fieldready validate`` does not pay for torch, WeasyPrint or matplotlib.
The stages are packages (spec, plan, execute, evaluate, judge, report); see the README's
"How the code is laid out".
"""

import importlib as _importlib

__version__ = "0.1.0"

_EXPORTS = {
    "load_spec": "fieldready.spec",
    "compile_plan": "fieldready.plan",
    "TestPlan": "fieldready.plan",
    "execute": "fieldready.execution.runner",
    "ResultStore": "fieldready.execution.store",
    "evaluate": "fieldready.evaluation.evaluate",
    "build_results": "fieldready.judge.build",
    "Results": "fieldready.judge.results",
    "render_report": "fieldready.report",
    "run": "fieldready.pipeline",
    "corrupt": "fieldready.corruptions",
    "register_corruption": "fieldready.corruptions",
    "register_metric": "fieldready.evaluation.metrics.registry",
    "MetricDef": "fieldready.evaluation.metrics.registry",
    "register_kind": "fieldready.execution.models.kinds.registry",
    "ModelKind": "fieldready.execution.models.kinds.registry",
    "FieldreadyError": "fieldready.errors",
    "SpecError": "fieldready.errors",
    "PlanError": "fieldready.errors",
    "DataError": "fieldready.errors",
    "ModelError": "fieldready.errors",
    "CorruptionError": "fieldready.errors",
    "StoreError": "fieldready.errors",
    "ReportError": "fieldready.errors",
    "SignatureError": "fieldready.errors",
}
_RENAMED = {"register_corruption": "register"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fieldready' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_EXPORTS[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

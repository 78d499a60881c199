"""The ``exported`` model kind: a ``torch.export`` program saved with ``torch.export.save`` (``.pt2``).

``torch.export.load`` rebuilds the graph from its serialised form, so no Python code of the user runs
(TorchScript's successor). The program's input (dtype, fixed or bounded batch) is read from its
graph; a fixed-batch program is fed in chunks of its batch size, the last one padded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldready.errors import ModelError
from fieldready.execution.models.batching import run_in_batches
from fieldready.execution.models.kinds.registry import ModelFields, ModelKind, NoOptions, register_kind

if TYPE_CHECKING:
    import torch

__all__ = ["KIND", "ExportedModel", "load_exported", "load_exported_kind"]


class ExportedModel:
    """An exported program's module on a device: ``model(x [N, 3, H, W]) → whatever the program returns``.

    ``input_dtype`` is the program's input dtype; ``min_batch``/``max_batch`` its batch bounds (both
    the batch size when it was exported with a fixed batch, ``max_batch`` None when unbounded).
    """

    def __init__(self, module: Any, path: Path, input_dtype: "torch.dtype", min_batch: int, max_batch: int | None) -> None:
        self.module = module
        self.path = path
        self.input_dtype = input_dtype
        self.min_batch = min_batch
        self.max_batch = max_batch

    def __repr__(self) -> str:
        return f"ExportedModel({self.path.name}, input {self.input_dtype}, batch {self.min_batch}..{self.max_batch or 'any'})"

    def __call__(self, x: "torch.Tensor") -> object:
        """Run on a batch, in chunks when the program's batch is fixed or bounded."""
        import torch

        if x.is_floating_point() and self.input_dtype.is_floating_point:
            x = x.to(self.input_dtype)
        elif x.dtype != self.input_dtype:
            want = str(self.input_dtype).removeprefix("torch.")
            hint = "{dtype: uint8, value_range: 255}" if self.input_dtype == torch.uint8 else f"{{dtype: {want}}}"
            raise ModelError(f"{self.path}: the exported program takes {want} input, fieldready prepared "
                             f"{str(x.dtype).removeprefix('torch.')}; declare input: {hint}")
        return run_in_batches(self.module, x, max_batch=self.max_batch, min_batch=self.min_batch)


class _Logged(logging.Handler):
    """Keeps the exceptions a logger reports (torch.export.load's deserialisation failures), printing nothing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


def _batch_bounds(program: Any, example: Any) -> tuple[int, int | None]:
    """The batch sizes the program accepts: (n, n) when exported with a fixed batch, else its dim's range."""
    dim = example.shape[0]
    if isinstance(dim, int):
        return dim, dim
    bounds = program.range_constraints.get(dim.node.expr)
    if bounds is None:
        return 1, None
    # torch.export reports an unconstrained batch as [2, ∞) (it specialises 0 and 1) yet runs a batch of 1.
    lower = int(bounds.lower) if getattr(bounds.lower, "is_Integer", False) and int(bounds.lower) > 2 else 1
    upper = int(bounds.upper) if getattr(bounds.upper, "is_Integer", False) else None  # int_oo when unbounded
    return lower, upper


def load_exported(path: Path, *, device: "torch.device") -> ExportedModel:
    """Load a ``.pt2`` saved by ``torch.export.save`` onto ``device``; the module runs as exported (eval mode)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: exported program not found; check path: in the model entry")
    # torch.export.load logs a failed load's traceback as a warning and raises "check the warnings above":
    # the logged exception is kept instead (the cause) and said in the one-line error below
    logger, logged = logging.getLogger("torch.export"), _Logged()
    propagate, handlers = logger.propagate, logger.handlers
    logger.propagate, logger.handlers = False, [logged]
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # a zip that is not a program, a newer serialisation, a truncated file
        exc = logged.errors[0] if logged.errors else exc
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else ""
        raise ModelError(f"{path}: not a loadable torch.export program ({type(exc).__name__}: {first[:300]}); "
                         "save it with torch.export.save(torch.export.export(model, (example,)), path)") from None
    finally:
        logger.propagate, logger.handlers = propagate, handlers
    user_inputs = list(program.graph_signature.user_inputs)
    examples = {n.name: n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"}
    tensors = [examples.get(name) for name in user_inputs]
    if len(user_inputs) != 1 or not isinstance(tensors[0], torch.Tensor) or tensors[0].ndim != 4:
        shapes = ", ".join(f"{name} {list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}"
                           for name, t in zip(user_inputs, tensors))
        raise ModelError(f"{path}: the exported program takes {len(user_inputs)} input(s) ({shapes}); fieldready feeds one "
                         "image tensor [N, 3, H, W] — export the model with that as its only input")
    example = tensors[0]
    min_batch, max_batch = _batch_bounds(program, example)
    from torch.export.passes import move_to_device_pass

    program = move_to_device_pass(program, device)  # also when saved from another device than the run's
    module = program.module()
    module.requires_grad_(False)  # inference only: no autograd graph kept for outputs used outside inference_mode
    return ExportedModel(module, path, example.dtype, min_batch, max_batch)


def load_exported_kind(model: ModelFields, root: Path, device: "torch.device") -> ExportedModel:
    """The kind's loader: ``path`` relative to the spec folder, loaded onto the run's device."""
    path = Path(str(model.path))
    return load_exported(path if path.is_absolute() else root / path, device=device)


KIND = register_kind(ModelKind(
    name="exported",
    description="a torch.export program saved with torch.export.save (.pt2); no Python code of the user runs",
    load=load_exported_kind,
    options=NoOptions,
    path="required",
))

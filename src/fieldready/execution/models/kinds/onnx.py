"""The ``onnx`` model kind: an ONNX file run by onnxruntime; no Python code of the user runs.

Input name, element type (float32, float16, uint8), layout (NCHW or NHWC) and batch (fixed or
dynamic) are read from the model. A fixed-batch model is fed in chunks of its batch size, the last
one padded; a dynamic one gets the whole batch. The raw outputs come back as torch tensors on the
requested device, for ``conventions.decode_output`` to decode. onnxruntime is the ``[onnx]`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fieldready.errors import ModelError
from fieldready.execution.models.batching import run_in_batches
from fieldready.execution.models.kinds.registry import ModelFields, ModelKind, register_kind

if TYPE_CHECKING:
    import torch

__all__ = ["KIND", "OnnxModel", "OnnxOptions", "load_onnx", "load_onnx_kind", "ONNX_DTYPES"]

#: onnxruntime's element types of the inputs fieldready can feed, by the name used in ``input: dtype``.
ONNX_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}


def _dim(value: object) -> int | None:
    """A fixed dimension, or None for a symbolic/unknown one."""
    return value if isinstance(value, int) and value > 0 else None


class OnnxModel:
    """An onnxruntime session behind a torch interface: ``model(x [N, 3, H, W]) → tensor or {name: tensor}``.

    Attributes read from the model: ``input_name``, ``input_dtype`` (float32 | float16 | uint8),
    ``layout`` (NCHW | NHWC), ``batch`` (fixed batch size, or None when dynamic), ``input_size``
    ((height, width), None where dynamic), ``output_names``; ``providers`` are those in use.
    """

    def __init__(self, session: Any, path: Path, device: "torch.device") -> None:
        self.session = session
        self.path = path
        self.device = device
        (inp,) = session.get_inputs()
        shape = list(inp.shape)
        self.input_name: str = inp.name
        self.input_dtype: str = ONNX_DTYPES[inp.type]
        self.layout = "NHWC" if _dim(shape[3]) == 3 and _dim(shape[1]) != 3 else "NCHW"
        self.batch: int | None = _dim(shape[0])
        h, w = (shape[1], shape[2]) if self.layout == "NHWC" else (shape[2], shape[3])
        self.input_size: tuple[int | None, int | None] = (_dim(h), _dim(w))
        self.output_names: list[str] = [o.name for o in session.get_outputs()]
        self.providers: list[str] = list(session.get_providers())

    def __repr__(self) -> str:
        batch = self.batch if self.batch is not None else "dynamic"
        return (f"OnnxModel({self.path.name}, input {self.input_name!r} {self.input_dtype} {self.layout}, batch {batch}, "
                f"outputs {self.output_names}, {self.providers[0]})")

    def _check(self, x: "torch.Tensor") -> None:
        """Refuse inputs the session would reject, with what to declare instead of onnxruntime's message."""
        import torch

        if x.ndim != 4 or x.shape[1] != 3:
            raise ModelError(f"{self.path}: the ONNX model takes images [N, 3, H, W] (fed as {self.layout}), got {list(x.shape)}")
        got = {torch.float32: "float32", torch.float16: "float16", torch.uint8: "uint8"}.get(x.dtype, str(x.dtype))
        if (self.input_dtype == "uint8") != (got == "uint8"):
            hint = ("declare input: {dtype: uint8, value_range: 255}" if self.input_dtype == "uint8"
                    else f"declare input: {{dtype: {self.input_dtype}}}")
            raise ModelError(f"{self.path}: the ONNX model's input {self.input_name!r} is {self.input_dtype}, "
                             f"fieldready prepared {got}; {hint}")
        expected = self.input_size
        if any(e is not None and e != g for e, g in zip(expected, x.shape[2:])):
            want = [e if e is not None else "any" for e in expected]
            raise ModelError(f"{self.path}: the ONNX model takes {want[0]}×{want[1]} images (height × width), got "
                             f"{x.shape[2]}×{x.shape[3]}; declare input: {{size: [{want[0]}, {want[1]}]}}")

    def _run(self, x: "torch.Tensor") -> "torch.Tensor | dict[str, torch.Tensor]":
        import numpy as np
        import torch

        outputs = self.session.run(None, {self.input_name: x.detach().cpu().numpy()})
        tensors = []
        for name, value in zip(self.output_names, outputs):
            if not isinstance(value, np.ndarray):
                raise ModelError(f"{self.path}: output {name!r} of the ONNX model is a {type(value).__name__}, not a tensor; "
                                 "export the model without post-processing to maps or sequences")
            tensors.append(torch.from_numpy(value).to(self.device))
        return tensors[0] if len(tensors) == 1 else dict(zip(self.output_names, tensors))

    def __call__(self, x: "torch.Tensor") -> "torch.Tensor | dict[str, torch.Tensor]":
        """Run on ``[N, 3, H, W]``: one output → a tensor, several → ``{name: tensor}`` in the model's order."""
        import torch

        if x.is_floating_point() and self.input_dtype in ("float32", "float16"):
            x = x.to(torch.float16 if self.input_dtype == "float16" else torch.float32)
        self._check(x)
        if self.layout == "NHWC":
            x = x.permute(0, 2, 3, 1)
        x = x.contiguous()
        return run_in_batches(self._run, x, max_batch=self.batch, min_batch=self.batch or 1)  # type: ignore[return-value]


def _providers(ort: Any, device: "torch.device") -> list[Any]:
    """CUDA when the device asks for it and this onnxruntime has it, CPU always as the fallback."""
    available = set(ort.get_available_providers())
    if device.type == "cuda" and "CUDAExecutionProvider" in available:
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load_onnx(path: Path, *, device: "torch.device", threads: int | None = None,
              providers: Sequence[Any] | None = None) -> OnnxModel:
    """Open an ONNX model with onnxruntime on ``device``: the CUDA provider for a cuda device when present, else CPU.

    ``threads`` caps onnxruntime's intra-op threads (default: torch's thread count, so the two share
    the cores the runner was given); ``providers`` overrides the choice of execution providers.
    """
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(f"{path}: ONNX models need onnxruntime: pip install 'fieldready[onnx]'") from None
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: ONNX model file not found; check path: in the model entry")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the graph optimiser's notes are not the user's concern
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=list(providers or _providers(ort, device)))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/InvalidGraph/NoSuchFile types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(f"{path}: not a loadable ONNX model ({type(exc).__name__}: {first[:300]}); "
                         "export it with torch.onnx.export or the training tool's ONNX export") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(f"{i.name} {list(i.shape)}" for i in inputs)
        raise ModelError(f"{path}: the ONNX model has {len(inputs)} inputs ({names}); fieldready feeds one image tensor "
                         "— export the model with the image as its only input")
    inp = inputs[0]
    if inp.type not in ONNX_DTYPES:
        raise ModelError(f"{path}: the ONNX model's input {inp.name!r} is {inp.type}; fieldready feeds "
                         f"{', '.join(ONNX_DTYPES.values())} images — export it with one of these")
    if len(inp.shape) != 4:
        raise ModelError(f"{path}: the ONNX model's input {inp.name!r} has shape {list(inp.shape)}; fieldready feeds "
                         "images [N, 3, H, W] (or [N, H, W, 3])")
    shape = [_dim(d) for d in inp.shape]
    if shape[1] not in (3, None) and shape[3] not in (3, None):
        raise ModelError(f"{path}: the ONNX model's input {inp.name!r} has shape {list(inp.shape)}, not 3-channel images "
                         "[N, 3, H, W] or [N, H, W, 3]")
    return OnnxModel(session, path, device)


class OnnxOptions(BaseModel):
    """``options:`` of an onnx model: ``threads`` caps onnxruntime's intra-op threads (default: torch's)."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(default=None, gt=0, le=1024)


def load_onnx_kind(model: ModelFields, root: Path, device: "torch.device") -> OnnxModel:
    """The kind's loader: ``path`` relative to the spec folder, ``options.threads``, the device's provider."""
    path = Path(str(model.path))
    path = path if path.is_absolute() else root / path
    options = OnnxOptions.model_validate(model.options)
    return load_onnx(path, device=device, threads=options.threads)


KIND = register_kind(ModelKind(
    name="onnx",
    description="an ONNX file run by onnxruntime (pip install 'fieldready[onnx]'); no Python code of the user runs",
    load=load_onnx_kind,
    options=OnnxOptions,
    path="required",
))

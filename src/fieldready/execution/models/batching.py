"""Run a model on a batch in chunks: fixed-batch exports (ONNX, ``torch.export``) take only their batch size.

Kept apart from ``conventions`` (which imports torch at once) so the model kinds can use it and still
be read without torch; torch is imported when a batch is actually split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from fieldready.errors import ModelError

if TYPE_CHECKING:
    import torch

__all__ = ["run_in_batches"]


def _describe(value: object) -> str:
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"  # type: ignore[attr-defined]
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))[:6]}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _join(parts: list[tuple[object, int]]) -> object:
    """Outputs of consecutive chunks, each cut to its ``k`` real images, joined along the batch."""
    import torch

    first = parts[0][0]
    if isinstance(first, torch.Tensor):
        return torch.cat([o[:k] for o, k in parts])  # type: ignore[index]
    if isinstance(first, Mapping):
        return {key: _join([(o[key], k) for o, k in parts]) for key in first}  # type: ignore[index]
    if isinstance(first, (list, tuple)):
        if first and all(isinstance(v, Mapping) for v in first):  # one dict per image (torchvision)
            return [d for o, k in parts for d in list(o)[:k]]  # type: ignore[call-overload]
        return type(first)(_join([(o[i], k) for o, k in parts]) for i in range(len(first))) \
            if isinstance(first, tuple) else [_join([(o[i], k) for o, k in parts]) for i in range(len(first))]
    raise ModelError(f"cannot join the outputs of a fixed-batch model: {_describe(first)}")


def run_in_batches(fn: Callable[[torch.Tensor], object], x: torch.Tensor, *, max_batch: int | None,
                   min_batch: int = 1) -> object:
    """Call ``fn`` on chunks of at most ``max_batch`` images, each padded with zero images to ``min_batch``.

    For models exported with a fixed batch (``max_batch = min_batch = B``); the outputs (tensors,
    dicts or tuples of them, or one dict per image) are cut to the real images and joined.
    """
    import torch

    n = x.shape[0]
    if (max_batch is None or n <= max_batch) and n >= min_batch:
        return fn(x)
    step = max_batch or n
    parts = []
    for start in range(0, n, step):
        chunk = x[start : start + step]
        k = chunk.shape[0]
        if k < min_batch:
            chunk = torch.cat([chunk, chunk.new_zeros((min_batch - k, *chunk.shape[1:]))])
        parts.append((fn(chunk), k))
    return _join(parts)

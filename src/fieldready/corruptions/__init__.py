"""Corruptions: batched torch functions registered by name, with physical severities and ImageNet-C levels.

Importing this package declares the built-in catalogue (``builtin.py``) without importing torch, so
specs and plans can be checked cheaply; a family module (``noise``, ``blur``, ``weather``,
``digital``, ``geometric``, ``field``) is imported the first time one of its functions runs.
``corrupt`` is the convenient entry point; the runner uses ``apply``/``apply_steps`` with its own
per-image streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fieldready.corruptions.builtin import BUILTIN
from fieldready.corruptions.registry import (
    Boxes,
    Corrupted,
    Corruption,
    all_corruptions,
    ENTRY_POINT_GROUP,
    apply,
    declare,
    get,
    load_entry_points,
    names,
    register,
    unregister,
)
from fieldready.errors import CorruptionError
from fieldready.rng import ImageRNG, derive_seed

if TYPE_CHECKING:
    import torch

__all__ = [
    "Boxes",
    "Corrupted",
    "Corruption",
    "all_corruptions",
    "apply",
    "apply_steps",
    "corrupt",
    "get",
    "load_entry_points",
    "ENTRY_POINT_GROUP",
    "names",
    "register",
    "unregister",
]

declare(BUILTIN.values())


def _check_images(images: torch.Tensor) -> None:
    import torch

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise CorruptionError(f"images must be a float tensor [N, 3, H, W] in [0, 1], got {shape}; add a batch dim with images[None]")
    if not images.is_floating_point():
        raise CorruptionError(f"images must be float in [0, 1], got dtype {images.dtype}; convert with images.float() / 255")


def apply_steps(
    images: torch.Tensor,
    steps: Sequence[tuple[str, float]],
    rng: ImageRNG,
    *,
    spatial_scale: float = 1.0,
    boxes: Boxes | None = None,
) -> Corrupted:
    """Apply a composition ``[(name, severity), …]`` in order, drawing from the same per-image streams."""
    result = Corrupted(images, boxes)
    for name, severity in steps:
        result = apply(result.images, name, severity, rng, spatial_scale=spatial_scale, boxes=result.boxes)
    return result


def corrupt(
    images: torch.Tensor,
    name: str,
    *,
    severity: float | None = None,
    level: int | None = None,
    seed: int = 0,
    boxes: Boxes | None = None,
) -> Corrupted:
    """Corrupt a batch ``[N, 3, H, W]`` float in [0, 1] by name, at a physical ``severity`` or an ImageNet-C ``level``.

    Image i draws from ``derive_seed(seed, i)``, so the result is reproducible on a given device.

    >>> import torch
    >>> out = corrupt(torch.full((2, 3, 32, 32), 0.5), "gaussian_noise", level=3, seed=1)
    >>> out.images.shape
    torch.Size([2, 3, 32, 32])
    """
    _check_images(images)
    corruption = get(name)
    if (severity is None) == (level is None):
        raise CorruptionError(
            f"{name}: give exactly one of severity= (in {corruption.unit}) or level= (1..5), "
            f"got severity={severity!r}, level={level!r}"
        )
    value = corruption.level(level) if level is not None else float(severity)  # type: ignore[arg-type]
    rng = ImageRNG([derive_seed(seed, i) for i in range(images.shape[0])], device=images.device)
    return apply(images, name, value, rng, boxes=boxes)

"""The device a run computes on: ``run.device`` of the spec, with ``auto`` resolved to CUDA or CPU."""

from __future__ import annotations

import torch

from fieldready.errors import PlanError

__all__ = ["select_device"]


def select_device(setting: str) -> torch.device:
    """The device for ``run.device``: auto → CUDA when present, else CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise PlanError(f"run.device is {setting!r} but no CUDA device is available; use device: auto or cpu")
    return torch.device(setting)

"""The corruption registry: every corruption is a pure batched torch function registered by name.

A corruption function has the signature ``fn(images, severity, rng, *, spatial_scale=1.0, boxes=None)``:
``images`` is float32 ``[N, 3, H, W]`` in [0, 1] on any device, ``severity`` one float in the
corruption's physical unit, ``rng`` the batch's per-image random streams. It returns the corrupted
images (same shape, dtype, device, range), and geometric corruptions also return the boxes moved
with the image, so detection ground truth stays correct.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from fieldready.errors import CorruptionError
from fieldready.rng import ImageRNG

__all__ = [
    "Boxes",
    "Corruption",
    "Corrupted",
    "register",
    "unregister",
    "get",
    "names",
    "all_corruptions",
    "apply",
]


@dataclass(frozen=True)
class Boxes:
    """Padded per-image boxes: ``xyxy[N, M, 4]`` in pixels and ``valid[N, M]`` (False = padding or left the frame)."""

    xyxy: torch.Tensor
    valid: torch.Tensor

    @classmethod
    def from_list(cls, boxes: Sequence[torch.Tensor], *, device: torch.device | str | None = None) -> "Boxes":
        """Pad a list of ``[K_i, 4]`` tensors into one batch."""
        m = max((int(b.shape[0]) for b in boxes), default=0)
        xyxy = torch.zeros((len(boxes), m, 4), dtype=torch.float32, device=device)
        valid = torch.zeros((len(boxes), m), dtype=torch.bool, device=device)
        for i, b in enumerate(boxes):
            k = int(b.shape[0])
            xyxy[i, :k] = b.to(device=xyxy.device, dtype=torch.float32)
            valid[i, :k] = True
        return cls(xyxy, valid)

    def to_list(self) -> list[torch.Tensor]:
        """Unpad: image i's boxes at their original index, invalid ones kept as NaN rows so indices align."""
        out = self.xyxy.masked_fill(~self.valid[..., None], float("nan"))
        return list(out.unbind(0))


@dataclass(frozen=True)
class Corrupted:
    """What applying a corruption gives: the images and, for detection, the boxes after it."""

    images: torch.Tensor
    boxes: Boxes | None = None


CorruptionFn = Callable[..., "torch.Tensor | tuple[torch.Tensor, Boxes | None]"]


@dataclass(frozen=True)
class Corruption:
    """A registered corruption and what the spec, the plan and the catalogue need to know of it.

    Attributes:
        name: registry key used in specs.
        fn: the batched torch function (see module docstring).
        family: noise | blur | weather | digital | geometric | field.
        unit: the physical unit of ``severity`` (e.g. "σ in pixels", "JPEG quality").
        valid_range: the inclusive (low, high) range of severity values accepted.
        levels: severity values for ImageNet-C levels 1..5 (in ``unit``).
        geometric: the image content moves, so boxes are transformed too.
        needs_boxes: the function uses the ground-truth boxes (e.g. occlusion of objects).
        spatial: parameter names that scale with image size under ``relative_to``.
        identity: the severity value at which the corruption is the identity (for monotonicity).
        description: one line for the catalogue.
    """

    name: str
    fn: CorruptionFn
    family: str
    unit: str
    valid_range: tuple[float, float]
    levels: tuple[float, float, float, float, float]
    geometric: bool = False
    needs_boxes: bool = False
    spatial: tuple[str, ...] = ()
    identity: float | None = None
    description: str = ""
    imagenet_c: bool = False
    extra: dict = field(default_factory=dict)

    def level(self, level: int) -> float:
        """The severity of ImageNet-C level 1..5."""
        if not 1 <= level <= 5:
            raise CorruptionError(f"{self.name}: level must be 1..5, got {level}")
        return float(self.levels[level - 1])

    def check(self, severity: float) -> float:
        """Return ``severity`` as float, or raise with the valid range when it is outside."""
        lo, hi = sorted(self.valid_range)
        if not lo <= float(severity) <= hi:
            raise CorruptionError(
                f"{self.name}: severity {severity} is outside the valid range [{lo}, {hi}] ({self.unit})"
            )
        return float(severity)


_REGISTRY: dict[str, Corruption] = {}


def register(
    name: str,
    *,
    family: str,
    unit: str,
    valid_range: tuple[float, float],
    levels: Sequence[float],
    geometric: bool = False,
    needs_boxes: bool = False,
    spatial: Sequence[str] = (),
    identity: float | None = None,
    description: str = "",
    imagenet_c: bool = False,
) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator that registers a corruption function under ``name``; duplicate names are refused."""
    if len(levels) != 5:
        raise CorruptionError(f"{name}: levels must give 5 values (ImageNet-C levels 1..5), got {len(levels)}")

    def decorate(fn: CorruptionFn) -> CorruptionFn:
        if name in _REGISTRY:
            raise CorruptionError(f"corruption {name!r} is already registered; choose another name")
        _REGISTRY[name] = Corruption(
            name=name,
            fn=fn,
            family=family,
            unit=unit,
            valid_range=(float(valid_range[0]), float(valid_range[1])),
            levels=tuple(float(v) for v in levels),  # type: ignore[arg-type]
            geometric=geometric,
            needs_boxes=needs_boxes,
            spatial=tuple(spatial),
            identity=identity,
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
            imagenet_c=imagenet_c,
        )
        return fn

    return decorate


def unregister(name: str) -> None:
    """Remove a registered corruption (for tests and plug-in reloads); unknown names raise like ``get``."""
    get(name)
    del _REGISTRY[name]


def get(name: str) -> Corruption:
    """The registered corruption ``name``, or an error listing the close and the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CorruptionError(f"unknown corruption {name!r}; {hint}known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    """All registered corruption names, sorted."""
    return sorted(_REGISTRY)


def all_corruptions() -> list[Corruption]:
    """All registered corruptions, sorted by family then name."""
    return sorted(_REGISTRY.values(), key=lambda c: (c.family, c.name))


def apply(
    images: torch.Tensor,
    name: str,
    severity: float,
    rng: ImageRNG,
    *,
    spatial_scale: float = 1.0,
    boxes: Boxes | None = None,
) -> Corrupted:
    """Apply one registered corruption to a batch; boxes pass through unchanged when not geometric."""
    corruption = get(name)
    kwargs: dict = {"spatial_scale": spatial_scale}
    if corruption.geometric or corruption.needs_boxes:
        kwargs["boxes"] = boxes
    out = corruption.fn(images, corruption.check(severity), rng, **kwargs)
    if isinstance(out, tuple):
        new_images, new_boxes = out
        return Corrupted(new_images, new_boxes if corruption.geometric else boxes)
    return Corrupted(out, boxes)

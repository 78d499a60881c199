"""The corruption registry: each corruption's metadata by name, and its batched torch function bound lazily.

A corruption function has the signature ``fn(images, severity, rng, *, spatial_scale=1.0, boxes=None)``:
``images`` is float32 ``[N, 3, H, W]`` in [0, 1] on any device, ``severity`` one float in the
corruption's physical unit, ``rng`` the batch's per-image random streams. It returns the corrupted
images (same shape, dtype, device, range), and geometric corruptions also return the boxes moved
with the image, so detection ground truth stays correct.

This module does not import torch: the metadata (family, unit, valid range, levels, flags) is all
that ``fieldready validate`` and ``plan`` need, so they never pay for it. The built-in corruptions
are declared in ``builtin.py``; their family module (``noise.py``, ``blur.py`` …) binds each
function with ``@register(name)`` when first imported, on the first use of ``Corruption.fn``. A
plug-in registers metadata and function at once with ``@register(name, family=…, unit=…,
valid_range=…, levels=…)``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fieldready.errors import CorruptionError
from fieldready.usercode import UserCodeError, load_entry_points as _load_entry_points

if TYPE_CHECKING:
    import torch

    from fieldready.rng import ImageRNG

__all__ = [
    "Boxes",
    "Corruption",
    "Corrupted",
    "describe",
    "declare",
    "register",
    "unregister",
    "get",
    "names",
    "all_corruptions",
    "apply",
    "ENTRY_POINT_GROUP",
    "load_entry_points",
]

#: Installed packages register corruptions through this entry-point group: the entry point names a
#: module whose import registers them (``@register(name, family=…, …)``), as a ``plugins:`` module does.
ENTRY_POINT_GROUP = "fieldready.corruptions"


@dataclass(frozen=True)
class Boxes:
    """Padded per-image boxes: ``xyxy[N, M, 4]`` in pixels and ``valid[N, M]`` (False = padding or left the frame)."""

    xyxy: torch.Tensor
    valid: torch.Tensor

    @classmethod
    def from_list(cls, boxes: Sequence[torch.Tensor], *, device: torch.device | str | None = None) -> "Boxes":
        """Pad a list of ``[K_i, 4]`` tensors into one batch."""
        import torch  # the registry itself stays importable without torch

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
    """A corruption and what the spec, the plan and the catalogue need to know of it.

    Attributes:
        name: registry key used in specs.
        family: noise | blur | weather | digital | geometric | field.
        unit: the physical unit of ``severity`` (e.g. "σ in pixels", "JPEG quality").
        valid_range: the inclusive (low, high) range of severity values accepted.
        levels: severity values for ImageNet-C levels 1..5 (in ``unit``).
        geometric: the image content moves, so boxes are transformed too.
        needs_boxes: the function uses the ground-truth boxes (e.g. occlusion of objects).
        spatial: parameter names that scale with image size under ``relative_to``.
        identity: the severity value at which the corruption is the identity (for monotonicity).
        description: one line for the catalogue.
        imagenet_c: one of the 15 ImageNet-C benchmark corruptions.
        module: the module that registers the function; imported on the first use of ``fn``.
    """

    name: str
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
    module: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def fn(self) -> CorruptionFn:
        """The batched torch function (see the module docstring); importing its module the first time."""
        fn = _FUNCTIONS.get(self.name)
        if fn is None and self.module:
            importlib.import_module(self.module)
            fn = _FUNCTIONS.get(self.name)
        if fn is None:
            raise CorruptionError(f"corruption {self.name!r} has no function: {self.module or 'its module'} does not register one")
        return fn

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
_FUNCTIONS: dict[str, CorruptionFn] = {}
_entry_points_loaded = False


def load_entry_points() -> list[str]:
    """Import the modules of the installed ``fieldready.corruptions`` entry points; the names they added.

    Runs once on the first lookup (``get``, ``names``, ``all_corruptions``); call it again after
    installing a package into a running process.
    """
    global _entry_points_loaded
    _entry_points_loaded = True
    before = set(_REGISTRY)
    try:
        _load_entry_points(ENTRY_POINT_GROUP)
    except UserCodeError as exc:
        _entry_points_loaded = False
        raise CorruptionError(exc.message) from None
    return sorted(set(_REGISTRY) - before)


def _installed() -> dict[str, Corruption]:
    """The registry, with the installed packages' corruptions loaded the first time it is read."""
    if not _entry_points_loaded:
        load_entry_points()
    return _REGISTRY


def describe(
    name: str,
    *,
    family: str,
    unit: str,
    valid_range: Sequence[float],
    levels: Sequence[float],
    geometric: bool = False,
    needs_boxes: bool = False,
    spatial: Sequence[str] = (),
    identity: float | None = None,
    description: str = "",
    imagenet_c: bool = False,
    module: str = "",
) -> Corruption:
    """A corruption's metadata, checked (two range ends, five levels) and normalised to floats and tuples."""
    if len(levels) != 5:
        raise CorruptionError(f"{name}: levels must give 5 values (ImageNet-C levels 1..5), got {len(levels)}")
    if len(valid_range) != 2:
        raise CorruptionError(f"{name}: valid_range must be (low, high), got {tuple(valid_range)}")
    return Corruption(
        name=name,
        family=family,
        unit=unit,
        valid_range=(float(valid_range[0]), float(valid_range[1])),
        levels=tuple(float(v) for v in levels),  # type: ignore[arg-type]
        geometric=geometric,
        needs_boxes=needs_boxes,
        spatial=tuple(spatial),
        identity=None if identity is None else float(identity),
        description=description,
        imagenet_c=imagenet_c,
        module=module,
    )


def declare(corruptions: Iterable[Corruption]) -> None:
    """Add corruptions' metadata whose functions their ``module`` registers later; duplicate names are refused."""
    for c in corruptions:
        if c.name in _REGISTRY:
            raise CorruptionError(f"corruption {c.name!r} is already registered; choose another name")
        _REGISTRY[c.name] = c


def register(
    name: str,
    *,
    family: str | None = None,
    unit: str | None = None,
    valid_range: Sequence[float] | None = None,
    levels: Sequence[float] | None = None,
    geometric: bool = False,
    needs_boxes: bool = False,
    spatial: Sequence[str] = (),
    identity: float | None = None,
    description: str = "",
    imagenet_c: bool = False,
) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator that registers a corruption function under ``name``; duplicate names are refused.

    A plug-in gives the metadata (``family``, ``unit``, ``valid_range`` and ``levels`` at least); a
    built-in family module gives only the name, and the function is bound to the metadata declared
    in ``builtin.py``.
    """
    required = {"family": family, "unit": unit, "valid_range": valid_range, "levels": levels}
    if all(v is None for v in required.values()):
        return _bind(name)
    missing = [k for k, v in required.items() if v is None]
    if missing:
        raise CorruptionError(f"register({name!r}): give {', '.join(f'{k}=' for k in missing)} as well")
    corruption = describe(
        name,
        family=family,  # type: ignore[arg-type]
        unit=unit,  # type: ignore[arg-type]
        valid_range=valid_range,  # type: ignore[arg-type]
        levels=levels,  # type: ignore[arg-type]
        geometric=geometric,
        needs_boxes=needs_boxes,
        spatial=spatial,
        identity=identity,
        description=description,
        imagenet_c=imagenet_c,
    )

    def decorate(fn: CorruptionFn) -> CorruptionFn:
        if name in _REGISTRY:
            raise CorruptionError(f"corruption {name!r} is already registered; choose another name")
        _REGISTRY[name] = replace(
            corruption,
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
            module=getattr(fn, "__module__", None) or "",
        )
        _FUNCTIONS[name] = fn
        return fn

    return decorate


def _bind(name: str) -> Callable[[CorruptionFn], CorruptionFn]:
    """``@register(name)`` in a family module: attach the function to the built-in declared as ``name``."""

    def decorate(fn: CorruptionFn) -> CorruptionFn:
        declared = _REGISTRY.get(name)
        if declared is None:
            raise CorruptionError(
                f"register({name!r}) without metadata binds a built-in corruption, but {name!r} is not declared "
                "in fieldready/corruptions/builtin.py; give family=, unit=, valid_range= and levels="
            )
        if declared.module != fn.__module__:
            raise CorruptionError(f"corruption {name!r} is declared for {declared.module}, not {fn.__module__}")
        if name in _FUNCTIONS:
            raise CorruptionError(f"corruption {name!r} is already registered; choose another name")
        _FUNCTIONS[name] = fn
        return fn

    return decorate


def unregister(name: str) -> None:
    """Remove a registered corruption (for tests and plug-in reloads); unknown names raise like ``get``."""
    get(name)
    del _REGISTRY[name]
    _FUNCTIONS.pop(name, None)


def get(name: str) -> Corruption:
    """The registered corruption ``name``, or an error listing the close and the known names."""
    registry = _installed()
    try:
        return registry[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CorruptionError(f"unknown corruption {name!r}; {hint}known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    """All registered corruption names, sorted."""
    return sorted(_installed())


def all_corruptions() -> list[Corruption]:
    """All registered corruptions, sorted by family then name."""
    return sorted(_installed().values(), key=lambda c: (c.family, c.name))


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

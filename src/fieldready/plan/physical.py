"""The physical severities a plan applies: ImageNet-C levels turned into values in the corruption's unit,
and spatial sizes rescaled for the images' size under ``relative_to`` (what ``fieldready plan`` prints).

``relative_to: N`` means "the severity is written for images whose short side is N pixels": the runner
multiplies a corruption's spatial parameters by ``min(height, width) / N`` per image
(``execution.runner.corrupt_point``). A severity that is itself a length in pixels (a blur's σ, a
shift) is shown rescaled; for the others only their size-dependent parts scale, and the factor is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldready import corruptions

__all__ = ["PhysicalStep", "physical_steps", "spatial_scale_range", "describe_step"]


@dataclass(frozen=True)
class PhysicalStep:
    """One step of a point as applied: the severity in ``unit``, the image-size factor and the rescaled value."""

    corruption: str
    severity: float
    unit: str
    level: int | None = None
    scale: tuple[float, float] | None = None  # min, max of short side / relative_to over the images
    scaled: tuple[float, float] | None = None  # severity × scale, when the severity is a length in pixels


def spatial_scale_range(sizes: list[tuple[int, int]], relative_to: int | None) -> tuple[float, float] | None:
    """The smallest and largest factor ``min(h, w) / relative_to`` over the images; None without ``relative_to``.

    >>> spatial_scale_range([(320, 240), (640, 480)], 240)
    (1.0, 2.0)
    """
    if not relative_to or not sizes:
        return None
    factors = [min(w, h) / relative_to for w, h in sizes]
    return (min(factors), max(factors))


def physical_steps(steps, relative_to: int | None, sizes: list[tuple[int, int]]) -> list[PhysicalStep]:  # noqa: ANN001
    """A point's steps (``plan.Step``) in physical terms for images of ``sizes`` (width, height)."""
    scale = spatial_scale_range(sizes, relative_to)
    out = []
    for s in steps:
        c = corruptions.get(s.corruption)
        spatial = scale if c.spatial and scale is not None else None
        in_pixels = spatial is not None and "in pixels" in c.unit
        scaled = (s.severity * spatial[0], s.severity * spatial[1]) if in_pixels else None  # type: ignore[index]
        out.append(PhysicalStep(s.corruption, float(s.severity), c.unit, s.level, spatial, scaled))
    return out


def _num(value: float) -> str:
    return f"{value:.3g}"


def _span(pair: tuple[float, float]) -> str:
    lo, hi = pair
    return _num(lo) if abs(hi - lo) < 1e-9 * max(1.0, abs(hi)) else f"{_num(lo)}–{_num(hi)}"


def describe_step(step: PhysicalStep, *, with_name: bool = False) -> str:
    """One step as text: 'level 3 = 3 px → 4.29 px on these images (×1.43)', '0.18', 'quality 30'.

    >>> describe_step(PhysicalStep("gaussian_blur", 2.0, "σ in pixels", 2, (1.5, 1.5), (3.0, 3.0)))
    'level 2 = 2 → 3 on these images (×1.5)'
    """
    text = _num(step.severity)
    if step.level is not None:
        text = f"level {step.level} = {text}"
    if step.scaled is not None and step.scale is not None:
        text += f" → {_span(step.scaled)} on these images (×{_span(step.scale)})"
    elif step.scale is not None:
        text += f" (size-dependent parts ×{_span(step.scale)})"
    return f"{step.corruption} {text}" if with_name else text

"""Physical severities as ``fieldready plan`` shows them: levels in the unit, sizes rescaled by relative_to."""

from __future__ import annotations

from fieldready.plan.physical import describe_step, physical_steps, spatial_scale_range
from fieldready.plan.plan import Step


def test_spatial_scale_range_over_image_sizes() -> None:
    assert spatial_scale_range([(320, 240), (640, 480)], 240) == (1.0, 2.0)
    assert spatial_scale_range([(320, 240)], None) is None


def test_pixel_severity_is_rescaled_and_other_spatial_parts_named() -> None:
    sizes = [(448, 448), (224, 336)]
    blur = physical_steps([Step("gaussian_blur", 2.0, 2)], 224, sizes)[0]
    assert blur.scale == (1.0, 2.0) and blur.scaled == (2.0, 4.0)
    assert describe_step(blur) == "level 2 = 2 → 2–4 on these images (×1–2)"
    snow = physical_steps([Step("snow", 3.0, 3)], 224, sizes)[0]
    assert snow.scaled is None and "size-dependent parts ×1–2" in describe_step(snow)


def test_non_spatial_and_unscaled_severities_print_as_given() -> None:
    noise = physical_steps([Step("gaussian_noise", 0.18, 3)], 224, [(448, 448)])[0]
    assert noise.scale is None and describe_step(noise) == "level 3 = 0.18"
    blur = physical_steps([Step("gaussian_blur", 1.5)], None, [(448, 448)])[0]
    assert describe_step(blur, with_name=True) == "gaussian_blur 1.5"

"""The registry and the public entry points: plug-in registration, corrupt(), apply_steps(), error messages."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import fieldready
import fieldready.corruptions as C
from fieldready.corruptions.builtin import BUILTIN
from fieldready.errors import CorruptionError
from fieldready.rng import ImageRNG, derive_seed


def test_user_module_registers_a_corruption(tmp_path: Path) -> None:
    (tmp_path / "my_site_corruptions.py").write_text(
        textwrap.dedent(
            '''
            import torch
            from fieldready.corruptions import register

            @register("lens_smudge_test", family="field", unit="haze weight", valid_range=(0, 1),
                      levels=(0.1, 0.2, 0.3, 0.4, 0.5), identity=0.0)
            def lens_smudge(images, severity, rng, *, spatial_scale=1.0):
                """Grey haze over the lens."""
                return images * (1 - severity) + 0.5 * severity
            '''
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("my_site_corruptions")
        assert "lens_smudge_test" in C.names()
        assert C.get("lens_smudge_test").description == "Grey haze over the lens."
        out = C.corrupt(torch.zeros((1, 3, 8, 8)), "lens_smudge_test", level=5)
        assert torch.allclose(out.images, torch.full((1, 3, 8, 8), 0.25))
    finally:
        C.unregister("lens_smudge_test")
        sys.modules.pop("my_site_corruptions", None)
        sys.path.remove(str(tmp_path))
    assert "lens_smudge_test" not in C.names()


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(CorruptionError, match="already registered"):
        C.register("gaussian_noise", family="noise", unit="σ", valid_range=(0, 1), levels=(1, 2, 3, 4, 5))(lambda *a, **k: None)


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(CorruptionError, match="did you mean gaussian_blur"):
        C.get("gausian_blur")


def test_catalogue_is_complete() -> None:
    imagenet_c = {
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
        "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    }  # fmt: skip
    assert {c.name for c in C.all_corruptions() if c.imagenet_c} == imagenet_c
    extras = {"speckle_noise", "gaussian_blur", "spatter", "saturate"}
    field = {"translate", "rotate", "scale", "hflip", "vflip", "occlusion", "object_occlusion", "dead_pixels",
             "stuck_pixels", "exposure", "gamma", "color_temperature", "vignetting", "rain"}  # fmt: skip
    assert imagenet_c | extras | field <= set(C.names())
    for c in C.all_corruptions():
        lo, hi = c.valid_range
        assert all(lo <= v <= hi for v in c.levels), c.name
        assert c.description and c.unit, c.name


def test_corrupt_seeds_each_image_by_index() -> None:
    x = torch.rand((3, 3, 16, 16))
    out = C.corrupt(x, "gaussian_noise", severity=0.1, seed=4)
    rng = ImageRNG([derive_seed(4, i) for i in range(3)])
    assert torch.equal(out.images, C.apply(x, "gaussian_noise", 0.1, rng).images)
    assert torch.equal(C.corrupt(x, "gaussian_noise", level=1, seed=4).images, C.corrupt(x, "gaussian_noise", severity=0.08, seed=4).images)
    assert fieldready.corrupt is C.corrupt or callable(getattr(fieldready, "corrupt", None))


@pytest.mark.parametrize("kwargs", [{}, {"severity": 0.1, "level": 2}])
def test_corrupt_needs_exactly_one_of_severity_and_level(kwargs: dict) -> None:
    with pytest.raises(CorruptionError, match="exactly one of severity"):
        C.corrupt(torch.rand((1, 3, 8, 8)), "gaussian_noise", **kwargs)


def test_bad_level_and_bad_images_are_explained() -> None:
    with pytest.raises(CorruptionError, match="level must be 1..5"):
        C.corrupt(torch.rand((1, 3, 8, 8)), "gaussian_noise", level=6)
    with pytest.raises(CorruptionError, match=r"\[N, 3, H, W\]"):
        C.corrupt(torch.rand((3, 8, 8)), "gaussian_noise", level=1)
    with pytest.raises(CorruptionError, match="valid range"):
        C.corrupt(torch.rand((1, 3, 8, 8)), "jpeg_compression", severity=0)


def test_apply_steps_composes_in_order_with_one_stream() -> None:
    x = torch.rand((2, 3, 24, 24))
    boxes = C.Boxes(torch.tensor([[[2.0, 2, 10, 10]]] * 2), torch.ones((2, 1), dtype=torch.bool))
    steps = [("brightness", -0.3), ("gaussian_noise", 0.05), ("hflip", 1.0)]
    out = C.apply_steps(x, steps, ImageRNG([1, 2]), boxes=boxes)
    rng = ImageRNG([1, 2])
    y = C.apply(x, "brightness", -0.3, rng).images
    y = C.apply(y, "gaussian_noise", 0.05, rng).images
    y = C.apply(y, "hflip", 1.0, rng, boxes=boxes)
    assert torch.equal(out.images, y.images)
    assert out.boxes.xyxy[0, 0].tolist() == [14.0, 2.0, 22.0, 10.0]


def test_builtin_metadata_matches_the_functions_it_binds() -> None:
    # Every declared built-in binds a function of its family module whose docstring opens with the description.
    for c in C.all_corruptions():
        if c.name not in BUILTIN:
            continue
        assert c.fn.__module__ == f"fieldready.corruptions.{c.family}" == c.module, c.name
        assert (c.fn.__doc__ or "").strip().split("\n")[0] == c.description, c.name


def test_register_without_metadata_binds_only_declared_builtins() -> None:
    with pytest.raises(CorruptionError, match="not declared"):
        C.register("no_such_builtin")(lambda *a, **k: None)
    with pytest.raises(CorruptionError, match="already registered"):
        C.register("rain")(C.get("rain").fn)  # rain is bound once, by weather.py
    with pytest.raises(CorruptionError, match=r"give unit=, valid_range=, levels="):
        C.register("half_declared", family="field")(lambda *a, **k: None)
    assert "half_declared" not in C.names()


def test_catalogue_metadata_needs_no_torch() -> None:
    code = (
        "import sys; import fieldready.corruptions as C; "
        "c = C.get('rain'); print(c.family, c.level(3), C.names()[:1], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["weather", "0.008", "['brightness']", "False"]

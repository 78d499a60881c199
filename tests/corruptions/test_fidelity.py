"""Fidelity against imagecorruptions 1.1.2 (the ImageNet-C reference): same damage at levels 1–5.

Random corruptions: the mean PSNR to the clean image is within 1 dB of the reference's at each level
(for the texture-driven fog, frost and spatter, whose per-image spread is several dB: within 1 dB or
3 standard errors of the difference, whichever is larger). Deterministic ones: ≥ 35 dB between outputs.
Both sides are quantised like the reference's ``corrupt`` (np.uint8 truncation).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
import torch

import fieldready.corruptions as C

from conftest import photo_array, reference

DETERMINISTIC = ("brightness", "contrast", "saturate", "pixelate", "jpeg_compression", "defocus_blur", "gaussian_blur", "zoom_blur")
TEXTURE = ("fog", "frost", "spatter")
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "snow", "elastic_transform")
# (images, size, repeats): enough samples for a stable mean while the reference stays fast
SAMPLES = {name: (3, 128, 1) for name in RANDOM + DETERMINISTIC}
SAMPLES.update({name: (3, 128, 4) for name in TEXTURE + ("motion_blur", "elastic_transform", "snow")})
SAMPLES["glass_blur"] = (2, 96, 1)  # the reference is a pure-Python loop over pixels


@pytest.fixture(scope="module")
def ic() -> ModuleType:
    try:
        return reference()
    except ImportError as exc:  # CI installs it: a missing reference is a failure, not a skip
        pytest.fail(f"the fidelity tests need imagecorruptions: {exc}")


def _clean(name: str) -> np.ndarray:
    n, size, repeats = SAMPLES[name]
    base = [photo_array(p, size) for p in ("astronaut", "chelsea", "coffee")[:n]]
    return np.stack(base * repeats)


def _psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def _ours(clean: np.ndarray, name: str, level: int) -> np.ndarray:
    x = torch.from_numpy(clean).permute(0, 3, 1, 2).float() / 255.0
    out = C.corrupt(x, name, level=level, seed=100 + level).images
    return np.floor(out.permute(0, 2, 3, 1).numpy() * 255.0 + 1e-4).astype(np.uint8)


def _theirs(ic: ModuleType, clean: np.ndarray, name: str, level: int) -> np.ndarray:
    np.random.seed(level)
    return np.stack([ic.corrupt(im, severity=level, corruption_name=name) for im in clean])


@pytest.mark.parametrize("name", RANDOM + TEXTURE)
def test_random_corruptions_damage_like_the_reference(ic: ModuleType, name: str) -> None:
    clean = _clean(name)
    report = []
    for level in range(1, 6):
        ref = _psnr(_theirs(ic, clean, name, level), clean)
        ours = _psnr(_ours(clean, name, level), clean)
        diff = ours.mean() - ref.mean()
        se = np.sqrt(ref.var(ddof=1) / len(ref) + ours.var(ddof=1) / len(ours)) if len(ref) > 1 else 0.0
        tol = max(1.0, 3.0 * se) if name in TEXTURE else 1.0
        report.append(f"L{level}: ref {ref.mean():.2f} dB, ours {ours.mean():.2f} dB (±{tol:.2f})")
        assert abs(diff) <= tol, f"{name}: " + "; ".join(report)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_corruptions_match_the_reference(ic: ModuleType, name: str) -> None:
    clean = _clean(name)
    for level in range(1, 6):
        agreement = _psnr(_ours(clean, name, level), _theirs(ic, clean, name, level))
        assert agreement.min() >= 35.0, f"{name} level {level}: PSNR ours vs reference {agreement.round(1)} dB"


def test_defocus_row_runs_equal_the_disk_kernel() -> None:
    """The row-run disk blur used up to radius 6 is the FFT filter with the reference's anti-aliased disk."""
    from fieldready.corruptions._filters import fft_filter
    from fieldready.corruptions.blur import disk_kernel, disk_then_gaussian

    x = torch.rand((2, 3, 50, 70), generator=torch.Generator().manual_seed(0))
    for radius, alias in [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (6.9, 0.5), (1.0, 0.1), (0.5, 0.3), (3.7, 0.3)]:
        expected = fft_filter(x, disk_kernel(radius, alias)[None], mode="reflect101")
        torch.testing.assert_close(disk_then_gaussian(x, radius, alias), expected, atol=2e-6, rtol=0)

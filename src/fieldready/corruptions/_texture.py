"""Procedural textures for weather corruptions: batched diamond-square plasma fractals."""

from __future__ import annotations

import torch

from fieldready.rng import ImageRNG


def next_power_of_2(x: int) -> int:
    """Smallest power of two ≥ x (1 for 0)."""
    return 1 if x == 0 else 2 ** (x - 1).bit_length()


def plasma_fractal(rng: ImageRNG, size: int, decay: float) -> torch.Tensor:
    """``[N, size, size]`` diamond-square height maps in [0, 1] (ImageNet-C's ``plasma_fractal``, batched).

    ``size`` must be a power of two; a larger ``decay`` makes the map smoother. Each level of the
    recursion is one vectorised step over the whole batch, with noise from the per-image streams.
    """
    n = len(rng)
    m = torch.zeros((n, size, size), device=rng.device)
    step = size
    wibble = 100.0
    while step >= 2:
        half = step // 2
        corner = m[:, 0:size:step, 0:size:step]
        sq = corner + torch.roll(corner, -1, dims=1)
        sq = sq + torch.roll(sq, -1, dims=2)
        m[:, half:size:step, half:size:step] = sq / 4 + wibble * rng.uniform(*sq.shape[1:], low=-wibble, high=wibble)
        dr = m[:, half:size:step, half:size:step]
        ul = m[:, 0:size:step, 0:size:step]
        lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        m[:, 0:size:step, half:size:step] = lt / 4 + wibble * rng.uniform(*lt.shape[1:], low=-wibble, high=wibble)
        tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        m[:, half:size:step, 0:size:step] = tt / 4 + wibble * rng.uniform(*tt.shape[1:], low=-wibble, high=wibble)
        step = half
        wibble /= decay
    lo = m.amin(dim=(1, 2), keepdim=True)
    m = m - lo
    return m / m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)

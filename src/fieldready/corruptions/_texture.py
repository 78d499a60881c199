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
    # The grid of the current step as a dense [N, a, a] array (a = size / step); each level interleaves it
    # with its three new point sets into the next one, so no strided writes into a full-size map.
    grid = torch.zeros((n, 1, 1), device=rng.device)
    step = size
    wibble = 100.0
    while step >= 2:
        ul = grid
        sq = ul + torch.roll(ul, -1, dims=1)
        sq = sq + torch.roll(sq, -1, dims=2)
        dr = sq / 4 + wibble * rng.uniform(*sq.shape[1:], low=-wibble, high=wibble)
        lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        lt = lt / 4 + wibble * rng.uniform(*lt.shape[1:], low=-wibble, high=wibble)
        tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        tt = tt / 4 + wibble * rng.uniform(*tt.shape[1:], low=-wibble, high=wibble)
        a = ul.shape[1]
        # rows 2i: (corner, left-top point), rows 2i+1: (top-top point, centre)
        grid = torch.stack([torch.stack([ul, lt], -1), torch.stack([tt, dr], -1)], 2).view(n, 2 * a, 2 * a)
        step //= 2
        wibble /= decay
    m = grid
    m -= m.amin(dim=(1, 2), keepdim=True)
    return m.div_(m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12))

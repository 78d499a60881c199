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
        a = ul.shape[1]
        sq = ul + torch.roll(ul, -1, dims=1)
        sq += torch.roll(sq, -1, dims=2)
        # x/4 + wibble·u, evaluated in place in the draw's buffer (the same roundings: x/4 is exact)
        dr = rng.uniform(a, a, low=-wibble, high=wibble).mul_(wibble).add_(sq, alpha=0.25)
        lt = dr + torch.roll(dr, 1, dims=1)
        lt += ul
        lt += torch.roll(ul, -1, dims=2)
        lt = rng.uniform(a, a, low=-wibble, high=wibble).mul_(wibble).add_(lt, alpha=0.25)
        tt = dr + torch.roll(dr, 1, dims=2)
        tt += ul
        tt += torch.roll(ul, -1, dims=1)
        tt = rng.uniform(a, a, low=-wibble, high=wibble).mul_(wibble).add_(tt, alpha=0.25)
        # rows 2i: (corner, left-top point), rows 2i+1: (top-top point, centre)
        grid = torch.empty((n, a, 2, a, 2), device=ul.device)
        grid[:, :, 0, :, 0] = ul
        grid[:, :, 0, :, 1] = lt
        grid[:, :, 1, :, 0] = tt
        grid[:, :, 1, :, 1] = dr
        grid = grid.view(n, 2 * a, 2 * a)
        step //= 2
        wibble /= decay
    m = grid
    m -= m.amin(dim=(1, 2), keepdim=True)
    return m.div_(m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12))

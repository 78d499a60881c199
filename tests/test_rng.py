"""ImageRNG: row i depends only on key i and the draw count; derive_seed is stable."""

from __future__ import annotations

import torch

from fieldready.rng import ImageRNG, derive_seed


def test_derive_seed_is_stable_and_63_bit() -> None:
    assert derive_seed(0, "a", 1) == derive_seed(0, "a", 1)
    assert derive_seed(0, "a", 1) != derive_seed(0, "a", 2)
    assert 0 <= derive_seed("x") < 2**63


def test_rows_depend_only_on_their_key_and_draw_count(device: str) -> None:
    big = ImageRNG([11, 22, 33], device=device)
    small = ImageRNG([22], device=device)
    for draw in (lambda r: r.uniform(4, 5), lambda r: r.normal(3, std=2.0), lambda r: r.randint(0, 9, 6)):
        assert torch.equal(draw(big)[1:2], draw(small))
    rate = torch.full((3, 10), 4.0, device=device)
    assert torch.equal(big.poisson(rate)[1:2], small.poisson(rate[1:2]))


def test_subset_continues_the_streams(device: str) -> None:
    rng = ImageRNG([5, 6, 7], device=device)
    rng.uniform(2)
    sub = rng[[2]]
    assert torch.equal(rng.normal(4)[2:3], sub.normal(4))


def test_draws_differ_between_draws_and_keys() -> None:
    rng = ImageRNG([1, 2])
    a, b = rng.uniform(100), rng.uniform(100)
    assert not torch.equal(a, b) and not torch.equal(a[0], a[1])
    u = ImageRNG.from_seed(0, 2).uniform(1000, low=-1.0, high=1.0)
    assert float(u.min()) >= -1.0 and float(u.max()) < 1.0

"""torch's thread count and seeded random state for a block, restored after it."""

from __future__ import annotations

import torch

from reconbench.decoders.torch_utils import seeded_torch, torch_threads


def test_a_seeded_block_draws_the_same_numbers_and_leaves_the_callers_state_alone() -> None:
    before = torch.get_num_threads()
    state = torch.random.get_rng_state()
    with seeded_torch(3, threads=1):
        assert torch.get_num_threads() == 1
        first = torch.rand(5)
    with seeded_torch(3):
        again = torch.rand(5)
    assert torch.equal(first, again)
    assert torch.get_num_threads() == before
    assert torch.equal(torch.random.get_rng_state(), state)


def test_zero_threads_keeps_the_setting() -> None:
    before = torch.get_num_threads()
    with torch_threads(0):
        assert torch.get_num_threads() == before
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
